"""Callbacks that keep the caller's place in line, and the queue answer the runner asks for.

A caller who takes the callback offer leaves the phone but not the line: at booking the
manager notes who is ahead (callers waiting in the queue now, and earlier callbacks still
pending). As those callers leave the queue (answered or abandoned) they are crossed off; when
nobody is ahead any more the caller would have been next to reach an agent, and ``tick``
returns an ``OriginateCallback``: the composition root sends it as an AMI Originate, whose
dialplan calls the citizen back and puts the answered call into the queue with a top priority.
No answer (or busy) is retried after ``retry_delay`` up to ``max_attempts`` tries in all; the
callback keeps its place while it waits for the retry. Pending callbacks count in the position
(and so the estimated wait) of every caller who books or joins later.

Pure: every method takes ``now``; the numbers are kept for dialing and never logged or shown
unmasked (``repr`` leaves them out).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr_flows import protocol as p
from queueing.estimate import HandleTimes, QueueSituation, estimate_wait

PENDING = ("waiting", "due", "dialing", "retry")


@dataclass
class CallbackRequest:
    id: str
    queue: str
    number: str = field(repr=False)
    priority: int
    booked_at: float
    linkedid: str = ""  # the call that booked it
    ahead: set[str] = field(default_factory=set)  # uniqueids / callback ids still ahead
    status: str = "waiting"  # waiting, due, dialing, retry, answered, failed
    attempts: int = 0
    next_try: float = 0.0
    due_at: float | None = None  # when the caller would have reached an agent
    history: list[tuple[float, str]] = field(default_factory=list)

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
    caller_id: str
    timeout_ms: int
    variables: tuple[tuple[str, str], ...]

    def kwargs(self) -> dict[str, object]:
        return {"channel": self.channel, "context": self.context, "exten": self.exten,
                "priority": self.priority, "caller_id": self.caller_id, "timeout_ms": self.timeout_ms,
                "variables": dict(self.variables)}


class CallbackManager:
    """Bookings, virtual places, due times, retries. Feed it queue joins/leaves and ``tick``."""

    def __init__(self, *, max_attempts: int = 3, retry_delay: float = 120.0,
                 channel_template: str = "Local/{number}@hotline-callback-out",
                 context: str = "hotline-callback", exten: str = "s", caller_id: str = "12345",
                 ring_seconds: int = 30, top_priority: int = 10) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.channel_template = channel_template
        self.context = context
        self.exten = exten
        self.caller_id = caller_id
        self.ring_seconds = ring_seconds
        self.top_priority = top_priority
        self.requests: dict[str, CallbackRequest] = {}
        self._waiting: dict[str, dict[str, int | None]] = {}  # queue -> uniqueid -> priority (None: unknown)
        self._ids = itertools.count(1)

    # -- what the queue does ----------------------------------------------------------------

    def caller_joined(self, queue: str, uniqueid: str, now: float, priority: int | None = None) -> None:
        """A caller entered the queue; ``priority`` None (AMI does not say) counts as ahead of all."""
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

    def book(self, queue: str, number: str, priority: int, now: float, *, linkedid: str = "") -> CallbackRequest:
        if not number.isdigit():
            raise ValueError("a callback number must be digits")
        cb_id = f"CB-{next(self._ids):05d}"
        ahead = {uid for uid, prio in self._waiting.get(queue, {}).items() if prio is None or prio >= priority}
        ahead |= {r.id for r in self.requests.values() if r.queue == queue and r.pending}
        req = CallbackRequest(cb_id, queue, number, priority, now, linkedid, ahead)
        req.history.append((now, f"booked, {len(ahead)} ahead"))
        self.requests[cb_id] = req
        if not ahead:
            self._make_due(req, now)
        return req

    def position(self, callback_id: str) -> int:
        """1 + how many are still ahead of this callback."""
        return len(self.requests[callback_id].ahead) + 1

    def tick(self, now: float) -> list[OriginateCallback]:
        """Callbacks to originate now (due ones, and retries whose delay has passed)."""
        out = []
        for req in self.requests.values():
            if req.status == "due" or (req.status == "retry" and now >= req.next_try):
                req.status = "dialing"
                req.attempts += 1
                req.history.append((now, f"dial attempt {req.attempts}"))
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
        return req

    # -- internals ---------------------------------------------------------------------------

    def _cross_off(self, key: str, now: float) -> None:
        for req in self.requests.values():
            if key in req.ahead:
                req.ahead.discard(key)
                if not req.ahead and req.status == "waiting":
                    self._make_due(req, now)

    def _make_due(self, req: CallbackRequest, now: float) -> None:
        req.status = "due"
        req.due_at = now
        req.history.append((now, "due: would reach an agent now"))

    def _originate(self, req: CallbackRequest) -> OriginateCallback:
        variables = (("HOTLINE_CALLBACK", req.id), ("HOTLINE_QUEUE", req.queue),
                     ("QUEUE_PRIO", str(max(req.priority, self.top_priority))),
                     ("HOTLINE_LINKEDID", req.linkedid))
        return OriginateCallback(req.id, self.channel_template.format(number=req.number), self.context,
                                 self.exten, 1, self.caller_id, self.ring_seconds * 1000, variables)


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
    """Answers the runner's ``QueryQueue``: position (callers and pending callbacks ahead) and
    estimated wait from recent handle times; books callbacks. One per engine, fed by AMI events.
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

    def feed(self, event: object, now: float) -> list[OriginateCallback]:
        """An AMI event (``engine.events.ami``): joins and leaves move callbacks up the line,
        completions feed the handle times. Returns callbacks now due to be originated."""
        from engine.events import ami

        if isinstance(event, ami.QueueCallerJoin):
            self.callbacks.caller_joined(event.queue, event.uniqueid, now)
        elif isinstance(event, ami.QueueCallerLeave | ami.QueueCallerAbandon):
            self.callbacks.caller_left(event.queue, event.uniqueid, now)
        elif isinstance(event, ami.AgentComplete):
            self.handle_times.add(event.queue, float(event.talk_time) + self.wrapup_seconds, now)
        return self.callbacks.tick(now)

    def agent_state(self, queue: str) -> QueueState:
        if self._agents_fn is not None:
            return self._agents_fn(queue)
        return self.agents.get(queue, QueueState())

    def query(self, queue: str, priority: int, now: float) -> p.QueueInfo:
        ahead = self.callbacks.waiting_at_or_above(queue, priority) + self.callbacks.pending(queue)
        agents = self.agent_state(queue)
        est = estimate_wait(QueueSituation(ahead + 1, agents.staffed, agents.available,
                                           self.handle_times.mean(queue, now), self.patience))
        return p.QueueInfo(position=ahead + 1, wait=est.mean, agents_available=agents.available)

    def book(self, queue: str, number: str, priority: int, now: float, linkedid: str = "") -> str:
        return self.callbacks.book(queue, number, priority, now, linkedid=linkedid).id
