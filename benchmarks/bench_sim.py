"""Queue simulator vs Ciw on the same M/M/c+M (Erlang A) queue, in the same run.

Both simulate one stationary FCFS queue with exponential service and patience; the script
prints each one's simulated calls per second, the speed ratio, and each one's estimates of
P(abandon), ASA and the service level (answered within T / offered) against Erlang A, in
standard errors (batch means over 20 batches after a warm-up).

Ciw (the Python queueing-network simulator) is the peer. Its roster is a ``Schedule`` with
``preemption="resume"`` (its default adds a fresh set of servers at every shift change while the
old ones finish, which understates abandonment), and each caller's first record is read (an
interrupted call has more than one).

    .venv/bin/python benchmarks/bench_sim.py                      # 10^7 calls here, 10^5 in Ciw
    .venv/bin/python benchmarks/bench_sim.py --calls 1e6 --ciw-calls 2e4   # quick look
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from queueing.erlang import queue_metrics
from queueing.sim import Scenario, simulate
from queueing.sim.runner import t975

BATCHES = 20


def batch_estimates(arrival: np.ndarray, wait: np.ndarray, served: np.ndarray, lo: float, hi: float,
                    sl: float) -> dict[str, tuple[float, float]]:
    """Mean and standard error of each figure over equal batches of arrival time in [lo, hi)."""
    edges = np.linspace(lo, hi, BATCHES + 1)
    b = np.searchsorted(edges, arrival, side="right") - 1
    keep = (b >= 0) & (b < BATCHES)
    vals: dict[str, list[float]] = {"p_abandon": [], "asa": [], "service_level": []}
    for i in range(BATCHES):
        m = keep & (b == i)
        n = int(m.sum())
        s = served[m]
        w = wait[m]
        vals["p_abandon"].append(1.0 - s.sum() / n)
        vals["asa"].append(float(w[s].mean()))
        vals["service_level"].append(float(np.sum(s & (w <= sl)) / n))
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1) / math.sqrt(BATCHES))) for k, v in vals.items()}


def run_ciw(rate: float, aht: float, agents: int, patience: float, sl: float, calls: int, seed: int,
            shift: float) -> tuple[dict[str, tuple[float, float]], int, float]:
    import ciw

    warm = 0.05 * calls / rate
    tail = 30.0 * max(aht, patience)  # callers arriving later may still be in the system at the end
    horizon = warm + calls / rate + tail
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate)],
        service_distributions=[ciw.dists.Exponential(1.0 / aht)],
        number_of_servers=[ciw.Schedule(numbers_of_servers=[agents], shift_end_dates=[shift], preemption="resume")],
        reneging_time_distributions=[ciw.dists.Exponential(1.0 / patience)],
    )
    ciw.seed(seed)
    t0 = time.perf_counter()
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(horizon)
    records = sim.get_all_records()
    seconds = time.perf_counter() - t0
    first: dict[int, object] = {}
    for r in records:  # each caller's first record: its first wait (an interrupted call has more)
        f = first.get(r.id_number)
        if f is None or r.exit_date < f.exit_date:
            first[r.id_number] = r
    arrival = np.array([r.arrival_date for r in first.values()])
    wait = np.array([r.waiting_time for r in first.values()])
    served = np.array([r.record_type != "renege" for r in first.values()])
    simulated = sim.nodes[0].number_of_individuals  # every arrival, warm-up and tail included
    return batch_estimates(arrival, wait, served, warm, horizon - tail, sl), simulated, seconds


def run_ours(rate: float, aht: float, agents: int, patience: float, sl: float, calls: int, seed: int):
    # the first call loads the compiled kernel from Numba's cache (or compiles it); not timed
    simulate(Scenario.stationary(rate, aht, agents, patience, hours=2000 / rate / 3600, sl_seconds=sl), seed=0)
    sc = Scenario.stationary(rate, aht, agents, patience, hours=calls / rate / 3600 * 21 / 20,
                             batches=BATCHES, sl_seconds=sl)
    res = simulate(sc, seed=seed)
    t = t975(BATCHES - 1)
    est = {k: (res.summary[k], res.summary[f"{k}_ci95"] / t) for k in ("p_abandon", "asa", "service_level")}
    return est, res.calls, res.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--aht", type=float, default=180.0)
    ap.add_argument("--patience", type=float, default=180.0)
    ap.add_argument("--load", type=float, default=1.0, help="offered load / agents (1.0 = at capacity)")
    ap.add_argument("--sl-seconds", type=float, default=20.0)
    ap.add_argument("--calls", type=float, default=1e7, help="calls simulated by this simulator")
    ap.add_argument("--ciw-calls", type=float, default=1e5, help="calls simulated by Ciw (slow)")
    ap.add_argument("--shift", type=float, default=1800.0, help="Ciw schedule shift length, seconds")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rate = a.load * a.agents / a.aht
    theory = queue_metrics(rate, a.aht, a.agents, a.patience, a.sl_seconds).as_dict()
    print(f"M/M/{a.agents}+M: {rate:.4g} calls/s, AHT {a.aht:g} s, mean patience {a.patience:g} s, "
          f"load {a.load * a.agents:g} erlangs; service level = answered within {a.sl_seconds:g} s / offered")
    ours, n_ours, s_ours = run_ours(rate, a.aht, a.agents, a.patience, a.sl_seconds, int(a.calls), a.seed)
    ciw_est, n_ciw, s_ciw = run_ciw(rate, a.aht, a.agents, a.patience, a.sl_seconds, int(a.ciw_calls), a.seed,
                                    a.shift)
    speed_ours, speed_ciw = n_ours / s_ours, n_ciw / s_ciw
    print(f"{'':10s} {'calls':>11s} {'seconds':>8s} {'calls/s':>12s}")
    print(f"{'hotline':10s} {n_ours:11,d} {s_ours:8.2f} {speed_ours:12,.0f}")
    print(f"{'Ciw':10s} {n_ciw:11,d} {s_ciw:8.2f} {speed_ciw:12,.0f}")
    print(f"speed ratio hotline / Ciw: {speed_ours / speed_ciw:,.0f}x")
    print(f"{'figure':14s} {'Erlang A':>10s} | {'hotline':>10s} {'SE':>9s} {'z':>6s} | {'Ciw':>10s} {'SE':>9s} {'z':>6s}")
    worst = 0.0
    for k in ("p_abandon", "asa", "service_level"):
        th = theory[k]
        (m1, se1), (m2, se2) = ours[k], ciw_est[k]
        z1, z2 = (m1 - th) / se1, (m2 - th) / se2
        worst = max(worst, abs(z1))
        print(f"{k:14s} {th:10.5f} | {m1:10.5f} {se1:9.2e} {z1:6.2f} | {m2:10.5f} {se2:9.2e} {z2:6.2f}")
    print(f"hotline within {worst:.2f} SE of Erlang A (goal: 4); goal speed ratio >= 500x: "
          f"{'met' if speed_ours / speed_ciw >= 500 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
