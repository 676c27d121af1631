"""The live view of ``openrtc top`` driven by Textual's pilot: the keys sort, filter, read
again and quit, from readings as workers send them (``test_cli_top``'s). The same view against
a live worker in a real terminal is tests/e2e/test_top.py's tmux test."""

from __future__ import annotations

import copy
from typing import Any

from test_cli_top import WORKER
from textual.widgets import DataTable, Static

from openrtc.cli.top_app import TopApp


def rooms(app: TopApp) -> list[str]:
    table = app.query_one(DataTable)
    return [str(row.key.value).removeprefix("AJ_") for row in table.ordered_rows]


async def test_keys_sort_filter_refresh_and_quit() -> None:
    reading = [copy.deepcopy(WORKER)]
    reads = 0

    async def read() -> list[dict[str, Any]]:
        nonlocal reads
        reads += 1
        return copy.deepcopy(reading)

    app = TopApp(read, interval=3600.0)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert reads == 1
        header = str(app.query_one("#workers", Static).render())
        assert "pid 4242" in header and "draining" in header and "p95 1900 ms" in header
        assert rooms(app) == ["room-old", "room-slow", "room-young"]  # oldest call first
        table = app.query_one(DataTable)
        assert table.get_row("AJ_room-slow")[1:5] == ["dental", "acme", "room-slow", "thinking"]

        await pilot.press("s")  # by agent
        assert rooms(app) == ["room-slow", "room-young", "room-old"]
        await pilot.press("s")  # most turns first
        assert rooms(app)[0] == "room-old"
        await pilot.press("s")  # longest last wait first
        assert rooms(app)[0] == "room-slow"

        await pilot.press("a", *"restaurant", "enter")
        assert rooms(app) == ["room-old"]
        await pilot.press("escape")
        assert len(rooms(app)) == 3

        reading[0]["sessions"] = [s for s in WORKER["sessions"] if s["room"] != "room-old"]
        await pilot.press("r")
        await pilot.pause()
        assert reads == 2
        assert sorted(rooms(app)) == ["room-slow", "room-young"]

        reading.clear()
        await pilot.press("r")
        await pilot.pause()
        assert rooms(app) == []
        assert "no OpenRTC worker" in str(app.query_one("#workers", Static).render())

        await pilot.press("q")
    assert app.return_code == 0


async def test_the_agent_given_on_the_command_line_filters_from_the_start() -> None:
    async def read() -> list[dict[str, Any]]:
        return [copy.deepcopy(WORKER)]

    app = TopApp(read, interval=3600.0, sort="wait", agent="dental")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert rooms(app) == ["room-slow", "room-young"]
        await pilot.press("a", "enter")  # the field opens with the filter in force
        assert rooms(app) == ["room-slow", "room-young"]
        await pilot.press("escape")
        assert len(rooms(app)) == 3
