"""A simulation sweep in-process vs a local Dask cluster of 2 workers vs a process pool of 2.

The same sweep (the built-in weekday, evening intervals, a grid of staffing and arrival-rate
changes, split by interval) runs on each backend in interleaved rounds (``benchmarks/_runs.py``:
the order rotates each round, so a burst of load on the shared machine does not fall on one
backend only); the script prints each backend's median wall time with its min-max, the speed-up
over in-process, and checks that every backend gave the same records. The cluster and the pool are started once,
before the rounds; a first untimed round loads the compiled kernel in every worker (its times,
start-up included, are printed apart).

    .venv/bin/python benchmarks/bench_sweep.py                  # 3 scenarios x 4 intervals x 1,000, 5 rounds
    .venv/bin/python benchmarks/bench_sweep.py --runs 3 --replications 2000
"""

from __future__ import annotations

import argparse
import contextlib
import time

from benchmarks._runs import Spread, add_runs_argument, alternate
from queueing.profiles import builtin_profile
from queueing.sim.backends import DaskCluster, InProcess, ProcessPool
from queueing.sim.grid import Sweep
from queueing.sim.sweep import run_sweep


def make_sweep(replications: int, scenarios: int, intervals: int) -> Sweep:
    profile = builtin_profile("weekday")
    labels = tuple(profile.labels())
    first = labels.index("18:00")
    return Sweep(base=profile.scenario(), labels=labels, axes=(("agents_delta", tuple(range(0, 5 * scenarios, 5))),),
                 report=tuple(range(first, first + intervals)), replications=replications, seed=1, split="interval")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_runs_argument(ap)
    ap.add_argument("--replications", type=int, default=1000)
    ap.add_argument("--scenarios", type=int, default=3, help="agents_delta = 0, 5, 10, ...")
    ap.add_argument("--intervals", type=int, default=4, help="half hours reported from 18:00")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    sweep = make_sweep(a.replications, a.scenarios, a.intervals)
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        dask = stack.enter_context(DaskCluster(a.workers))
        dask_start = time.perf_counter() - t0
        pool = stack.enter_context(ProcessPool(a.workers))
        backends = {"in-process": InProcess(), f"Dask LocalCluster x{a.workers}": dask, f"process pool x{a.workers}": pool}
        first = {name: run_sweep(sweep, b) for name, b in backends.items()}
        ref = first["in-process"]
        print(f"sweep: {sweep.size} scenarios x {len(sweep.intervals)} intervals x {a.replications:,} replications "
              f"(weekday from 18:00, split by interval, lead-in {sweep.lead_in}): {ref.tasks} tasks of "
              f"{'/'.join(str(b) for b in ref.batch_sizes)} replications, {ref.calls:,} calls")
        print(f"Dask LocalCluster start: {dask_start:.2f} s; first round (untimed; pool processes start, "
              "kernel loads in each worker):")
        for name, r in first.items():
            loads = ", ".join(f"{s:.2f}" for s in r.warmups.values()) or "already loaded"
            print(f"  {name:24s} {r.seconds:6.2f} s   kernel load per worker: {loads} s")
        rounds = alternate({name: (lambda b=b: run_sweep(sweep, b)) for name, b in backends.items()}, a.runs)
    same = all(str(r.records) == str(ref.records)  # str: NaN equals NaN
               for r in [*first.values(), *(r for rs in rounds.values() for r in rs)])
    times = {name: Spread.of([r.seconds for r in rs]) for name, rs in rounds.items()}
    base = times["in-process"].median
    print(f"{a.runs} interleaved rounds, wall time per sweep:")
    print(f"  {'backend':24s} {'median':>8s} {'min-max':>15s} {'speed-up':>9s}")
    for name, t in times.items():
        print(f"  {name:24s} {t.median:7.2f}s {t.lo:6.2f}-{t.hi:5.2f} s {base / t.median:8.2f}x")
    print(f"identical records on every backend: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
