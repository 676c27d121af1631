"""The only place in openrtc that touches livekit-agents' private names.

livekit-agents has no public way to run a job as a task on the worker's own event loop, so this
package supplies one (`CoroutineJobPool`, `CoroutineJobExecutor`), runs the same in forked
session hosts (`HostPool`), and offers a `build_server` that picks one of them or livekit's own
process pool, adjusted so that a job process can report its job's
failure through its exit code (`report_job_failure`) and keeps its own warm-process count.
The server also retries its connection to LiveKit itself and reports every failed attempt
(`ConnectionFailed`, naming the URL and the cause), where livekit's own loop logs neither.
Importing the package first checks that the installed livekit-agents is in `SUPPORTED_RANGE`
and still has every name in `PRIVATE_NAMES_USED`, and raises `LiveKitVersionError` (an
ImportError) naming what is wrong otherwise.
"""

from __future__ import annotations

from .version import (
    PRIVATE_NAMES_USED,
    SIGNATURE_PARAMS_USED,
    SUPPORTED_RANGE,
    LiveKitVersionError,
    check_livekit_compat,
)

LIVEKIT_AGENTS_VERSION = check_livekit_compat()

# imported only after the check: these modules bind private livekit names at import time
from .connection import ConnectionFailed  # noqa: E402
from .coroutine_executor import CoroutineJobExecutor  # noqa: E402
from .coroutine_pool import CoroutineJobPool  # noqa: E402
from .host_job import HostJobExecutor  # noqa: E402
from .host_pool import HostPool, RtcUsedBeforeForkError  # noqa: E402
from .process_pool import (  # noqa: E402
    JOB_FAILED_EXIT_CODE,
    job_failure_reported,
    report_job_failure,
)
from .server import (  # noqa: E402
    ConnectionLostError,
    ServerOptions,
    accept_attributes,
    build_server,
)
from .standalone import standalone_job_process  # noqa: E402

__all__ = [
    "JOB_FAILED_EXIT_CODE",
    "LIVEKIT_AGENTS_VERSION",
    "PRIVATE_NAMES_USED",
    "SIGNATURE_PARAMS_USED",
    "SUPPORTED_RANGE",
    "ConnectionFailed",
    "ConnectionLostError",
    "CoroutineJobExecutor",
    "CoroutineJobPool",
    "HostJobExecutor",
    "HostPool",
    "LiveKitVersionError",
    "RtcUsedBeforeForkError",
    "ServerOptions",
    "accept_attributes",
    "build_server",
    "check_livekit_compat",
    "job_failure_reported",
    "report_job_failure",
    "standalone_job_process",
]
