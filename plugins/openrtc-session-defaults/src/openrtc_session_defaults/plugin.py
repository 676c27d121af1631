"""How an OpenRTC worker's sessions hear the caller and publish the agent, by default.

livekit-agents receives a caller at 24 kHz and runs automatic gain control on every frame.
Both cost the worker's event loop on every 50 ms frame of every live call: the VAD and the
end-of-turn model work at 16 kHz, so each resamples every frame, and gain control is a
synchronous call into the media library. Profiled on a worker with ten listening calls, the
two were about a quarter of the loop thread's time (docs/benchmarks/density.md).

It also publishes the agent's voice at a bitrate where the Opus encoder runs its cheaper mode.
livekit's audio source hands the encoder 10 ms of silence whenever the agent is not speaking, so
every live session encodes all the time. Below about 68 kbit/s Opus codes a mono voice in its
speech modes (SILK, hybrid), which cost about twice the CPU of its transform mode (CELT),
silent or speaking (tests/benchmarks/audio_output_cost.py).
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


INPUT_FRAME_MS = Setting(
    "session_defaults.input_frame_ms",
    "int",
    50,
    "Milliseconds of the caller's audio per frame a session receives (livekit-agents' "
    "default, 50). Each frame is one event from livekit's media thread to the event loop; "
    "longer frames mean fewer, and the VAD and the STT hear each sound up to that much later.",
    minimum=10,
)
OUTPUT_BITRATE = Setting(
    "session_defaults.output_bitrate",
    "int",
    72_000,
    "Highest bitrate (bit/s) the agent's voice is published at. From about 68000 Opus codes "
    "a mono voice in its transform mode (CELT), which halves the encoder's CPU, silent or "
    "speaking, and sends about 60 % more while the agent speaks; 0 leaves livekit's default "
    "(48000).",
    minimum=0,
)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [
        INPUT_SAMPLE_RATE,
        INPUT_GAIN_CONTROL,
        INPUT_FRAME_MS,
        SYNC_TRANSCRIPTION,
        OUTPUT_BITRATE,
    ]


@hookimpl
def openrtc_audio_input(session: SessionSpec) -> dict[str, Any]:
    options: dict[str, Any] = {
        "auto_gain_control": bool(session.settings[INPUT_GAIN_CONTROL.name]),
    }
    rate = int(session.settings[INPUT_SAMPLE_RATE.name])
    if rate:
        options["sample_rate"] = rate
    frame_ms = int(session.settings[INPUT_FRAME_MS.name])
    if frame_ms != INPUT_FRAME_MS.default:
        options["frame_size_ms"] = frame_ms
    return options


@hookimpl
def openrtc_audio_output(session: SessionSpec) -> dict[str, Any] | None:
    bitrate = int(session.settings[OUTPUT_BITRATE.name])
    if not bitrate:
        return None  # livekit's default
    from livekit import rtc

    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    options.audio_encoding.max_bitrate = bitrate
    return {"track_publish_options": options}


@hookimpl
def openrtc_text_output(session: SessionSpec) -> dict[str, Any] | None:
    if session.settings[SYNC_TRANSCRIPTION.name]:
        return None  # livekit's default
    return {"sync_transcription": False}
