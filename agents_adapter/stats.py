"""Per-agent statistics per reporting interval: calls, talk, wrap-up and paused time, missed rings.

Times in a state are split at interval boundaries, so a 40-minute break shows up as 30 + 10
minutes in two half-hour intervals. Talk time is Asterisk's own ``TalkTime`` from
AgentComplete (exact even when our clock only estimates the time, as in a replay), counted in
the interval where the call ended.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields

from queueing.intervals import IntervalClock

_TIME_FIELDS = {"wrap_up": "wrap_up_seconds", "paused": "paused_seconds", "available": "available_seconds",
                "ringing": "ringing_seconds", "unavailable": "unavailable_seconds"}


@dataclass
class AgentInterval:
    calls: int = 0
    talk_seconds: float = 0.0
    wrap_up_seconds: float = 0.0
    paused_seconds: float = 0.0
    available_seconds: float = 0.0
    ringing_seconds: float = 0.0
    unavailable_seconds: float = 0.0
    missed_rings: int = 0

    def add(self, other: AgentInterval) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, float | int]:
        return {f.name: (round(v, 1) if isinstance(v := getattr(self, f.name), float) else v) for f in fields(self)}


class AgentStats:
    """``interface -> interval start -> AgentInterval``."""

    def __init__(self, clock: IntervalClock) -> None:
        self.clock = clock
        self.table: dict[str, dict[float, AgentInterval]] = defaultdict(dict)

    def _cell(self, interface: str, start: float) -> AgentInterval:
        row = self.table[interface]
        cell = row.get(start)
        if cell is None:
            cell = row[start] = AgentInterval()
        return cell

    def add_time(self, interface: str, state: object, start: float, end: float) -> None:
        name = _TIME_FIELDS.get(str(getattr(state, "value", state)))
        if name is None or end <= start or start <= 0:
            return
        for istart, secs in self.clock.split(start, end):
            cell = self._cell(interface, istart)
            setattr(cell, name, getattr(cell, name) + secs)

    def add_count(self, interface: str, name: str, at: float, amount: float = 1) -> None:
        cell = self._cell(interface, self.clock.interval_start(at))
        setattr(cell, name, getattr(cell, name) + amount)

    def forget_before(self, cutoff: float) -> None:
        """Drop the intervals that start before ``cutoff`` (epoch seconds), and agents left with none."""
        for interface in list(self.table):
            row = {k: v for k, v in self.table[interface].items() if k >= cutoff}
            if row:
                self.table[interface] = row
            else:
                del self.table[interface]

    def intervals(self, interface: str) -> list[tuple[str, dict[str, float | int]]]:
        row = self.table.get(interface, {})
        return [(self.clock.label(k), row[k].as_dict()) for k in sorted(row)]

    def total(self, interface: str) -> AgentInterval:
        out = AgentInterval()
        for cell in self.table.get(interface, {}).values():
            out.add(cell)
        return out
