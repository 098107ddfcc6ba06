"""Surge detection: an interval whose offered calls rise well above the usual level.

The usual level for an interval is taken from the same interval slot (e.g. 19:00-19:30) of
recent days, robustly: the median, and the median absolute deviation (MAD, scaled by 1.4826
so that it estimates a standard deviation for normal data). One busy day or one outage in the
history moves neither much, unlike a mean and standard deviation. An interval surges when its
count so far exceeds ``median + k * MAD`` and also ``median + min_excess`` (so a slot whose
history is flat, MAD = 0, does not alert on one extra call). The alert fires once per queue and
interval, as soon as the count crosses the threshold, not at the end of the interval.
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from queueing.intervals import IntervalClock

MAD_SCALE = 1.4826


@dataclass(frozen=True)
class SurgeDetected:
    """Offered calls in ``queue``'s interval starting at ``interval_start`` rose above the usual level."""

    queue: str
    interval_start: float  # epoch seconds
    interval_label: str  # local time, e.g. 2026-11-28T19:00+08:00
    offered: int
    baseline_median: float
    baseline_mad: float
    threshold: float
    days_in_baseline: int
    at: float  # when the threshold was crossed

    def as_dict(self) -> dict[str, object]:
        return {
            "type": "surge", "queue": self.queue, "interval_start": self.interval_start,
            "interval": self.interval_label, "offered": self.offered,
            "baseline_median": self.baseline_median, "baseline_mad": round(self.baseline_mad, 2),
            "threshold": round(self.threshold, 2), "days_in_baseline": self.days_in_baseline, "at": self.at,
        }


@dataclass(frozen=True)
class Baseline:
    median: float
    mad: float
    days: int


def robust_baseline(counts: Iterable[float]) -> Baseline | None:
    values = list(counts)
    if not values:
        return None
    med = statistics.median(values)
    mad = MAD_SCALE * statistics.median(abs(v - med) for v in values)
    return Baseline(med, mad, len(values))


class SurgeDetector:
    """History of offered calls per (queue, slot) for the last ``days`` days; checks live counts."""

    def __init__(self, *, k: float = 3.0, min_excess: float = 5.0, min_days: int = 3, days: int = 28) -> None:
        self.k = k
        self.min_excess = min_excess
        self.min_days = min_days
        self.days = days
        self._history: dict[tuple[str, int], deque[tuple[date, int]]] = defaultdict(lambda: deque(maxlen=days))
        self._fired: dict[str, float] = {}  # queue -> the latest interval that alerted

    def add_day(self, queue: str, day: date, counts_by_slot: Mapping[int, int], slots_per_day: int) -> None:
        """A finished day's offered calls per slot (slots with no calls count as 0)."""
        for slot in range(slots_per_day):
            hist = self._history[(queue, slot)]
            if hist and hist[-1][0] >= day:
                continue  # already have this day (or a later one)
            hist.append((day, int(counts_by_slot.get(slot, 0))))

    def load(self, history: Mapping[str, Mapping[str, Mapping[str, int]]], minutes: int) -> int:
        """History as ``{queue: {"2026-11-20": {"19:00": 12, ...}}}`` (what
        ``QueueMonitor.history()`` writes); returns the number of days loaded."""
        slots = 24 * 60 // minutes
        n = 0
        for queue, days in history.items():
            for day_text, by_label in sorted(days.items()):
                counts: dict[int, int] = {}
                for label, count in by_label.items():
                    hh, _, mm = label.partition(":")
                    slot = (int(hh) * 60 + int(mm)) // minutes
                    counts[slot] = counts.get(slot, 0) + int(count)
                self.add_day(queue, date.fromisoformat(day_text), counts, slots)
                n += 1
        return n

    def learn(self, joins: Iterable[tuple[str, float]], clock: IntervalClock) -> list[date]:
        """Finished days from call records, ``(queue, joined at)`` pairs (what the store keeps,
        so the baseline survives a restart). Pass whole local days only: a day is added once, so
        a partial one would stand for the day. A day without any queue call is left out (the
        hotline was closed, or nothing was recorded), and a queue counts from the first day it
        took a call, so a new queue is not measured against days it did not exist. Returns the
        days added, oldest first."""
        by_day: dict[date, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        for queue, joined in joins:
            slots = by_day[clock.day(joined)][queue]
            slot = clock.slot(joined)
            slots[slot] = slots.get(slot, 0) + 1
        queues: set[str] = set()
        for day in sorted(by_day):
            queues.update(by_day[day])
            for queue in sorted(queues):
                self.add_day(queue, day, by_day[day].get(queue, {}), clock.slots_per_day)
        return sorted(by_day)

    def baseline(self, queue: str, slot: int) -> Baseline | None:
        hist = self._history.get((queue, slot))
        if not hist or len(hist) < self.min_days:
            return None
        return robust_baseline(c for _, c in hist)

    def threshold(self, base: Baseline) -> float:
        return max(base.median + self.k * base.mad, base.median + self.min_excess)

    def check(self, queue: str, slot: int, interval_start: float, label: str, offered: int, now: float) -> SurgeDetected | None:
        if interval_start <= self._fired.get(queue, float("-inf")):
            return None  # alerted already (intervals come in order: an older one is past)
        base = self.baseline(queue, slot)
        if base is None:
            return None
        limit = self.threshold(base)
        if offered <= limit:
            return None
        self._fired[queue] = interval_start
        return SurgeDetected(queue, interval_start, label, offered, base.median, base.mad, limit, base.days, now)
