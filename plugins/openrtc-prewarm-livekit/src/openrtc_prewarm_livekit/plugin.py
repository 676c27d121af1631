"""Hook implementations: declare settings, prewarm once per process, default session options.

livekit-agents is imported only inside the hooks that need it, so ``openrtc plugins list``
imports this module cheaply.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, cast

from openrtc.plugin import SessionSpec, Setting, Settings, hookimpl
from openrtc_prewarm_livekit import options

if TYPE_CHECKING:
    import typer

logger = logging.getLogger("openrtc.prewarm")

_lazy_warned: set[int] = set()


def _choices(settings: Settings) -> tuple[options.VadChoice, options.TurnChoice]:
    return (
        cast("options.VadChoice", settings[options.VAD_SETTING]),
        cast("options.TurnChoice", settings[options.TURN_DETECTOR_SETTING]),
    )


@hookimpl
def openrtc_settings() -> list[Setting]:
    return options.declarations()


@hookimpl
def openrtc_prewarm(proc: Any, settings: Settings) -> None:
    from openrtc_prewarm_livekit.loading import prewarm

    prewarm(proc.userdata, *_choices(settings))


@hookimpl
def openrtc_session_defaults(session: SessionSpec) -> Mapping[str, Any] | None:
    from openrtc_prewarm_livekit.loading import PrewarmError, SharedModels, prewarm
    from openrtc_prewarm_livekit.session_options import session_defaults

    models = session.userdata.get(options.USERDATA_KEY)
    if not isinstance(models, SharedModels):
        if os.getpid() not in _lazy_warned:
            _lazy_warned.add(os.getpid())
            logger.warning(
                "openrtc_prewarm did not run in pid %d; loading the VAD and end-of-turn models "
                "inside session %s instead (the first call waits for them)",
                os.getpid(),
                session.job_id,
            )
        userdata = session.userdata
        target: MutableMapping[Any, Any] = userdata if isinstance(userdata, MutableMapping) else {}
        try:
            models = prewarm(target, *_choices(session.settings))
        except PrewarmError as exc:
            logger.error("session %s runs without prewarmed models: %s", session.job_id, exc)
            return None
    inference = cast("options.VadInference", session.settings[options.VAD_INFERENCE_SETTING])
    return session_defaults(models, inference)


@hookimpl
def openrtc_cli(app: typer.Typer) -> None:
    from openrtc_prewarm_livekit.downloads import register

    register(app)
