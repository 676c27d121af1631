"""Memory and CPU of a worker's whole process tree, sampled from a thread.

RSS counts a page once per process that maps it, so the tree's RSS overstates a process pool
whose job processes share pages with their parent; PSS splits each shared page between the
processes that map it and sums to what the tree really holds. Both are recorded. PSS needs a
walk of every mapping (``/proc/<pid>/smaps_rollup``), so it is read on every fourth sample.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import psutil

PSS_EVERY = 4


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    rss: int
    pss: int | None
    processes: int
    cpu_s: float  # user + system seconds of the tree so far (live processes only)
    main_rss: int  # the worker process alone, without job, inference or helper processes


def _pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def measure(pid: int, *, with_pss: bool) -> Sample:
    rss = 0
    main_rss = 0
    pss: int | None = 0 if with_pss else None
    cpu = 0.0
    processes = 0
    for proc in tree(pid):
        try:
            proc_rss = proc.memory_info().rss
            rss += proc_rss
            if proc.pid == pid:
                main_rss = proc_rss
            times = proc.cpu_times()
            cpu += times.user + times.system
            if pss is not None:
                pss += _pss(proc.pid)
            processes += 1
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            continue  # a job process ended between the listing and the read
    return Sample(time.monotonic(), rss, pss, processes, cpu, main_rss)


class TreeSampler:
    """Samples ``pid`` and its descendants every ``interval_s`` until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="density-sampler", daemon=True)

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]

    def _run(self) -> None:
        count = 0
        while not self._stop.is_set():
            try:
                self.samples.append(measure(self.pid, with_pss=count % PSS_EVERY == 0))
            except psutil.NoSuchProcess:
                return  # the worker itself is gone
            count += 1
            self._stop.wait(self.interval_s)


def thread_cpu(pid: int) -> dict[tuple[int, int], tuple[str, float]]:
    """CPU seconds so far of every thread of the tree, by (pid, tid): its name (the kernel's
    comm, digits and a trailing dash cut so a pool of threads shares one; the first thread
    of the worker process itself is "event loop", where a coroutine worker runs its
    sessions) and its time on a core, from /proc/<pid>/task/<tid>/schedstat (Linux only)."""
    threads: dict[tuple[int, int], tuple[str, float]] = {}
    for proc in tree(pid):
        try:
            tids = [int(tid) for tid in os.listdir(f"/proc/{proc.pid}/task")]
        except FileNotFoundError:
            continue  # the process ended after the listing
        for tid in tids:
            try:
                with open(f"/proc/{proc.pid}/task/{tid}/schedstat", encoding="ascii") as stat:
                    ran_ns = int(stat.read().split()[0])
                with open(f"/proc/{proc.pid}/task/{tid}/comm", encoding="utf-8") as comm:
                    name = comm.read().strip().rstrip("0123456789-_ ")
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue  # the thread ended between the listing and the read
            if tid == pid:
                name = "event loop"
            threads[(proc.pid, tid)] = (name, ran_ns / 1e9)
    return threads


def thread_cores(
    before: dict[tuple[int, int], tuple[str, float]],
    after: dict[tuple[int, int], tuple[str, float]],
    seconds: float,
) -> dict[str, float]:
    """Cores each thread name used between two ``thread_cpu`` readings, busiest first."""
    used: dict[str, float] = {}
    for key, (name, ran) in after.items():
        used[name] = used.get(name, 0.0) + ran - before.get(key, (name, 0.0))[1]
    return dict(sorted(((n, v / seconds) for n, v in used.items()), key=lambda kv: -kv[1]))


def breakdown(pid: int) -> list[dict[str, object]]:
    """Each process of the tree with its RSS: what an idle worker is made of."""
    out: list[dict[str, object]] = []
    for proc in tree(pid):
        try:
            command = " ".join(proc.cmdline())[:160]
            out.append({"pid": proc.pid, "rss_mib": proc.memory_info().rss / 2**20, "cmd": command})
        except psutil.NoSuchProcess:
            continue
    return out
