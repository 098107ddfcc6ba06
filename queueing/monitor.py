"""The live queue monitor: AMI events in, per-queue KPIs out (time passed in, no I/O).

How calls are counted (checked against Asterisk's own counters, app_queue.c):

- ``offered``: callers that joined (QueueCallerJoin), once per (queue, Uniqueid).
- ``answered``: AgentConnect, with the caller's ``HoldTime``; ``completed``: AgentComplete
  (Asterisk's ``Completed`` counts at completion, so the two differ only while calls are talking).
- ``abandoned``: QueueCallerAbandon with its ``HoldTime``.
- ``other_exits``: left without answer or abandon (queue timeout, leave-when-empty, restart).
- within the service level: ``HoldTime <= sl_seconds`` (Asterisk: ``now - start <= servicelevel``,
  both in whole seconds). ``ServicelevelPerf = completed within SL / completed * 100``,
  ``ServicelevelPerf2 = (completed + abandoned within SL) / (completed + abandoned) * 100``.
- ``sl_seconds``: given by the caller, else the queue's ``ServiceLevel`` from QueueStatus, else
  the configured default; in-SL counts are computed from the kept hold times, so a threshold
  learnt late (the QueueStatus at the end of a recording) still applies to every call.
- Interval and day tables count a call in the interval in which it arrived.

First baseline: the QueueStatus that comes with :class:`AmiConnected` (the client places it in
the event stream where Asterisk answered it), or any QueueStatus snapshot fed directly.

Reconnects: AMI events are lost while the connection is down. On :class:`AmiReconnected` (or any
QueueStatus snapshot) the monitor compares Asterisk's counters with the last snapshot plus what
it saw since, and books what it missed: abandons and completions (with their in-SL split, from
``ServicelevelPerf``/``ServicelevelPerf2``), callers who joined and still wait (QueueEntry),
calls answered while away and still talking (members ``InCall``), and calls that joined and left
entirely while away. Member ``CallsTaken`` tells which known calls ended while away. A call is
never counted twice: every count is keyed by (queue, Uniqueid), late events of calls already
booked from counters are ignored, and an Asterisk restart (counters going back) starts a new
baseline. Hold times of calls answered while away are unknown: they count in ``answered`` and
the SL split but not in ``asa`` (``answered_unseen`` says how many).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from agents_adapter.model import ActiveCall, AgentBoard, AgentStateChanged
from engine.events.ami import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiConnected,
    AmiDisconnected,
    AmiEvent,
    AmiReconnected,
    MemberEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueParams,
    QueueSnapshot,
    running_average,
)
from engine.privacy import mask_number
from queueing.intervals import IntervalClock, day_bounds
from queueing.surge import SurgeDetected, SurgeDetector

if TYPE_CHECKING:
    from queueing.history import QueueVisit

log = logging.getLogger(__name__)

WAITING, LEFT, LEFT_UNSEEN, ANSWERED, COMPLETED, ABANDONED, OTHER = (
    "waiting", "left", "left_unseen", "answered", "completed", "abandoned", "other")

# isinstance tuples built once: ``A | B`` in ``feed`` would build a new union on every AMI event
_CONNECTED = (AmiConnected, AmiReconnected)
_FOR_BOARD = (MemberEvent, AgentCalled, AgentConnect, AgentComplete, AgentRingNoAnswer, QueueCallerAbandon)


@dataclass
class Tally:
    """Counts for one queue over one period (the whole run, an interval or a day)."""

    offered: int = 0
    answered_holds: list[int] = field(default_factory=list)
    abandoned_holds: list[int] = field(default_factory=list)
    completed: int = 0
    talk_seconds: int = 0
    talk_known: int = 0
    other_exits: int = 0
    answered_unseen: int = 0
    answered_unseen_in_sl: int = 0
    abandoned_unseen: int = 0
    abandoned_unseen_in_sl: int = 0

    @property
    def answered(self) -> int:
        return len(self.answered_holds) + self.answered_unseen

    def add_completed(self, hold: int, talk: int | None) -> None:
        """A call answered after ``hold`` seconds and completed after ``talk`` (None: not known)."""
        self.answered_holds.append(hold)
        self.completed += 1
        if talk is not None:
            self.talk_seconds += talk
            self.talk_known += 1

    @property
    def abandoned(self) -> int:
        return len(self.abandoned_holds) + self.abandoned_unseen

    def summary(self, sl: float) -> dict[str, Any]:
        answered, abandoned = self.answered, self.abandoned
        in_sl = sum(1 for h in self.answered_holds if h <= sl) + self.answered_unseen_in_sl
        ab_sl = sum(1 for h in self.abandoned_holds if h <= sl) + self.abandoned_unseen_in_sl
        ended = answered + abandoned + self.other_exits
        holds = self.answered_holds
        return {
            "offered": self.offered,
            "answered": answered,
            "completed": self.completed,
            "abandoned": abandoned,
            "other_exits": self.other_exits,
            "answered_within_sl": in_sl,
            "abandoned_within_sl": ab_sl,
            "sl_seconds": sl,
            "service_level_pct": round(100.0 * in_sl / answered, 1) if answered else None,
            "service_level2_pct": round(100.0 * (in_sl + ab_sl) / (answered + abandoned), 1)
            if answered + abandoned else None,
            "asa": round(sum(holds) / len(holds), 2) if holds else None,
            "abandon_rate": round(abandoned / ended, 4) if ended else None,
            "abandoned_waits": list(self.abandoned_holds),
            "max_answered_wait": max(holds, default=0),
            "max_abandoned_wait": max(self.abandoned_holds, default=0),
            "avg_talk": round(self.talk_seconds / self.talk_known, 1) if self.talk_known else None,
            "answered_unseen": self.answered_unseen,
            "abandoned_unseen": self.abandoned_unseen,
        }


@dataclass
class CallRecord:
    queue: str
    uniqueid: str
    arrived: float
    state: str = WAITING
    caller: str = ""  # masked
    hold: int | None = None
    interface: str = ""


@dataclass
class _Seen:
    """What Asterisk counted that we saw, since the last QueueStatus baseline."""

    completed: int = 0
    completed_in_sl: int = 0
    abandoned: int = 0
    abandoned_in_sl: int = 0


@dataclass
class QueueState:
    name: str
    waiting: dict[str, CallRecord] = field(default_factory=dict)
    total: Tally = field(default_factory=Tally)
    intervals: dict[float, Tally] = field(default_factory=dict)
    days: dict[date, Tally] = field(default_factory=dict)
    params: QueueParams | None = None  # the latest QueueStatus counters from Asterisk
    baseline: QueueParams | None = None
    seen: _Seen = field(default_factory=_Seen)
    seen_at_gap: _Seen | None = None  # ``seen`` when the connection dropped (for a restart)
    pending_talking: int = 0  # answered while away, still talking at the reconnect
    hold_avg: int = 0  # Asterisk's running averages, computed as app_queue does
    talk_avg: int = 0
    max_wait: int = 0
    malformed: dict[str, int] = field(default_factory=dict)  # what was wrong -> events skipped


def _in_sl_from_params(p: QueueParams) -> tuple[int, int]:
    """(completed within SL, abandoned within SL) recovered from Asterisk's percentages; exact
    while counts stay under 1000 (the percentages have one decimal)."""
    c_sl = round(p.service_level_perf * p.completed / 100.0)
    both = round(p.service_level_perf2 * (p.completed + p.abandoned) / 100.0)
    return c_sl, max(both - c_sl, 0)


class QueueMonitor:
    """Per-queue state and KPIs from AMI events. ``feed(event, now)`` returns emitted facts
    (:class:`SurgeDetected`, :class:`AgentStateChanged`)."""

    def __init__(
        self,
        *,
        sl_seconds: float | None = None,
        default_sl_seconds: float = 20.0,
        interval_minutes: int = 30,
        timezone: str = "Asia/Shanghai",
        wrapup_seconds: float | Mapping[str, float] = 0.0,
        surge: SurgeDetector | None = None,
        queues: Iterable[str] | None = None,
        keep_days: int | None = None,
        learn_days: bool = True,
    ) -> None:
        if keep_days is not None and keep_days < 1:
            raise ValueError(f"keep_days must be at least 1 (today), not {keep_days}")
        self.clock = IntervalClock(interval_minutes, timezone)
        self.sl_override = sl_seconds
        self.default_sl = default_sl_seconds
        self.board = AgentBoard(wrapup_seconds=wrapup_seconds, interval=self.clock)
        self.surge = surge
        self.only = set(queues) if queues else None
        self.queues: dict[str, QueueState] = {}
        self.calls: dict[tuple[str, str], CallRecord] = {}
        self.now = 0.0
        self.connected = True
        self.gaps = 0
        self.alerts: list[SurgeDetected] = []
        self.keep_days = keep_days  # interval, day and agent tables kept (None: all, as for a replay)
        self.learn_days = learn_days  # each finished day into the surge baseline (off: the caller feeds it)
        self._day: date | None = None
        self._day_start = self._day_end = 0.0  # [start, end) of ``_day`` in epoch seconds

    # -- helpers --------------------------------------------------------------------------

    def _q(self, name: str) -> QueueState:
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = QueueState(name)
        return q

    def _wanted(self, queue: str) -> bool:
        return bool(queue) and (self.only is None or queue in self.only)

    def sl_for(self, q: QueueState) -> float:
        if self.sl_override is not None:
            return self.sl_override
        if q.params is not None:
            return float(q.params.service_level)
        return self.default_sl

    def _asterisk_sl(self, q: QueueState) -> float:
        return float(q.params.service_level) if q.params is not None else self.sl_for(q)

    @staticmethod
    def _asterisk_counted(q: QueueState) -> tuple[int, int]:
        """(completed, abandoned) as Asterisk's counters stand now, by our reckoning."""
        b = q.baseline
        return ((b.completed if b else 0) + q.seen.completed, (b.abandoned if b else 0) + q.seen.abandoned)

    def _running_hold(self, q: QueueState, hold: int) -> None:
        c, a = self._asterisk_counted(q)
        q.hold_avg = running_average(q.hold_avg, hold, first=c + a == 0)

    def _running_talk(self, q: QueueState, talk: int) -> None:
        c, _ = self._asterisk_counted(q)  # already counting this call
        q.talk_avg = running_average(q.talk_avg, talk, first=c <= 1)

    def _tallies(self, q: QueueState, t: float) -> tuple[Tally, Tally, Tally]:
        istart = self.clock.interval_start(t)
        iv = q.intervals.get(istart)
        if iv is None:
            iv = q.intervals[istart] = Tally()
        day = self.clock.day(t)
        dv = q.days.get(day)
        if dv is None:
            dv = q.days[day] = Tally()
        return q.total, iv, dv

    def _offer(self, q: QueueState, rec: CallRecord, out: list[object]) -> None:
        for tally in self._tallies(q, rec.arrived):
            tally.offered += 1
        if self.surge is not None:
            istart = self.clock.interval_start(rec.arrived)
            alert = self.surge.check(q.name, self.clock.slot(rec.arrived), istart, self.clock.label(istart),
                                     q.intervals[istart].offered, self.now)
            if alert is not None:
                self.alerts.append(alert)
                out.append(alert)

    def _roll_day(self, t: float) -> None:
        if self._day_start <= t < self._day_end:
            return  # still the current day: runs per AMI event, so no date conversion
        day, start, end = self.clock.day_span(t)
        if self._day is not None and day > self._day and self.surge is not None and self.learn_days:
            for q in self.queues.values():
                counts = {self.clock.slot(s): tally.offered for s, tally in q.intervals.items()
                          if self.clock.day(s) == self._day}
                self.surge.add_day(q.name, self._day, counts, self.clock.slots_per_day)
        if self._day is None or day > self._day:
            self._day, self._day_start, self._day_end = day, start, end
            if self.keep_days is not None:
                self._forget_before(day - timedelta(days=self.keep_days - 1))
            keep = {k for k, r in self.calls.items() if r.state in (WAITING, ANSWERED, LEFT_UNSEEN)}
            if len(self.calls) > 2 * len(keep) + 10000:  # forget finished calls of past days
                self.calls = {k: r for k, r in self.calls.items() if k in keep or r.arrived >= t - 86400}

    def book_ended(self, visits: Iterable[QueueVisit]) -> int:
        """Book queue stays that ended before the monitor started (an engine restarted at 20:00
        reads the day's earlier calls back from the store), into the totals, interval and day
        tables; returns how many. Only ended stays: a call still waiting or talking is counted from
        its own events, so it is never booked twice. Asterisk's counters and the surge alerts are
        left alone (the calls are past)."""
        n = 0
        for v in visits:
            if not self._wanted(v.queue):
                continue
            q = self._q(v.queue)
            wait = round(v.wait)  # Asterisk's holds are whole seconds
            for tally in self._tallies(q, v.joined):
                tally.offered += 1
                if v.outcome == "answered":
                    tally.add_completed(wait, None if v.talk is None else round(v.talk))
                elif v.outcome == "abandoned":
                    tally.abandoned_holds.append(wait)
                else:
                    tally.other_exits += 1
            n += 1
        return n

    def _forget_before(self, first_kept: date) -> None:
        """Drop the tables of days before ``first_kept``: a monitor in a long-running engine would
        otherwise keep 48 intervals per queue and agent for every day since it started, and the
        wallboard would walk them all on each refresh. (The surge baseline has its own history.)"""
        cutoff = day_bounds(first_kept, self.clock.timezone)[0]
        for q in self.queues.values():
            q.intervals = {s: t for s, t in q.intervals.items() if s >= cutoff}
            q.days = {d: t for d, t in q.days.items() if d >= first_kept}
        self.board.stats.forget_before(cutoff)

    # -- events ---------------------------------------------------------------------------

    def feed(self, event: AmiEvent | QueueSnapshot, now: float | None = None) -> list[object]:
        if isinstance(event, QueueSnapshot):
            return self.apply_snapshot(event, event.taken_at if now is None else now)
        t = event.received if now is None else now
        self.now = max(self.now, t)
        self._roll_day(t)
        out: list[object] = []
        if isinstance(event, QueueCallerJoin):
            if self._wanted(event.queue):
                self._join(event, t, out)
        elif isinstance(event, QueueCallerAbandon):
            if self._wanted(event.queue):
                self._abandon(event, t, out)
        elif isinstance(event, QueueCallerLeave):
            if self._wanted(event.queue):
                self._leave(event, t)
        elif isinstance(event, AgentConnect):
            if self._wanted(event.queue):
                self._connect(event, t, out)
        elif isinstance(event, AgentComplete):
            if self._wanted(event.queue) and not self._complete(event, t, out):
                return out + self.board.tick(t)  # stale: the call was booked already
        elif isinstance(event, AmiDisconnected):
            self.connected = False
            for q in self.queues.values():
                if q.seen_at_gap is None:
                    q.seen_at_gap = replace(q.seen)
        elif isinstance(event, _CONNECTED):
            self.connected = True
            if isinstance(event, AmiReconnected):
                self.gaps += 1
            if event.queue_snapshot is not None:
                out.extend(self.apply_snapshot(event.queue_snapshot, t))
            return out
        elif isinstance(event, QueueParams):
            if self._wanted(event.queue):
                self._q(event.queue).params = event
        if isinstance(event, _FOR_BOARD):
            if not getattr(event, "queue", "") or self._wanted(event.queue):
                out.extend(self.board.feed(event, t))
        else:
            out.extend(self.board.tick(t))
        return out

    def _malformed(self, q: QueueState, what: str) -> None:
        """Counts an event that cannot be booked; logged once per queue and kind (names only,
        never the caller's number)."""
        n = q.malformed[what] = q.malformed.get(what, 0) + 1
        if n == 1:
            log.warning("queue %s: %s skipped (malformed event; further ones only counted)", q.name, what)

    def _join(self, e: QueueCallerJoin, t: float, out: list[object]) -> None:
        if not e.uniqueid.strip():
            # nothing would ever match it (leave, answer, QueueStatus entry): it would wait forever
            self._malformed(self._q(e.queue), "QueueCallerJoin without Uniqueid")
            return
        key = (e.queue, e.uniqueid)
        if key in self.calls:
            return  # the same call again (a replayed event): never counted twice
        q = self._q(e.queue)
        rec = CallRecord(e.queue, e.uniqueid, t, WAITING, mask_number(e.caller_id_num) or "")
        self.calls[key] = rec
        q.waiting[e.uniqueid] = rec
        self._offer(q, rec, out)

    def _known_or_new(self, queue: str, uniqueid: str, arrived: float, out: list[object]) -> CallRecord:
        """A call we never saw join (it joined before we started): offered now."""
        key = (queue, uniqueid)
        rec = self.calls.get(key)
        if rec is None:
            rec = self.calls[key] = CallRecord(queue, uniqueid, arrived)
            self._offer(self._q(queue), rec, out)
        return rec

    def _abandon(self, e: QueueCallerAbandon, t: float, out: list[object]) -> None:
        q = self._q(e.queue)
        rec = self._known_or_new(e.queue, e.uniqueid, t - e.hold_time, out)
        if rec.state not in (WAITING, LEFT):
            return
        if rec.state == LEFT:
            for tally in self._tallies(q, rec.arrived):
                tally.other_exits -= 1
        rec.state, rec.hold = ABANDONED, e.hold_time
        q.waiting.pop(e.uniqueid, None)
        q.max_wait = max(q.max_wait, e.hold_time)
        for tally in self._tallies(q, rec.arrived):
            tally.abandoned_holds.append(e.hold_time)
        q.seen.abandoned += 1
        q.seen.abandoned_in_sl += e.hold_time <= self._asterisk_sl(q)

    def _leave(self, e: QueueCallerLeave, t: float) -> None:
        q = self._q(e.queue)
        q.waiting.pop(e.uniqueid, None)
        rec = self.calls.get((e.queue, e.uniqueid))
        if rec is not None and rec.state == WAITING:
            # answered calls get AgentConnect right after; until then (or for good, after a
            # timeout) the call counts as an other exit
            rec.state = LEFT
            for tally in self._tallies(q, rec.arrived):
                tally.other_exits += 1

    def _connect(self, e: AgentConnect, t: float, out: list[object]) -> None:
        q = self._q(e.queue)
        rec = self._known_or_new(e.queue, e.uniqueid, t - e.hold_time, out)
        if rec.state in (ANSWERED, COMPLETED, ABANDONED, OTHER):
            return
        if rec.state == LEFT:
            for tally in self._tallies(q, rec.arrived):
                tally.other_exits -= 1
        elif rec.state == LEFT_UNSEEN and q.pending_talking > 0:
            q.pending_talking -= 1  # a late AgentConnect: the reconnect booked this call as talking
        q.waiting.pop(e.uniqueid, None)
        self._running_hold(q, e.hold_time)
        rec.state, rec.hold, rec.interface = ANSWERED, e.hold_time, e.interface
        q.max_wait = max(q.max_wait, e.hold_time)
        for tally in self._tallies(q, rec.arrived):
            tally.answered_holds.append(e.hold_time)

    def _complete(self, e: AgentComplete, t: float, out: list[object]) -> bool:
        """Books a completed call; False when the event is stale (booked before)."""
        q = self._q(e.queue)
        uid = e.uniqueid
        agent = self.board.agents.get(e.interface)
        if not uid and agent is not None and agent.call is not None and agent.call.queue == e.queue:
            uid = agent.call.uniqueid  # the caller's channel was gone: Asterisk sent no snapshot
        rec = self.calls.get((e.queue, uid)) if uid and uid != "?" else None
        sl = self._asterisk_sl(q)
        if rec is not None and rec.state == ANSWERED:
            rec.state = COMPLETED
            for tally in self._tallies(q, rec.arrived):
                tally.completed += 1
                tally.talk_seconds += e.talk_time
                tally.talk_known += 1
            q.seen.completed += 1
            q.seen.completed_in_sl += (rec.hold if rec.hold is not None else e.hold_time) <= sl
            self._running_talk(q, e.talk_time)
            return True
        if rec is not None and rec.state in (COMPLETED, ABANDONED, OTHER):
            return False  # seen before, or booked from counters already
        if not uid:
            return False  # no Uniqueid and no call on that agent: a repeat of one we booked
        on_unknown_call = agent is not None and agent.call is not None and agent.call.uniqueid == "?"
        if q.pending_talking > 0 and (rec is not None or on_unknown_call):
            # answered while we were away and talking at the reconnect: offered already booked
            q.pending_talking -= 1
            if rec is None:
                rec = self.calls[(e.queue, uid if uid != "?" else f"?{e.interface}@{t}")] = CallRecord(e.queue, uid, t - e.hold_time - e.talk_time)
            self._book_answered_completed(q, rec, e)
            return True
        if q.baseline is None and rec is None:
            # answered before we started watching, and no QueueStatus to say so: count it
            rec = self._known_or_new(e.queue, uid, t - e.hold_time - e.talk_time, out)
            self._book_answered_completed(q, rec, e)
            return True
        return False  # it ended before the last QueueStatus, whose counters already booked it

    def _book_answered_completed(self, q: QueueState, rec: CallRecord, e: AgentComplete) -> None:
        if rec.state == LEFT:
            for tally in self._tallies(q, rec.arrived):
                tally.other_exits -= 1
        rec.state, rec.hold, rec.interface = COMPLETED, e.hold_time, e.interface
        q.max_wait = max(q.max_wait, e.hold_time)
        for tally in self._tallies(q, rec.arrived):
            tally.add_completed(e.hold_time, e.talk_time)
        q.seen.completed += 1
        q.seen.completed_in_sl += e.hold_time <= self._asterisk_sl(q)
        self._running_talk(q, e.talk_time)

    # -- QueueStatus ----------------------------------------------------------------------

    def apply_snapshot(self, snap: QueueSnapshot, now: float) -> list[object]:
        """Reconcile with a QueueStatus answer (at start, after a reconnect, or any time)."""
        self.now = max(self.now, now)
        self._roll_day(now)
        out: list[object] = []
        members_by_queue: dict[str, list[QueueMember]] = {}
        for m in snap.members:
            members_by_queue.setdefault(m.queue, []).append(m)
        entries_by_queue: dict[str, list[QueueEntry]] = {}
        for en in snap.entries:
            entries_by_queue.setdefault(en.queue, []).append(en)
        for p in snap.params:
            if self._wanted(p.queue):
                self._reconcile(self._q(p.queue), p, members_by_queue.get(p.queue, []),
                                entries_by_queue.get(p.queue, []), now, out)
        out.extend(self.board.apply_snapshot(snap, now))
        for p in snap.params:  # agents on calls we could not see: mark them talking
            q = self.queues.get(p.queue)
            for m in members_by_queue.get(p.queue, []):
                agent = self.board.agents.get(m.interface)
                if q is not None and agent is not None and m.in_call and agent.call is None:
                    agent.call = ActiveCall("?", p.queue, now, 0)
        return out

    def _reconcile(self, q: QueueState, p: QueueParams, members: list[QueueMember],
                   entries: list[QueueEntry], now: float, out: list[object]) -> None:
        q.params = p
        base = q.baseline
        entry_ids = {en.uniqueid for en in entries}
        if base is not None:
            # counters below the baseline, or (after a drop) below what Asterisk had already
            # counted when we last heard from it: it restarted. Without a drop, only the
            # baseline counts: Asterisk sends AgentComplete just before it bumps Completed.
            reached = q.seen_at_gap or _Seen()
            restarted = (p.completed < base.completed + reached.completed
                         or p.abandoned < base.abandoned + reached.abandoned)
            if restarted:
                base_c = base_a = base_csl = base_asl = 0
                # only what we saw after the drop happened in the new Asterisk's life
                old = q.seen_at_gap or q.seen
                q.seen = _Seen(*(max(getattr(q.seen, f) - getattr(old, f), 0) for f in
                                 ("completed", "completed_in_sl", "abandoned", "abandoned_in_sl")))
            else:
                base_c, base_a = base.completed, base.abandoned
                base_csl, base_asl = _in_sl_from_params(base)
            csl, asl = _in_sl_from_params(p)
            missed_c = max(p.completed - base_c - q.seen.completed, 0)
            missed_csl = max(csl - base_csl - q.seen.completed_in_sl, 0)
            missed_a = max(p.abandoned - base_a - q.seen.abandoned, 0)
            missed_asl = max(asl - base_asl - q.seen.abandoned_in_sl, 0)
            # seen but not yet in the counters (the event goes out just before the counter
            # moves): carried over, so the next QueueStatus does not book them again
            credit = _Seen(max(base_c + q.seen.completed - p.completed, 0),
                           max(base_csl + q.seen.completed_in_sl - csl, 0),
                           max(base_a + q.seen.abandoned - p.abandoned, 0),
                           max(base_asl + q.seen.abandoned_in_sl - asl, 0))
            sl = float(p.service_level)
            # callers we thought waiting who are gone
            gone = [rec for uid, rec in q.waiting.items() if uid not in entry_ids]
            for rec in gone:
                del q.waiting[rec.uniqueid]
                if restarted:  # their channels died with Asterisk: neither answered nor abandoned
                    rec.state = OTHER
                    for tally in self._tallies(q, rec.arrived):
                        tally.other_exits += 1
                else:
                    rec.state = LEFT_UNSEEN
            # calls we saw answered that ended while away (member CallsTaken went up)
            by_iface = {m.interface: m for m in members}
            done_in_sl = done = 0
            busy_known: set[str] = set()
            for rec in [r for r in self.calls.values() if r.queue == q.name and r.state == ANSWERED]:
                m = by_iface.get(rec.interface)
                agent = self.board.agents.get(rec.interface)
                known = agent.memberships.get(q.name) if agent is not None else None
                ended = restarted or m is None or (known is not None and m.calls_taken > known.calls_taken) \
                    or not m.in_call
                if ended:
                    rec.state = COMPLETED
                    if not restarted:
                        done += 1
                        done_in_sl += (rec.hold or 0) <= sl
                    for tally in self._tallies(q, rec.arrived):
                        tally.completed += 1
                    if agent is not None and agent.call is not None and agent.call.uniqueid == rec.uniqueid:
                        agent.call = None
                else:
                    busy_known.add(rec.interface)
            unseen_c = max(missed_c - done, 0)
            unseen_csl = max(min(missed_csl - done_in_sl, unseen_c), 0)
            talking_unseen = sum(1 for m in members if m.in_call and m.interface not in busy_known)
            gap_only = missed_a + unseen_c + talking_unseen - (0 if restarted else len(gone))
            _, now_tally, now_day = self._tallies(q, now)
            for tally in (q.total, now_tally, now_day):
                tally.answered_unseen += unseen_c
                tally.answered_unseen_in_sl += unseen_csl
                tally.completed += unseen_c
                tally.abandoned_unseen += missed_a
                tally.abandoned_unseen_in_sl += min(missed_asl, missed_a)
                if gap_only > 0:
                    tally.offered += gap_only
                elif gap_only < 0:
                    tally.other_exits += -gap_only
            q.pending_talking = talking_unseen
        # callers waiting now that we never saw join
        for en in entries:
            key = (q.name, en.uniqueid)
            if key not in self.calls:
                rec = CallRecord(q.name, en.uniqueid, now - en.wait, WAITING, mask_number(en.caller_id_num) or "")
                self.calls[key] = rec
                q.waiting[en.uniqueid] = rec
                self._offer(q, rec, out)
        q.baseline = p
        q.seen = credit if base is not None else _Seen()
        q.seen_at_gap = None
        q.hold_avg, q.talk_avg = p.holdtime, p.talktime  # Asterisk's own values win

    # -- views ----------------------------------------------------------------------------

    def queue_view(self, name: str, now: float | None = None) -> dict[str, Any]:
        t = self.now if now is None else now
        q = self.queues[name]
        sl = self.sl_for(q)
        view: dict[str, Any] = {"queue": name}
        view.update(q.total.summary(sl))
        waits = sorted(((max(t - r.arrived, 0.0), r) for r in q.waiting.values()), key=lambda x: -x[0])
        view["waiting"] = len(waits)
        view["longest_wait"] = round(waits[0][0], 1) if waits else 0
        view["max_wait"] = max(q.max_wait, int(waits[0][0]) if waits else 0)
        view["callers"] = [{"uniqueid": r.uniqueid, "caller": r.caller, "wait": round(w, 1)} for w, r in waits]
        view["agents"] = self.board.counts(name)
        view["malformed_events"] = dict(q.malformed)
        view["holdtime_running_avg"] = q.hold_avg  # as QueueParams Holdtime (3/4 old + 1/4 new)
        view["talktime_running_avg"] = q.talk_avg
        if q.params is not None:
            p = q.params
            view["asterisk"] = {"completed": p.completed, "abandoned": p.abandoned, "service_level": p.service_level,
                                "service_level_perf": p.service_level_perf,
                                "service_level_perf2": p.service_level_perf2,
                                "holdtime": p.holdtime, "talktime": p.talktime, "calls": p.calls}
        return view

    def interval_views(self, name: str) -> list[dict[str, Any]]:
        q = self.queues[name]
        sl = self.sl_for(q)
        return [{"interval": self.clock.label(s), "start": s, **q.intervals[s].summary(sl)} for s in sorted(q.intervals)]

    def day_views(self, name: str) -> list[dict[str, Any]]:
        q = self.queues[name]
        sl = self.sl_for(q)
        return [{"day": d.isoformat(), **q.days[d].summary(sl)} for d in sorted(q.days)]

    def history(self) -> dict[str, dict[str, dict[str, int]]]:
        """Offered calls per queue, local day and interval (``"19:00"``), for a surge baseline."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for name, q in self.queues.items():
            for start, tally in sorted(q.intervals.items()):
                label = self.clock.label(start)  # 2026-11-28T19:00+08:00
                out.setdefault(name, {}).setdefault(label[:10], {})[label[11:16]] = tally.offered
        return out

    def queue_names(self) -> list[str]:
        """The queues watched, sorted (all seen, or those given as ``queues=``)."""
        return sorted(name for name in self.queues if self._wanted(name))

    def views(self, now: float | None = None, *, intervals: bool = False) -> list[dict[str, Any]]:
        out = []
        for name in self.queue_names():
            v = self.queue_view(name, now)
            v["alerts"] = [a.as_dict() for a in self.alerts if a.queue == name]
            if intervals:
                v["intervals"] = self.interval_views(name)
                v["days"] = self.day_views(name)
                v["agent_stats"] = [
                    {"interface": a.interface, "name": a.name, "total": self.board.stats.total(a.interface).as_dict(),
                     "intervals": [{"interval": label, **row} for label, row in self.board.stats.intervals(a.interface)]}
                    for a in sorted(self.board.in_queue(name), key=lambda a: a.interface)
                ]
            out.append(v)
        return out


__all__ = ["AgentStateChanged", "QueueMonitor", "SurgeDetected", "Tally"]
