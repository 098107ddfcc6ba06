"""Reporting intervals (15, 30 or 60 minutes) and days in the site's time zone.

Why not plain ``ts // 1800``: the hotline reports by local wall-clock interval (19:00-19:30
Beijing time), and days start at local midnight. Everything takes ``ts`` (epoch seconds) in and
never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.config import INTERVAL_MINUTES as ALLOWED_MINUTES


@dataclass(frozen=True)
class IntervalClock:
    """Maps epoch seconds to interval and day keys in one time zone."""

    minutes: int = 30
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if self.minutes not in ALLOWED_MINUTES:
            raise ValueError(f"interval must be one of {ALLOWED_MINUTES} minutes, got {self.minutes}")
        ZoneInfo(self.timezone)  # raises for an unknown zone name

    @property
    def seconds(self) -> int:
        return self.minutes * 60

    @property
    def slots_per_day(self) -> int:
        """Wall-clock intervals of a day (48 of 30 minutes); ``slot`` is always below it."""
        return 24 * 60 // self.minutes

    def _local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(self.timezone))

    def interval_start(self, ts: float) -> float:
        """Epoch seconds at which the local interval holding ``ts`` starts."""
        local = self._local(ts)
        minute = (local.minute // self.minutes) * self.minutes
        start = local.replace(minute=minute, second=0, microsecond=0)
        return start.timestamp()

    def slot(self, ts: float) -> int:
        """Index of the interval within its local day (0 = the one starting at midnight)."""
        local = self._local(ts)
        return (local.hour * 60 + local.minute) // self.minutes

    def day(self, ts: float) -> date:
        return self._local(ts).date()

    def day_span(self, ts: float) -> tuple[date, float, float]:
        """The local day holding ``ts`` and its ``[start, end)`` in epoch seconds, so a caller
        checking every event's time against the current day need not convert each one."""
        d = self.day(ts)
        return (d, *day_bounds(d, self.timezone))

    def label(self, start: float) -> str:
        """``2026-11-28T19:00+08:00`` for an interval start."""
        return self._local(start).isoformat(timespec="minutes")

    def split(self, start: float, end: float) -> list[tuple[float, float]]:
        """``[start, end)`` cut at interval boundaries: ``(interval_start, seconds in it)``.

        Each interval is ``minutes`` long in elapsed time, so on the night clocks go back the
        repeated hour has its own intervals, with the same keys ``interval_start`` gives the
        times in it (wall-clock arithmetic would make one two-hour interval of it).
        """
        out: list[tuple[float, float]] = []
        t = start
        while t < end:
            istart = self.interval_start(t)
            nxt = min(end, istart + self.seconds)
            if nxt <= t:  # never loop forever, whatever a zone's rules do
                nxt = end
            out.append((istart, nxt - t))
            t = nxt
        return out


def day_bounds(day: date, timezone: str) -> tuple[float, float]:
    """``[start, end)`` of a local day in epoch seconds (23 or 25 hours long on DST days)."""
    tz = ZoneInfo(timezone)
    return (datetime.combine(day, time(), tz).timestamp(),
            datetime.combine(day + timedelta(days=1), time(), tz).timestamp())
