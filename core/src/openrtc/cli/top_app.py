"""The live view of ``openrtc top``, in Textual: a header per worker, one row per live call.

Keys: ``s`` cycles the order (age, agent, turns, wait), ``a`` filters the calls by agent
(Enter applies, an empty filter or Escape shows every call), ``r`` reads now, ``q`` quits. The
reading (``openrtc.cli.top.read_workers_async``) runs on the app's own event loop between
redraws; a worker nobody watches is never asked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Input, Static

from openrtc.cli.top import SORT_KEYS, ms, worker_lines

Reader = Callable[[], Awaitable[list[dict[str, Any]]]]
COLUMNS = ("WORKER", "AGENT", "TENANT", "ROOM", "STATE", "AGE", "TURNS", "LAST WAIT")


class TopApp(App[None]):
    TITLE = "openrtc top"
    AUTO_FOCUS = "#calls"  # keys go to the view, not into the hidden filter field
    CSS = """
    #workers { height: auto; padding: 0 1; }
    #filter { display: none; }
    #filter.shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("s", "next_sort", "Sort"),
        Binding("a", "filter_agent", "Agent filter"),
        Binding("r", "read_now", "Refresh"),
        Binding("escape", "clear_filter", "All calls", show=False),
    ]

    def __init__(
        self, read: Reader, *, interval: float = 2.0, sort: str = "age", agent: str | None = None
    ) -> None:
        super().__init__()
        self.read = read
        self.interval = interval
        self.sort = sort
        self.agent = agent
        self.reading: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static("reading the workers on this host...", id="workers")
        yield Input(placeholder="agent name (empty: every call)", id="filter")
        yield DataTable(id="calls", cursor_type="row", zebra_stripes=True)
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        await self.action_read_now()
        self.set_interval(self.interval, self.action_read_now)

    async def action_read_now(self) -> None:
        self.reading = await self.read()
        self.draw()

    def action_next_sort(self) -> None:
        keys = list(SORT_KEYS)
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
        self.draw()

    def action_filter_agent(self) -> None:
        field = self.query_one("#filter", Input)
        field.add_class("shown")
        field.value = self.agent or ""
        field.focus()

    def action_clear_filter(self) -> None:
        self.agent = None
        self.query_one("#filter", Input).remove_class("shown")
        self.query_one(DataTable).focus()
        self.draw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.agent = event.value.strip() or None
        event.input.remove_class("shown")
        self.query_one(DataTable).focus()
        self.draw()

    def draw(self) -> None:
        shown = f"calls of '{self.agent}'" if self.agent else "every call"
        header = [f"sorted by {self.sort}, {shown}", ""]
        if not self.reading:
            header.append("no OpenRTC worker of this user is serving on this host")
        for worker in self.reading:
            header.extend(worker_lines(worker))
        self.query_one("#workers", Static).update("\n".join(header))
        table = self.query_one(DataTable)
        table.clear()
        for pid, row in calls(self.reading, sort=self.sort, agent=self.agent):
            table.add_row(
                str(pid),
                row["agent"],
                row["labels"].get("tenant", "-"),
                row["room"],
                row.get("state") or "-",
                f"{row['age_s']:.0f}s",
                str(row["turns"]),
                ms(row["last_turn_latency_s"]),
                key=row["job_id"],
            )


def calls(
    workers: Sequence[dict[str, Any]], *, sort: str, agent: str | None
) -> list[tuple[int, dict[str, Any]]]:
    """Every worker's live calls as (worker pid, call), filtered and in ``sort`` order."""
    rows = [
        (int(worker["pid"]), row)
        for worker in workers
        for row in worker.get("sessions", [])
        if agent is None or row["agent"] == agent
    ]
    order = SORT_KEYS[sort]
    return sorted(rows, key=lambda pair: order(pair[1]))
