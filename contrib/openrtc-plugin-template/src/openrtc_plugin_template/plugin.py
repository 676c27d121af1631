"""The hook implementations. Keep module-level imports light (no livekit-agents here)."""

from __future__ import annotations

from openrtc.plugin import AdmissionRule, Setting, Settings, hookimpl
from openrtc_plugin_template.caps import caps_check, parse_caps


def _validate(value: tuple[str, ...]) -> str | None:
    try:
        parse_caps(value)
    except ValueError as exc:
        return f"{exc}; write caps like 'dental=2,restaurant=5'"
    return None


AGENT_CAPS = Setting(
    "agent_caps.limits",
    "list",
    (),
    "Per-agent live-session caps, e.g. 'dental=2,restaurant=5'.",
    validator=_validate,
)


@hookimpl
def openrtc_settings() -> list[Setting]:
    return [AGENT_CAPS]


@hookimpl
def openrtc_admission_rules(settings: Settings) -> list[AdmissionRule]:
    caps = parse_caps(settings[AGENT_CAPS.name])
    if not caps:
        return []
    return [
        AdmissionRule(
            name="agent-caps", check=caps_check(caps), summary="per-agent live-session caps"
        )
    ]
