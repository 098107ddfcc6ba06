"""Calls per interval for a coming day from the same weekday of past weeks, with a trend.

The method, kept simple enough to explain to a supervisor:

1. take the same weekday in each of the last ``weeks`` weeks that the history holds (a Monday
   from the last four Mondays);
2. the day's *shape* is the average of those days per interval; its *level* is their mean
   total;
3. with ``trend`` and at least three such days, a least-squares line through the day totals
   against the week is read off at the forecast day; the level is scaled by ``line / mean``,
   held within ``TREND_LIMITS`` (a few odd weeks must not double or halve a forecast).

AHT and patience come from the same days (``History.profile``). Holidays are not known to it:
leave them out of the history, or forecast them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from queueing.erlang import ScenarioError
from queueing.history import History
from queueing.profiles import Profile

TREND_LIMITS = (0.5, 2.0)


@dataclass(frozen=True)
class Forecast:
    """Calls per interval for ``day`` and the profile to staff or simulate it with."""

    day: date
    calls: tuple[float, ...]  # calls per interval
    based_on: tuple[date, ...]
    trend: float  # factor on the level (1.0 without trend)
    low: tuple[float, ...]  # per interval, the fewest calls among the days used
    high: tuple[float, ...]
    profile: Profile
    notes: list[str] = field(default_factory=list)


def same_weekdays(history: History, day: date, weeks: int) -> list[date]:
    """The same weekday in each of the ``weeks`` weeks before ``day`` that the history has."""
    return [d for d in (day - timedelta(weeks=k) for k in range(weeks, 0, -1)) if history.has(d)]


def trend_factor(totals: np.ndarray, offsets: np.ndarray) -> float:
    """Least-squares line through ``totals`` (per day) against ``offsets`` (weeks before the
    forecast day, negative), read at 0, over the mean; 1.0 when it cannot be told."""
    if totals.size < 3 or totals.mean() <= 0:
        return 1.0
    slope, intercept = np.polyfit(offsets, totals, 1)
    return float(np.clip(intercept / totals.mean(), *TREND_LIMITS))


def forecast_day(history: History, day: date, *, weeks: int = 4, trend: bool = True, sl_seconds: float = 20.0,
                 wrapup: float = 0.0) -> Forecast:
    if weeks < 1:
        raise ScenarioError(f"weeks must be >= 1, got {weeks}")
    days = same_weekdays(history, day, weeks)
    if not days:
        raise ScenarioError(f"no {day:%A} in the {weeks} week(s) before {day} in the history ({history.span()})")
    counts = np.array([history.offered(d) for d in days])
    totals = counts.sum(axis=1)
    offsets = np.array([-(day - d).days / 7.0 for d in days])
    factor = trend_factor(totals, offsets) if trend else 1.0
    calls = counts.mean(axis=0) * factor
    name = f"forecast {day} ({day:%a})"
    profile, notes = history.profile(days, name=name, sl_seconds=sl_seconds, calls=calls.tolist(), wrapup=wrapup)
    how = f"average of {len(days)} {day:%A}(s): {', '.join(str(d) for d in days)}"
    if trend:
        how += (f"; trend x{factor:.3f} (line through the day totals)" if len(days) >= 3
                else "; no trend (needs 3+ weeks)")
    return Forecast(day, tuple(calls.tolist()), tuple(days), factor, tuple(counts.min(axis=0).tolist()),
                    tuple(counts.max(axis=0).tolist()), profile, [how, *notes])


def error_measures(forecast: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MAPE over intervals with calls (mean |f - a| / a), WAPE (sum |f - a| / sum a) and bias
    (sum (f - a) / sum a; positive = over-forecast), as fractions."""
    f, a = np.asarray(forecast, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    seen = a > 0
    total = a.sum()
    return {
        "mape": float(np.mean(np.abs(f[seen] - a[seen]) / a[seen])) if seen.any() else float("nan"),
        "wape": float(np.abs(f - a).sum() / total) if total > 0 else float("nan"),
        "bias": float((f - a).sum() / total) if total > 0 else float("nan"),
        "intervals_with_calls": int(seen.sum()),
    }
