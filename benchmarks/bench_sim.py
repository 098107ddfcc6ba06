"""Queue simulator vs Ciw on the same M/M/c+M (Erlang A) queue, in the same run.

Both simulate one stationary FCFS queue with exponential service and patience; the script
prints each one's simulated calls per second and the speed ratio, as median (min-max) over
``--runs`` interleaved runs (ours and Ciw alternating, ``benchmarks/_runs.py``), and each one's
estimates of P(abandon), ASA and the service level (answered within T / offered) against
Erlang A, in standard errors (batch means over 20 batches after a warm-up; both are seeded, so
every run gives the same estimates).

Ciw (the Python queueing-network simulator) is the peer. Its roster is a ``Schedule`` with
``preemption="resume"`` (its default adds a fresh set of servers at every shift change while the
old ones finish, which understates abandonment), and each caller's first record is read (an
interrupted call has more than one). Ciw is about 500 times slower, so it simulates fewer calls
(``--ciw-calls``, a few seconds' work): both speeds are calls per second of the whole run.

The simulator's kernel is compiled by Numba on first use and cached on disk. Beside the speed
the script reports the first call in a fresh process with an empty cache (``NUMBA_CACHE_DIR`` a
new temporary folder: compiling), with that cache filled (loading), and a warm call, each in
``--compile-runs`` fresh subprocesses.

    .venv/bin/python benchmarks/bench_sim.py                  # --calls 1e6,1e7 --ciw-calls 5e4 --runs 5
    .venv/bin/python benchmarks/bench_sim.py --calls 1e6 --ciw-calls 2e4 --runs 3   # quick look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, ratios  # noqa: E402
from queueing.erlang import queue_metrics  # noqa: E402
from queueing.sim import Scenario, simulate  # noqa: E402
from queueing.sim.runner import t975  # noqa: E402

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
    sc = Scenario.stationary(rate, aht, agents, patience, hours=calls / rate / 3600 * 21 / 20,
                             batches=BATCHES, sl_seconds=sl)
    res = simulate(sc, seed=seed)
    t = t975(BATCHES - 1)
    est = {k: (res.summary[k], res.summary[f"{k}_ci95"] / t) for k in ("p_abandon", "asa", "service_level")}
    return est, res.calls, res.seconds


FIRST_CALL_CALLS = 20000


def first_call() -> dict[str, float]:
    """In this (fresh) process: seconds of the first call (compiles the kernels, or loads them
    from Numba's cache) and of the same call again (warm)."""
    out: dict[str, float] = {}
    sc = Scenario.stationary(0.556, 180.0, 100, 180.0, hours=FIRST_CALL_CALLS / 0.556 / 3600)
    for key in ("first_s", "warm_s"):
        t = time.perf_counter()
        simulate(sc, seed=0)
        out[key] = time.perf_counter() - t
    return out


def bench_compile(runs: int) -> None:
    def child(cache: str) -> dict[str, float]:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, __file__, "--first-call"], check=True, capture_output=True, text=True,
                             env=env, cwd=ROOT).stdout
        return json.loads(out.strip().splitlines()[-1])

    cold, cached = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-sim-numba-") as cache:
            cold.append(child(cache))  # empty cache: compiles every kernel
            cached.append(child(cache))  # the cache it just filled: loads them
    first, loaded = [r["first_s"] for r in cold], [r["first_s"] for r in cached]
    warm = [r["warm_s"] for r in cold + cached]
    print(f"first call ({FIRST_CALL_CALLS:,} calls) in a fresh process, s, median (min-max) over {runs} runs:")
    print(f"  empty Numba cache (compiles):  {Spread.of(first).fmt('.2f')}")
    print(f"  cache filled (loads):          {Spread.of(loaded).fmt('.2f')}")
    print(f"  warm (same call again):        {Spread.of(warm).fmt('.3f')}")
    print(f"  compile time = first - warm:   {Spread.of([r['first_s'] - r['warm_s'] for r in cold]).fmt('.2f')}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--aht", type=float, default=180.0)
    ap.add_argument("--patience", type=float, default=180.0)
    ap.add_argument("--load", type=float, default=1.0, help="offered load / agents (1.0 = at capacity)")
    ap.add_argument("--sl-seconds", type=float, default=20.0)
    ap.add_argument("--calls", default="1e6,1e7", help="calls simulated by this simulator per run (comma list)")
    ap.add_argument("--ciw-calls", type=float, default=5e4, help="calls simulated by Ciw per run (slow)")
    ap.add_argument("--shift", type=float, default=1800.0, help="Ciw schedule shift length, seconds")
    ap.add_argument("--seed", type=int, default=1)
    add_runs_argument(ap)
    ap.add_argument("--compile-runs", type=int, default=3, help="fresh processes for the compile time (0: skip)")
    ap.add_argument("--first-call", action="store_true", help=argparse.SUPPRESS)  # the compile-time child
    a = ap.parse_args()
    if a.first_call:
        print(json.dumps(first_call()))
        return 0
    try:
        sizes = [int(float(v)) for v in a.calls.split(",")]
    except ValueError:
        ap.error(f"--calls: not a comma list of numbers: {a.calls!r}")
    load = Load()
    print(load.header(a.runs))
    rate = a.load * a.agents / a.aht
    theory = queue_metrics(rate, a.aht, a.agents, a.patience, a.sl_seconds).as_dict()
    print(f"M/M/{a.agents}+M: {rate:.4g} calls/s, AHT {a.aht:g} s, mean patience {a.patience:g} s, "
          f"load {a.load * a.agents:g} erlangs; service level = answered within {a.sl_seconds:g} s / offered")
    if a.compile_runs:
        bench_compile(a.compile_runs)
    # the first call loads the compiled kernel from Numba's cache (or compiles it); not timed
    simulate(Scenario.stationary(rate, a.aht, a.agents, a.patience, hours=2000 / rate / 3600, sl_seconds=a.sl_seconds),
             seed=0)
    q = (rate, a.aht, a.agents, a.patience, a.sl_seconds)
    label = {n: f"hotline {n:.0e}".replace("e+0", "e").replace("e+", "e") for n in sizes}
    jobs = {label[n]: (lambda n=n: run_ours(*q, n, a.seed)) for n in sizes}
    jobs["Ciw"] = lambda: run_ciw(*q, int(a.ciw_calls), a.seed, a.shift)
    res = alternate(jobs, a.runs)
    speed = {k: [n / secs for _, n, secs in v] for k, v in res.items()}
    print(f"calls/s, median (min-max) over {a.runs} runs; a run counts every simulated arrival, warm-up included:")
    print(f"{'simulator':12s} {'calls':>11s} {'seconds':>20s} {'calls/s':>34s} {'ratio to Ciw':>24s}")
    for k, v in res.items():
        ratio = "1x" if k == "Ciw" else Spread.of(ratios(speed[k], speed["Ciw"])).fmt(",.0f", "x")
        print(f"{k:12s} {v[0][1]:11,d} {Spread.of([r[2] for r in v]).fmt('.2f'):>20s} "
              f"{Spread.of(speed[k]).fmt(',.0f'):>34s} {ratio:>24s}")
    big = label[max(sizes)]
    ours, ciw_est = res[big][0][0], res["Ciw"][0][0]
    assert all(r[0] == ours for r in res[big]) and all(r[0] == ciw_est for r in res["Ciw"])  # seeded
    print(f"estimates ({big} and Ciw; seeded, the same in every run):")
    print(f"{'figure':14s} {'Erlang A':>10s} | {'hotline':>10s} {'SE':>9s} {'z':>6s} | {'Ciw':>10s} {'SE':>9s} {'z':>6s}")
    worst = 0.0
    for k in ("p_abandon", "asa", "service_level"):
        th = theory[k]
        (m1, se1), (m2, se2) = ours[k], ciw_est[k]
        z1, z2 = (m1 - th) / se1, (m2 - th) / se2
        worst = max(worst, abs(z1))
        print(f"{k:14s} {th:10.5f} | {m1:10.5f} {se1:9.2e} {z1:6.2f} | {m2:10.5f} {se2:9.2e} {z2:6.2f}")
    print(f"hotline within {worst:.2f} SE of Erlang A (goal: 4)")
    print(load.footer())
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
