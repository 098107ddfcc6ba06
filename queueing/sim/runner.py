"""The thin API over the kernel: draw every random number, run, tally, summarise.

Why here and not in the kernel: drawing up front from a seeded ``numpy.random.Generator`` makes
runs reproducible (same seed, same result, compiled or not), and keeps the kernel free of
distributions and Python objects so it compiles once and runs without the GIL.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from queueing.sim.kernel import OK, run_day
from queueing.sim.scenario import Scenario
from queueing.sim.tally import COL, FIELDS, tally

# Metrics derived from the sums; service levels are named by definition (see queueing.erlang).
METRICS = (
    "p_wait", "p_abandon", "mean_wait", "asa", "service_level", "service_level_answered",
    "p_wait_le_t", "occupancy", "busy_rate", "wait_p50", "wait_p90", "wait_p95", "wait_max",
    "callback_mean_delay",
)
COUNTS = ("offered", "answered", "abandoned", "busy", "callbacks", "redials", "unserved")


def t975(df: int) -> float:
    """Two-sided 95 % Student t quantile (table to 30 degrees of freedom, then a close fit)."""
    table = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
             2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
             2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
    if df < 1:
        return math.nan
    return table[df - 1] if df <= 30 else 1.960 + 2.4 / df


@dataclass
class Replication:
    """Raw output of one run: sums per interval plus the grouped waits for percentiles."""

    sums: np.ndarray  # [intervals, len(FIELDS)]
    talk_seconds: np.ndarray  # [intervals + 1], the last one after the horizon
    grouped: np.ndarray  # times on the line, grouped by interval
    offsets: np.ndarray  # [intervals + 1]
    calls: int
    records: dict[str, np.ndarray] | None = None  # per-call arrays when asked for


def draw_arrivals(rng: np.random.Generator, rates: np.ndarray, length: float) -> np.ndarray:
    """Non-homogeneous Poisson arrivals by inversion of the piecewise-linear cumulative rate."""
    lam_cum = np.concatenate(([0.0], np.cumsum(rates * length)))
    total = float(lam_cum[-1])
    if total <= 0:
        return np.empty(0)
    chunk = int(total + 8.0 * math.sqrt(total) + 20)
    e = np.cumsum(rng.standard_exponential(chunk))
    while e[-1] < total:
        e = np.concatenate((e, e[-1] + np.cumsum(rng.standard_exponential(chunk // 4 + 20))))
    e = e[: int(np.searchsorted(e, total))]
    breaks = np.arange(rates.size + 1, dtype=np.float64) * length
    return np.interp(e, lam_cum, breaks)


def slot_table(agents: np.ndarray) -> np.ndarray:
    """nxt[j, i] = first interval >= i where slot j is on duty (-1 if none); slots are nested."""
    slots = int(agents.max()) if agents.size else 0
    on = agents[None, :] > np.arange(slots)[:, None]
    nxt = np.full((slots, agents.size), -1, dtype=np.int64)
    following = np.full(slots, -1, dtype=np.int64)
    for i in range(agents.size - 1, -1, -1):
        following = np.where(on[:, i], i, following)
        nxt[:, i] = following
    return nxt


def run_replication(
    scenario: Scenario, rng: np.random.Generator, *, jit: bool = True, keep_records: bool = False
) -> Replication:
    """One replication of ``scenario`` with random numbers from ``rng`` (consumed in a fixed order)."""
    agents = np.asarray(scenario.agents, dtype=np.int64)
    length = float(scenario.interval_seconds)
    if scenario.arrival_rates is None:
        arrivals = draw_arrivals(rng, np.asarray(scenario.rates, dtype=np.float64), length)
    else:
        fine = np.asarray(scenario.arrival_rates, dtype=np.float64)
        arrivals = draw_arrivals(rng, fine, length * agents.size / fine.size)
    n = arrivals.size
    p = scenario.redial_prob
    extra = int(n * p / (1.0 - p) * 1.5) + 100 if p > 0 else 0
    kernel = run_day if jit else run_day.py_func
    nxt = slot_table(agents)
    callback_on = scenario.callback_threshold is not None
    while True:
        m = n + extra
        service = scenario.service.sample(rng, m)
        patience = np.full(m, np.inf) if scenario.patience is None else scenario.patience.sample(rng, m)
        redial_u = rng.random(m) if p > 0 else np.zeros(1)
        redial_delay = scenario.redial_delay.sample(rng, m) if p > 0 else np.zeros(1)
        callback_u = rng.random(m) if callback_on else np.zeros(1)
        out_time = np.empty(m)
        out_wait = np.empty(m)
        out_outcome = np.empty(m, dtype=np.int8)
        out_redial = np.empty(m, dtype=np.int8)
        talk = np.zeros(agents.size + 1)
        count, status = kernel(
            arrivals, service, patience, redial_u, redial_delay, callback_u, agents, nxt, length,
            scenario.horizon, p, scenario.callback_threshold if callback_on else np.inf,
            scenario.callback_accept, scenario.service.mean,
            -1 if scenario.queue_capacity is None else int(scenario.queue_capacity),
            out_time, out_wait, out_outcome, out_redial, talk,
        )
        if status == OK:
            break
        extra = 2 * extra + 1000  # more redials than drawn for: draw more (still deterministic)
    sums = np.zeros((agents.size, len(FIELDS)))
    grouped = np.empty(count)
    offsets = np.zeros(agents.size + 1, dtype=np.int64)
    tally(out_time, out_wait, out_outcome, out_redial, count, length, agents.size,
          float(scenario.sl_seconds), sums, grouped, offsets)
    records = None
    if keep_records:
        records = {"arrival": out_time[:count], "wait": out_wait[:count], "outcome": out_outcome[:count],
                   "redial": out_redial[:count], "service": service[:count]}
    return Replication(sums, talk, grouped[: offsets[-1]], offsets, int(count), records)


def _derive(s: dict[str, float], waits: np.ndarray, agent_seconds: float, talk: float) -> dict[str, float]:
    """Metrics from summed counts; NaN where a denominator is zero."""
    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else math.nan

    out = {k: s[k] for k in COUNTS}
    out["calls"] = s["offered"]
    out["p_wait"] = ratio(s["waited"], s["offered"])
    out["p_abandon"] = ratio(s["abandoned"], s["offered"])
    out["mean_wait"] = ratio(s["wait_sum"], s["line_calls"])
    out["asa"] = ratio(s["answered_wait_sum"], s["answered"])
    out["service_level"] = ratio(s["answered_within_t"], s["offered"])
    out["service_level_answered"] = ratio(s["answered_within_t"], s["answered"])
    out["p_wait_le_t"] = ratio(s["line_within_t"], s["line_calls"])
    out["occupancy"] = ratio(talk, agent_seconds)
    out["busy_rate"] = ratio(s["busy"], s["offered"])
    if waits.size:
        p50, p90, p95 = np.percentile(waits, (50.0, 90.0, 95.0))
        out.update(wait_p50=float(p50), wait_p90=float(p90), wait_p95=float(p95), wait_max=float(s["wait_max"]))
    else:
        out.update(wait_p50=math.nan, wait_p90=math.nan, wait_p95=math.nan, wait_max=math.nan)
    out["callback_mean_delay"] = ratio(s["callback_delay_sum"], s["callbacks"])
    return out


def interval_metrics(scenario: Scenario, rep: Replication) -> list[dict[str, float]]:
    rows = []
    for i in range(scenario.intervals):
        s = dict(zip(FIELDS, rep.sums[i].tolist(), strict=True))
        waits = rep.grouped[rep.offsets[i]: rep.offsets[i + 1]]
        row = {"interval": i, "start": scenario.start_seconds + i * scenario.interval_seconds,
               "rate": scenario.rates[i], "agents": scenario.agents[i]}
        row.update(_derive(s, waits, scenario.agents[i] * scenario.interval_seconds, float(rep.talk_seconds[i])))
        rows.append(row)
    return rows


def overall_metrics(scenario: Scenario, rep: Replication) -> dict[str, float]:
    """The whole run after the warm-up intervals."""
    w = scenario.warmup_intervals
    tot = rep.sums[w:].sum(axis=0)
    s = dict(zip(FIELDS, tot.tolist(), strict=True))
    s["wait_max"] = float(rep.sums[w:, COL["wait_max"]].max())
    agent_seconds = float(sum(scenario.agents[w:])) * scenario.interval_seconds
    return _derive(s, rep.grouped[rep.offsets[w]:], agent_seconds, float(rep.talk_seconds[w:scenario.intervals].sum()))


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 95 % half-width over independent units (replications or batches); NaNs dropped."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan
    return float(v.mean()), t975(v.size - 1) * float(v.std(ddof=1)) / math.sqrt(v.size)


@dataclass
class SimResult:
    """Results as flat records: ``summary`` (overall, with ``<metric>_ci95`` half-widths),
    ``intervals`` (per interval, averaged over replications, with half-widths) and ``rows`` (one
    record per replication and interval)."""

    scenario: Scenario
    seed: int
    replications: int
    ci_method: str  # "replications" or "batch means"
    summary: dict[str, float]
    intervals: list[dict[str, float]]
    rows: list[dict[str, float]]
    calls: int  # calls processed, every replication and warm-up included
    seconds: float  # wall time of the whole run
    replication_summaries: list[dict[str, float]] = field(default_factory=list)

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else math.nan


def _combine(units: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in units[0]:
        m, h = mean_ci([u[key] for u in units])
        out[key] = m
        if key in METRICS or key in COUNTS or key == "calls":
            out[f"{key}_ci95"] = h
    return out


def simulate(
    scenario: Scenario,
    *,
    seed: int = 0,
    replications: int = 1,
    progress: bool = False,
    jit: bool = True,
) -> SimResult:
    """Run ``replications`` independent replications (streams spawned from ``seed``).

    Confidence intervals come from the replications, or, for a single replication of a
    stationary scenario (``Scenario.stationary``), from its batch means.
    """
    if int(replications) != replications or replications < 1:
        from queueing.erlang import ScenarioError

        raise ScenarioError(f"replications must be a whole number >= 1, got {replications!r}")
    t0 = time.perf_counter()
    streams = np.random.SeedSequence(seed).spawn(int(replications))
    iterator = streams
    if progress:
        from tqdm import tqdm

        iterator = tqdm(streams, desc="replications", unit="rep", leave=False)
    rows: list[dict[str, float]] = []
    per_interval: list[list[dict[str, float]]] = [[] for _ in range(scenario.intervals)]
    summaries: list[dict[str, float]] = []
    calls = 0
    for r, stream in enumerate(iterator):
        rep = run_replication(scenario, np.random.Generator(np.random.PCG64(stream)), jit=jit)
        calls += rep.calls
        for row in interval_metrics(scenario, rep):
            per_interval[row["interval"]].append(row)
            rows.append({"replication": r, **row})
        summaries.append(overall_metrics(scenario, rep))
    if scenario.batch_means and replications == 1:
        units = [per_interval[i][0] for i in range(scenario.warmup_intervals, scenario.intervals)]
        summary = _combine([{k: u[k] for k in summaries[0]} for u in units])
        # counts over the whole run, not per batch
        for k in (*COUNTS, "calls"):
            summary[k] = summaries[0][k]
            summary[f"{k}_ci95"] = math.nan
        ci_method = "batch means"
    else:
        summary = _combine(summaries)
        ci_method = "replications"
    intervals = [_combine(units) for units in per_interval]
    return SimResult(
        scenario=scenario, seed=seed, replications=int(replications), ci_method=ci_method,
        summary=summary, intervals=intervals, rows=rows, calls=calls,
        seconds=time.perf_counter() - t0, replication_summaries=summaries,
    )
