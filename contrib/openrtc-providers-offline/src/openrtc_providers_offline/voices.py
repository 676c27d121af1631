"""List the voices espeak-ng offers: ``python -m openrtc_providers_offline.voices``.

Pass a language from the first column (``en-us``) or a name from the second to
``OfflineTTS(voice=...)``; add a variant with ``+``, as in ``en-us+f3``.
"""

from __future__ import annotations

from ._espeak import voices


def main() -> None:
    print(f"{'language':<18} {'name':<40} {'other languages'}")
    for voice in sorted(voices(), key=lambda v: (v.languages[:1], v.name)):
        first, *others = voice.languages or ("",)
        print(f"{first:<18} {voice.name:<40} {' '.join(others)}".rstrip())


if __name__ == "__main__":
    main()
