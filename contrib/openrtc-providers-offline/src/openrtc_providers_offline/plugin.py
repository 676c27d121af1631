"""The OpenRTC plugin of this package: it offers the offline providers to ``openrtc console``.

Kept light: the providers (and livekit-agents) are imported only when the hook is called.
"""

from __future__ import annotations

from typing import Any

from openrtc.plugin import hookimpl


@hookimpl
def openrtc_offline_providers() -> tuple[Any, Any, Any]:
    from openrtc_providers_offline import offline_providers

    return offline_providers()
