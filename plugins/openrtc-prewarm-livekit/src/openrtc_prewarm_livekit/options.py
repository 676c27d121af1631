"""The plugin's settings and the names every other module agrees on.

Nothing here imports livekit-agents: ``openrtc plugins list`` reads these declarations.
"""

from __future__ import annotations

from typing import Literal

from openrtc.plugin import Setting

USERDATA_KEY = "openrtc_prewarm_livekit"
"""Where the loaded models live in ``JobProcess.userdata``."""

VAD_SETTING = "prewarm.vad"
TURN_DETECTOR_SETTING = "prewarm.turn_detector"
VAD_INFERENCE_SETTING = "prewarm.vad_inference"

VadChoice = Literal["local", "silero", "none"]
TurnChoice = Literal["auto", "local", "multilingual", "vad"]
ResolvedTurn = Literal["local", "multilingual", "vad"]
VadInference = Literal["loop", "thread"]

VAD_CHOICES: tuple[VadChoice, ...] = ("local", "silero", "none")
TURN_CHOICES: tuple[TurnChoice, ...] = ("auto", "local", "multilingual", "vad")
VAD_INFERENCE_CHOICES: tuple[VadInference, ...] = ("loop", "thread")

DOWNLOAD_COMMAND = "openrtc download-files"


def declarations() -> list[Setting]:
    return [
        Setting(
            name=VAD_SETTING,
            kind="str",
            default="local",
            choices=VAD_CHOICES,
            help=(
                "VAD loaded once per worker process: 'local' (Silero in livekit-local-inference), "
                "'silero' (livekit-plugins-silero ONNX) or 'none'."
            ),
        ),
        Setting(
            name=TURN_DETECTOR_SETTING,
            kind="str",
            default="auto",
            choices=TURN_CHOICES,
            help=(
                "End-of-turn detection: 'local' (turn-detector-v1-mini audio model), "
                "'multilingual' (livekit-plugins-turn-detector text model, files from "
                f"'{DOWNLOAD_COMMAND}'), 'vad' (silence only) or 'auto' (multilingual when "
                "usable offline, else local)."
            ),
        ),
        Setting(
            name=VAD_INFERENCE_SETTING,
            kind="str",
            default="loop",
            choices=VAD_INFERENCE_CHOICES,
            help=(
                "Where the local VAD scores each 32 ms window (about 16 us of inference): 'loop' "
                "runs it in the session's own task; 'thread' hands it to a thread of its own per "
                "session, livekit's default, which costs the event loop more than the inference "
                "(prewarm.vad=local only)."
            ),
        ),
    ]
