"""``AgentSession`` keyword arguments built from what prewarm loaded.

Each session gets its own light VAD and turn-detector objects over the shared weights: livekit
sessions subscribe to their models' ``metrics_collected`` events, so one object shared by
concurrent sessions in a coroutine worker would report every session's metrics to all of them.
The Silero plugin VAD is the exception: it is shared as livekit documents, because a new one
would mean a new ONNX session per call.

Everything returned is a plain dict so the kernel's deep merge lets ``session_kwargs`` change one
key (``{"turn_handling": {"interruption": {"mode": "adaptive"}}}``) and keep the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from openrtc_prewarm_livekit.loading import SharedModels
from openrtc_prewarm_livekit.options import VadInference

logger = logging.getLogger("openrtc.prewarm")


def session_vad(models: SharedModels, inference: VadInference = "loop") -> Any:
    if models.vad_choice == "local":
        from livekit.agents.inference import VAD

        if inference == "loop":
            from openrtc_prewarm_livekit.loop_executor import SHARED

            return VAD(executor=SHARED)
        return VAD()
    return models.vad


def turn_detection(models: SharedModels, has_vad: bool) -> Any:
    """The ``turn_detection`` value for one session, or ``None`` to leave it to livekit."""
    if models.turn == "local":
        from livekit.agents.inference import TurnDetector

        return TurnDetector(version="v1-mini")
    if models.turn == "multilingual":
        from livekit.plugins.turn_detector.multilingual import MultilingualModel

        try:
            # reads languages.json from the local cache and binds to the job's inference process
            return MultilingualModel()
        except RuntimeError as exc:
            logger.warning(
                "multilingual turn detector unavailable for this session (%s); using "
                "VAD-based end-of-turn detection",
                exc,
            )
    return "vad" if has_vad else None


def session_defaults(models: SharedModels, vad_inference: VadInference = "loop") -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    turn_handling: dict[str, Any] = {}
    vad = session_vad(models, vad_inference)
    if vad is not None:
        kwargs["vad"] = vad
        # VAD interruption works offline; adaptive interruption is the user's opt-in
        turn_handling["interruption"] = {"mode": "vad"}
    detection = turn_detection(models, has_vad=vad is not None)
    if detection is not None:
        turn_handling["turn_detection"] = detection
    if turn_handling:
        kwargs["turn_handling"] = turn_handling
    return kwargs
