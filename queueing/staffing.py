"""Agents per interval for a day: SIPP, lagged SIPP, modified offered load, then simulation.

Why more than SIPP: "stationary independent period by period" staffing treats each half hour
as if it had always had its own arrival rate. But calls in progress carry over: when the rate
falls after the evening peak the agents are still busy with the peak's calls, so the real load
runs above rate x AHT and SIPP leaves those intervals short. Lagged SIPP shifts the rate by one
AHT; the modified offered load (MOL) uses m(t) = E[arrivals in (t - S, t]], the mean number of
calls that would be in service with unlimited agents. Both feed Erlang A; the simulator then
checks the roster and adds agents where the simulated interval misses the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from queueing.erlang import MAX_AGENTS, ScenarioError, queue_metrics
from queueing.profiles import Profile
from queueing.sim import SimResult, simulate

METHODS = ("sipp", "lagged-sipp", "mol")


@dataclass(frozen=True)
class Target:
    """Per-interval goal: ``service_level`` (answered within ``sl_seconds`` / offered) at least
    ``target_sl`` (0: no service-level goal), abandoned / offered at most ``max_abandon`` and the
    ASA (mean wait of answered callers) at most ``max_asa`` seconds, each when given."""

    target_sl: float = 0.8
    sl_seconds: float = 20.0
    max_abandon: float | None = None
    max_asa: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.target_sl < 1:
            raise ScenarioError(f"target service level must be between 0 and 1, got {self.target_sl!r}")
        if not (self.sl_seconds >= 0):
            raise ScenarioError(f"service-level threshold must be >= 0 s, got {self.sl_seconds!r}")
        if self.max_abandon is not None and not 0 < self.max_abandon < 1:
            raise ScenarioError(f"max abandonment must be between 0 and 1, got {self.max_abandon!r}")
        if self.max_asa is not None and not (math.isfinite(self.max_asa) and self.max_asa > 0):
            raise ScenarioError(f"max ASA must be a finite number > 0 seconds, got {self.max_asa!r}")
        if self.target_sl == 0 and self.max_abandon is None and self.max_asa is None:
            raise ScenarioError("no target: give a service level above 0, a max abandonment or a max ASA")

    def met(self, service_level: float, p_abandon: float, asa: float = math.nan) -> bool:
        if math.isnan(service_level):
            return True  # no calls in the interval
        ok = service_level >= self.target_sl
        if self.max_abandon is not None:
            ok = ok and p_abandon <= self.max_abandon
        if self.max_asa is not None and not math.isnan(asa):
            ok = ok and asa <= self.max_asa
        return ok

    def describe(self, sl_definition: str) -> str:
        """The goal in words, e.g. for a report header."""
        parts = []
        if self.target_sl > 0:
            parts.append(f"service level {100 * self.target_sl:g} % ({sl_definition})")
        if self.max_abandon is not None:
            parts.append(f"abandonment at most {100 * self.max_abandon:g} %")
        if self.max_asa is not None:
            parts.append(f"ASA at most {self.max_asa:g} s")
        return ", ".join(parts)


def agents_needed(rate: float, aht: float, patience: float | None, target: Target, minimum: int = 1) -> int:
    """Smallest agent count whose Erlang A (Erlang C without patience) figures meet ``target``:
    the "reverse Erlang" of calculators ("agents for 80/20")."""
    if rate <= 0:
        return minimum

    def ok(n: int) -> bool:
        if patience is None and rate * aht >= n:
            return False
        m = queue_metrics(rate, aht, n, patience, target.sl_seconds)
        return target.met(m.service_level, m.p_abandon, m.asa)

    too_many = (f"a load of {rate * aht:,.0f} erlangs needs more than the {MAX_AGENTS:,} agents "
                "these formulas are computed for")
    if rate * aht >= MAX_AGENTS:
        raise ScenarioError(too_many)
    lo = max(minimum, 1)
    if ok(lo):
        return lo
    hi = max(lo + 1, int(rate * aht) + 1)
    while not ok(hi):
        if hi >= MAX_AGENTS:
            raise ScenarioError(too_many)
        lo, hi = hi, min(hi * 2, MAX_AGENTS)
    while hi - lo > 1:  # ok(hi), not ok(lo); SL, abandonment and ASA are monotone in agents
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def fte(agents: float, shrinkage: float) -> float:
    """Full-time equivalents to schedule so that ``agents`` are on the phones: ``agents / (1 -
    shrinkage)``, shrinkage being the share of paid time not on the phones (breaks, training,
    meetings, absence)."""
    if not 0 <= shrinkage < 1:
        raise ScenarioError(f"shrinkage must be in [0, 1), got {shrinkage!r}")
    return agents / (1.0 - shrinkage)


def _cumulative(rates: np.ndarray, length: float):
    """Λ(t) for a day repeated periodically (yesterday looked like today)."""
    day = rates.size * length
    per_day = float(rates.sum() * length)
    knots = np.concatenate(([0.0], np.cumsum(rates * length)))
    breaks = np.arange(rates.size + 1) * length

    def lam(t: np.ndarray) -> np.ndarray:
        days = np.floor(t / day)
        return days * per_day + np.interp(t - days * day, breaks, knots)

    return lam


def effective_rates(profile: Profile, method: str, *, points: int = 30, draws: int = 4000) -> np.ndarray:
    """Arrival rate (calls/s) each interval should be staffed for under ``method``."""
    rates = np.asarray(profile.rates)
    length = profile.interval_seconds
    aht = profile.mean_aht()  # the lag; with AHT by interval, the day's mean
    if method == "sipp":
        return rates.copy()
    fine = profile.arrival_rates
    if fine is None:
        lam = _cumulative(rates, length)
    else:  # the lag and the offered load follow the arrival curve itself
        lam = _cumulative(np.asarray(fine), length * rates.size / len(fine))
    starts = np.arange(rates.size) * length
    if method == "lagged-sipp":
        return (lam(starts + length - aht) - lam(starts - aht)) / length
    if method == "mol":
        # m(t) = E[Λ(t) - Λ(t - S)], averaged over the interval; S from the service distribution
        s = np.sort(profile.service.sample(np.random.default_rng(12345), draws))
        out = np.empty(rates.size)
        for i, t0 in enumerate(starts):
            t = t0 + (np.arange(points) + 0.5) * length / points
            m = (lam(t)[:, None] - lam(t[:, None] - s[None, :])).mean(axis=1)
            out[i] = m.mean() / s.mean()  # the sample mean, so a flat day gives back its rate
        return out
    raise ScenarioError(f"unknown staffing method {method!r}; use one of {', '.join(METHODS)}")


def _zero_nan(x: float) -> float:
    return 0.0 if x is None or math.isnan(x) else x


@dataclass
class StaffingPlan:
    """The roster a method proposes, before and after simulation-based correction."""

    method: str
    target: Target
    labels: list[str]
    calls_per_hour: list[float]
    effective_load: list[float]  # erlangs the method staffs for
    erlang_agents: list[int]
    agents: list[int]  # after correction (equal to erlang_agents when not corrected)
    erlang_result: SimResult | None = None  # simulation of the Erlang roster
    result: SimResult | None = None  # simulation of the final roster
    rounds: int = 0
    notes: list[str] = field(default_factory=list)

    def below_target(self, result: SimResult | None = None, *, significant: bool = False) -> list[int]:
        """Intervals whose mean over the replications misses the target; with ``significant``,
        only those whose whole 95 % confidence interval misses it."""
        res = result or self.result
        if res is None:
            return []
        out = []
        for i, r in enumerate(res.intervals):
            sl, ab, asa = r["service_level"], r["p_abandon"], r.get("asa", math.nan)
            if significant:
                sl += _zero_nan(r.get("service_level_ci95", 0.0))
                ab -= _zero_nan(r.get("p_abandon_ci95", 0.0))
                asa -= _zero_nan(r.get("asa_ci95", 0.0))
            if not self.target.met(sl, ab, asa):
                out.append(i)
        return out


def erlang_plan(profile: Profile, target: Target, method: str = "lagged-sipp", minimum: int = 1) -> StaffingPlan:
    """Erlang A staffing at the method's effective rate, interval by interval (with the
    interval's own AHT and patience when the profile has them)."""
    eff = effective_rates(profile, method)
    ahts, patience = profile.aht(), profile.mean_patience()
    agents = [agents_needed(float(r), a, p, target, minimum) for r, a, p in zip(eff, ahts, patience, strict=True)]
    return StaffingPlan(
        method=method, target=target, labels=profile.labels(), calls_per_hour=list(profile.calls_per_hour),
        effective_load=[float(r) * a for r, a in zip(eff, ahts, strict=True)], erlang_agents=list(agents),
        agents=list(agents),
    )


def _simulate(profile: Profile, agents: Sequence[int], target: Target, replications: int, seed: int) -> SimResult:
    sc = profile.with_agents(agents).scenario(sl_seconds=target.sl_seconds)
    return simulate(sc, seed=seed, replications=replications)


def _extra_agents(n: int, load: float, aht: float, patience: float | None, target: Target,
                  sim: dict[str, float]) -> int:
    """How many agents to add: lift Erlang A's prediction by the gap the simulation found."""
    rate = load / aht
    m = queue_metrics(rate, aht, max(n, 1), patience, target.sl_seconds) if (patience is not None or load < n) else None
    sl_goal = target.target_sl
    if target.target_sl > 0:
        sl_goal = min(max(target.target_sl + (m.service_level - sim["service_level"] if m else 0.0),
                          target.target_sl), 0.999)
    ab_goal = asa_goal = None
    if target.max_abandon is not None:
        ab_goal = target.max_abandon - (sim["p_abandon"] - m.p_abandon if m else 0.0)
        ab_goal = min(max(ab_goal, 1e-4), target.max_abandon)
    if target.max_asa is not None:
        gap = sim["asa"] - m.asa if (m and not math.isnan(sim["asa"])) else 0.0
        asa_goal = min(max(target.max_asa - gap, 0.01 * target.max_asa), target.max_asa)
    goal = Target(sl_goal, target.sl_seconds, ab_goal, asa_goal)
    return max(1, agents_needed(rate, aht, patience, goal, n) - n)


def _comfortable(r: dict[str, float], target: Target) -> bool:
    """An interval beating every goal by a margin: SL by 3 points, abandonment and ASA by 40 % and 20 %
    of their maximum."""
    ok = target.target_sl == 0 or r["service_level"] > target.target_sl + 0.03
    if target.max_abandon is not None:
        ok = ok and r["p_abandon"] < 0.6 * target.max_abandon
    if target.max_asa is not None:
        ok = ok and r["asa"] < 0.8 * target.max_asa
    return ok


def correct_by_simulation(
    profile: Profile,
    plan: StaffingPlan,
    *,
    replications: int = 20,
    seed: int = 0,
    max_rounds: int = 12,
    trim: bool = True,
) -> StaffingPlan:
    """Simulate the roster; add agents where an interval misses the target; optionally take
    agents back where an interval beats it comfortably and still meets it without them.

    The same seed every round (common random numbers), so changes come from the roster, not
    from noise. Targets are judged on the mean over the replications.
    """
    target = plan.target
    ahts, patience = profile.aht(), profile.mean_patience()
    agents = list(plan.agents)
    res = _simulate(profile, agents, target, replications, seed)
    plan.erlang_result = res
    rounds = 0
    while rounds < max_rounds:
        short = plan.below_target(res)
        if not short:
            break
        rounds += 1
        for i in short:
            agents[i] += _extra_agents(agents[i], plan.effective_load[i], ahts[i], patience[i], target,
                                       res.intervals[i])
        res = _simulate(profile, agents, target, replications, seed)
    else:
        plan.notes.append(f"still short after {max_rounds} rounds: {[plan.labels[i] for i in plan.below_target(res)]}")
    if trim and not plan.below_target(res):
        for _ in range(3):
            slack = [i for i, r in enumerate(res.intervals) if agents[i] > 1 and _comfortable(r, target)]
            if not slack:
                break
            trial = list(agents)
            for i in slack:
                trial[i] -= 1
            tres = _simulate(profile, trial, target, replications, seed)
            failed = set(plan.below_target(tres))
            if failed:
                for i in failed:
                    trial[i] = agents[i]
                tres = _simulate(profile, trial, target, replications, seed)
                if plan.below_target(tres):
                    break
            rounds += 1
            if trial == agents:
                break
            agents, res = trial, tres
    plan.agents = agents
    plan.result = res
    plan.rounds = rounds
    return plan


def staff(
    profile: Profile,
    target: Target,
    method: str = "lagged-sipp",
    *,
    correct: bool = True,
    replications: int = 20,
    seed: int = 0,
    minimum: int = 1,
) -> StaffingPlan:
    """Erlang A staffing by ``method``, then (``correct=True``) checked and corrected by simulation."""
    plan = erlang_plan(profile, target, method, minimum)
    if correct:
        return correct_by_simulation(profile, plan, replications=replications, seed=seed)
    plan.result = plan.erlang_result = _simulate(profile, plan.agents, target, replications, seed)
    return plan


def compare_methods(profile: Profile, target: Target, *, replications: int = 200, seed: int = 0,
                    methods: Sequence[str] = METHODS) -> dict[str, StaffingPlan]:
    """Each method's Erlang roster simulated on the same day, without correction."""
    return {m: staff(profile, target, m, correct=False, replications=replications, seed=seed) for m in methods}
