"""Opening hours with holidays and special days, evaluated in the hotline's time zone.

Pure: ``is_open(now)`` takes epoch seconds and converts with ``zoneinfo``, so a test can ask
about any instant and daylight-saving changes are handled by the tz database, not by us.
Precedence for a date: ``special`` (its own ranges; empty means closed) > ``holidays``
(closed) > ``weekly`` (ranges by weekday). Ranges are half-open ``[start, end)``; an end of
``24:00`` means midnight; a range may not cross midnight (write two).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Range = tuple[int, int]  # minutes from midnight, [start, end)


@dataclass(frozen=True)
class OpeningHours:
    timezone: str
    weekly: dict[int, tuple[Range, ...]]  # weekday (0 = Monday) -> ranges
    holidays: frozenset[dt.date] = frozenset()
    special: dict[dt.date, tuple[Range, ...]] = field(default_factory=dict)

    def ranges_on(self, day: dt.date) -> tuple[Range, ...]:
        if day in self.special:
            return self.special[day]
        if day in self.holidays:
            return ()
        return self.weekly.get(day.weekday(), ())

    def local_time(self, now: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(now, ZoneInfo(self.timezone))

    def is_open(self, now: float) -> bool:
        local = self.local_time(now)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.ranges_on(local.date()))


def parse_range(text: str) -> Range:
    """``"08:00-20:00"`` -> (480, 1200); ValueError with a readable reason otherwise."""
    try:
        left, right = text.split("-")
        start, end = _minutes(left), _minutes(right)
    except ValueError:
        raise ValueError(f"expected a time range like '08:00-20:00', got {text!r}") from None
    if end <= start:
        raise ValueError(f"range {text!r} ends before it starts (split ranges that cross midnight)")
    return start, end


def _minutes(text: str) -> int:
    hh, mm = text.strip().split(":")
    h, m = int(hh), int(mm)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(text)
    return h * 60 + m


def parse_days(key: str) -> list[int]:
    """``"mon-fri"``, ``"sat"``, ``"mon,wed"`` -> weekday numbers."""
    out: list[int] = []
    for part in key.lower().split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in WEEKDAYS or b not in WEEKDAYS:
                raise ValueError(f"unknown day range {part!r} (days: {', '.join(WEEKDAYS)})")
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
            if j < i:
                raise ValueError(f"day range {part!r} runs backwards")
            out.extend(range(i, j + 1))
        elif part in WEEKDAYS:
            out.append(WEEKDAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r} (days: {', '.join(WEEKDAYS)})")
    return out
