"""The two agents every density worker hosts, ours and the reference alike.

Plain ``livekit.agents.Agent`` subclasses with no OpenRTC import, so the same classes load in
the workspace and in the reference implementation's own virtualenv. Job processes (process
isolation) import them by this module's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livekit.agents import Agent
from openrtc_providers_offline import OfflineSTT, Rule
from openrtc_providers_offline import offline_providers as make_offline_providers

DISPATCH_NAME = "openrtc-density"
AGENTS = ("dental", "restaurant")
GREETINGS = {
    "dental": "Greet the caller to the dental office.",
    "restaurant": "Greet the caller to the restaurant.",
}
REPLY = "Your appointment is booked for Monday."


class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You book dental appointments for callers.")


class RestaurantAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You take restaurant reservations.")


AGENT_CLASSES: dict[str, type[Agent]] = {"dental": DentalAgent, "restaurant": RestaurantAgent}


class BenchSTT(OfflineSTT):
    """The offline STT, pickled as "make a new one".

    The reference implementation refuses a provider object that does not pickle (it may ship
    the pool to spawned processes), and the offline STT holds a lock. Both workers use this
    class, so the two run identical providers.
    """

    def __reduce__(self) -> tuple[type[BenchSTT], tuple[()]]:
        return (BenchSTT, ())


PROFILES = ("offline", "media")
"""Provider profiles: ``offline`` recognises and speaks on the worker's CPU (pocketsphinx,
espeak-ng); ``media`` stands for cloud providers (density_media)."""


def providers(profile: str) -> tuple[Any, Any, Any]:
    if profile == "media":
        from density_media import media_providers

        return media_providers(REPLY)
    return offline_providers()


def offline_providers() -> tuple[Any, Any, Any]:
    """(stt, llm, tts) from contrib/openrtc-providers-offline, answering the caller's line."""
    _, llm, tts = make_offline_providers(
        rules=[Rule(pattern=r"appointment|book|table", reply=REPLY)]
    )
    return BenchSTT(), llm, tts


def local_turn_detector() -> Any:
    """One session's end-of-turn detector over the shared turn-detector-v1-mini weights."""
    from livekit.agents.inference import TurnDetector

    return TurnDetector(version="v1-mini")


class LocalTurnDetectorPrewarm:
    """Wraps the reference's prewarm so its sessions use the local end-of-turn model.

    The reference prewarms livekit-plugins-turn-detector's multilingual model, whose files
    come from a Hugging Face download; offline, every session fails at start ("Could not find
    file languages.json"). After its own prewarm this puts the local v1-mini model (the one
    ours uses by default, shipped in a wheel) under the key the reference reads, so the
    reference runs with the same end-of-turn model as ours. Picklable: process isolation
    ships it to every job process.
    """

    def __init__(self, original: Callable[[Any], Any]) -> None:
        self.original = original

    def __call__(self, proc: Any) -> None:
        import livekit.local_inference as local_inference

        self.original(proc)
        local_inference.init_eot()
        proc.userdata["turn_detection_factory"] = local_turn_detector
