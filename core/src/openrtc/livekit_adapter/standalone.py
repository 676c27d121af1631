"""A ``JobProcess`` for a session that runs outside any worker (``openrtc console``)."""

from __future__ import annotations

from livekit.agents import JobExecutorType, JobProcess


def standalone_job_process() -> JobProcess:
    """The process prewarm hooks fill and the session reads, as a coroutine worker's would be.

    livekit builds ``JobProcess`` itself inside its job executors; its constructor is internal,
    so the keyword arguments used here are pinned in ``SIGNATURE_PARAMS_USED``.
    """
    return JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
