"""Settings declarations, their choices, and errors that name the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from openrtc_prewarm_livekit import USERDATA_KEY, options, plugin
from openrtc_prewarm_livekit.loading import PrewarmError, _require

from openrtc.settings import SettingError, Settings, resolve


def test_declared_settings_and_their_environment_names() -> None:
    declared = {s.name: s for s in plugin.openrtc_settings()}
    assert set(declared) == {"prewarm.vad", "prewarm.turn_detector", "prewarm.vad_inference"}
    assert declared["prewarm.vad"].env == "OPENRTC_PREWARM_VAD"
    assert declared["prewarm.vad"].flag == "--prewarm-vad"
    assert declared["prewarm.turn_detector"].env == "OPENRTC_PREWARM_TURN_DETECTOR"
    assert declared["prewarm.vad"].choices == ("local", "silero", "none")
    assert declared["prewarm.turn_detector"].choices == ("auto", "local", "multilingual", "vad")
    assert declared["prewarm.vad_inference"].env == "OPENRTC_PREWARM_VAD_INFERENCE"
    assert declared["prewarm.vad_inference"].choices == ("loop", "thread")


def test_environment_selects_a_choice_and_unknown_values_are_refused() -> None:
    settings = resolve(options.declarations(), env={"OPENRTC_PREWARM_VAD": "silero"})
    assert settings["prewarm.vad"] == "silero"
    assert settings.source("prewarm.vad") == "env"
    with pytest.raises(SettingError, match="choose one of: local, silero, none"):
        resolve(options.declarations(), env={"OPENRTC_PREWARM_VAD": "webrtc"})


@pytest.mark.parametrize(
    ("values", "vad", "turn"),
    [
        ({}, "local", "local"),
        ({"prewarm.turn_detector": "vad"}, "local", "vad"),
        ({"prewarm.vad": "silero", "prewarm.turn_detector": "local"}, "silero", "local"),
        ({"prewarm.vad": "none", "prewarm.turn_detector": "local"}, "none", "local"),
    ],
)
def test_choices_decide_what_is_loaded(
    values: dict[str, str],
    vad: str,
    turn: str,
    new_job_process: Callable[[], Any],
    make_settings: Callable[..., Settings],
) -> None:
    proc = new_job_process()
    plugin.openrtc_prewarm(proc=proc, settings=make_settings(**values))
    models = proc.userdata[USERDATA_KEY]
    assert (models.vad_choice, models.turn) == (vad, turn)
    assert (models.vad is None) == (vad == "none")
    expected = ([f"VAD {vad}"] if vad != "none" else []) + (
        ["end-of-turn local"] if turn == "local" else []
    )
    assert [record.what for record in models.loads] == expected


def test_vad_end_of_turn_without_a_vad_is_a_configuration_error(
    new_job_process: Callable[[], Any],
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(**{"prewarm.vad": "none", "prewarm.turn_detector": "vad"})
    with pytest.raises(PrewarmError, match="set prewarm.vad to 'local' or 'silero'"):
        plugin.openrtc_prewarm(proc=new_job_process(), settings=settings)


def test_a_missing_package_names_the_pip_command() -> None:
    with pytest.raises(PrewarmError) as caught:
        _require(
            "livekit.plugins.not_installed_here",
            "livekit-plugins-not-installed-here",
            "prewarm.vad",
            "silero",
        )
    assert str(caught.value) == (
        "prewarm.vad='silero' needs livekit.plugins.not_installed_here, which is not installed; "
        "run 'pip install livekit-plugins-not-installed-here'"
    )
