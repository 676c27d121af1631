"""Labelling a dispatched job: the job labelers' answers, merged once per job.

Labels are decided in the request handler with the route and travel with it (``RouteDecision``),
so admission rules, session hooks, events and snapshots all see one answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from openrtc.strategies import JobLabeler, LabelError, RouteRequest


class LabelRefused(Exception):
    """A labeler declined the job: ``labeler`` names it, the message says why."""

    def __init__(self, labeler: str, message: str) -> None:
        super().__init__(message)
        self.labeler = labeler


class LabelKeyConflict(ValueError):
    """Two labelers declare the same label key."""


def check_label_keys(labelers: Mapping[str, JobLabeler]) -> None:
    """Refuse a pool whose labelers would both set one key: which one wins would depend on
    plugin load order."""
    owner: dict[str, str] = {}
    for name, labeler in labelers.items():
        for key in labeler.keys:
            if key in owner:
                raise LabelKeyConflict(
                    f"label '{key}' is declared by both job labeler '{owner[key]}' and job "
                    f"labeler '{name}'; block one of their plugins"
                )
            owner[key] = name


def label_job(labelers: Mapping[str, JobLabeler], request: RouteRequest) -> dict[str, str]:
    """Every labeler's labels for ``request``; raises ``LabelRefused`` when one declines."""
    labels: dict[str, str] = {}
    for name, labeler in labelers.items():
        try:
            given = labeler.label(request)
        except LabelError as exc:
            raise LabelRefused(name, str(exc)) from exc
        for key, value in given.items():
            if key not in labeler.keys or not isinstance(value, str):
                raise LabelRefused(
                    name,
                    f"job labeler '{name}' returned label {key!r}={value!r}; it declares "
                    f"{', '.join(labeler.keys) or 'no keys'}, with string values",
                )
            labels[key] = value
    return labels
