"""livekit-agents STT, LLM and TTS providers that need no network.

``OfflineSTT`` recognises English with pocketsphinx's bundled model, ``OfflineLLM`` answers
from a regex rule table (and can call function tools), and ``OfflineTTS`` speaks with the
libespeak-ng inside the espeakng-loader wheel. Together they let a whole voice turn run on one
machine.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._espeak import EspeakUnavailable, EspeakVoice
    from ._espeak import voices as espeak_voices
    from ._rules import Rule
    from .llm import OfflineLLM, OfflineLLMStream
    from .stt import OfflineSTT, SphinxModel
    from .tts import OfflineChunkedStream, OfflineTTS

# Imported on first use: this package is also an OpenRTC plugin (``plugin.py``), and
# ``openrtc plugins list`` loads every plugin without paying for livekit-agents.
_WHERE = {
    "EspeakUnavailable": ("._espeak", "EspeakUnavailable"),
    "EspeakVoice": ("._espeak", "EspeakVoice"),
    "OfflineChunkedStream": (".tts", "OfflineChunkedStream"),
    "OfflineLLM": (".llm", "OfflineLLM"),
    "OfflineLLMStream": (".llm", "OfflineLLMStream"),
    "OfflineSTT": (".stt", "OfflineSTT"),
    "OfflineTTS": (".tts", "OfflineTTS"),
    "Rule": ("._rules", "Rule"),
    "SphinxModel": (".stt", "SphinxModel"),
    "espeak_voices": ("._espeak", "voices"),
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _WHERE[name]
    return getattr(importlib.import_module(module, __name__), attribute)


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
    from ._rules import DEFAULT_GREETING
    from .llm import OfflineLLM
    from .stt import OfflineSTT
    from .tts import OfflineTTS

    chat = OfflineLLM(rules=rules, greeting=DEFAULT_GREETING if greeting is None else greeting)
    return OfflineSTT(), chat, OfflineTTS(sample_rate=tts_sample_rate, voice=voice)
