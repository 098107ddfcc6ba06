"""How much memory a simulation will hold, checked against the machine before anything is allocated.

Why: the simulator's arrays grow with the roster (a table of agents x intervals), with the calls
(the waits kept for percentiles) and with the replications (one result row per interval each).
``hotline simulate --agents 100000000`` grew to 19.6 GB before the machine stopped it; now such a
run is refused at once, naming what makes it big. The figures are upper bounds measured on the
arrays ``runner.run_replication`` and ``simulate`` make (every call counted as waiting).
"""

from __future__ import annotations

import os
from pathlib import Path

from queueing.erlang import ScenarioError
from queueing.sim.scenario import Scenario

BUFFERS = 32 << 20  # chunk buffers, compiled kernel state: the same for every run
SLOT_BYTES = 112  # per agent slot: heap, keys, winner tree (padded to a power of two), temporaries
SLOT_INTERVAL_BYTES = 9  # per agent slot and interval: the on-duty table (int64 + bool)
WAIT_BYTES = 24  # per kept wait: the list, its concatenation and the partial sort for percentiles
RESULT_BYTES = 2_500  # per replication and interval: the per-interval metric records (Python dicts)


def memory_needed(scenario: Scenario, replications: int = 1) -> dict[str, float]:
    """Peak bytes of ``simulate(scenario, replications=...)`` by what they hold."""
    slots = max(scenario.agents)
    attempts = 1.0 / (1.0 - scenario.redial_prob)  # every abandon or busy may call again
    per_interval = [r * scenario.interval_seconds * attempts for r in scenario.rates]
    if scenario.batch_means and replications == 1:  # percentiles per interval only: two intervals open at once
        kept = 2 * max(per_interval)
    else:  # whole-run percentiles keep every wait after the warm-up
        kept = sum(per_interval[scenario.warmup_intervals:]) + max(per_interval)
    return {
        "roster": float(slots) * (SLOT_BYTES + SLOT_INTERVAL_BYTES * scenario.intervals),
        "waits": kept * WAIT_BYTES,
        "results": float(replications) * scenario.intervals * RESULT_BYTES,
        "buffers": float(BUFFERS),
    }


def available_memory() -> int | None:
    """Bytes this process may still take: MemAvailable, lowered by a cgroup limit; None if unknown."""
    free: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            pass
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            room = int(Path(limit).read_text()) - int(Path(usage).read_text())
        except (OSError, ValueError):  # no such cgroup, or "max" (no limit)
            continue
        free = room if free is None else min(free, room)
        break
    return free


def check_memory(scenario: Scenario, replications: int = 1) -> None:
    """ScenarioError, naming the biggest part, when the run needs more memory than is available."""
    parts = memory_needed(scenario, replications)
    _refuse_beyond(parts, available_memory(), "this simulation", _what(scenario, replications, parts))


def _what(scenario: Scenario, replications: int, parts: dict[str, float]) -> dict[str, str]:
    return {
        "roster": f"{max(scenario.agents):,} agents x {scenario.intervals} intervals",
        "waits": f"the waits of up to {parts['waits'] / WAIT_BYTES:,.0f} calls",
        "results": f"{replications:,} replications x {scenario.intervals} intervals of results",
        "buffers": "the simulator's buffers",
    }


def _refuse_beyond(parts: dict[str, float], free: int | None, run: str, what: dict[str, str],
                   where: str = "", hint: str = "use fewer agents, calls (rate x hours), intervals or replications") -> None:
    need = sum(parts.values())
    if free is None or need <= free:
        return
    raise ScenarioError(
        f"{run} would need about {_size(need)} of memory, more than the {_size(free)} available{where} "
        f"(mostly for {what[max(parts, key=lambda k: parts[k])]}): {hint}"
    )


# A sweep (``queueing.sim.sweep``): each task runs one replication at a time and keeps a few
# figures per replication; the caller keeps one record per scenario and interval, and each task.
FIGURES_BYTES = 512  # per replication and reported interval of a task: its 21 figures and their temporaries
RECORD_BYTES = 4_500  # per record (a dict of about 50 figures) and its merged moments
TASK_BYTES = 4_500  # per task on the caller: its description, its result, the future holding it
_SWEEP_HINT = "use a smaller grid, fewer intervals, agents or calls, or a smaller batch"


def sweep_task_needed(scenario: Scenario, batch: int, reported: int = 1) -> dict[str, float]:
    """Peak bytes of one sweep task on its worker: one replication of ``scenario`` at a time, and
    the figures of ``batch`` replications x ``reported`` intervals."""
    parts = memory_needed(scenario, 1)
    parts["results"] = float(batch) * reported * FIGURES_BYTES
    return parts


def check_sweep_memory(records: int, tasks: int, task: Scenario | None = None, batch: int = 1, reported: int = 1,
                       workers: int = 1, worker_free: int | None = None, remote: bool = False) -> None:
    """ScenarioError when a sweep does not fit: its records and tasks on this machine, and
    ``workers`` tasks like ``task`` (the biggest) at once, on this machine or, when ``remote``,
    each within ``worker_free`` bytes on its worker."""
    here = {"results": float(records) * RECORD_BYTES + float(tasks) * TASK_BYTES}
    what = {"results": f"{records:,} records (scenarios x intervals) and {tasks:,} tasks"}
    if task is not None:
        parts = sweep_task_needed(task, batch, reported)
        what_task = _what(task, batch, parts)
        what_task["results"] = f"the figures of {batch:,} replications x {reported} intervals"
        if remote:
            _refuse_beyond(parts, worker_free, "one task of this sweep", what_task, " on a worker", _SWEEP_HINT)
        else:
            for k, v in parts.items():
                here[f"task {k}"] = workers * v
                what[f"task {k}"] = f"{workers} task(s) at once, each with {what_task[k]}"
    _refuse_beyond(here, available_memory(), "this sweep", what, hint=_SWEEP_HINT)


def _size(n: float) -> str:
    if n < 1e8:
        return f"{n / 1e6:,.0f} MB"
    return f"{n / 1e9:,.1f} GB" if n < 1e12 else f"{n / 1e12:,.3g} TB"
