"""Interleaved runs: ours and the peer alternate, and a figure is a median with its range.

The machines are shared and noisy (2 cores, other engineers' tests): one run, or the best of
several, says as much about the neighbours as about the code. Every benchmark runs each
contender once per round, turning the order each round (ours first, then the peer first), and
quotes the median (min-max) of each figure and of the per-round ratio, with the machine's load
average at the start and at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
RUNS = 5


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def add_runs_argument(parser: argparse.ArgumentParser, default: int = RUNS) -> None:
    parser.add_argument("--runs", type=_positive, default=default,
                        help=f"interleaved rounds (ours and the peer alternate); figures are medians (default {default})")


@dataclass(frozen=True)
class Spread:
    """Median, min and max of one figure over the runs."""

    median: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values")
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)), len(values))

    def fmt(self, spec: str = ".2f", unit: str = "") -> str:
        """``median (min-max)``, e.g. ``1.41x (1.30-1.52x)`` (``min to max`` when min is negative)."""
        sep = " to " if self.lo < 0 else "-"
        return f"{self.median:{spec}}{unit} ({self.lo:{spec}}{sep}{self.hi:{spec}}{unit})"

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        return {"median": round(self.median, digits), "min": round(self.lo, digits), "max": round(self.hi, digits),
                "runs": self.n}


def alternate(jobs: Mapping[str, Callable[[], T]], runs: int) -> dict[str, list[T]]:
    """Run every job once per round, ``runs`` rounds, the order turned by one each round (so
    with two jobs each goes first in half the rounds); returns each job's results in round order."""
    names = list(jobs)
    out: dict[str, list[T]] = {name: [] for name in names}
    for r in range(runs):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(jobs[name]())
    return out


def ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """Per-round ratios (round i of one against round i of the other: same neighbours)."""
    return [a / b for a, b in zip(num, den, strict=True)]


def column(results: Sequence[Mapping[str, float]], key: str) -> list[float]:
    """One figure out of per-run result dicts."""
    return [r[key] for r in results]


class Load:
    """The machine's load average (1, 5, 15 min) when the benchmark started and now."""

    def __init__(self) -> None:
        self.start = os.getloadavg()

    @staticmethod
    def _fmt(load: tuple[float, float, float]) -> str:
        return "/".join(f"{v:.2f}" for v in load)

    def header(self, runs: int, how: str = "contenders alternate, order turned each run") -> str:
        return (f"{runs} runs ({how}); "
                f"load average 1/5/15 min at start {self._fmt(self.start)} on {os.cpu_count()} cores")

    def footer(self) -> str:
        return f"load average 1/5/15 min at start {self._fmt(self.start)}, at end {self._fmt(os.getloadavg())}"

    def as_dict(self) -> dict[str, list[float]]:
        return {"loadavg_start": [round(v, 2) for v in self.start],
                "loadavg_end": [round(v, 2) for v in os.getloadavg()]}


def pair_lines(label: str, ours_name: str, ours: Sequence[float], peer_name: str, peer: Sequence[float],
               spec: str = ",.0f", unit: str = "", ratio_name: str | None = None) -> list[str]:
    """Lines for one figure of ours and the peer, and their per-run ratio ours / peer."""
    width = max(len(ours_name), len(peer_name))
    r = Spread.of(ratios(ours, peer))
    return [
        f"{label} (median (min-max) over {len(ours)} runs)",
        f"  {ours_name:{width}s}  {Spread.of(ours).fmt(spec, unit)}",
        f"  {peer_name:{width}s}  {Spread.of(peer).fmt(spec, unit)}",
        f"  ratio {ratio_name or f'{ours_name} / {peer_name}'}: {r.fmt('.2f', 'x')}",
    ]
