"""How a process that served calls ends: with its exit code, without finalizing the interpreter.

livekit's native client (livekit.rtc) keeps its runtime threads alive to the very end. When
the interpreter finalizes under them, one of them can call into Python and panic ("panic in a
function that cannot unwind"), and the process aborts: a worker that drained cleanly then
exits -6 instead of 0, which an orchestrator reads as a crash (seen in the takeover e2e test).
By the time the worker command returns, every session has ended and the exporters are closed;
what a normal exit would still do that matters is run the atexit hooks (logging's, plugins',
OpenTelemetry's) and flush stdout and stderr. This does those, then leaves.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import NoReturn


def exit_after_serving(code: int) -> NoReturn:
    """Run the atexit hooks, flush the standard streams, and end the process with ``code``."""
    atexit._run_exitfuncs()  # CPython's own exit path runs the same, before finalizing
    for stream in (sys.stdout, sys.stderr):
        # a broken pipe (OSError) or a stream already closed (ValueError) must not change the code
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
