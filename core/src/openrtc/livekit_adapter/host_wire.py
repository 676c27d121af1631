"""What the worker and its session hosts say to each other over a host's pipe.

Every message is a small frozen record sent with `Connection.send` (pickled). A job's
`RunningJobInfo` holds protobuf messages, which are sent as their serialised bytes rather
than trusted to pickle, and rebuilt on the host's side.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import attrs
from livekit.agents.job import RunningJobInfo
from livekit.protocol import agent

from openrtc.events import WorkerHealth


@attrs.frozen
class WireJob:
    """A `RunningJobInfo` ready for a pipe: the `Job` protobuf as bytes, the rest as is."""

    job: bytes
    fields: dict[str, Any]

    @classmethod
    def of(cls, info: RunningJobInfo) -> WireJob:
        fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
        del fields["job"]
        return cls(job=info.job.SerializeToString(), fields=fields)

    def info(self) -> RunningJobInfo:
        return RunningJobInfo(job=agent.Job.FromString(self.job), **self.fields)


# worker -> host


@attrs.frozen
class LaunchJob:
    job: WireJob


@attrs.frozen
class TerminateJob:
    """End the job as livekit's termination or the worker's shutdown asks (executor aclose)."""

    job_id: str


@attrs.frozen
class InferenceResult:
    request_id: int
    data: bytes | None
    error: str | None


@attrs.frozen
class ApplyCode:
    """Hot reload: run these agent module texts (``ModuleSource``, in order) as the worker did."""

    sources: tuple[Any, ...]


@attrs.frozen
class Shutdown:
    """No job is left on the host: end the process."""


# host -> worker


@attrs.frozen
class HostReady:
    pid: int


@attrs.frozen
class HostHealth:
    """The host's own loop monitor, every ``HEALTH_REPORT_S``: the worker's overload figures
    include the host the next call would go to."""

    health: WorkerHealth


@attrs.frozen
class JobEnded:
    job_id: str
    succeeded: bool
    """False when livekit's lifecycle failed the job or the kernel marked its session failed."""


@attrs.frozen
class InferenceRequest:
    """A job's `inference_executor.do_inference`, run by the worker's inference process."""

    request_id: int
    method: str
    data: bytes
