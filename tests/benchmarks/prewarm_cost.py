"""What each shared model costs to load: wall time and resident memory, per load.

Every measurement runs in a fresh interpreter, so one load never benefits from another's
imports or singletons. Each child first imports ``livekit.agents`` (the baseline every worker
pays anyway), then imports what the model needs, then loads the model; the table reports those
two steps separately. The baseline row is the bare interpreter and the ``livekit.agents``
import itself, measured in the same run.

Usage:
    python tests/benchmarks/prewarm_cost.py [--repeat 3] [--json]

Run it with the workspace interpreter (``.venv/bin/python``); nothing is downloaded: every
model measured here ships inside a wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

MiB = 2**20

CASES: dict[str, str] = {
    "baseline": "bare interpreter, then `import livekit.agents`",
    "vad-local": "livekit.agents.inference.VAD (Silero in livekit-local-inference)",
    "vad-silero": "livekit.plugins.silero.VAD.load() (ONNX in livekit-plugins-silero)",
    "eot-local": "livekit.agents.inference.TurnDetector(version='v1-mini')",
    "prewarm-default": "openrtc-prewarm-livekit defaults (local VAD + v1-mini) on a JobProcess",
}


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _timed(step: Callable[[], object]) -> tuple[float, int]:
    before = rss_bytes()
    started = time.perf_counter()
    step()
    return time.perf_counter() - started, rss_bytes() - before


# -- what a child process runs ------------------------------------------------------------


def _import_vad_local() -> None:
    import livekit.local_inference  # noqa: F401
    from livekit.agents.inference import VAD  # noqa: F401


def _load_vad_local() -> None:
    import livekit.local_inference as local_inference
    from livekit.agents.inference import VAD

    local_inference.init_vad()
    VAD()


def _import_silero() -> None:
    import livekit.plugins.silero  # noqa: F401


def _load_silero() -> None:
    from livekit.plugins.silero import VAD

    VAD.load()


def _load_eot_local() -> None:
    import livekit.local_inference as local_inference
    from livekit.agents.inference import TurnDetector

    local_inference.init_eot()
    TurnDetector(version="v1-mini")


def _import_prewarm_plugin() -> None:
    import openrtc_prewarm_livekit.plugin  # noqa: F401


def _load_prewarm_default() -> None:
    from livekit.agents import JobExecutorType, JobProcess
    from openrtc_prewarm_livekit import options, plugin

    from openrtc.settings import resolve

    proc = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
    plugin.openrtc_prewarm(proc=proc, settings=resolve(options.declarations(), env={}))


STEPS: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
    "vad-local": (_import_vad_local, _load_vad_local),
    "vad-silero": (_import_silero, _load_silero),
    "eot-local": (_import_vad_local, _load_eot_local),
    "prewarm-default": (_import_prewarm_plugin, _load_prewarm_default),
}


def child(case: str) -> dict[str, Any]:
    bare = rss_bytes()
    agents_s, agents_rss = _timed(lambda: __import__("livekit.agents"))
    result: dict[str, Any] = {
        "case": case,
        "bare_rss_mib": bare / MiB,
        "agents_import_s": agents_s,
        "agents_rss_mib": agents_rss / MiB,
    }
    if case != "baseline":
        import_step, load_step = STEPS[case]
        import_s, import_rss = _timed(import_step)
        load_s, load_rss = _timed(load_step)
        result.update(
            import_s=import_s,
            import_rss_mib=import_rss / MiB,
            load_s=load_s,
            load_rss_mib=load_rss / MiB,
        )
    result["total_rss_mib"] = rss_bytes() / MiB
    return result


# -- the parent: run children, aggregate, print ---------------------------------------------


def run_case(python: str, case: str) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [python, os.path.abspath(__file__), "--child", case],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"case {case} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"case": runs[0]["case"], "runs": len(runs)}
    for key, value in runs[0].items():
        if isinstance(value, float):
            merged[key] = statistics.median(run[key] for run in runs)
    return merged


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'case':<16} {'import s':>9} {'import MiB':>11} {'load s':>8} {'load MiB':>9} "
        f"{'total MiB':>10}  what"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        if row["case"] == "baseline":
            lines.append(
                f"{'baseline':<16} {row['agents_import_s']:>9.2f} {row['agents_rss_mib']:>11.1f} "
                f"{'-':>8} {'-':>9} {row['total_rss_mib']:>10.1f}  "
                f"bare interpreter {row['bare_rss_mib']:.1f} MiB; import is `livekit.agents`"
            )
            continue
        lines.append(
            f"{row['case']:<16} {row['import_s']:>9.2f} {row['import_rss_mib']:>11.1f} "
            f"{row['load_s']:>8.3f} {row['load_rss_mib']:>9.1f} {row['total_rss_mib']:>10.1f}  "
            f"{CASES[row['case']]}"
        )
    lines.append(
        "import = modules the model needs beyond livekit.agents; load = the model itself;"
        " total = process RSS at the end"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per case")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these")
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return
    cases = args.case or list(CASES)
    rows = [
        median_of([run_case(args.python, case) for _ in range(max(args.repeat, 1))])
        for case in cases
    ]
    if args.json:
        print(json.dumps({"python": args.python, "repeat": args.repeat, "results": rows}, indent=2))
    else:
        print(table(rows))


if __name__ == "__main__":
    main()
