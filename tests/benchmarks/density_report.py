"""The density results as a text table, a Markdown table, ratios and a PNG plot."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def _num(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


COLUMNS: list[tuple[str, Callable[[Row], str]]] = [
    ("implementation", lambda r: r["implementation"]),
    ("mode", lambda r: r["mode"]),
    ("providers", lambda r: r.get("providers", "offline")),
    ("N", lambda r: str(r["sessions"])),
    ("status", lambda r: r["status"]),
    ("served", lambda r: f"{r['served']}/{r['sessions']}" if "served" in r else "-"),
    ("acc/ref/unsrv", lambda r: _admission(r)),
    ("idle RSS", lambda r: _num(r.get("idle_rss_mib"))),
    ("peak RSS", lambda r: _num(r.get("peak_rss_mib"))),
    ("RSS/session", lambda r: _num(r.get("marginal_rss_mib"), ".1f")),
    ("peak PSS", lambda r: _num(r.get("peak_pss_mib"))),
    ("PSS/session", lambda r: _num(r.get("marginal_pss_mib"), ".1f")),
    ("greet p50", lambda r: _num(r.get("greeting_median_s"), ".2f")),
    ("greet p95", lambda r: _num(r.get("greeting_p95_s"), ".2f")),
    ("reply p50", lambda r: _num(r.get("reply_median_s"), ".2f")),
    ("CPU", lambda r: _num(r.get("worker_cpu_cores"), ".2f")),
    ("cores/session", lambda r: _num(_per_accepted(r, "worker_cpu_cores"), ".3f")),
    ("held cores/session", lambda r: _num(_per_accepted(r, "worker_cpu_cores_held"), ".3f")),
    ("stalls", lambda r: _stalls(r)),
    ("lag p99 ms", lambda r: _num(_times(r.get("monitor_lag_p99_max_s"), 1000))),
    ("loop ms/s/session", lambda r: _num(_times(r.get("monitor_loop_busy_per_session"), 1000))),
]
LEGEND = (
    "memory in MiB of the worker's whole process tree; RSS/session = (peak - idle) / N; PSS "
    "splits pages shared between processes; greet = dispatch -> first greeting audio at the "
    "caller, reply = end of the caller's line -> first reply audio, in s; CPU = worker tree "
    "cores used during the calls (cores/session: over the calls it accepted; held: only while "
    "every call was connected and listening, after the greetings, for --hold-s); stalls = worker "
    "event-loop wake-ups >= 0.5 s late (count, longest s); acc/ref/unsrv = calls the worker "
    "accepted / refused at dispatch (by itself or by the server, the worker reporting full) / "
    "accepted but never greeted; lag p99 = the worker's own loop monitor, worst 10 s window "
    "during the calls; loop ms/s/session = loop-thread CPU ms per second per live session "
    "(median of the snapshots with every accepted session live, after the ramp)"
)


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def _per_accepted(row: Row, key: str) -> float | None:
    value, accepted = row.get(key), row.get("accepted") or 0
    return None if value is None or not accepted else value / accepted


def _admission(row: Row) -> str:
    """Calls the worker accepted, refused at dispatch (itself or the server), and accepted
    but never greeted: the last must be 0 at any load."""
    if "accepted" not in row:
        return "-"
    refused = row["sessions"] - row["accepted"]
    return f"{row['accepted']}/{refused}/{row['accepted_unserved']}"


def _stalls(row: Row) -> str:
    if "loop_stalls" not in row:
        return "-"
    return f"{row['loop_stalls']} ({row['loop_stall_max_s']:.1f})"


def _cells(row: Row) -> list[str]:
    return [render(row) for _, render in COLUMNS]


def table(rows: list[Row]) -> str:
    cells = [_cells(row) for row in rows]
    widths = [
        max(len(title), *(len(c[i]) for c in cells)) if cells else len(title)
        for i, (title, _) in enumerate(COLUMNS)
    ]
    line = "  ".join(title.ljust(w) for (title, _), w in zip(COLUMNS, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    out += [f"note: {note}" for note in notes(rows)]
    return "\n".join([*out, LEGEND])


def markdown(rows: list[Row]) -> str:
    head = "| " + " | ".join(title for title, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join([head, rule, *body, "", *(f"- {note}" for note in notes(rows))])


def call_errors(row: Row) -> Counter[str]:
    """Why calls dropped, with the room, caller and wait that differ per call taken out."""
    errors: Counter[str] = Counter()
    for call in row.get("calls") or []:
        if call.get("error"):
            text = re.sub(r"density-[0-9a-f]+-\d+", "<room>", call["error"])
            text = re.sub(r"caller-\d+", "<caller>", text)
            text = text.split(" within ")[0].split(";")[0].replace("  ", " ")
            if "heard no speech" in text:  # the same wait serves the greeting and the reply
                text += " (greeting)" if call.get("greeting_s") is None else " (reply)"
            errors[text] += 1
    return errors


def notes(rows: list[Row]) -> list[str]:
    """Why a run stopped, why calls dropped, and when the server had no worker to offer."""
    out = []
    for row in rows:
        parts = [row["error"]] if row.get("error") else []
        parts += [f"{count} x {error}" for error, count in call_errors(row).most_common(4)]
        if row.get("dispatch_refused"):
            parts.append(
                f"the server could not place {row['dispatch_refused']} dispatch(es): "
                "the worker answered 'unavailable'"
            )
        if row.get("log_assignment_timeouts"):
            parts.append(
                f"{row['log_assignment_timeouts']} job(s) accepted but never assigned in time "
                "(AssignmentTimeoutError)"
            )
        if row.get("log_worker_marked_full"):
            parts.append(
                f"livekit marked the worker full {row['log_worker_marked_full']} time(s) "
                "(its load reached load_threshold)"
            )
        if parts:
            label = f"{row['implementation']} {row['mode']} N={row['sessions']}"
            out.append(f"{label}: " + "; ".join(parts))
    return out


def _complete(row: Row) -> bool:
    """Only runs where every call was served compare: a dropped call holds no session."""
    return bool(row["status"] == "ok" and row.get("served") == row["sessions"])


def ratios(rows: list[Row]) -> list[str]:
    """Process vs coroutine per implementation, and reference vs ours per mode, at equal N,
    over runs that served every call."""
    done = {
        (r["implementation"], r["mode"], r["sessions"]): r
        for r in rows
        if r.get("marginal_rss_mib") and _complete(r)
    }
    lines = []
    for (impl, mode, n), row in sorted(done.items()):
        if mode == "process" and (other := done.get((impl, "coroutine", n))):
            lines.append(
                f"{impl} N={n}: process/coroutine peak RSS "
                f"{row['peak_rss_mib'] / other['peak_rss_mib']:.2f}x, RSS/session "
                f"{row['marginal_rss_mib'] / other['marginal_rss_mib']:.2f}x"
            )
        if impl != "reference":
            continue
        for ours_name in ("openrtc", "openrtc-silero"):
            if ours := done.get((ours_name, mode, n)):
                lines.append(
                    f"{mode} N={n}: reference/{ours_name} peak RSS "
                    f"{row['peak_rss_mib'] / ours['peak_rss_mib']:.2f}x, RSS/session "
                    f"{row['marginal_rss_mib'] / ours['marginal_rss_mib']:.2f}x"
                )
    return lines


def slopes(rows: list[Row]) -> list[str]:
    """Memory per extra session between consecutive N: one-time costs of the first session
    (lazy imports, first allocations) cancel out, unlike in (peak - idle) / N."""
    series: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if _complete(row) and row.get("peak_rss_mib") is not None:
            series.setdefault((row["implementation"], row["mode"]), []).append(row)
    lines = []
    for (impl, mode), points in series.items():
        points.sort(key=lambda r: r["sessions"])
        steps = [
            f"N {a['sessions']}->{b['sessions']}: "
            f"{(b['peak_rss_mib'] - a['peak_rss_mib']) / (b['sessions'] - a['sessions']):.1f}"
            for a, b in pairwise(points)
        ]
        if steps:
            lines.append(f"{impl} {mode}: peak RSS MiB per extra session, " + ", ".join(steps))
    return lines


def plot(rows: list[Row], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit(
            "the plot needs matplotlib; run with `uv run --all-packages --with matplotlib ...`"
        ) from None
    series: dict[str, list[Row]] = {}
    for row in rows:
        if row.get("peak_rss_mib") is not None:
            series.setdefault(f"{row['implementation']} ({row['mode']})", []).append(row)
    panels = [
        ("peak_rss_mib", "peak RSS of the worker tree (MiB)"),
        ("peak_pss_mib", "peak PSS of the worker tree (MiB)"),
        ("marginal_rss_mib", "RSS per session: (peak - idle) / N (MiB)"),
        ("greeting_p95_s", "dispatch -> greeting, p95 (s)"),
    ]
    sessions = sorted({r["sessions"] for points in series.values() for r in points})
    fig, grid = plt.subplots(2, 2, figsize=(13, 9))
    axes = list(grid.flat)
    for axis, (key, label) in zip(axes, panels, strict=True):
        for index, (name, points) in enumerate(series.items()):
            color = f"C{index}"
            points = sorted((p for p in points if p.get(key) is not None), key=_by_n)
            axis.plot([p["sessions"] for p in points], [p[key] for p in points], color=color,
                      label=name)  # fmt: skip
            for point in points:
                # hollow: some calls of this run were dropped, so fewer sessions were live
                face = color if _complete(point) else "white"
                axis.plot(point["sessions"], point[key], "o", color=color, markerfacecolor=face)
        axis.set_xscale("log")
        axis.minorticks_off()
        axis.set_ylim(bottom=0)
        axis.set_xticks(sessions, [str(n) for n in sessions])
        axis.set_xlabel("concurrent sessions (N)")
        axis.set_title(label, fontsize=10)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}\nhollow marker: some calls of that run were dropped", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _by_n(row: Row) -> int:
    return int(row["sessions"])
