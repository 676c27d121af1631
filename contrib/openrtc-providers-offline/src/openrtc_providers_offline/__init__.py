"""livekit-agents STT, LLM and TTS providers that need no network.

``OfflineSTT`` recognises English with pocketsphinx's bundled model, ``OfflineLLM`` answers
from a regex rule table (and can call function tools), and ``OfflineTTS`` speaks with the
libespeak-ng inside the espeakng-loader wheel. Together they let a whole voice turn run on one
machine.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._espeak import EspeakUnavailable, EspeakVoice
from ._espeak import voices as espeak_voices
from ._rules import DEFAULT_GREETING, Rule
from .llm import OfflineLLM, OfflineLLMStream
from .stt import OfflineSTT, SphinxModel
from .tts import OfflineChunkedStream, OfflineTTS

__all__ = [
    "EspeakUnavailable",
    "EspeakVoice",
    "OfflineChunkedStream",
    "OfflineLLM",
    "OfflineLLMStream",
    "OfflineSTT",
    "OfflineTTS",
    "Rule",
    "SphinxModel",
    "espeak_voices",
    "offline_providers",
]


def offline_providers(
    *,
    rules: Sequence[Rule] = (),
    greeting: str | None = None,
    tts_sample_rate: int = 24_000,
    voice: str = "en-us",
) -> tuple[OfflineSTT, OfflineLLM, OfflineTTS]:
    """One (stt, llm, tts) triple ready for ``AgentSession(stt=..., llm=..., tts=...)``."""
    chat = OfflineLLM(rules=rules, greeting=DEFAULT_GREETING if greeting is None else greeting)
    return OfflineSTT(), chat, OfflineTTS(sample_rate=tts_sample_rate, voice=voice)
