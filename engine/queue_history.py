"""What the engine's queue monitor reads back from the call store, so that a restart does not
start it blank: today's calls that had ended (the wallboard's "today"), and the surge baseline.

Why the store for the surge baseline too, and not what the monitor saw: a monitor that learns only
the days it watched starts blank after every restart (no surge alert for the next 3 days, so none
in a week with a deploy in it), and it would count the day of a restart as a quiet one, missing the
calls before it. The store has every call's queue and join time, so at start the detector gets the
last ``detector.days`` finished days, and after each local midnight the day that ended.
"""

from __future__ import annotations

import logging
import math
from datetime import date, timedelta
from typing import Any, Protocol

from queueing.history import visits_from_stays
from queueing.intervals import IntervalClock, day_bounds
from queueing.monitor import QueueMonitor
from queueing.surge import SurgeDetector

log = logging.getLogger(__name__)

RETRY_SECONDS = 300.0  # after a failed read (store unreachable), try again this much later


class QueueSource(Protocol):
    async def queue_joins(self, *, since: float | None = None, until: float | None = None) -> list[tuple[str, float]]: ...

    async def queue_stays(self, *, since: float | None = None, until: float | None = None,
                          queue: str | None = None) -> list[dict[str, Any]]: ...


async def book_today(store: QueueSource, monitor: QueueMonitor, now: float) -> int:
    """Book today's queue stays that ended before ``now`` into ``monitor``; returns how many.
    Calls still waiting or talking are left to their own AMI events (never booked twice)."""
    start = monitor.clock.day_span(now)[1]
    rows = await store.queue_stays(since=start, until=now)
    visits, _ = visits_from_stays(r for r in rows if r["ended_at"] is not None)
    n = monitor.book_ended(visits)
    if n:
        log.info("queue monitor: %d of today's calls read back from the store", n)
    return n


class SurgeBaseline:
    """Feeds ``detector`` whole local days from ``store``; ``due(now)`` says when a day has ended."""

    def __init__(self, store: QueueSource, detector: SurgeDetector, clock: IntervalClock) -> None:
        self.store = store
        self.detector = detector
        self.clock = clock
        self.learnt: date | None = None  # the last day read from the store
        self._next = -math.inf  # when to read again (epoch seconds)

    def due(self, now: float) -> bool:
        return now >= self._next

    async def update(self, now: float) -> list[date]:
        """Read the finished days not read yet (at most ``detector.days`` of them); returns the
        days that had queue calls. A failed read is logged and retried later, never raised: the
        live monitor goes on without it."""
        today, start, end = self.clock.day_span(now)
        first = today - timedelta(days=self.detector.days)
        if self.learnt is not None:
            first = max(first, self.learnt + timedelta(days=1))
        self._next = math.inf  # one read at a time
        if first >= today:
            self._next = end
            return []
        try:
            joins = await self.store.queue_joins(since=day_bounds(first, self.clock.timezone)[0], until=start)
        except Exception as exc:  # the store's own errors vary by backend; none may stop the engine
            log.warning("surge baseline: reading queue calls from the store failed (%s); retrying in %.0f s",
                        type(exc).__name__, RETRY_SECONDS)
            self._next = now + RETRY_SECONDS
            return []
        days = self.detector.learn(joins, self.clock)
        self.learnt = today - timedelta(days=1)
        self._next = end
        if days:
            log.info("surge baseline: %d days of queue calls from the store (%s to %s)", len(days), days[0], days[-1])
        return days
