"""How far the announced wait is from the wait a caller then has: ours vs Asterisk's.

For a stationary M/M/n queue (Erlang C) at evening-peak loads, callers who must wait find
``j`` callers ahead with probability (1 - rho) rho^j. For each ``j`` the queue simulator
(``queueing.sim.waits_from_state``) measures the waits of a caller joining behind them; the
benchmark scores two announcements against those waits, weighted by how often ``j`` happens:

- ours: ``queueing.estimate.estimate_wait`` (position, agents, recent handle time);
- Asterisk's: ``|holdtime average - waited|`` with waited = 0 at entry, the average being the
  long-run mean wait (the best a running average can do): the same figure for every caller.

Prints the mean absolute error of each per caller, their ratio, and the mean error (bias).
Run: ``.venv/bin/python benchmarks/bench_wait_estimate.py [--replications 4000]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

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
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{'situation':44} {'pos.':>5} {'ours MAE':>9} {'Asterisk MAE':>13} {'ratio':>6} "
          f"{'ours bias':>10} {'Ast. bias':>10}")
    t0 = time.perf_counter()
    for label, agents, aht, rho, service in SCENARIOS:
        r = score(agents, aht, rho, service, args.replications, args.seed)
        print(f"{label:44} {r['positions']:5d} {r['ours_mae']:8.1f}s {r['asterisk_mae']:12.1f}s "
              f"{r['asterisk_mae'] / r['ours_mae']:5.2f}x {r['ours_bias']:+9.1f}s {r['asterisk_bias']:+9.1f}s")
    print(f"({time.perf_counter() - t0:.1f} s, {args.replications} replications per position)")


if __name__ == "__main__":
    main()
