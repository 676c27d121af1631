"""What admission rules learn after the request: the events they observe, the state they report.

Rules decide at the request (``JobHandlers.admission_reason``); a rule that keeps state (a
circuit breaker counting failures) learns from the same typed events the exporters receive,
in the worker process whatever the isolation, and shows its state in the snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from openrtc.events import MetricsEvent
from openrtc.strategies import AdmissionRule

logger = logging.getLogger("openrtc.admission")


def observe(rules: Mapping[str, AdmissionRule], event: MetricsEvent) -> list[MetricsEvent]:
    """Show ``event`` to every rule that observes; the events they answer with, in order."""
    answered: list[MetricsEvent] = []
    for name, rule in rules.items():
        if rule.observe is None:
            continue
        try:
            answered.extend(rule.observe(event) or ())
        except Exception:  # a rule's bookkeeping must never fail the job that caused it
            logger.exception("admission rule '%s' failed observing %s", name, event.kind)
    return answered


def reports(rules: Mapping[str, AdmissionRule]) -> dict[str, Mapping[str, Any]]:
    """The state of every rule that reports one, by rule name."""
    found: dict[str, Mapping[str, Any]] = {}
    for name, rule in rules.items():
        if rule.report is None:
            continue
        try:
            found[name] = rule.report()
        except Exception:  # a rule's bug must not cost the snapshot every other figure
            logger.exception("admission rule '%s' failed reporting its state", name)
    return found
