"""A one-page chart of a simulated day: waits, abandonment and service level, staffing vs load.

Why Agg: planners run this on servers without a display; the file is the product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path


def plot_day(
    path: str | Path,
    labels: Sequence[str],
    intervals: Sequence[dict[str, float]],
    *,
    aht: float,
    sl_seconds: float,
    target_sl: float | None = None,
    title: str = "",
) -> Path:
    """Write a PNG with three panels sharing the time axis; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = list(range(len(labels)))

    def col(key: str) -> list[float]:
        return [float(r.get(key, math.nan)) for r in intervals]

    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(11, 9), sharex=True, constrained_layout=True)
    ax1.plot(x, col("asa"), marker="o", ms=3, label="ASA (answered callers)")
    ax1.plot(x, col("mean_wait"), ls="--", label="mean wait (all callers)")
    ax1.plot(x, col("wait_p90"), ls=":", label="90th percentile wait")
    ax1.set_ylabel("seconds")
    ax1.set_title("Waits by interval")
    ax1.legend(loc="upper left", fontsize=8)
    ax1.grid(alpha=0.3)

    ax2.plot(x, [100 * v for v in col("service_level")], marker="o", ms=3, color="tab:green",
             label=f"service level: answered within {sl_seconds:g} s / offered")
    ax2.plot(x, [100 * v for v in col("p_abandon")], marker="s", ms=3, color="tab:red", label="abandoned / offered")
    if target_sl is not None:
        ax2.axhline(100 * target_sl, color="tab:green", ls="--", lw=1, label=f"target {100 * target_sl:g} %")
    ax2.set_ylabel("percent")
    ax2.set_ylim(0, 100)
    ax2.set_title("Service level and abandonment")
    ax2.legend(loc="lower left", fontsize=8)
    ax2.grid(alpha=0.3)

    load = [r["rate"] * aht for r in intervals]
    ax3.bar(x, col("agents"), color="tab:blue", alpha=0.5, label="agents on duty")
    ax3.plot(x, load, color="black", marker=".", label=f"offered load (erlangs, AHT {aht:g} s)")
    ax3.set_ylabel("agents / erlangs")
    ax3.set_title("Staffing")
    ax3.legend(loc="upper left", fontsize=8)
    ax3.grid(alpha=0.3)
    step = max(1, len(labels) // 16)
    ax3.set_xticks(x[::step])
    ax3.set_xticklabels(list(labels)[::step], rotation=45)
    if title:
        fig.suptitle(title)
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
