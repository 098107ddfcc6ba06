"""What happened in a queue, per local day and interval: offered, answered, abandoned, waits,
handling times; and the day profile (arrivals, AHT, patience per interval) it implies.

Why one record type (``QueueVisit``) for every source: the store (``engine.store``) and
Asterisk's ``queue_log`` (``queueing.queue_log``) describe the same facts differently; planning,
forecasting and backtests only need "joined at, waited, then was answered / hung up / left,
talked this long".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from queueing.erlang import ScenarioError
from queueing.intervals import IntervalClock
from queueing.patience import PatienceEstimate, exponential_patience
from queueing.profiles import Profile
from queueing.sim.distributions import Distribution

# answered: an agent took the call; abandoned: the caller hung up while waiting; timeout: the
# queue's own timeout put it out; left: any other way out (empty queue, a key, a callback)
OUTCOMES = ("answered", "abandoned", "timeout", "left")
# An interval's AHT and patience are pulled toward the day's by this many pseudo-observations at
# the day's value (a conjugate prior): with 30 answered calls an interval's AHT sits halfway
# between its own mean and the day's; a quiet night interval stays near the day's.
PRIOR_WEIGHT = 30.0


@dataclass(frozen=True, slots=True)
class QueueVisit:
    """One caller's stay in one queue. ``wait``: seconds from joining until answered, hung up or
    out; ``talk``: handling time of an answered call when known."""

    queue: str
    joined: float  # epoch seconds
    outcome: str
    wait: float
    talk: float | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")


def visits_from_stays(rows: Iterable[Mapping[str, Any]]) -> tuple[list[QueueVisit], int]:
    """The call store's queue stays (``Store.queue_stays`` rows) as visits, and how many were left
    out: calls still waiting, or whose end was never seen. An answered call without an end is a
    visit with its talk time unknown."""
    out, live = [], 0
    for r in rows:
        joined = r["joined_at"]
        answered = r["answered_at"] is not None or r["outcome"] == "answered"
        if answered:
            end = r["answered_at"]
            wait = r["wait_seconds"] if r["wait_seconds"] is not None else (end - joined if end else 0.0)
            talk = r["talk"]
            if talk is None and r["ended_at"] is not None and end is not None:
                talk = r["ended_at"] - end
            out.append(QueueVisit(r["queue"] or "", joined, "answered", max(0.0, float(wait)),
                                  None if talk is None else max(0.0, float(talk))))
        elif r["abandoned_at"] is not None or r["outcome"] == "abandoned":
            end = r["abandoned_at"] or r["ended_at"]
            wait = r["wait_seconds"] if r["wait_seconds"] is not None else (end - joined if end else 0.0)
            out.append(QueueVisit(r["queue"] or "", joined, "abandoned", max(0.0, float(wait))))
        elif r["ended_at"] is not None:
            out.append(QueueVisit(r["queue"] or "", joined, "left", max(0.0, r["ended_at"] - joined)))
        else:
            live += 1
    return out, live


@dataclass(frozen=True)
class IntervalActual:
    """What one interval of one day (or pooled days) saw."""

    offered: int
    answered: int
    abandoned: int
    answered_in_sl: int
    wait_answered: float  # sum of waits of answered calls
    talk_sum: float
    talk_count: int

    @property
    def service_level(self) -> float:
        """Answered within T / offered (the project's headline definition)."""
        return self.answered_in_sl / self.offered if self.offered else math.nan

    @property
    def p_abandon(self) -> float:
        return self.abandoned / self.offered if self.offered else math.nan

    @property
    def asa(self) -> float:
        return self.wait_answered / self.answered if self.answered else math.nan

    @property
    def aht(self) -> float:
        return self.talk_sum / self.talk_count if self.talk_count else math.nan


def tally(visits: Sequence[QueueVisit], sl_seconds: float) -> IntervalActual:
    answered = [v for v in visits if v.outcome == "answered"]
    talks = [v.talk for v in answered if v.talk is not None]
    return IntervalActual(
        offered=len(visits), answered=len(answered), abandoned=sum(v.outcome == "abandoned" for v in visits),
        answered_in_sl=sum(v.wait <= sl_seconds for v in answered), wait_answered=sum(v.wait for v in answered),
        talk_sum=float(sum(talks)), talk_count=len(talks),
    )


def patience_of(visits: Iterable[QueueVisit]) -> PatienceEstimate:
    """Exponential MLE with answered and otherwise-ended waits as censored (``queueing.patience``)."""
    vs = list(visits)
    return exponential_patience([v.wait for v in vs], [v.outcome == "abandoned" for v in vs])


class History:
    """Queue visits grouped by local day and interval of ``clock`` (by the time they joined)."""

    def __init__(self, visits: Iterable[QueueVisit], clock: IntervalClock, queue: str | None = None) -> None:
        self.clock = clock
        self.queue = queue
        self.slots = clock.slots_per_day
        self._days: dict[date, list[list[QueueVisit]]] = defaultdict(lambda: [[] for _ in range(self.slots)])
        for v in visits:
            if queue is None or v.queue == queue:
                self._days[clock.day(v.joined)][min(clock.slot(v.joined), self.slots - 1)].append(v)

    @property
    def days(self) -> list[date]:
        return sorted(self._days)

    def __len__(self) -> int:
        return sum(len(s) for d in self._days.values() for s in d)

    def has(self, day: date) -> bool:
        return day in self._days

    def labels(self) -> list[str]:
        return [f"{(i * self.clock.minutes) // 60:02d}:{(i * self.clock.minutes) % 60:02d}" for i in range(self.slots)]

    def visits(self, day: date, slot: int | None = None) -> list[QueueVisit]:
        slots = self._days.get(day)
        if slots is None:
            return []
        return list(slots[slot]) if slot is not None else [v for s in slots for v in s]

    def offered(self, day: date) -> np.ndarray:
        """Calls offered per interval of ``day`` (zeros for a day without history)."""
        slots = self._days.get(day)
        return np.array([len(s) for s in slots] if slots else [0] * self.slots, dtype=np.float64)

    def actual(self, day: date, sl_seconds: float) -> list[IntervalActual]:
        return [tally(self.visits(day, i), sl_seconds) for i in range(self.slots)]

    def span(self) -> str:
        d = self.days
        return f"{d[0]} to {d[-1]} ({len(d)} days)" if d else "no days"

    def profile(
        self,
        days: Sequence[date],
        *,
        name: str,
        sl_seconds: float,
        calls: Sequence[float] | None = None,
        wrapup: float = 0.0,
    ) -> tuple[Profile, list[str]]:
        """A day profile from ``days``: calls per hour averaged over them (or ``calls``, calls per
        interval from a forecast), AHT (+ ``wrapup``) and patience per interval pooled over them,
        and notes on what was estimated how. Agents are 0: history has no roster."""
        if not days:
            raise ScenarioError("no days of history to build a profile from")
        per_slot = [[v for d in days for v in self.visits(d, i)] for i in range(self.slots)]
        every = [v for s in per_slot for v in s]
        if not every:
            raise ScenarioError(f"no queue calls on the {len(days)} day(s) chosen")
        notes: list[str] = []
        if calls is None:
            calls = [len(s) / len(days) for s in per_slot]
        per_hour = tuple(float(c) * 60.0 / self.clock.minutes for c in calls)
        talks = np.array([v.talk for v in every if v.outcome == "answered" and v.talk is not None])
        if talks.size == 0:
            raise ScenarioError("no answered call with a known talk time: the AHT cannot be estimated "
                                "(queue_log: COMPLETECALLER/COMPLETEAGENT lines; store: agent.complete events)")
        day_talk = float(talks.mean())
        day_aht = day_talk + wrapup
        cv = float(talks.std() / day_aht) if talks.size > 1 and day_aht > 0 else 1.0  # wrap-up adds no spread
        service = Distribution.lognormal(day_aht, cv) if cv > 0 else Distribution.deterministic(day_aht)
        aht = []
        for s in per_slot:
            t = [v.talk for v in s if v.outcome == "answered" and v.talk is not None]
            aht.append((sum(t) + PRIOR_WEIGHT * day_talk) / (len(t) + PRIOR_WEIGHT) + wrapup)
        notes.append(f"AHT {day_aht:.0f} s over the day ({talks.size} answered calls, CV {cv:.2f}: lognormal"
                     + (f", wrap-up {wrapup:g} s added" if wrapup else "") + "); per interval its own mean pulled "
                     f"toward the day's by {PRIOR_WEIGHT:g} calls at the day's AHT")
        day_pat = patience_of(every)
        patience: Distribution | None
        pat_by: tuple[float, ...] | None = None
        if day_pat.abandons == 0:
            patience = None
            notes.append("no caller abandoned: patience cannot be estimated; callers are taken to never hang up")
        else:
            patience = Distribution.exponential(day_pat.mean)
            pat_by = tuple((p.exposure + PRIOR_WEIGHT * day_pat.mean) / (p.abandons + PRIOR_WEIGHT)
                           for p in (patience_of(s) for s in per_slot))
            notes.append(f"patience {day_pat.mean:.0f} s ± {day_pat.std_error:.0f} (exponential MLE: time waited by "
                         f"all {day_pat.callers} callers / {day_pat.abandons} abandons; answered callers censored); "
                         f"per interval pulled toward the day's by {PRIOR_WEIGHT:g} abandons at the day's patience")
        profile = Profile(
            name=name, interval_minutes=self.clock.minutes, start_seconds=0.0, calls_per_hour=per_hour,
            agents=(0,) * self.slots, service=service, patience=patience, sl_seconds=sl_seconds,
            aht_by_interval=tuple(aht), patience_by_interval=pat_by, source=name,
        )
        return profile, notes
