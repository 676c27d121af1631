"""How sessions take in the caller's audio, by default, in an OpenRTC worker.

livekit-agents receives a caller at 24 kHz and runs automatic gain control on every frame.
Both cost the worker's event loop on every 50 ms frame of every live call: the VAD and the
end-of-turn model work at 16 kHz, so each resamples every frame, and gain control is a
synchronous call into the media library. Profiled on a worker with ten listening calls, the
two were about a quarter of the loop thread's time (docs/benchmarks/density.md).
"""

from __future__ import annotations

from typing import Any

from openrtc.plugin import SessionSpec, Setting, hookimpl

INPUT_SAMPLE_RATE = Setting(
    "session_defaults.input_sample_rate",
    "int",
    16_000,
    "Sample rate (Hz) a session receives the caller at. 16000 is what the VAD and end-of-turn "
    "model use, so they need no resampling; 24000 is livekit-agents' default (an STT that "
    "wants more than 16 kHz); 0 leaves livekit's default.",
    minimum=0,
)
INPUT_GAIN_CONTROL = Setting(
    "session_defaults.input_gain_control",
    "bool",
    False,
    "Automatic gain control on the caller's audio, livekit-agents' default. Off saves a "
    "synchronous call per frame; turn it on for callers whose level varies a lot (speaker "
    "phones) when the STT does not normalise levels itself.",
)
SYNC_TRANSCRIPTION = Setting(
    "session_defaults.sync_transcription",
    "bool",
    True,
    "Send the agent's transcript word by word as its audio plays, livekit-agents' default. "
    "It estimates the speaking rate of every frame the agent speaks, on the event loop; off "
    "sends the text as soon as it is generated, and an interrupted reply then stays in the "
    "chat history whole, not cut where the caller interrupted.",
)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [INPUT_SAMPLE_RATE, INPUT_GAIN_CONTROL, SYNC_TRANSCRIPTION]


@hookimpl
def openrtc_audio_input(session: SessionSpec) -> dict[str, Any]:
    options: dict[str, Any] = {
        "auto_gain_control": bool(session.settings[INPUT_GAIN_CONTROL.name]),
    }
    rate = int(session.settings[INPUT_SAMPLE_RATE.name])
    if rate:
        options["sample_rate"] = rate
    return options


@hookimpl
def openrtc_text_output(session: SessionSpec) -> dict[str, Any] | None:
    if session.settings[SYNC_TRANSCRIPTION.name]:
        return None  # livekit's default
    return {"sync_transcription": False}
