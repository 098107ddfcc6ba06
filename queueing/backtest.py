"""A plan against what happened: forecast vs actual calls, planned vs actual service level.

Three service levels per interval (each answered within T / offered):

* ``planned``: the plan's roster simulated at the forecast (what the plan promised);
* ``replayed``: the same roster simulated at the calls, AHT and patience the day really had
  (what the plan would have given had it been kept: the gap to ``planned`` is the forecast's
  fault);
* ``actual``: from the queue history (the gap to ``replayed`` is the day's: agents missing from
  the roster, longer wrap-up, redials, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from queueing.erlang import ScenarioError
from queueing.forecast import error_measures
from queueing.history import History
from queueing.profiles import Profile
from queueing.sim import SimResult, simulate


@dataclass(frozen=True)
class Backtest:
    day: date
    labels: list[str]
    rows: list[dict[str, float]]
    summary: dict[str, float]


def _aligned(plan: Profile, history: History) -> None:
    if plan.interval_minutes != history.clock.minutes:
        raise ScenarioError(f"the plan has {plan.interval_minutes:g}-minute intervals, the history "
                            f"{history.clock.minutes}-minute ones (set --interval-minutes to match)")
    if len(plan.calls_per_hour) != history.slots or plan.start_seconds != 0:
        raise ScenarioError(f"the plan must cover the whole day from 00:00 in {history.slots} intervals "
                            f"(it has {len(plan.calls_per_hour)} from {plan.labels()[0]})")
    if not any(plan.agents):
        raise ScenarioError("the plan has no agents on duty in any interval: give its roster (--roster FILE)")


def _sim(profile: Profile, sl_seconds: float, replications: int, seed: int) -> SimResult:
    return simulate(profile.scenario(sl_seconds=sl_seconds), seed=seed, replications=replications)


def backtest(plan: Profile, history: History, day: date, *, sl_seconds: float, replications: int = 20,
             seed: int = 0) -> Backtest:
    """Compare ``plan`` (forecast calls, AHT, patience and roster per interval) with ``day``."""
    _aligned(plan, history)
    if not history.has(day):
        raise ScenarioError(f"no calls on {day} in the history ({history.span()})")
    actual = history.actual(day, sl_seconds)
    per_interval = history.clock.minutes / 60.0
    forecast_calls = np.array(plan.calls_per_hour) * per_interval
    actual_calls = np.array([a.offered for a in actual], dtype=np.float64)
    planned = _sim(plan, sl_seconds, replications, seed)
    day_profile, _ = history.profile([day], name=f"actual {day}", sl_seconds=sl_seconds)
    replay_plan = replace(plan, calls_per_hour=day_profile.calls_per_hour, service=day_profile.service,
                          aht_by_interval=day_profile.aht_by_interval, patience=day_profile.patience,
                          patience_by_interval=day_profile.patience_by_interval)
    replayed = _sim(replay_plan, sl_seconds, replications, seed)
    rows = []
    ahts = plan.aht()
    for i, lab in enumerate(plan.labels()):
        a, p, r = actual[i], planned.intervals[i], replayed.intervals[i]
        rows.append({
            "start": lab, "forecast_calls": float(forecast_calls[i]), "actual_calls": float(actual_calls[i]),
            "error": float(forecast_calls[i] - actual_calls[i]), "agents": plan.agents[i],
            "planned_service_level": p["service_level"], "planned_service_level_ci95": p["service_level_ci95"],
            "replayed_service_level": r["service_level"], "actual_service_level": a.service_level,
            "planned_aht": ahts[i], "actual_aht": a.aht, "actual_p_abandon": a.p_abandon, "actual_asa": a.asa,
        })
    summary: dict[str, float] = dict(error_measures(forecast_calls, actual_calls))
    summary.update(forecast_calls=float(forecast_calls.sum()), actual_calls=float(actual_calls.sum()))
    seen = [row for row in rows if row["actual_calls"] > 0 and not math.isnan(row["planned_service_level"])]
    diffs = np.array([row["actual_service_level"] - row["planned_service_level"] for row in seen])
    offered = sum(a.offered for a in actual)
    summary.update(
        planned_service_level=planned.summary["service_level"],
        replayed_service_level=replayed.summary["service_level"],
        actual_service_level=sum(a.answered_in_sl for a in actual) / offered if offered else math.nan,
        service_level_mae=float(np.abs(diffs).mean()) if diffs.size else math.nan,
        service_level_bias=float(diffs.mean()) if diffs.size else math.nan,
    )
    return Backtest(day, plan.labels(), rows, summary)
