"""OpenRTC prewarm plugin: Silero VAD and the end-of-turn model, loaded once per worker process.

Entry point ``openrtc-prewarm-livekit`` -> :mod:`openrtc_prewarm_livekit.plugin`. Settings:
``prewarm.vad`` and ``prewarm.turn_detector`` (see :mod:`openrtc_prewarm_livekit.options`).
"""

from openrtc_prewarm_livekit.options import USERDATA_KEY

__all__ = ["USERDATA_KEY"]
