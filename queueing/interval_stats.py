"""Per-interval queue statistics of one local day, from stored call records (no live engine needed).

The KPI set follows Wazo's queue statistics (received, answered, abandoned, timeout and other
exits, answered rate, quality of service) with the wait bands supervisors ask for (answered
within 10/20/30/60 s) and, as far as call records allow, the talk load and occupancy. A call
counts in the interval in which it joined the queue, as the live monitor counts it. Pure: call
records in (anything with the fields of ``engine.store.CallRecord``), dicts out; time zone and
interval length come with the ``IntervalClock``.

Classification of a call that joined a queue:

- ``answered``: it has ``queue_answered_at`` (or outcome ``answered``);
- ``abandoned``: outcome ``abandoned`` (the caller hung up while waiting);
- ``callback``: outcome ``callback`` (left the queue to book a call back);
- ``timeout``: ended otherwise (queue timeout, leave-when-empty, transfer out of the queue);
- ``waiting``: not ended yet (still in the queue, or its end was never seen).

Talk time is from answer to hang-up (call records hold no wrap-up). Occupancy needs logged-in
time, which call records do not hold: ``occupancy_pct`` is the talk time within the interval over
the interval's length times the call-takers who were on a call in it, so it reads high when few
call-takers took calls; ``busy_agents`` (talk seconds / interval seconds, in Erlangs) does not
depend on who was logged in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from queueing.intervals import IntervalClock, day_bounds

WAIT_BANDS = (10, 20, 30, 60)  # seconds: "answered within" columns
OUTCOMES = ("answered", "abandoned", "callback", "timeout", "waiting")


class QueueCall(Protocol):
    queue_joined_at: float | None
    queue_answered_at: float | None
    answered_at: float | None
    ended_at: float | None
    wait_seconds: float | None
    outcome: str | None
    agent: str | None


def classify(call: QueueCall) -> str:
    """One of ``OUTCOMES`` for a call that joined a queue."""
    if call.queue_answered_at is not None or call.outcome == "answered":
        return "answered"
    if call.outcome in ("abandoned", "callback"):
        return call.outcome
    return "waiting" if call.ended_at is None else "timeout"


def _wait(call: QueueCall) -> float | None:
    if call.wait_seconds is not None:
        return call.wait_seconds
    end = call.queue_answered_at
    if end is None or call.queue_joined_at is None:
        return None
    return max(0.0, end - call.queue_joined_at)


@dataclass
class _Cell:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    answered_waits: list[float] = field(default_factory=list)
    abandoned_waits: list[float] = field(default_factory=list)
    talks: list[float] = field(default_factory=list)
    busy_seconds: float = 0.0
    agents: set[str] = field(default_factory=set)
    agent_seconds: float = 0.0  # call-takers on calls x the interval's seconds, summed over intervals

    def add(self, other: _Cell) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        self.answered_waits += other.answered_waits
        self.abandoned_waits += other.abandoned_waits
        self.talks += other.talks
        self.busy_seconds += other.busy_seconds
        self.agents |= other.agents
        self.agent_seconds += other.agent_seconds

    def row(self, seconds: float, sl_seconds: float, bands: tuple[int, ...]) -> dict[str, Any]:
        c = self.counts
        received = sum(c.values())
        answered = c["answered"]
        left = answered + c["abandoned"] + c["callback"] + c["timeout"]
        waits = self.answered_waits
        within = {str(b): sum(1 for w in waits if w <= b) for b in bands}
        in_sl = sum(1 for w in waits if w <= sl_seconds)
        return {
            "received": received,
            **c,
            "answered_within": within,
            "answered_within_sl": in_sl,
            "answered_rate_pct": _pct(answered, received),
            "service_level_pct": _pct(in_sl, len(waits)),  # as Asterisk's ServicelevelPerf: of answered calls
            "abandon_rate_pct": _pct(c["abandoned"], left),
            "asa": _mean(waits),
            "avg_abandoned_wait": _mean(self.abandoned_waits),
            "max_wait": max(waits + self.abandoned_waits, default=None),
            "aht": _mean(self.talks),
            "talk_seconds": round(self.busy_seconds, 1),
            "busy_agents": round(self.busy_seconds / seconds, 2) if seconds else None,
            "agents_on_calls": len(self.agents),
            "occupancy_pct": _pct(self.busy_seconds, self.agent_seconds),
        }


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def day_kpis(calls: Iterable[QueueCall], day: date, clock: IntervalClock, *, sl_seconds: float,
             bands: tuple[int, ...] = WAIT_BANDS) -> dict[str, Any]:
    """Every interval of ``day`` (local, in ``clock``'s zone) and the day's total.

    ``calls`` may include calls of other days: only those that joined a queue on ``day`` are
    counted, but a call that joined just before midnight still adds its talk time after it.
    """
    start, end = day_bounds(day, clock.timezone)
    spans = clock.split(start, end)  # (interval start, its seconds): 48 of 1800 on a 30-minute day
    cells = {s: _Cell() for s, _ in spans}
    for call in calls:
        joined = call.queue_joined_at
        if joined is None:
            continue
        kind = classify(call)
        counted = start <= joined < end
        cell = cells[clock.interval_start(joined)] if counted else None
        wait = _wait(call)
        if cell is not None:
            cell.counts[kind] += 1
            if kind == "answered" and wait is not None:
                cell.answered_waits.append(wait)
            elif kind == "abandoned" and wait is not None:
                cell.abandoned_waits.append(wait)
        answered_at = call.queue_answered_at or call.answered_at
        if kind != "answered" or answered_at is None or call.ended_at is None:
            continue
        if cell is not None:
            cell.talks.append(max(0.0, call.ended_at - answered_at))
        lo, hi = max(answered_at, start), min(call.ended_at, end)
        for istart, secs in clock.split(lo, hi) if lo < hi else ():
            cells[istart].busy_seconds += secs
            cells[istart].agents.add(call.agent or "?")
    total = _Cell()
    rows = []
    for s, secs in spans:
        cell = cells[s]
        cell.agent_seconds = len(cell.agents) * secs
        total.add(cell)
        rows.append({"start": s, "interval": clock.label(s)[11:16], **cell.row(secs, sl_seconds, bands)})
    return {
        "day": day.isoformat(),
        "timezone": clock.timezone,
        "interval_minutes": clock.minutes,
        "sl_seconds": sl_seconds,
        "bands": list(bands),
        "intervals": rows,
        "total": total.row(end - start, sl_seconds, bands),
    }
