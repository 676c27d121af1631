"""Every session gets exactly one end record, also when the worker stops at once."""

from __future__ import annotations

from openrtc import events
from openrtc.runtime import RuntimeState
from openrtc.session_ends import cancel_unfinished, record_job_end
from openrtc.strategies import JobEnded


def test_a_session_cancelled_with_the_worker_is_not_ended_again_by_its_executor() -> None:
    state = RuntimeState(
        isolation="coroutine", max_concurrent_sessions=5, consecutive_failure_limit=2
    )
    sent: list[events.MetricsEvent] = []
    state.session_started("job-1", "dental", "room-1")
    state.session_started("job-2", "dental", "room-2")
    assert record_job_end(state, sent.append, JobEnded("job-1", "room-1", "dental", True))

    cancel_unfinished(state, sent.append)
    # the executor reports job-2 afterwards, as a clean shutdown: dropped
    assert not record_job_end(state, sent.append, JobEnded("job-2", "room-2", "dental", True))

    ends = [e for e in sent if isinstance(e, events.SessionEnded)]
    assert [(e.job_id, e.outcome) for e in ends] == [("job-1", "succeeded"), ("job-2", "cancelled")]
    snapshot = state.snapshot()
    counts = (snapshot.active, snapshot.started, snapshot.succeeded, snapshot.failed)
    assert (*counts, snapshot.cancelled) == (0, 2, 1, 0, 1)
    assert snapshot.consecutive_failures == 0
