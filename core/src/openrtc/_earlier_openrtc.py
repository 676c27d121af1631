"""Refuse to run beside the earlier OpenRTC (the package index's `openrtc` up to 0.20.1).

Both write the `openrtc` import package, so with the old distribution installed next to the
kernel the files are a mix of two projects and fail later with an unrelated ImportError.
"""

from __future__ import annotations

import importlib.metadata
import re

FIRST_SUCCESSOR = (0, 21)


def earlier_openrtc_installed() -> str | None:
    """The installed `openrtc` version when it is the earlier project's, else ``None``."""
    try:
        version = importlib.metadata.version("openrtc")
    except importlib.metadata.PackageNotFoundError:
        return None  # the bare kernel (openrtc-core) without the openrtc meta-distribution
    numbers = re.match(r"(\d+)\.(\d+)", version)
    if numbers is None:
        return None
    if (int(numbers[1]), int(numbers[2])) >= FIRST_SUCCESSOR:
        return None
    return version


def check() -> None:
    earlier = earlier_openrtc_installed()
    if earlier is not None:
        raise ImportError(
            f"openrtc {earlier} (the earlier OpenRTC) is installed beside openrtc-core and "
            "overwrites the same 'openrtc' package; fix: pip uninstall -y openrtc openrtc-core "
            "&& pip install 'openrtc>=0.21'"
        )


check()
