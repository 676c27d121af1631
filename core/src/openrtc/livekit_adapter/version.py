"""The livekit-agents versions this package supports, and the import-time proof that the
private names it relies on are still there.

Nothing here imports a private livekit name directly: names are resolved by their dotted
strings, so a livekit-agents release that moved or removed one produces a single clear
`LiveKitVersionError` instead of an `AttributeError` deep inside a job.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import re
from types import MappingProxyType, ModuleType

DISTRIBUTION = "livekit-agents"
SUPPORTED_RANGE = ">=1.8.9,<1.9"
_LOWEST = (1, 8, 9)
_FIRST_UNSUPPORTED = (1, 9, 0)

# Every private livekit name the adapter touches. An attribute that livekit only ever sets on
# instances (`self._x = ...` inside a method) is listed under its class and found by reading
# the class's source, because it cannot be seen on the class object.
PRIVATE_NAMES_USED: tuple[str, ...] = (
    # the hook: run() assigns its freshly built pool to this attribute
    "livekit.agents.worker.AgentServer._proc_pool",
    # run() assigns its HTTP server here and adds its routes before starting it; the
    # orchestrator probes (/healthz, /readyz) are added to it the same way
    "livekit.agents.worker.AgentServer._http_server",
    # the pool run() builds; the coroutine pool is made from the same arguments
    "livekit.agents.ipc.proc_pool.ProcPool",
    "livekit.agents.ipc.proc_pool.ProcPool._initialize_process_fnc",
    "livekit.agents.ipc.proc_pool.ProcPool._job_entrypoint_fnc",
    "livekit.agents.ipc.proc_pool.ProcPool._session_end_fnc",
    "livekit.agents.ipc.proc_pool.ProcPool._simulation_end_fnc",
    "livekit.agents.ipc.proc_pool.ProcPool._close_timeout",
    "livekit.agents.ipc.proc_pool.ProcPool._session_end_timeout",
    "livekit.agents.ipc.proc_pool.ProcPool._initialize_timeout",
    "livekit.agents.ipc.proc_pool.ProcPool._inf_executor",
    "livekit.agents.ipc.proc_pool.ProcPool._http_proxy",
    "livekit.agents.ipc.proc_pool.ProcPool._loop",
    # process isolation: the pool's process factory and its own warm-process count
    "livekit.agents.ipc.proc_pool.ProcPool._mp_ctx",
    "livekit.agents.ipc.proc_pool.ProcPool._default_num_idle_processes",
    # hot reload: warm processes started with the old agent code are taken out and closed
    "livekit.agents.ipc.proc_pool.ProcPool._warmed_proc_queue",
    "livekit.agents.ipc.proc_pool.ProcPool._remove_from_warmed_queue",
    # the executor protocol AgentServer drives, and the statuses it reports to the server
    "livekit.agents.ipc.job_executor.JobExecutor",
    "livekit.agents.ipc.job_executor.JobStatus",
    "livekit.agents.ipc.inference_executor.InferenceExecutor",
    "livekit.agents.ipc.mock_room.create_mock_room",
    # the per-job lifecycle that livekit's job process main runs
    "livekit.agents.ipc.job_proc_lazy_main._start_job_span",
    "livekit.agents.ipc.job_proc_lazy_main._SESSION_ACLOSE_TIMEOUT",
    "livekit.agents.job._JobContextVar",
    "livekit.agents.job.JobContext.__init__",
    "livekit.agents.job.JobContext._info",
    "livekit.agents.job.JobContext._on_setup",
    "livekit.agents.job.JobContext._start_log_buffering",
    "livekit.agents.job.JobContext._prepare_telemetry",
    "livekit.agents.job.JobContext._primary_agent_session",
    "livekit.agents.job.JobContext._on_session_end",
    "livekit.agents.job.JobContext._shutdown_callbacks",
    "livekit.agents.job.JobContext._pending_tasks",
    "livekit.agents.job.JobContext._on_cleanup",
    "livekit.agents.job.JobContext._simulation_end_fnc",
    "livekit.agents.utils.http_context._new_session_ctx",
    "livekit.agents.utils.http_context._close_http_ctx",
    # the room name must be readable before connect(), as livekit's job process arranges
    "livekit.rtc.room.Room._info",
    # the connection loop: overridden, so that openrtc decides when to retry and can say why;
    # livekit's own loop, unwrapped from its log-and-reraise decorator, runs one connection
    # at a time (built with max_retry=0 it raises at its first failure, from inside the
    # handler that caught the attempt's error, which the RuntimeError keeps as __context__)
    "livekit.agents.worker.AgentServer._connection_task",
    "livekit.agents.worker.AgentServer._connection_task.__wrapped__",
    # session hosts are forked from the worker: livekit.rtc's native runtime must not have
    # started there yet (its client singleton is still unset)
    "livekit.rtc._ffi_client.FfiClient",
    "livekit.rtc._ffi_client.FfiClient._instance",
    # the health check answers 503 while it is set; livekit's loop sets it when it gives up
    "livekit.agents.worker.AgentServer._connection_failed",
    # whether a job request reaches the request handler, and the load the status reports:
    # overridden so that the admission rules decide (availability.py)
    "livekit.agents.worker.AgentServer._is_available",
    "livekit.agents.worker.AgentServer._get_effective_load",
    "livekit.agents.worker.AgentServer._worker_load",
    "livekit.agents.worker.AgentServer._draining",
)

# Keyword parameters the adapter passes to private or internal constructors.
SIGNATURE_PARAMS_USED: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "livekit.agents.job.JobContext.__init__": (
            "proc",
            "info",
            "room",
            "on_connect",
            "on_shutdown",
            "inference_executor",
        ),
        "livekit.agents.job.JobProcess.__init__": (
            "executor_type",
            "user_arguments",
            "http_proxy",
        ),
        "livekit.agents.worker.AgentServer.rtc_session": (
            "agent_name",
            "on_request",
            "on_session_end",
        ),
    }
)


class LiveKitVersionError(ImportError):
    """The installed livekit-agents is outside the supported range or lacks a private name
    the adapter needs. An ImportError so that `except ImportError` around an optional
    import of the adapter also catches it."""


def installed_version() -> str:
    return importlib.metadata.version(DISTRIBUTION)


def version_supported(version: str) -> bool:
    """Whether `version` satisfies SUPPORTED_RANGE (PEP 440 ordering for the forms PyPI uses)."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?(.*)", version.strip())
    if match is None:
        return False
    release = (int(match[1]), int(match[2]), int(match[3] or 0))
    suffix = match[4]
    # more release segments (.N), a post-release (.postN) or a local label (+x) sort after
    # the release; anything else (aN, bN, rcN, .devN) is a pre-release and sorts before it
    is_prerelease = bool(suffix) and not re.fullmatch(r"(\.\d+)*(\.?post\d+)?(\+.*)?", suffix)
    if release < _LOWEST or release >= _FIRST_UNSUPPORTED:
        return False
    return not (is_prerelease and release == _LOWEST)


def _import_longest_prefix(parts: list[str]) -> tuple[ModuleType, list[str]] | None:
    for end in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:end])), parts[end:]
        except ImportError:
            continue
    return None


@functools.cache
def _class_source(klass: type) -> str:
    """The source text of a top-level class: from its `class` line to the next top-level
    statement. A plain text scan: parsing livekit's largest modules costs a third of a second
    at every import, for nothing this check needs."""
    try:
        path = inspect.getsourcefile(klass)
    except TypeError:
        return ""
    if path is None:
        return ""
    with open(path, encoding="utf-8") as module:
        text = module.read()
    start = re.search(rf"^class {re.escape(klass.__qualname__)}\b", text, re.MULTILINE)
    if start is None:
        return ""
    end = re.compile(r"^[^\s#)\]}]", re.MULTILINE).search(text, start.end())
    return text[start.start() : end.start() if end else len(text)]


def _assigned_on_self(cls: type, name: str) -> bool:
    """Whether some method of `cls` (or of a base) assigns `self.<name>`."""
    assignment = re.compile(rf"\bself\.{re.escape(name)}\s*(?::[^=\n]+)?=(?!=)")
    return any(
        assignment.search(_class_source(klass)) for klass in cls.__mro__ if klass is not object
    )


class _Unset:
    """Stands for a name that exists and is bound to None (an unset singleton, say)."""


def resolve(dotted: str) -> object | None:
    """The object a dotted name designates, `type` for an instance-only attribute of a class,
    `_Unset` for one bound to None, or None when livekit no longer has it."""
    found = _import_longest_prefix(dotted.split("."))
    if found is None:
        return None
    obj: object = found[0]
    rest = found[1]
    for index, part in enumerate(rest):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            if obj is None:
                return _Unset if index == len(rest) - 1 else None
            continue
        is_last = index == len(rest) - 1
        if is_last and isinstance(obj, type) and _assigned_on_self(obj, part):
            return type
        return None
    return obj


def missing_names() -> list[str]:
    """Every name in PRIVATE_NAMES_USED, or parameter in SIGNATURE_PARAMS_USED, that the
    installed livekit lacks (read at call time, so a test can add a name that is gone)."""
    missing = [name for name in PRIVATE_NAMES_USED if resolve(name) is None]
    for owner, params in SIGNATURE_PARAMS_USED.items():
        target = resolve(owner)
        if target is None or not callable(target):
            missing.append(owner)
            continue
        present = inspect.signature(target).parameters
        missing.extend(f"{owner}({param}=)" for param in params if param not in present)
    return sorted(set(missing))


def check_livekit_compat() -> str:
    """Return the installed livekit-agents version, or raise LiveKitVersionError."""
    try:
        version = installed_version()
    except importlib.metadata.PackageNotFoundError as exc:
        raise LiveKitVersionError(
            f"{DISTRIBUTION} is not installed; openrtc needs {DISTRIBUTION}{SUPPORTED_RANGE}: "
            f"pip install '{DISTRIBUTION}{SUPPORTED_RANGE}'"
        ) from exc
    supported = version_supported(version)
    missing = missing_names()
    if supported and not missing:
        return version
    problems = []
    if not supported:
        problems.append(f"installed {DISTRIBUTION} {version} is outside {SUPPORTED_RANGE}")
    else:
        problems.append(f"installed {DISTRIBUTION} {version} (supported: {SUPPORTED_RANGE})")
    if missing:
        problems.append(f"missing private names: {', '.join(missing)}")
    raise LiveKitVersionError(
        "openrtc's livekit adapter cannot run: "
        + "; ".join(problems)
        + f"; install a supported release: pip install '{DISTRIBUTION}{SUPPORTED_RANGE}'"
    )
