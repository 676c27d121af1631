"""Worker scripts for end-to-end tests and benchmarks, started as operators start theirs.

``write_pool_app`` writes an ``app.py`` whose ``AgentPool`` takes its default providers from a
factory (``module:function``) and registers under a dispatch name; agents come from the
command line's agents directory. Run it with ``WorkerProcess``.
"""

from __future__ import annotations

from pathlib import Path

MEDIA_PROVIDERS = "density_media:media_providers"
"""The density benchmark's cloud-like providers (tests/benchmarks/density_media.py): a scripted
transcript and pre-rendered audio, so that a test measures the worker, not espeak-ng and
pocketsphinx."""
MEDIA_REPLY = "Your appointment is booked."

_APP = """\
import sys

sys.path[:0] = {import_paths!r}
from {module} import {function}
from openrtc import AgentPool

stt, llm, tts = {function}(*{arguments!r})
pool = AgentPool(default_stt=stt, default_llm=llm, default_tts=tts, dispatch_name={name!r})

if __name__ == "__main__":
    pool.run()
"""


def write_pool_app(
    path: Path,
    *,
    dispatch_name: str,
    providers: str = MEDIA_PROVIDERS,
    arguments: tuple[str, ...] = (MEDIA_REPLY,),
    import_paths: tuple[Path, ...] = (),
) -> Path:
    """Write the app script to ``path``; ``import_paths`` go first on its ``sys.path`` (where
    the providers' module lives)."""
    module, function = providers.split(":")
    path.write_text(
        _APP.format(
            import_paths=[str(p) for p in import_paths],
            module=module,
            function=function,
            arguments=arguments,
            name=dispatch_name,
        ),
        encoding="utf-8",
    )
    return path
