"""A real OTLP/HTTP endpoint for the exporter's tests (``openrtc_testing.otlp``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openrtc_testing.otlp import OtlpReceiver


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver
