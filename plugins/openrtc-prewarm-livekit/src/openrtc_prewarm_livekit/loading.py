"""Loading the shared models once per OS process.

Heavy weights are process-wide singletons (the native Silero and end-of-turn models of
livekit-local-inference, or one Silero ONNX session), so a second ``JobProcess`` in the same
process, or a second prewarm call, reuses what is loaded instead of paying again. livekit-agents
is imported inside the functions only: plugin modules must import without it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import MutableMapping
from typing import Any

import attrs

from openrtc_prewarm_livekit import multilingual
from openrtc_prewarm_livekit.measure import LoadRecord, measured
from openrtc_prewarm_livekit.options import (
    TURN_DETECTOR_SETTING,
    USERDATA_KEY,
    VAD_SETTING,
    ResolvedTurn,
    TurnChoice,
    VadChoice,
)

logger = logging.getLogger("openrtc.prewarm")

LOCAL_MODULE = "livekit.local_inference"
LOCAL_DISTRIBUTION = "livekit-local-inference"
SILERO_MODULE = "livekit.plugins.silero"
SILERO_DISTRIBUTION = "livekit-plugins-silero"
LOCAL_VAD_MODEL = "livekit.agents.inference.VAD (Silero in livekit-local-inference)"
SILERO_VAD_MODEL = "livekit.plugins.silero.VAD (ONNX in livekit-plugins-silero)"
LOCAL_EOT_MODEL = "livekit.agents.inference.TurnDetector (turn-detector-v1-mini)"


class PrewarmError(RuntimeError):
    """A configured model cannot be loaded; the message names the package or setting to fix."""


@attrs.frozen
class SharedModels:
    """What prewarm put in ``proc.userdata[USERDATA_KEY]``."""

    vad_choice: VadChoice
    turn: ResolvedTurn
    """The end-of-turn strategy in force after fallbacks."""
    vad: Any = attrs.field(eq=False)
    """The loaded VAD, or ``None`` for ``prewarm.vad=none``."""
    loads: tuple[LoadRecord, ...]
    pid: int


_cache: dict[tuple[int, str, str], SharedModels] = {}
_cache_lock = threading.Lock()


def _require(module: str, distribution: str, setting: str, value: str) -> None:
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise PrewarmError(
            f"{setting}={value!r} needs {module}, which is not installed; "
            f"run 'pip install {distribution}'"
        )


def load_vad(choice: VadChoice) -> tuple[Any, LoadRecord | None]:
    if choice == "none":
        return None, None
    if choice == "local":
        _require(LOCAL_MODULE, LOCAL_DISTRIBUTION, VAD_SETTING, choice)
        with measured("VAD local", LOCAL_VAD_MODEL) as record:
            import livekit.local_inference as local_inference
            from livekit.agents.inference import VAD

            local_inference.init_vad()
            vad: Any = VAD()
        return vad, record
    _require(SILERO_MODULE, SILERO_DISTRIBUTION, VAD_SETTING, choice)
    with measured("VAD silero", SILERO_VAD_MODEL) as record:
        from livekit.plugins.silero import VAD as SileroVAD

        vad = SileroVAD.load()
    return vad, record


def resolve_turn(choice: TurnChoice, vad_choice: VadChoice) -> ResolvedTurn:
    """The end-of-turn strategy to use; logs the one warning a fallback deserves."""
    if choice == "vad" and vad_choice == "none":
        raise PrewarmError(
            f"{TURN_DETECTOR_SETTING}='vad' needs a VAD but {VAD_SETTING}='none'; "
            f"set {VAD_SETTING} to 'local' or 'silero'"
        )
    if choice in ("local", "vad"):
        return "local" if choice == "local" else "vad"
    if choice == "multilingual":
        if not multilingual.plugin_installed():
            raise PrewarmError(
                f"{TURN_DETECTOR_SETTING}='multilingual' needs {multilingual.PLUGIN_PACKAGE}, "
                f"which is not installed; run 'pip install {multilingual.PLUGIN_DISTRIBUTION}'"
            )
        state = multilingual.status()
        if state.usable:
            return "multilingual"
        fallback = (
            "VAD-based end-of-turn detection"
            if vad_choice != "none"
            else ("the session's own turn detection (prewarm.vad=none)")
        )
        logger.warning("%s; until then sessions use %s", state.problem, fallback)
        return "vad"
    # auto: the multilingual model only when the user opted in by importing it
    if multilingual.plugin_imported():
        state = multilingual.status()
        if state.usable:
            return "multilingual"
        logger.warning(
            "%s; until then sessions use the local turn-detector-v1-mini model", state.problem
        )
    return "local"


def load_turn_detector(turn: ResolvedTurn) -> LoadRecord | None:
    """Load end-of-turn weights into this process; sessions build cheap detectors over them."""
    if turn != "local":
        # the multilingual weights live in livekit's inference process, shared by every job
        return None
    _require(LOCAL_MODULE, LOCAL_DISTRIBUTION, TURN_DETECTOR_SETTING, "local")
    with measured("end-of-turn local", LOCAL_EOT_MODEL) as record:
        import livekit.local_inference as local_inference
        from livekit.agents.inference import TurnDetector

        local_inference.init_eot()
        # constructing one proves the options resolve offline before any call depends on it
        TurnDetector(version="v1-mini")
    return record


def _load(vad_choice: VadChoice, turn_choice: TurnChoice) -> SharedModels:
    turn = resolve_turn(turn_choice, vad_choice)
    vad, vad_record = load_vad(vad_choice)
    eot_record = load_turn_detector(turn)
    loads = tuple(r for r in (vad_record, eot_record) if r is not None)
    for record in loads:
        logger.info("prewarm loaded %s", record.describe())
    logger.info("prewarm ready in pid %d: vad=%s, end-of-turn=%s", os.getpid(), vad_choice, turn)
    return SharedModels(vad_choice=vad_choice, turn=turn, vad=vad, loads=loads, pid=os.getpid())


def prewarm(
    userdata: MutableMapping[Any, Any], vad_choice: VadChoice, turn_choice: TurnChoice
) -> SharedModels:
    """Put the shared models in ``userdata``, loading them only if this process has not yet."""
    existing = userdata.get(USERDATA_KEY)
    if isinstance(existing, SharedModels) and existing.pid == os.getpid():
        return existing
    key = (os.getpid(), vad_choice, turn_choice)
    with _cache_lock:
        models = _cache.get(key)
        if models is None:
            models = _load(vad_choice, turn_choice)
            _cache[key] = models
        else:
            logger.debug("prewarm reuses the models already loaded in pid %d", os.getpid())
    userdata[USERDATA_KEY] = models
    return models


def forget_loaded() -> None:
    """Drop this process's cache of loaded models (tests that compare fresh loads use it)."""
    with _cache_lock:
        _cache.clear()
