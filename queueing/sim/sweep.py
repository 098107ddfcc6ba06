"""Simulation sweeps: scenarios x intervals x replications, cut into tasks, run on a backend.

Why this shape: a what-if grid over a day is thousands of independent simulations. A task is a
batch of 10^3-10^4 replications of one scenario's window (the day up to the last reported
interval, or with ``split = "interval"`` one interval after its lead-in, so that one scenario's
intervals spread over workers), sized from the estimated cost so that it takes about a second:
big enough that shipping it costs nothing, small enough to spread. Every replication draws from
its own stream, ``SeedSequence(seed, spawn_key=(scenario, interval, replication))`` (split by
interval) or ``(scenario, replication)`` (by day), which is the stream
``SeedSequence(seed).spawn(...)[scenario]...spawn(...)[replication]`` gives, and results come
back in task order; so the figures are the same whichever backend runs the tasks and however many
workers it has. A task returns moments (count, mean, squared deviations) per interval and figure,
merged in task order; a record holds means over replications with 95 % half-widths (Student t),
as ``simulate`` reports them.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from queueing.sim.backends import Backend, InProcess
from queueing.sim.grid import Case, Sweep, shown
from queueing.sim.memory import check_sweep_memory, sweep_task_needed
from queueing.sim.runner import CHUNK, COUNTS, METRICS, interval_metrics, run_replication, t975
from queueing.sim.scenario import Scenario

FIGURES = (*COUNTS, *METRICS)  # per replication of a reported interval, in this order

# Batch size: about TASK_SECONDS of work per task, within MIN_BATCH..MAX_BATCH replications.
# The cost of one replication, measured on this project's 2-core machine (docs/capacity.md):
# a fixed part (buffers, roster table, percentiles, the figures) plus a part per call.
TASK_SECONDS = 1.0
MIN_BATCH, MAX_BATCH = 1_000, 10_000
REPLICATION_SECONDS = 150e-6
CALL_SECONDS = 0.18e-6


def window(base: Scenario, first: int, last: int, lead_in: int) -> Scenario:
    """Intervals ``first`` to ``last`` of ``base`` preceded by ``lead_in`` intervals (a warm-up,
    not reported); before the day's first interval, that interval's rate, roster, AHT and
    patience hold."""
    idx = [max(0, j) for j in range(first - lead_in, last + 1)]

    def pick(values: tuple | None) -> tuple | None:  # a per-interval field of ``base``, for the window's intervals
        return None if values is None else tuple(values[j] for j in idx)

    fine = None
    if base.arrival_rates is not None:
        k = len(base.arrival_rates) // base.intervals
        fine = tuple(r for j in idx for r in base.arrival_rates[j * k:(j + 1) * k])
    return replace(
        base, rates=pick(base.rates), agents=pick(base.agents), aht_by_interval=pick(base.aht_by_interval),
        patience_by_interval=pick(base.patience_by_interval), arrival_rates=fine, warmup_intervals=lead_in,
        batch_means=False, start_seconds=base.start_seconds + (first - lead_in) * base.interval_seconds,
    )


def calls_per_replication(scenario: Scenario) -> float:
    """Expected calls, redials included (each abandon or busy may call again)."""
    return scenario.expected_calls / (1.0 - scenario.redial_prob)


def batch_size(scenario: Scenario, replications: int, batch: int | None = None) -> int:
    """Replications per task: ``batch`` if given, else about TASK_SECONDS of estimated work."""
    if batch is None:
        cost = REPLICATION_SECONDS + CALL_SECONDS * calls_per_replication(scenario)
        batch = min(MAX_BATCH, max(MIN_BATCH, round(TASK_SECONDS / cost)))
    return min(batch, replications)


def chunk_size(scenario: Scenario) -> int:
    """Random numbers per refill: a power of two above the expected calls (drawing a whole
    32k chunk for a replication of 1,000 calls would cost more than the simulation)."""
    want = max(256, 1.25 * calls_per_replication(scenario))
    return min(CHUNK, 1 << math.ceil(math.log2(want)))


@dataclass(frozen=True)
class Task:
    """Replications ``first`` .. ``first + count - 1`` of one scenario's window: the day (up to
    the last reported interval) or one interval, with its lead-in."""

    case: int
    key: tuple[int, ...]  # spawn key of the window: (scenario,) for a day, (scenario, interval) for one interval
    report: tuple[tuple[int, int], ...]  # (interval in ``scenario``, interval of the day) reported
    first: int
    count: int
    scenario: Scenario
    seed: int
    chunk: int


@dataclass(frozen=True)
class TaskResult:
    """Per reported interval (rows, as ``intervals``) and figure (columns, ``FIGURES``):
    replications with a value (NaN dropped), their mean, and the sum of squared deviations from
    it; plus what the task cost and where it ran."""

    case: int
    intervals: tuple[int, ...]
    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    calls: int
    seconds: float
    worker: str  # host:pid
    warmup: float | None  # seconds spent loading (or compiling) the kernel: the first task of its process


def plan(sweep: Sweep) -> tuple[list[Case], list[Task]]:
    """The grid's scenarios and the tasks, scenario by scenario (and interval by interval)."""
    cases, tasks = [], []
    lead = sweep.lead_in
    for case in sweep.cases():
        cases.append(case)
        if sweep.split == "day":
            last = max(sweep.intervals)
            windows = [((case.index,), window(case.scenario, 0, last, lead), tuple((lead + i, i) for i in sweep.intervals))]
        else:
            windows = [((case.index, i), window(case.scenario, i, i, lead), ((lead, i),)) for i in sweep.intervals]
        for key, sub, report in windows:
            b = batch_size(sub, sweep.replications, sweep.batch)
            chunk = chunk_size(sub)
            for first in range(0, sweep.replications, b):
                tasks.append(Task(case.index, key, report, first, min(b, sweep.replications - first), sub,
                                  sweep.seed, chunk))
    return cases, tasks


_warmed = False


def _warm_up() -> float | None:
    """Load the compiled kernel once per process (from Numba's cache, or compile it) and say how
    long that took; None once done."""
    global _warmed
    if _warmed:
        return None
    t0 = time.perf_counter()
    run_replication(Scenario(rates=(0.01,), agents=(1,), interval_seconds=600.0), np.random.default_rng(0), chunk=256)
    _warmed = True
    return time.perf_counter() - t0


def moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over the first axis of ``values`` (replications): count, mean and squared deviations, NaNs dropped."""
    ok = ~np.isnan(values)
    n = ok.sum(axis=0).astype(np.float64)
    x = np.where(ok, values, 0.0)
    mean = np.divide(x.sum(axis=0), n, out=np.full(n.shape, np.nan), where=n > 0)
    m2 = np.where(ok, (values - mean) ** 2, 0.0).sum(axis=0)
    return n, mean, m2


def merge(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chan et al.'s pairwise update of (count, mean, squared deviations)."""
    na, ma, sa = a
    nb, mb, sb = b
    n = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(nb > 0, mb, 0.0) - np.where(na > 0, ma, 0.0)
        mean = np.where(na == 0, mb, np.where(nb == 0, ma, ma + delta * nb / n))
        m2 = np.where(na == 0, sb, np.where(nb == 0, sa, sa + sb + delta**2 * na * nb / n))
    return n, mean, m2


def run_task(task: Task) -> TaskResult:
    """Run one task (on a worker): its replications one after another, then their moments."""
    warmup = _warm_up()
    t0 = time.perf_counter()
    values = np.empty((task.count, len(task.report), len(FIGURES)))
    calls = 0
    for k in range(task.count):
        ss = np.random.SeedSequence(task.seed, spawn_key=(*task.key, task.first + k))
        rep = run_replication(task.scenario, np.random.Generator(np.random.PCG64(ss)), overall_percentiles=False,
                              chunk=task.chunk)
        rows = interval_metrics(task.scenario, rep)
        values[k] = [[rows[j][f] for f in FIGURES] for j, _ in task.report]
        calls += rep.calls
    n, mean, m2 = moments(values)
    return TaskResult(task.case, tuple(i for _, i in task.report), n, mean, m2, calls, time.perf_counter() - t0,
                      f"{socket.gethostname()}:{os.getpid()}", warmup)


@dataclass
class SweepResult:
    """``records``: one flat dict per scenario and reported interval: ``scenario`` (its index),
    the grid values, ``interval``, ``time``, ``calls_per_hour``, ``agents``, ``replications``, then
    each figure of ``FIGURES`` (mean over replications) with ``<figure>_ci95``."""

    sweep: Sweep
    records: list[dict[str, object]]
    backend: str
    workers: int
    tasks: int
    batch_sizes: tuple[int, ...]  # replications per task chosen for the windows (distinct values)
    calls: int  # simulated in all, lead-ins included
    seconds: float  # wall time, planning to records
    task_seconds: float  # summed over tasks (CPU time of the workers, near enough)
    warmups: dict[str, float]  # per worker process: seconds its first task spent loading the kernel


def run_sweep(sweep: Sweep, backend: Backend | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run every task of ``sweep`` on ``backend`` (default in-process) and build the records.

    Refused before anything runs (ScenarioError naming the biggest part) when the records and
    tasks, or the tasks running at once, would not fit in memory. ``progress(done, total)`` is
    called as tasks finish.
    """
    backend = backend or InProcess()
    t0 = time.perf_counter()
    reported = len(sweep.intervals)
    records_n = sweep.size * reported
    least = min(sweep.replications, sweep.batch or MIN_BATCH)
    check_sweep_memory(records_n, records_n * math.ceil(sweep.replications / least))  # before building anything
    cases, tasks = plan(sweep)
    subs = {t.key: (t.scenario, t.count, len(t.report)) for t in tasks}
    biggest = max(subs.values(), key=lambda sub: sum(sweep_task_needed(*sub).values()))
    check_sweep_memory(records_n, len(tasks), *biggest, workers=backend.workers,
                       worker_free=backend.worker_memory(), remote=backend.remote)
    results = backend.map(run_task, tasks, progress)
    merged: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
    for r in results:  # in task order: the same sums whatever ran them
        for row, i in enumerate(r.intervals):
            part = (r.n[row], r.mean[row], r.m2[row])
            key = (r.case, i)
            merged[key] = merge(merged[key], part) if key in merged else part
    records = []
    for case in cases:
        sc = case.scenario
        for i in sweep.intervals:
            n, mean, m2 = merged[(case.index, i)]
            rec: dict[str, object] = {"scenario": case.index, **{k: shown(v) for k, v in case.params.items()},
                                      "interval": i, "time": sweep.labels[i], "calls_per_hour": sc.rates[i] * 3600.0,
                                      "agents": sc.agents[i], "replications": sweep.replications}
            for f, c, m, s in zip(FIGURES, n.tolist(), mean.tolist(), m2.tolist(), strict=True):
                rec[f] = m
                rec[f"{f}_ci95"] = t975(int(c) - 1) * math.sqrt(s / (c - 1) / c) if c >= 2 else math.nan
            records.append(rec)
    warmups = {r.worker: r.warmup for r in results if r.warmup is not None}
    return SweepResult(
        sweep=sweep, records=records, backend=backend.name, workers=backend.workers, tasks=len(tasks),
        batch_sizes=tuple(sorted({t.count for t in tasks if t.first == 0})), calls=sum(r.calls for r in results),
        seconds=time.perf_counter() - t0, task_seconds=sum(r.seconds for r in results), warmups=warmups,
    )
