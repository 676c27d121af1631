"""Example third-party plugin: cap the live sessions of individual agents."""

from openrtc_plugin_template.caps import parse_caps

__all__ = ["parse_caps"]
