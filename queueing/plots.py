"""Charts for planners: a simulated day (waits, service level, staffing) and a backtest
(forecast against what happened).

Why Agg: planners run this on servers without a display; the file is the product.
Why legends outside the axes: a legend inside hides the evening peak it is meant to explain;
every legend here sits to the right of its panel (``_finish``), and ``tests/test_plots.py``
checks with the renderer's bounding boxes that no legend covers an axes.
Bands are 95 % confidence intervals over the simulation's replications (``<metric>_ci95``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(ax: Any, ylabel: str, title: str, *, percent: bool = False, target_sl: float | None = None) -> None:
    """A panel's labels and grid, and its legend to the right of the axes, outside the plotted
    area; a ``percent`` panel runs from 0 to 100, with the target service level as a line."""
    if target_sl is not None:
        ax.axhline(100 * target_sl, color="black", ls="--", lw=1, label=f"target service level {100 * target_sl:g} %")
    if percent:
        ax.set_ylim(0, 100)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)


def _col(rows: Sequence[dict[str, float]], key: str, scale: float = 1.0) -> list[float]:
    return [scale * float(r.get(key, math.nan)) for r in rows]


def _band(ax: Any, x: list[int], rows: Sequence[dict[str, float]], key: str, scale: float, color: str,
          label: str) -> None:
    """The metric's mean line with its 95 % band over the replications, when the rows have one
    (held within what the metric can be: 0 and above, percentages at most 100)."""
    mid = _col(rows, key, scale)
    ax.plot(x, mid, marker="o", ms=3, color=color, label=label)
    half = _col(rows, key + "_ci95", scale)
    top = 100.0 if scale == 100.0 else math.inf
    if any(math.isfinite(h) for h in half):
        lo = [max(m - h, 0.0) if math.isfinite(h) else math.nan for m, h in zip(mid, half, strict=True)]
        hi = [min(m + h, top) if math.isfinite(h) else math.nan for m, h in zip(mid, half, strict=True)]
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0, label=f"{label}: 95 % CI")


def _time_axis(ax: Any, x: list[int], labels: Sequence[str]) -> None:
    step = max(1, len(labels) // 16)
    ax.set_xticks(x[::step])
    ax.set_xticklabels(list(labels)[::step], rotation=45)


def _save(fig: Any, path: str | Path, title: str) -> Path:
    if title:
        fig.suptitle(title)
    out = Path(path)
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)
    return out


def plot_day(
    path: str | Path,
    labels: Sequence[str],
    intervals: Sequence[dict[str, float]],
    *,
    aht: float | Sequence[float],
    sl_seconds: float,
    target_sl: float | None = None,
    roster: Sequence[int] | None = None,
    title: str = "",
) -> Path:
    """Write a PNG with three panels sharing the time axis; returns the path. ``aht`` is one
    mean handling time or one per interval (for the offered load); ``roster`` the current agents
    per interval, drawn next to the simulated ones."""
    plt = _pyplot()
    x = list(range(len(labels)))
    ahts = [float(aht)] * len(x) if isinstance(aht, int | float) else [float(a) for a in aht]

    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(12, 9), sharex=True, constrained_layout=True)
    _band(ax1, x, intervals, "asa", 1.0, "tab:blue", "ASA (answered callers)")
    ax1.plot(x, _col(intervals, "mean_wait"), ls="--", color="tab:purple", label="mean wait (all callers)")
    ax1.plot(x, _col(intervals, "wait_p90"), ls=":", color="tab:gray", label="90th percentile wait")
    _finish(ax1, "seconds", "Waits by interval")

    _band(ax2, x, intervals, "service_level", 100.0, "tab:green",
          f"service level: answered within {sl_seconds:g} s / offered")
    _band(ax2, x, intervals, "p_abandon", 100.0, "tab:red", "abandoned / offered")
    _finish(ax2, "percent", "Service level and abandonment", percent=True, target_sl=target_sl)

    load = [r["rate"] * a for r, a in zip(intervals, ahts, strict=True)]
    ax3.bar(x, _col(intervals, "agents"), color="tab:blue", alpha=0.5, label="agents on duty (simulated roster)")
    if roster is not None:
        ax3.step(x, list(roster), where="mid", color="tab:orange", lw=2, label="current roster")
    ax3.plot(x, load, color="black", marker=".", label="offered load (erlangs = calls/s x AHT)")
    _finish(ax3, "agents / erlangs", "Staffing")
    _time_axis(ax3, x, labels)
    return _save(fig, path, title)


def plot_backtest(
    path: str | Path,
    labels: Sequence[str],
    rows: Sequence[dict[str, float]],
    *,
    sl_seconds: float,
    target_sl: float | None = None,
    title: str = "",
) -> Path:
    """Forecast against actual calls, and the plan's simulated service level (with its band)
    against the actual one, per interval. ``rows`` as ``queueing.backtest.Backtest.rows``."""
    plt = _pyplot()
    x = list(range(len(labels)))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, constrained_layout=True)
    ax1.bar(x, _col(rows, "actual_calls"), color="tab:gray", alpha=0.5, label="actual calls")
    ax1.plot(x, _col(rows, "forecast_calls"), color="tab:blue", marker="o", ms=3, label="forecast calls")
    _finish(ax1, "calls per interval", "Forecast and actual calls")

    _band(ax2, x, rows, "planned_service_level", 100.0, "tab:blue", "planned (simulated) service level")
    ax2.plot(x, _col(rows, "actual_service_level", 100.0), color="tab:green", marker="s", ms=3,
             label=f"actual service level (answered within {sl_seconds:g} s / offered)")
    _finish(ax2, "percent", "Planned and actual service level", percent=True, target_sl=target_sl)
    _time_axis(ax2, x, labels)
    return _save(fig, path, title)


def plot_forecast(
    path: str | Path,
    labels: Sequence[str],
    calls: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    *,
    title: str = "",
) -> Path:
    """The forecast calls per interval, with the range (fewest to most) of the past days it
    was made from."""
    plt = _pyplot()
    x = list(range(len(labels)))
    fig, ax = plt.subplots(1, 1, figsize=(12, 4.5), constrained_layout=True)
    ax.fill_between(x, list(low), list(high), color="tab:gray", alpha=0.3, lw=0,
                    label="range of the past days used (fewest to most calls)")
    ax.plot(x, list(calls), color="tab:blue", marker="o", ms=3, label="forecast")
    _finish(ax, "calls per interval", "Forecast calls by interval")
    _time_axis(ax, x, labels)
    return _save(fig, path, title)
