from __future__ import annotations

import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openrtc_prewarm_livekit import options, plugin
from openrtc_prewarm_livekit.loading import forget_loaded

from openrtc.settings import Settings, resolve
from openrtc.strategies import SessionSpec

SPEECH_WAV = Path(__file__).resolve().parents[3] / "tests" / "data" / "hello_appointment_16k.wav"


SettingsFactory = Callable[..., Settings]


def _make_settings(**values: str) -> Settings:
    return resolve(options.declarations(), env={}, constructor=values)


@pytest.fixture
def make_settings() -> SettingsFactory:
    """The plugin's settings resolved as the kernel resolves them, from constructor values."""
    return _make_settings


@pytest.fixture
def new_job_process() -> Callable[[], Any]:
    def make() -> Any:
        # JobProcess has a public keyword-only constructor; livekit builds one per job
        # process (and the kernel's coroutine pool one per worker) exactly like this
        from livekit.agents import JobExecutorType, JobProcess

        return JobProcess(
            executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None
        )

    return make


@pytest.fixture(scope="session")
def speech_pcm() -> np.ndarray:
    """The committed espeak-ng clip "Hello, I would like to book an appointment, please."."""
    with wave.open(str(SPEECH_WAV), "rb") as clip:
        assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (16000, 1, 2)
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype=np.int16)


@pytest.fixture(autouse=True)
def fresh_process_cache() -> Iterator[None]:
    """Each test loads (or reuses) models on purpose, never because an earlier test did."""
    forget_loaded()
    yield
    forget_loaded()


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache with nothing in it, and the hub switched offline."""
    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def prewarmed(
    new_job_process: Callable[[], Any], make_settings: Callable[..., Settings]
) -> Callable[..., tuple[Any, Callable[[], dict[str, Any]]]]:
    """Prewarm a fresh JobProcess; returns it and a function giving one session's defaults."""

    def run(**values: str) -> tuple[Any, Callable[[], dict[str, Any]]]:
        proc = new_job_process()
        settings = make_settings(**values)
        plugin.openrtc_prewarm(proc=proc, settings=settings)

        def defaults() -> dict[str, Any]:
            spec = SessionSpec(
                agent="dental",
                job_id="J1",
                room_name="room-1",
                userdata=proc.userdata,
                settings=settings,
            )
            result = plugin.openrtc_session_defaults(session=spec)
            assert result is not None
            return dict(result)

        return proc, defaults

    return run
