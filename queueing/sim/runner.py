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

from queueing.sim.kernel import (
    COL,
    FIELDS,
    GROW_QUEUE,
    GROW_REDIALS,
    NEED_ARRIVALS,
    NEED_CALLS,
    S_C,
    S_CALLS,
    S_CONSTANT,
    S_EXHAUSTED,
    S_IB,
    S_NB,
    S_NPOS,
    arrivals_chunk,
    run_chunk,
    winner_tree,
)
from queueing.sim.memory import check_memory
from queueing.sim.scenario import Scenario

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


CHUNK = 1 << 15  # calls (and arrivals) per refill: buffers stay in cache


@dataclass
class Replication:
    """Raw output of one run: sums per interval, wait percentiles per interval, and (when asked)
    the positive waits after the warm-up for whole-run percentiles."""

    sums: np.ndarray  # [intervals, len(FIELDS)]
    talk_seconds: np.ndarray  # [intervals + 1], the last one after the horizon
    interval_quantiles: np.ndarray  # [intervals, 3]: p50, p90, p95 of times on the line
    overall_positive: np.ndarray | None  # positive times on the line after the warm-up
    calls: int
    records: dict[str, np.ndarray] | None = None  # per-call arrays when asked for


def draw_arrivals(rng: np.random.Generator, rates: np.ndarray, length: float) -> np.ndarray:
    """All first-attempt arrivals at once (tests, plots): same inversion as the kernel's chunks."""
    total = float(np.sum(rates * length))
    out = []
    fstate, istate = np.zeros(2), np.zeros(2, dtype=np.int64)
    while total > 0 and istate[1] == 0:
        e = rng.standard_exponential(CHUNK)
        n = arrivals_chunk(e, rates, length, total, fstate, istate)
        out.append(e[:n])
    return np.concatenate(out) if out else np.empty(0)


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


def _fill(dist, rng: np.random.Generator, out: np.ndarray) -> None:
    if dist.kind == "exponential":  # straight into the buffer
        rng.standard_exponential(out=out)
        out *= dist.mean
    else:
        out[:] = dist.sample(rng, out.size)


class _Waits:
    """Collects positive waits by interval; finishes an interval's percentiles once it is closed."""

    def __init__(self, scenario: Scenario, sums: np.ndarray, keep_overall: bool) -> None:
        self.sums = sums
        self.n = scenario.intervals
        self.warmup = scenario.warmup_intervals
        self.q = np.full((self.n, 3), np.nan)
        self.open: dict[int, list[np.ndarray]] = {}
        self.overall: list[np.ndarray] | None = [] if keep_overall else None

    def add(self, waits: np.ndarray, ks: np.ndarray) -> None:
        if waits.size == 0:
            return
        cuts = np.flatnonzero(np.diff(ks)) + 1
        for w, k in zip(np.split(waits, cuts), ks[np.concatenate(([0], cuts))], strict=True):
            w = w.copy()  # the kernel reuses its buffer; one copy serves both lists (neither is written to)
            self.open.setdefault(int(k), []).append(w)
            if self.overall is not None and k >= self.warmup:
                self.overall.append(w)
        self.close_before(int(ks[-1]))

    def close_before(self, k: int) -> None:
        for i in [i for i in self.open if i < k]:
            self._finish(i)

    def _finish(self, i: int) -> None:
        w = np.concatenate(self.open.pop(i))
        zeros = int(self.sums[i, COL["line_calls"]] - self.sums[i, COL["waited"]])
        self.q[i] = quantiles(zeros, w, (50.0, 90.0, 95.0))

    def done(self) -> tuple[np.ndarray, np.ndarray | None]:
        self.close_before(self.n)
        for i in range(self.n):  # intervals with no positive wait
            if np.isnan(self.q[i, 0]) and self.sums[i, COL["line_calls"]] > 0:
                self.q[i] = 0.0
        overall = None
        if self.overall is not None:
            overall = np.concatenate(self.overall) if self.overall else np.empty(0)
        return self.q, overall


def run_replication(
    scenario: Scenario,
    rng: np.random.Generator,
    *,
    jit: bool = True,
    keep_records: bool = False,
    overall_percentiles: bool = True,
    progress=None,
    chunk: int | None = None,
) -> Replication:
    """One replication of ``scenario`` with random numbers from ``rng`` (drawn in chunks, in the
    order the kernel asks for them, so the result depends on the seed and the chunk size only).

    ``progress(calls)`` is called after every chunk when given. ``chunk``: calls per refill
    (default ``CHUNK``); a replication of a few thousand calls runs faster with a chunk just
    above its calls, as every refill draws a whole chunk of random numbers.
    """
    agents = np.asarray(scenario.agents, dtype=np.int64)
    n_int = agents.size
    length = float(scenario.interval_seconds)
    if scenario.arrival_rates is None:
        arr_rates, arr_len = np.asarray(scenario.rates, dtype=np.float64), length
    else:
        arr_rates = np.asarray(scenario.arrival_rates, dtype=np.float64)
        arr_len = length * n_int / arr_rates.size
    total = float(np.sum(arr_rates * arr_len))
    service_scale, patience_scale = scenario.interval_scales()
    kernel = run_chunk if jit else run_chunk.py_func
    nxt = slot_table(agents)
    slots = nxt.shape[0]
    p = scenario.redial_prob
    callback_on = scenario.callback_threshold is not None
    capacity = -1 if scenario.queue_capacity is None else int(scenario.queue_capacity)
    b = CHUNK if chunk is None else int(chunk)
    arr = np.empty(b)
    service, patience = np.empty(b), np.empty(b)
    if scenario.patience is None:
        patience[:] = np.inf
    redial_u, redial_delay = (np.empty(b), np.empty(b)) if p > 0 else (np.zeros(1), np.zeros(1))
    callback_u = np.empty(b) if callback_on else np.zeros(1)
    r = b if keep_records else 1
    out_time, out_wait = np.empty(r), np.empty(r)
    out_outcome, out_redial = np.empty(r, dtype=np.int8), np.empty(r, dtype=np.int8)
    pos_wait, pos_k = np.empty(b), np.empty(b, dtype=np.int64)
    talk = np.zeros(n_int + 1)
    sums = np.zeros((n_int, len(FIELDS)))
    key = np.where(agents[0] > np.arange(slots), 0.0, np.where(nxt[:, 0] >= 0, nxt[:, 0] * length, np.inf))
    heap = np.argsort(key, kind="stable").astype(np.int64)  # sorted is a valid heap
    free, free_i = winner_tree(np.zeros(slots))
    rheap = np.empty(1024 if p > 0 else 1)
    qheap = np.empty(1024 if (capacity >= 0 or callback_on) else 1)
    st = np.zeros(9, dtype=np.int64)
    st[S_C] = b  # call buffers start empty
    st[S_CONSTANT] = 1 if slots > 0 and int(agents.min()) == slots else 0
    if total <= 0:
        st[S_EXHAUSTED] = 1
    fstate, istate = np.zeros(2), np.zeros(2, dtype=np.int64)
    waits = _Waits(scenario, sums, overall_percentiles)
    records: dict[str, list[np.ndarray]] = {"arrival": [], "wait": [], "outcome": [], "redial": [], "service": []}

    def collect() -> None:
        c, npos = int(st[S_C]), int(st[S_NPOS])
        waits.add(pos_wait[:npos], pos_k[:npos])
        if keep_records and c:
            for name, src in (("arrival", out_time), ("wait", out_wait), ("outcome", out_outcome),
                              ("redial", out_redial), ("service", service)):
                records[name].append(src[:c].copy())

    while True:
        code = kernel(
            arr, service, patience, redial_u, redial_delay, callback_u, agents, nxt, length,
            scenario.horizon, p, scenario.callback_threshold if callback_on else np.inf,
            scenario.callback_accept, scenario.service.mean, service_scale, patience_scale, capacity,
            float(scenario.sl_seconds),
            keep_records, st, key, heap, free, free_i, rheap, qheap, out_time, out_wait, out_outcome, out_redial,
            pos_wait, pos_k, talk, sums,
        )
        if code == NEED_CALLS:
            if st[S_C] < b or st[S_CALLS] > 0:
                collect()
            _fill(scenario.service, rng, service)
            if scenario.patience is not None:
                _fill(scenario.patience, rng, patience)
            if p > 0:
                rng.random(out=redial_u)
                _fill(scenario.redial_delay, rng, redial_delay)
            if callback_on:
                rng.random(out=callback_u)
            st[S_C] = 0
            st[S_NPOS] = 0
            if progress is not None:
                progress(int(st[S_CALLS]))
        elif code == NEED_ARRIVALS:
            rng.standard_exponential(out=arr)
            st[S_NB] = arrivals_chunk(arr, arr_rates, arr_len, total, fstate, istate)
            st[S_IB] = 0
            st[S_EXHAUSTED] = istate[1]
        elif code == GROW_REDIALS:
            rheap = np.concatenate((rheap, np.empty(rheap.size)))
        elif code == GROW_QUEUE:
            qheap = np.concatenate((qheap, np.empty(qheap.size)))
        else:
            collect()
            break
    q, overall = waits.done()
    recs = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in records.items()} if keep_records else None
    return Replication(sums, talk, q, overall, int(st[S_CALLS]), recs)


def quantiles(zeros: int, positive: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Percentiles (numpy's linear rule) of ``zeros`` zero waits plus the ``positive`` ones,
    without materialising the zeros: one partial sort of the positive waits."""
    n = zeros + positive.size
    if n == 0:
        return [math.nan] * len(qs)
    ranks = []
    for q in qs:
        r = q / 100.0 * (n - 1)
        lo = int(math.floor(r))
        ranks.append((lo, min(lo + 1, n - 1), r - lo))
    need = sorted({x - zeros for lo, hi, _ in ranks for x in (lo, hi) if x >= zeros})
    part = np.partition(positive, need) if need else positive

    def order(i: int) -> float:
        return 0.0 if i < zeros else float(part[i - zeros])

    return [order(lo) + f * (order(hi) - order(lo)) for lo, hi, f in ranks]


def _derive(s: dict[str, float], waits: np.ndarray | tuple | None, agent_seconds: float, talk: float) -> dict[str, float]:
    """Metrics from summed counts; NaN where a denominator is zero. ``waits``: positive waits
    (percentiles computed here), ready percentiles, or None."""
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
    if waits is None:
        out.update(wait_p50=math.nan, wait_p90=math.nan, wait_p95=math.nan)
    elif isinstance(waits, tuple):
        out.update(wait_p50=float(waits[0]), wait_p90=float(waits[1]), wait_p95=float(waits[2]))
    else:
        p50, p90, p95 = quantiles(int(s["line_calls"] - s["waited"]), waits, (50.0, 90.0, 95.0))
        out.update(wait_p50=p50, wait_p90=p90, wait_p95=p95)
    out["wait_max"] = float(s["wait_max"]) if s["line_calls"] > 0 else math.nan
    out["callback_mean_delay"] = ratio(s["callback_delay_sum"], s["callbacks"])
    return out


def interval_metrics(scenario: Scenario, rep: Replication) -> list[dict[str, float]]:
    rows = []
    for i in range(scenario.intervals):
        s = dict(zip(FIELDS, rep.sums[i].tolist(), strict=True))
        waits = tuple(rep.interval_quantiles[i].tolist())
        row = {"interval": i, "start": scenario.start_seconds + i * scenario.interval_seconds,
               "rate": scenario.rates[i], "agents": scenario.agents[i]}
        row.update(_derive(s, waits, scenario.agents[i] * scenario.interval_seconds, float(rep.talk_seconds[i])))
        rows.append(row)
    return rows


def overall_metrics(scenario: Scenario, rep: Replication, percentiles: bool = True) -> dict[str, float]:
    """The whole run after the warm-up intervals (percentiles cost a pass; skip when unused)."""
    w = scenario.warmup_intervals
    tot = rep.sums[w:].sum(axis=0)
    s = dict(zip(FIELDS, tot.tolist(), strict=True))
    s["wait_max"] = float(rep.sums[w:, COL["wait_max"]].max())
    agent_seconds = float(sum(scenario.agents[w:])) * scenario.interval_seconds
    waits = rep.overall_positive if percentiles else None
    return _derive(s, waits, agent_seconds, float(rep.talk_seconds[w:scenario.intervals].sum()))


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
    stationary scenario (``Scenario.stationary``), from its batch means. A run that would need
    more memory than the machine has is refused before anything is allocated (``memory.py``).
    """
    if int(replications) != replications or replications < 1:
        from queueing.erlang import ScenarioError

        raise ScenarioError(f"replications must be a whole number >= 1, got {replications!r}")
    check_memory(scenario, int(replications))
    t0 = time.perf_counter()
    streams = np.random.SeedSequence(seed).spawn(int(replications))
    bar = None
    done_before = 0
    if progress:
        from tqdm import tqdm  # writes to stderr

        bar = tqdm(total=int(scenario.expected_calls * replications), desc="calls", unit="call",
                   unit_scale=True, leave=False, disable=None)  # None: off when stderr is no terminal

    def on_calls(n: int) -> None:
        if bar is not None:
            bar.n = min(done_before + n, bar.total)
            bar.refresh()

    batch = scenario.batch_means and replications == 1
    rows: list[dict[str, float]] = []
    per_interval: list[list[dict[str, float]]] = [[] for _ in range(scenario.intervals)]
    summaries: list[dict[str, float]] = []
    calls = 0
    for r, stream in enumerate(streams):
        rep = run_replication(scenario, np.random.Generator(np.random.PCG64(stream)), jit=jit,
                              overall_percentiles=not batch, progress=on_calls)
        calls += rep.calls
        done_before += rep.calls
        for row in interval_metrics(scenario, rep):
            per_interval[row["interval"]].append(row)
            rows.append({"replication": r, **row})
        summaries.append(overall_metrics(scenario, rep, percentiles=not batch))
    if batch:
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
    if bar is not None:
        bar.close()
    intervals = [_combine(units) for units in per_interval]
    return SimResult(
        scenario=scenario, seed=seed, replications=int(replications), ci_method=ci_method,
        summary=summary, intervals=intervals, rows=rows, calls=calls,
        seconds=time.perf_counter() - t0, replication_summaries=summaries,
    )
