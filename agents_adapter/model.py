"""Call-taker states as a pure state machine fed by AMI events (time passed in).

An agent is a queue member interface (``Local/agent1@agents/n``, ``PJSIP/1001``); it may sit
in several queues with a penalty each (its skills). Its state is derived, in this order:

1. ``logged_out``  - in no queue
2. ``talking``     - between AgentConnect and AgentComplete
3. ``ringing``     - after AgentCalled, until connect, no-answer or the caller leaves
4. ``paused``      - paused in every queue it is in (with the latest reason)
5. ``wrap_up``     - for the wrap-up time after AgentComplete (member ``Wrapuptime`` when set,
                      else the queue's configured wrap-up, which AMI does not report)
6. ``unavailable`` - device state unavailable or invalid
7. ``talking``     - device in use by a call not from a queue
8. ``available``

Every change is returned as an :class:`AgentStateChanged` fact and the time spent in each
state is added to per-interval statistics (:mod:`agents_adapter.stats`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agents_adapter.stats import AgentStats
from engine.events.ami import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    MemberEvent,
    MemberStatus,
    QueueCallerAbandon,
    QueueMember,
    QueueMemberRemoved,
    QueueSnapshot,
)
from queueing.intervals import IntervalClock


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class AgentStateChanged:
    """A call-taker moved from ``old`` to ``new`` at ``at`` (epoch seconds)."""

    interface: str
    name: str
    old: AgentState
    new: AgentState
    at: float
    reason: str = ""  # pause reason when ``new`` is paused
    queues: tuple[str, ...] = ()


@dataclass
class Membership:
    queue: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    status: int = MemberStatus.NOT_INUSE
    in_call: bool = False
    calls_taken: int = 0
    wrapuptime: int = 0
    membership: str = "dynamic"
    last_pause: int = 0
    login_time: int = 0


@dataclass
class ActiveCall:
    uniqueid: str  # the caller's channel in Queue() (on a Local pair: ;2)
    queue: str
    connected_at: float
    hold_time: int
    call_id: str = ""  # the call's Linkedid: what the store and the live page know the call by


@dataclass
class Agent:
    interface: str
    name: str = ""
    memberships: dict[str, Membership] = field(default_factory=dict)
    ringing: dict[str, str] = field(default_factory=dict)  # caller uniqueid -> queue
    call: ActiveCall | None = None
    wrap_until: float = 0.0
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    pause_reason: str = ""

    def derive(self, now: float) -> tuple[AgentState, str]:
        if not self.memberships:
            return AgentState.LOGGED_OUT, ""
        if self.call is not None:
            return AgentState.TALKING, ""
        if self.ringing:
            return AgentState.RINGING, ""
        ms = list(self.memberships.values())
        if all(m.paused for m in ms):
            reason = next((m.paused_reason for m in sorted(ms, key=lambda m: -m.last_pause) if m.paused_reason), "")
            return AgentState.PAUSED, reason
        if now < self.wrap_until:
            return AgentState.WRAP_UP, ""
        statuses = {m.status for m in ms}
        if statuses & {MemberStatus.UNAVAILABLE, MemberStatus.INVALID} and not statuses & {
            MemberStatus.NOT_INUSE, MemberStatus.UNKNOWN
        }:
            return AgentState.UNAVAILABLE, ""
        if statuses & {MemberStatus.INUSE, MemberStatus.BUSY, MemberStatus.ONHOLD} or any(m.in_call for m in ms):
            return AgentState.TALKING, ""
        if statuses & {MemberStatus.RINGING, MemberStatus.RINGINUSE}:
            return AgentState.RINGING, ""
        return AgentState.AVAILABLE, ""

    def view(self, now: float) -> dict[str, object]:
        return {
            "interface": self.interface,
            "name": self.name,
            "state": self.state.value,
            "since": round(self.since, 3),
            "for_seconds": round(max(now - self.since, 0.0), 1),
            "reason": self.pause_reason if self.state is AgentState.PAUSED else "",
            "queues": {q: {"penalty": m.penalty, "paused": m.paused, "reason": m.paused_reason}
                       for q, m in sorted(self.memberships.items())},
            "call": (self.call.call_id or self.call.uniqueid) if self.call else "",  # the page's call id
        }


class AgentBoard:
    """All call-takers; ``feed(event, now)`` returns the state changes it caused."""

    def __init__(
        self,
        *,
        wrapup_seconds: float | Mapping[str, float] = 0.0,
        interval: IntervalClock | None = None,
    ) -> None:
        self.agents: dict[str, Agent] = {}
        self._wrapup = wrapup_seconds
        self.stats = AgentStats(interval or IntervalClock())
        self.now = 0.0
        # no wrap-up ends before this: ``tick`` runs on every AMI event and scans the agents only
        # when one may be due (lowered wherever a wrap-up starts, recomputed by that scan)
        self._wrap_next = float("inf")

    # -- helpers --

    def wrapup_for(self, queue: str, member: Membership | None) -> float:
        if member is not None and member.wrapuptime > 0:
            return float(member.wrapuptime)
        if isinstance(self._wrapup, Mapping):
            return float(self._wrapup.get(queue, self._wrapup.get("*", 0.0)))
        return float(self._wrapup)

    def _agent(self, interface: str, name: str = "") -> Agent:
        agent = self.agents.get(interface)
        if agent is None:
            agent = self.agents[interface] = Agent(interface, name or interface, since=self.now)
        elif name and agent.name == agent.interface:
            agent.name = name
        return agent

    def _settle(self, agent: Agent, now: float, out: list[AgentStateChanged]) -> None:
        new, reason = agent.derive(now)
        if new is agent.state and (new is not AgentState.PAUSED or reason == agent.pause_reason):
            return
        start = agent.since
        if agent.state is AgentState.WRAP_UP and new is not AgentState.WRAP_UP:
            end = min(now, agent.wrap_until) if agent.wrap_until > start else now
            self.stats.add_time(agent.interface, agent.state, start, max(end, start))
        else:
            self.stats.add_time(agent.interface, agent.state, start, now)
        out.append(AgentStateChanged(agent.interface, agent.name, agent.state, new, now, reason,
                                     tuple(sorted(agent.memberships))))
        agent.state = new
        agent.since = now
        agent.pause_reason = reason if new is AgentState.PAUSED else ""

    def tick(self, now: float) -> list[AgentStateChanged]:
        """Advance time: wrap-up ends by the clock, not by an event."""
        out: list[AgentStateChanged] = []
        self.now = max(self.now, now)
        if now < self._wrap_next:
            return out
        nxt = float("inf")
        for agent in self.agents.values():
            if agent.state is AgentState.WRAP_UP:
                if now >= agent.wrap_until:
                    self._settle(agent, agent.wrap_until, out)
                else:
                    nxt = min(nxt, agent.wrap_until)
        self._wrap_next = nxt
        return out

    # -- events --

    def feed(self, event: AmiEvent, now: float | None = None) -> list[AgentStateChanged]:
        t = event.received if now is None else now
        out = self.tick(t)
        touched: list[Agent] = []
        if isinstance(event, QueueMemberRemoved):
            agent = self.agents.get(event.interface)
            if agent is not None:
                agent.memberships.pop(event.queue, None)
                touched.append(agent)
        elif isinstance(event, MemberEvent):
            agent = self._agent(event.interface, event.member_name)
            m = agent.memberships.get(event.queue) or Membership(event.queue)
            _copy_member(m, event)
            agent.memberships[event.queue] = m
            touched.append(agent)
        elif isinstance(event, AgentCalled):
            agent = self._agent(event.interface, event.member_name)
            agent.ringing[event.uniqueid] = event.queue
            touched.append(agent)
        elif isinstance(event, AgentRingNoAnswer):
            agent = self._agent(event.interface, event.member_name)
            agent.ringing.pop(event.uniqueid, None)
            self.stats.add_count(agent.interface, "missed_rings", t)
            touched.append(agent)
        elif isinstance(event, AgentConnect):
            for other in self.agents.values():  # answered: every phone ringing for it stops
                if other.ringing.pop(event.uniqueid, None) is not None:
                    touched.append(other)
            agent = self._agent(event.interface, event.member_name)
            agent.ringing.clear()  # one call at a time: other rings for this phone stopped too
            agent.call = ActiveCall(event.uniqueid, event.queue, t, event.hold_time, event.linkedid or event.uniqueid)
            agent.wrap_until = 0.0
            touched.append(agent)
        elif isinstance(event, AgentComplete):
            agent = self._agent(event.interface, event.member_name)
            if agent.call is not None and event.uniqueid and agent.call.uniqueid not in (event.uniqueid, "?"):
                return out  # a stale AgentComplete for an earlier call: the current one goes on
            agent.call = None
            agent.ringing.pop(event.uniqueid, None)
            agent.wrap_until = t + self.wrapup_for(event.queue, agent.memberships.get(event.queue))
            self._wrap_next = min(self._wrap_next, agent.wrap_until)
            self.stats.add_count(agent.interface, "calls", t)
            self.stats.add_count(agent.interface, "talk_seconds", t, event.talk_time)
            touched.append(agent)
        elif isinstance(event, QueueCallerAbandon):
            for agent in self.agents.values():  # the caller is gone: phones ringing for it stop
                if agent.ringing.pop(event.uniqueid, None) is not None:
                    touched.append(agent)
        for agent in touched:
            self._settle(agent, t, out)
        return out

    def apply_snapshot(self, snapshot: QueueSnapshot, now: float) -> list[AgentStateChanged]:
        """Replace memberships with what QueueStatus says (after a reconnect or at start)."""
        out = self.tick(now)
        queues = {p.queue for p in snapshot.params} | {m.queue for m in snapshot.members}
        seen: dict[str, set[str]] = {}
        for item in snapshot.members:
            agent = self._agent(item.interface, item.member_name)
            m = agent.memberships.get(item.queue) or Membership(item.queue)
            _copy_member(m, item)
            agent.memberships[item.queue] = m
            seen.setdefault(item.interface, set()).add(item.queue)
            if agent.call is not None and not item.in_call and agent.call.queue == item.queue:
                agent.call = None  # the call ended while we were away
            agent.ringing.clear()
        for agent in self.agents.values():
            for q in list(agent.memberships):
                if q in queues and q not in seen.get(agent.interface, set()):
                    del agent.memberships[q]
            self._settle(agent, now, out)
        return out

    # -- views --

    def in_queue(self, queue: str) -> Iterable[Agent]:
        return (a for a in self.agents.values() if queue in a.memberships)

    def counts(self, queue: str) -> dict[str, int]:
        """Agents of ``queue`` per state (logged in = all of them)."""
        out = {s.value: 0 for s in AgentState if s is not AgentState.LOGGED_OUT}
        n = 0
        for agent in self.in_queue(queue):
            n += 1
            state = agent.state
            if state is AgentState.AVAILABLE and agent.memberships[queue].paused:
                state = AgentState.PAUSED  # paused for this queue although free for others
            out[state.value] = out.get(state.value, 0) + 1
        out["logged_in"] = n
        return out

    def close_spans(self, now: float) -> None:
        """Account the time of the current states up to ``now`` (before a report)."""
        self.tick(now)
        for agent in self.agents.values():
            if now > agent.since:
                self.stats.add_time(agent.interface, agent.state, agent.since, now)
                agent.since = now


def _copy_member(m: Membership, e: MemberEvent | QueueMember) -> None:
    m.penalty = e.penalty
    m.paused = e.paused
    m.paused_reason = e.paused_reason if e.paused else ""
    m.status = e.status
    m.in_call = e.in_call
    m.calls_taken = e.calls_taken
    m.wrapuptime = e.wrapuptime
    m.membership = e.membership or m.membership
    m.last_pause = e.last_pause
    m.login_time = e.login_time
