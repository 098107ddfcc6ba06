"""How far the announced wait is from the wait a caller then has: ours vs Asterisk's.

For a stationary M/M/n queue (Erlang C) at evening-peak loads, callers who must wait find
``j`` callers ahead with probability (1 - rho) rho^j. For each ``j`` the queue simulator
(``queueing.sim.waits_from_state``) measures the waits of a caller joining behind them; the
benchmark scores two announcements against those waits, weighted by how often ``j`` happens:

- ours: ``queueing.estimate.estimate_wait`` (position, agents, recent handle time);
- Asterisk's: ``|holdtime average - waited|`` with waited = 0 at entry, the average being the
  long-run mean wait (the best a running average can do): the same figure for every caller.

Prints the mean absolute error of each per caller, their ratio, and the mean error (bias).
These are accuracy figures (the machine's load does not move them): each of the ``--runs`` runs
draws the simulated waits with another seed, and every figure is the median (min-max) over the
runs (``benchmarks/_runs.py``), so the spread shown is the simulation's sampling noise.
Run: ``.venv/bin/python benchmarks/bench_wait_estimate.py [--replications 4000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks._runs import Load, Spread, add_runs_argument
from queueing.erlang import erlang_c_metrics
from queueing.estimate import QueueSituation, asterisk_announcement, estimate_wait
from queueing.sim import Distribution, waits_from_state

SCENARIOS = [  # (label, agents, AHT s, occupancy rho, service distribution or None = exponential)
    ("small team, rho 0.90", 3, 300.0, 0.90, None),
    ("evening, 10 agents, rho 0.95", 10, 240.0, 0.95, None),
    ("evening peak, 40 agents, rho 0.97", 40, 280.0, 0.97, None),
    ("10 agents, rho 0.95, lognormal AHT cv 0.6", 10, 240.0, 0.95, "lognormal"),
]


def score(agents: int, aht: float, rho: float, service: str | None, reps: int, seed: int) -> dict[str, float]:
    rate = rho * agents / aht
    avg_hold = erlang_c_metrics(rate, aht, agents).mean_wait  # what a long-run average would hold
    dist = Distribution.lognormal(aht, 0.6) if service == "lognormal" else None
    ours_abs = ast_abs = ours_bias = ast_bias = weight = 0.0
    j = 0
    while weight < 0.995:
        p = (1 - rho) * rho**j
        sim = waits_from_state(agents, j, aht, service=dist, replications=reps, seed=seed + j)
        ours = estimate_wait(QueueSituation(j + 1, agents, 0, aht)).mean
        ast = asterisk_announcement(avg_hold, 0.0)
        ours_abs += p * float(np.mean(np.abs(ours - sim.samples)))
        ast_abs += p * float(np.mean(np.abs(ast - sim.samples)))
        ours_bias += p * (ours - sim.mean)
        ast_bias += p * (ast - sim.mean)
        weight += p
        j += 1
    return {"positions": j, "ours_mae": ours_abs / weight, "asterisk_mae": ast_abs / weight,
            "ours_bias": ours_bias / weight, "asterisk_bias": ast_bias / weight, "avg_hold": avg_hold}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run (run r uses seed + 10007 r)")
    add_runs_argument(parser)
    args = parser.parse_args()
    load = Load()
    print(load.header(args.runs, "one seed per run, ours and Asterisk's scored on the same simulated waits"))
    t0 = time.perf_counter()
    results = {label: [score(agents, aht, rho, service, args.replications, args.seed + 10007 * r)
                       for r in range(args.runs)]
               for label, agents, aht, rho, service in SCENARIOS}
    print(f"median (min-max) over {args.runs} runs:")
    print(f"{'situation':44} {'pos.':>5} {'ours MAE s':>18} {'Asterisk MAE s':>20} {'Asterisk / ours':>18} "
          f"{'ours bias s':>20} {'Asterisk bias s':>24}")
    for label, runs in results.items():
        def col(key: str, runs: list[dict[str, float]] = runs) -> Spread:
            return Spread.of([r[key] for r in runs])

        ratio = Spread.of([r["asterisk_mae"] / r["ours_mae"] for r in runs])
        print(f"{label:44} {runs[0]['positions']:>5} {col('ours_mae').fmt('.1f'):>18} "
              f"{col('asterisk_mae').fmt('.1f'):>20} {ratio.fmt('.2f', 'x'):>18} {col('ours_bias').fmt('+.1f'):>20} "
              f"{col('asterisk_bias').fmt('+.1f'):>24}")
    print(f"({time.perf_counter() - t0:.1f} s, {args.replications} replications per position)")
    print(load.footer())

if __name__ == "__main__":
    main()
