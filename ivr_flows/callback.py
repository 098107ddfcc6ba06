"""Callbacks that keep the caller's place in line, and the queue answer the runner asks for.

The line of a queue is more than AMI shows: callers waiting in Queue() (``QueueCallerJoin``),
pending callbacks, and callers still in the IVR's queue node hearing "you are number N" before
the dialplan runs Queue(). Those are *announced*: the manager notes them when they ask for their
position (keyed by the FastAGI channel's Uniqueid and the call's Linkedid: on a real Asterisk the
flow runs on the ``;2`` half of a Local pair, whose QueueCallerJoin carries that Uniqueid and the
call's Linkedid) and forgets them when their QueueCallerJoin arrives (matched by either id), when
they hang up or leave the node another way, or at the latest ``announce_ttl`` seconds later
(``join_grace`` after the flow handed them to Queue()). Three callers a few seconds apart are
so told 1, 2 and 3, not all 1.

A caller who takes the callback offer leaves the phone but not the line: at booking the
manager notes who is ahead (callers waiting in the queue now, callers announced before them,
and earlier callbacks still pending). As those callers leave the queue (answered or abandoned)
they are crossed off; when nobody is ahead any more the caller would be next to reach an agent
(``due``). Being next is not enough: dialled then, a citizen answered and waited on hold again
while every call-taker was still busy. So a due callback is dialled when a call-taker is free or
about to be (``ready``: ``LiveQueueInfo.agent_free_soon``: an idle call-taker with nobody waiting
ahead of a callback, or a busy one expected to finish within ``ring_lead``, the time a citizen
takes to answer), and ``tick`` returns an ``OriginateCallback``: the composition root sends it
as an AMI Originate, whose dialplan calls the citizen back and puts the answered call into the
queue with a top priority. The callback call carries the citizen's number as its caller ID (what
the queue, the call-taker and the store see) and the booking call's Linkedid; what the citizen's
phone shows is ``HOTLINE_CALLBACK_CLI``, set by the dialplan on the outgoing leg. No answer (or
busy) is retried after ``retry_delay`` up to ``max_attempts`` tries in all, again when a
call-taker is free; the callback keeps its place while it waits. Pending callbacks count in the
position (and so the estimated wait) of every caller who books or joins later.

Pure: every method takes ``now``; the numbers are kept for dialing and never logged or shown
unmasked (``repr`` leaves them out).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from engine.store.records import CALLBACK_PENDING as PENDING
from ivr_flows import protocol as p
from queueing.estimate import HandleTimes, QueueSituation, estimate_wait

ID_PREFIX = "CB-"  # a booking's reference: CB-00012 (numbered per engine node, never given twice)


@dataclass
class Announced:
    """A caller in a queue node: told their position, not yet in Queue() as AMI sees it."""

    queue: str
    uniqueid: str  # the FastAGI channel's (the ;2 half of a Local pair): QueueCallerJoin's Uniqueid
    linkedid: str  # the call's: QueueCallerJoin's Linkedid
    priority: int
    order: int  # announcement order: who is ahead of whom
    expires: float


class Booked(Protocol):
    """A callback as kept across restarts (``engine.store.StoredCallback``)."""

    id: str
    call_id: str
    queue: str
    number: str
    priority: int
    booked_at: float
    status: str
    attempts: int


@dataclass
class CallbackRequest:
    id: str
    queue: str
    number: str = field(repr=False)
    priority: int
    booked_at: float
    linkedid: str = ""  # the call that booked it
    ahead: set[str] = field(default_factory=set)  # uniqueids / callback ids still ahead
    status: str = "waiting"  # waiting, due (nobody ahead), dialing, retry, answered, failed
    attempts: int = 0
    next_try: float = 0.0
    due_at: float | None = None  # when nobody was ahead any more
    history: list[tuple[float, str]] = field(default_factory=list)
    held: bool = False  # due, but kept back until a call-taker is free (noted once in the history)

    @property
    def pending(self) -> bool:
        return self.status in PENDING


@dataclass(frozen=True)
class OriginateCallback:
    """An AMI Originate that calls the citizen back (``AmiClient.originate(**cmd.kwargs())``)."""

    callback_id: str
    channel: str = field(repr=False)  # contains the number
    context: str
    exten: str
    priority: int
    caller_id: str = field(repr=False)  # the citizen's number: the callback call's caller ID
    timeout_ms: int
    variables: tuple[tuple[str, str], ...]

    def kwargs(self) -> dict[str, object]:
        return {"channel": self.channel, "context": self.context, "exten": self.exten,
                "priority": self.priority, "caller_id": self.caller_id, "timeout_ms": self.timeout_ms,
                "variables": dict(self.variables)}


class CallbackManager:
    """Bookings, virtual places, due times, retries. Feed it queue joins/leaves and ``tick``.

    ``caller_id``: the number the citizen's phone shows for a callback (``HOTLINE_CALLBACK_CLI``);
    ``ready(queue, now)``: may a due callback be dialled now (a call-taker is (about to be) free)?
    None dials as soon as nobody is ahead; ``LiveQueueInfo`` sets it.
    """

    def __init__(self, *, max_attempts: int = 3, retry_delay: float = 120.0,
                 channel_template: str = "Local/{number}@hotline-callback-out",
                 context: str = "hotline-callback", exten: str = "s", caller_id: str = "12345",
                 ring_seconds: int = 30, ring_lead: float = 10.0, top_priority: int = 10,
                 announce_ttl: float = 300.0, join_grace: float = 15.0,
                 ready: Callable[[str, float], bool] | None = None,
                 on_change: Callable[[CallbackRequest, float], None] | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.channel_template = channel_template
        self.context = context
        self.exten = exten
        self.caller_id = caller_id
        self.ring_seconds = ring_seconds  # the Originate's timeout: how long the citizen's phone rings
        self.ring_lead = ring_lead  # how long a citizen typically takes to answer
        self.top_priority = top_priority
        self.ready = ready
        self.announce_ttl = announce_ttl  # the longest a caller stays announced without news of them
        self.join_grace = join_grace  # after the flow handed the caller to Queue(), for QueueCallerJoin
        self.on_change = on_change  # told of each booking and each change of its status (the store keeps them)
        self.requests: dict[str, CallbackRequest] = {}
        self._waiting: dict[str, dict[str, int | None]] = {}  # queue -> uniqueid -> priority (None: unknown)
        self._announced: dict[str, Announced] = {}  # FastAGI uniqueid -> caller in a queue node
        self._next_id = 1
        self._order = itertools.count(1)

    # -- callers in a queue node ----------------------------------------------------------------

    def caller_announced(self, queue: str, uniqueid: str, now: float, *, linkedid: str = "",
                         priority: int = 0) -> None:
        """A caller asked for their position in a queue node; asking again keeps their place."""
        old = self._announced.get(uniqueid)
        order = old.order if old is not None and old.queue == queue else next(self._order)
        self._announced[uniqueid] = Announced(queue, uniqueid, linkedid or uniqueid, priority, order,
                                              now + self.announce_ttl)

    def caller_handed_over(self, uniqueid: str, now: float) -> None:
        """The flow ended in Queue(): its QueueCallerJoin is due within ``join_grace``."""
        entry = self._announced.get(uniqueid)
        if entry is not None:
            entry.expires = min(entry.expires, now + self.join_grace)

    def caller_gone(self, channel_id: str, now: float) -> None:
        """A caller left the queue node without joining (hung up, booked a callback, moved on).
        ``channel_id``: the FastAGI channel's Uniqueid, or the call's first channel's (its Linkedid),
        as a Hangup of either says the caller is gone."""
        for entry in [a for a in self._announced.values() if channel_id in (a.uniqueid, a.linkedid)]:
            self._drop(entry, now)

    def announced(self, queue: str, now: float) -> int:
        self._expire(now)
        return sum(1 for a in self._announced.values() if a.queue == queue)

    def announced_ahead(self, queue: str, priority: int, now: float, uniqueid: str = "") -> set[str]:
        """Callers in the node announced before ``uniqueid`` (all, for a caller not announced),
        at the same or a higher priority: Queue() will put them ahead."""
        self._expire(now)
        me = self._announced.get(uniqueid)
        return {a.uniqueid for a in self._announced.values()
                if a.queue == queue and a.uniqueid != uniqueid and a.priority >= priority
                and (me is None or a.order < me.order)}

    # -- what the queue does ----------------------------------------------------------------

    def caller_joined(self, queue: str, uniqueid: str, now: float, priority: int | None = None, *,
                      linkedid: str = "") -> None:
        """A caller entered the queue; ``priority`` None (AMI does not say) counts as ahead of all,
        unless the caller was announced (matched by Uniqueid, else Linkedid): then the flow's."""
        entry = self._announced.get(uniqueid) or next(
            (a for a in self._announced.values() if linkedid and a.linkedid == linkedid and a.queue == queue), None)
        if entry is not None:
            del self._announced[entry.uniqueid]
            if priority is None:
                priority = entry.priority
            if entry.uniqueid != uniqueid:  # still ahead of the same callbacks, under the id AMI uses
                for req in self.requests.values():
                    if entry.uniqueid in req.ahead:
                        req.ahead = (req.ahead - {entry.uniqueid}) | {uniqueid}
        self._waiting.setdefault(queue, {})[uniqueid] = priority

    def caller_left(self, queue: str, uniqueid: str, now: float) -> None:
        """Answered or abandoned: either way no longer ahead of anyone."""
        self._waiting.get(queue, {}).pop(uniqueid, None)
        self._cross_off(uniqueid, now)

    def waiting(self, queue: str) -> int:
        return len(self._waiting.get(queue, {}))

    def waiting_at_or_above(self, queue: str, priority: int) -> int:
        return sum(1 for prio in self._waiting.get(queue, {}).values() if prio is None or prio >= priority)

    def pending(self, queue: str) -> int:
        return sum(1 for r in self.requests.values() if r.queue == queue and r.pending)

    # -- bookings ---------------------------------------------------------------------------

    def book(self, queue: str, number: str, priority: int, now: float, *, linkedid: str = "",
             uniqueid: str = "") -> CallbackRequest:
        """Book a callback for the caller on FastAGI channel ``uniqueid`` (of call ``linkedid``):
        it keeps the place the caller was announced (callers announced earlier stay ahead)."""
        if not number.isdigit():
            raise ValueError("a callback number must be digits")
        cb_id = f"{ID_PREFIX}{self._next_id:05d}"
        self._next_id += 1
        ahead = {uid for uid, prio in self._waiting.get(queue, {}).items() if prio is None or prio >= priority}
        ahead |= self.announced_ahead(queue, priority, now, uniqueid)
        me = self._announced.get(uniqueid)
        if me is not None:  # the callback holds the place from now on
            self._drop(me, now)
        ahead |= {r.id for r in self.requests.values() if r.queue == queue and r.pending}
        req = CallbackRequest(cb_id, queue, number, priority, now, linkedid, ahead)
        req.history.append((now, f"booked, {len(ahead)} ahead"))
        self.requests[cb_id] = req
        if not ahead:
            self._make_due(req, now)
        self._changed(req, now)
        return req

    def restore(self, stored: Iterable[Booked], last_id: str, now: float) -> list[CallbackRequest]:
        """Callbacks booked before a restart (``Store.pending_callbacks``), oldest first; new ids
        continue after ``last_id``. Each keeps its place behind the earlier pending callbacks of its
        queue (who else was ahead of it then is not known any more), so it is due once they are
        done. One being dialled when the engine stopped is tried again at once (its outcome is
        unknown, so the citizen may be called twice), or given up if it had all its attempts."""
        number = last_id.removeprefix(ID_PREFIX)
        if last_id.startswith(ID_PREFIX) and number.isdigit():
            self._next_id = max(self._next_id, int(number) + 1)
        out = []
        for s in stored:
            if s.id in self.requests:
                continue
            ahead = {r.id for r in self.requests.values() if r.queue == s.queue and r.pending}
            req = CallbackRequest(s.id, s.queue, s.number, s.priority, s.booked_at, s.call_id, ahead,
                                  attempts=s.attempts)
            req.history.append((now, f"restored after a restart ({s.status}), {len(ahead)} ahead"))
            self.requests[req.id] = req
            if s.status in ("dialing", "retry"):
                req.ahead = set()  # it had its turn: the retry keeps it
                if s.attempts >= self.max_attempts:
                    req.status = "failed"
                    req.history.append((now, f"no known answer after {req.attempts} attempts"))
                else:
                    req.status, req.next_try = "retry", now
            elif not ahead:
                self._make_due(req, now)
            self._changed(req, now)
            out.append(req)
        return out

    def position(self, callback_id: str) -> int:
        """1 + how many are still ahead of this callback."""
        return len(self.requests[callback_id].ahead) + 1

    def tick(self, now: float) -> list[OriginateCallback]:
        """Callbacks to originate now: due ones, and retries whose delay has passed, once a
        call-taker is (about to be) free (``ready``)."""
        self._expire(now)
        out = []
        for req in self.requests.values():
            if req.status == "due" or (req.status == "retry" and now >= req.next_try):
                if self.ready is not None and not self.ready(req.queue, now):
                    if not req.held:
                        req.held = True
                        req.history.append((now, "waiting for a free call-taker"))
                    continue
                req.held = False
                req.status = "dialing"
                req.attempts += 1
                req.history.append((now, f"dial attempt {req.attempts}"))
                self._changed(req, now)
                out.append(self._originate(req))
        return out

    def originate_result(self, callback_id: str, answered: bool, now: float) -> CallbackRequest:
        """The OriginateResponse: answered (done) or not (retry later, or give up)."""
        req = self.requests[callback_id]
        if req.status != "dialing":
            return req
        if answered:
            req.status = "answered"
            req.history.append((now, "answered"))
            self._cross_off(req.id, now)
        elif req.attempts < self.max_attempts:
            req.status = "retry"
            req.next_try = now + self.retry_delay
            req.history.append((now, f"no answer, retry at +{self.retry_delay:.0f}s"))
        else:
            req.status = "failed"
            req.history.append((now, f"no answer after {req.attempts} attempts"))
            self._cross_off(req.id, now)
        self._changed(req, now)
        return req

    # -- internals ---------------------------------------------------------------------------

    def _drop(self, entry: Announced, now: float) -> None:
        self._announced.pop(entry.uniqueid, None)
        self._cross_off(entry.uniqueid, now)

    def _expire(self, now: float) -> None:
        for entry in [a for a in self._announced.values() if a.expires <= now]:
            self._drop(entry, now)

    def _cross_off(self, key: str, now: float) -> None:
        for req in self.requests.values():
            if key in req.ahead:
                req.ahead.discard(key)
                if not req.ahead and req.status == "waiting":
                    self._make_due(req, now)
                    self._changed(req, now)

    def _changed(self, req: CallbackRequest, now: float) -> None:
        if self.on_change is not None:
            self.on_change(req, now)

    def _make_due(self, req: CallbackRequest, now: float) -> None:
        req.status = "due"
        req.due_at = now
        req.history.append((now, "due: nobody ahead any more"))

    def _originate(self, req: CallbackRequest) -> OriginateCallback:
        variables = (("HOTLINE_CALLBACK", req.id), ("HOTLINE_QUEUE", req.queue),
                     ("QUEUE_PRIO", str(max(req.priority, self.top_priority))),
                     ("HOTLINE_LINKEDID", req.linkedid), ("HOTLINE_CALLBACK_CLI", self.caller_id))
        return OriginateCallback(req.id, self.channel_template.format(number=req.number), self.context,
                                 self.exten, 1, req.number, self.ring_seconds * 1000, variables)


@dataclass
class QueueState:
    """What the live side knows about a queue's agents (fed by AMI / the monitor)."""

    staffed: int = 0
    available: int = 0

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> QueueState:
        """From ``agents_adapter``'s ``board.counts(queue)``: staffed = logged in, not paused
        or unavailable; available = idle now."""
        staffed = counts.get("logged_in", 0) - counts.get("paused", 0) - counts.get("unavailable", 0)
        return cls(staffed=max(0, staffed), available=counts.get("available", 0))


class LiveQueueInfo:
    """Answers the runner's ``QueryQueue``: position (callers waiting, callers announced earlier
    and pending callbacks ahead) and estimated wait from recent handle times; books callbacks.
    One per engine, fed by AMI events; the FastAGI adapter says when a caller leaves the node.
    """

    def __init__(self, callbacks: CallbackManager | None = None, handle_times: HandleTimes | None = None,
                 *, patience: float | None = None, wrapup_seconds: float = 0.0,
                 agents: Callable[[str], QueueState] | None = None) -> None:
        self.callbacks = callbacks or CallbackManager()
        self.handle_times = handle_times or HandleTimes()
        self.patience = patience
        self.wrapup_seconds = wrapup_seconds  # added to TalkTime: the queue's wrapuptime
        self.agents: dict[str, QueueState] = {}
        self._agents_fn = agents
        self._busy: dict[str, dict[str, float]] = {}  # queue -> member interface -> when it connected
        self._wrapping: dict[str, dict[str, float]] = {}  # queue -> member interface -> wrap-up ends
        if self.callbacks.ready is None:
            self.callbacks.ready = self.agent_free_soon

    def feed(self, event: object, now: float) -> list[OriginateCallback]:
        """An AMI event (``engine.events.ami``): joins and leaves move callbacks up the line, a
        join or a hang-up ends an announced caller's time in the node, connects and completions
        say when call-takers will be free and feed the handle times. Returns callbacks now due
        to be originated."""
        from engine.events import ami

        if isinstance(event, ami.QueueCallerJoin):
            self.callbacks.caller_joined(event.queue, event.uniqueid, now, linkedid=event.linkedid)
        elif isinstance(event, ami.QueueCallerLeave | ami.QueueCallerAbandon):
            self.callbacks.caller_left(event.queue, event.uniqueid, now)
        elif isinstance(event, ami.Hangup):
            self.callbacks.caller_gone(event.uniqueid, now)
        elif isinstance(event, ami.AgentConnect):
            self._wrapping.get(event.queue, {}).pop(event.interface, None)
            self._busy.setdefault(event.queue, {})[event.interface] = now
        elif isinstance(event, ami.AgentComplete):
            self._busy.get(event.queue, {}).pop(event.interface, None)
            if self.wrapup_seconds > 0:
                self._wrapping.setdefault(event.queue, {})[event.interface] = now + self.wrapup_seconds
            self.handle_times.add(event.queue, float(event.talk_time) + self.wrapup_seconds, now)
        return self.callbacks.tick(now)

    def agent_state(self, queue: str) -> QueueState:
        if self._agents_fn is not None:
            return self._agents_fn(queue)
        return self.agents.get(queue, QueueState())

    def next_agent_free_in(self, queue: str, now: float) -> float | None:
        """Expected seconds until a busy call-taker of ``queue`` is free: the soonest of each
        busy one's recent handle time minus what it has had of it so far (or the rest of its
        wrap-up); for busy ones whose call began before the engine saw it, ``aht / n`` (n of
        them, memoryless). None when none is busy."""
        agents = self.agent_state(queue)
        aht = self.handle_times.mean(queue, now)  # talk + wrap-up
        wrapping = self._wrapping.get(queue, {})
        for interface in [i for i, until in wrapping.items() if until <= now]:
            del wrapping[interface]
        ends = [max(0.0, since + aht - now) for since in self._busy.get(queue, {}).values()]
        ends += [until - now for until in wrapping.values()]
        unseen = agents.staffed - agents.available - len(ends)
        if unseen > 0:
            ends.append(aht / unseen)
        return min(ends, default=None)

    def agent_free_soon(self, queue: str, now: float) -> bool:
        """May a due callback be dialled now? Yes when a call-taker is idle with nobody waiting
        ahead of a callback (callers at its top priority, or whose priority AMI did not say),
        or when one is expected free within ``ring_lead`` (the citizen answers about then)."""
        agents = self.agent_state(queue)
        if agents.staffed <= 0:
            return False
        if agents.available > self.callbacks.waiting_at_or_above(queue, self.callbacks.top_priority):
            return True
        free_in = self.next_agent_free_in(queue, now)
        if free_in is None:  # idle ones, taken by the callers ahead: back in about aht / staffed
            free_in = self.handle_times.mean(queue, now) / agents.staffed
        return free_in <= self.callbacks.ring_lead

    def query(self, queue: str, priority: int, now: float, *, uniqueid: str = "", linkedid: str = "") -> p.QueueInfo:
        """The position and wait of the caller on FastAGI channel ``uniqueid`` (of call ``linkedid``),
        who is noted as announced (see the module docstring) until they join or leave."""
        if uniqueid:
            self.callbacks.caller_announced(queue, uniqueid, now, linkedid=linkedid, priority=priority)
        ahead = (self.callbacks.waiting_at_or_above(queue, priority) + self.callbacks.pending(queue)
                 + len(self.callbacks.announced_ahead(queue, priority, now, uniqueid)))
        agents = self.agent_state(queue)
        est = estimate_wait(QueueSituation(ahead + 1, agents.staffed, agents.available,
                                           self.handle_times.mean(queue, now), self.patience))
        return p.QueueInfo(position=ahead + 1, wait=est.mean, agents_available=agents.available)

    def book(self, queue: str, number: str, priority: int, now: float, linkedid: str = "", uniqueid: str = "") -> str:
        return self.callbacks.book(queue, number, priority, now, linkedid=linkedid, uniqueid=uniqueid).id

    def left_queue_node(self, uniqueid: str, now: float, *, queued: bool) -> None:
        """The flow of FastAGI channel ``uniqueid`` ended after asking for its position: handed to
        Queue() (``queued``: AMI's join follows) or gone another way (no longer in line)."""
        if queued:
            self.callbacks.caller_handed_over(uniqueid, now)
        else:
            self.callbacks.caller_gone(uniqueid, now)
