"""Events in, call records out: the one plug between the engine's event streams and the store.

The composition root passes every event it has to ``StoreFeed.handle``: AMI events
(``engine.events.ami``), speech events (``engine.events.speech``), IVR run records
(``ivr_flows.record.RunRecord``, recognised by shape so this module does not import the domain
layer) and call facts (``engine.calls``: ``CallStarted``, ``CallLinked``, ``CallEnded``).
``StoreMapper.ops`` turns one event into store operations (pure apart from a small map of which
call each call-taker is on); ``StoreFeed`` submits them to an ``AsyncStore`` without waiting,
and mirrors call facts and transcripts to a ``LiveHub`` for the live page.

Which call an id belongs to, and when a call starts and ends, is the call core's business
(``engine.calls.CallTracker``): the feed runs AMI events and run records through its tracker
(the engine's, or its own) and stores the facts that come out; a speech event known by another
id (an AudioSocket UUID linked by the engine) is stored and shown under its call. Segment times
are call time (the speech pipeline's ``now``), as ``engine.events.speech`` says.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.calls import CallEnded, CallLinked, CallStarted, CallTracker
from engine.events import ami
from engine.events.speech import FinalTranscript, PartialTranscript

IVR_OUTCOMES = {
    "callback_booked": "callback",
    "self_served": "self_served",
    "abandoned_in_ivr": "abandoned_in_ivr",
    "message_left": "message_left",
    "transferred": "transferred",
}


@dataclass(frozen=True)
class Op:
    """One store call: ``getattr(store, method)(*args, **kwargs)``."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveFact:
    """What the live page should hear about (``LiveHub.publish`` takes ``message``)."""

    message: dict[str, Any]


def _is_run_record(event: Any) -> bool:
    return all(hasattr(event, a) for a in ("flow", "linkedid", "uniqueid", "path", "inputs", "outcome", "end_node"))


class StoreMapper:
    """Turns one event into ``Op``s (and ``LiveFact``s). Ignores what it does not know."""

    def __init__(self) -> None:
        self._agent_call: dict[str, str] = {}  # member interface -> call id, for a bare AgentComplete
        self._numbered: set[str] = set()  # calls whose caller number is stored

    def ops(self, event: Any) -> list[Op | LiveFact]:
        if isinstance(event, CallStarted | CallLinked | CallEnded):
            return self._fact(event)
        if isinstance(event, ami.AgentComplete):
            return self.ops_agent_complete(event)
        if isinstance(event, FinalTranscript):
            return [Op("add_segment", (event.call_id, event.leg, event.start, event.end, event.text, event.words))]
        if isinstance(event, ami.AmiEvent):
            return self._ami(event)
        if _is_run_record(event):
            return self._run(event)
        return []

    def _ami(self, e: ami.AmiEvent) -> list[Op | LiveFact]:
        at = e.received
        if isinstance(e, ami.ChannelEvent):
            call = e.linkedid or e.uniqueid
            if not call:
                return []
        else:
            return []
        out: list[Op | LiveFact] = []
        if e.uniqueid == call and e.caller_id_num and call not in self._numbered:
            # the caller's number is often set after Newchannel (Set(CALLERID) in the dialplan)
            self._numbered.add(call)
            number = {"caller_number": e.caller_id_num}
            if e.caller_id_name:
                number["caller_name"] = e.caller_id_name
            out.append(Op("upsert_call", (call,), number))
            out.append(LiveFact({"type": "call.update", "call_id": call, **number}))
        if isinstance(e, ami.QueueCallerJoin):
            out.append(Op("upsert_call", (call,), {"queue": e.queue, "queue_joined_at": at}))
            out.append(Op("add_event", (call, "queue.join", at, {"queue": e.queue, "position": e.position}),
                          {"dedupe": f"ami/{e.uniqueid}/join/{e.queue}/{at}"}))
            out.append(LiveFact({"type": "call.update", "call_id": call, "queue": e.queue}))
        elif isinstance(e, ami.QueueCallerAbandon):
            out.append(Op("upsert_call", (call,), {"queue": e.queue, "queue_abandoned_at": at,
                                                   "wait_seconds": float(e.hold_time), "outcome": "abandoned"}))
            out.append(Op("add_event", (call, "queue.abandon", at, {"queue": e.queue, "wait": e.hold_time,
                                                                    "position": e.position}),
                          {"dedupe": f"ami/{e.uniqueid}/abandon/{e.queue}"}))
        elif isinstance(e, ami.AgentCalled):
            out.append(Op("add_event", (call, "agent.ring", at, {"queue": e.queue, "agent": e.member_name}),
                          {"dedupe": f"ami/{e.uniqueid}/ring/{e.interface}/{at}"}))
        elif isinstance(e, ami.AgentConnect):
            self._agent_call[e.interface] = call
            out.append(Op("upsert_call", (call,), {"queue": e.queue, "queue_answered_at": at, "answered_at": at,
                                                   "agent": e.member_name, "wait_seconds": float(e.hold_time),
                                                   "outcome": "answered"}))
            out.append(Op("add_event", (call, "agent.connect", at, {"queue": e.queue, "agent": e.member_name,
                                                                    "wait": e.hold_time}),
                          {"dedupe": f"ami/{e.uniqueid}/connect/{e.queue}"}))
            out.append(LiveFact({"type": "call.update", "call_id": call, "agent": e.member_name}))
        return out

    def _fact(self, f: CallStarted | CallLinked | CallEnded) -> list[Op | LiveFact]:
        """What the call core established: a call's start, another id of it, its end."""
        call = f.call_id
        if isinstance(f, CallLinked):
            return [Op("link", (call, f.alias, f.kind, f.channel or None))]
        if isinstance(f, CallStarted):
            return [Op("upsert_call", (call,), {"started_at": f.at}),
                    Op("add_event", (call, "call.start", f.at), {"dedupe": f"ami/{call}/start"}),
                    LiveFact({"type": "call.start", "call_id": call, "started_at": f.at})]
        self._numbered.discard(call)
        return [Op("upsert_call", (call,), {"ended_at": f.at}),
                Op("add_event", (call, "call.hangup", f.at, {"reason": f.reason}), {"dedupe": f"ami/{call}/hangup"}),
                LiveFact({"type": "call.end", "call_id": call})]

    def ops_agent_complete(self, e: ami.AgentComplete) -> list[Op | LiveFact]:
        call = e.linkedid or e.uniqueid or self._agent_call.get(e.interface, "")
        self._agent_call.pop(e.interface, None)
        if not call:
            return []
        return [Op("add_event", (call, "agent.complete", e.received,
                                 {"queue": e.queue, "agent": e.member_name, "talk": e.talk_time, "reason": e.reason}),
                   {"dedupe": f"ami/{call}/complete/{e.interface}"})]

    def _run(self, r: Any) -> list[Op | LiveFact]:
        call = r.linkedid or r.uniqueid  # StoreFeed resolved it through the call core
        if not call:
            return []
        out: list[Op | LiveFact] = []
        fields: dict[str, Any] = {
            "started_at": r.started,
            "ivr_flow": r.flow,
            "ivr_path": [v.node for v in r.path],
            "ivr_inputs": [{"node": i.node, "kind": i.kind, "value": i.value} for i in r.inputs],
            "ivr_outcome": r.outcome,
        }
        if getattr(r, "queue", ""):
            fields["queue"] = r.queue
        if getattr(r, "language", ""):
            fields["language"] = r.language
        if r.outcome in IVR_OUTCOMES:
            fields["outcome"] = IVR_OUTCOMES[r.outcome]
        out.append(Op("upsert_call", (call,), fields))
        key = f"ivr/{r.uniqueid or call}/{r.started}"
        for n, v in enumerate(r.path):
            out.append(Op("add_event", (call, "ivr.node", v.entered, {"node": v.node, "verb": v.verb, "result": v.result}),
                          {"dedupe": f"{key}/node/{n}"}))
        for n, i in enumerate(r.inputs):
            out.append(Op("add_event", (call, "ivr.input", i.at, {"node": i.node, "kind": i.kind, "input": i.value}),
                          {"dedupe": f"{key}/input/{n}"}))
        out.append(Op("add_event", (call, "ivr.end", r.ended, {"node": r.end_node, "outcome": r.outcome}),
                      {"dedupe": f"{key}/end"}))
        out.append(LiveFact({"type": "call.update", "call_id": call, "ivr_path": fields["ivr_path"]}))
        return out


class StoreFeed:
    """``handle(event)`` from the event loop: store writes are submitted, never awaited here.

    ``store`` is an ``AsyncStore`` (writes go to its writer thread) or a plain ``Store`` (written
    at once; for tools and tests). ``hub`` (optional) is the web page's ``LiveHub``. ``calls``:
    the call core to run AMI events and run records through (the engine shares its own; tools
    get a fresh one).
    """

    def __init__(self, store: Any, hub: Any = None, calls: CallTracker | None = None) -> None:
        self.store = store
        self.hub = hub
        self.calls = calls if calls is not None else CallTracker()
        self.mapper = StoreMapper()
        # resolved once, not per op: AsyncStore runs ops on its writer thread, in order
        self._submit = getattr(store, "_submit", None)
        self._target = getattr(store, "store", store)

    def handle(self, event: Any) -> None:
        facts: list[Any] = []
        if isinstance(event, ami.AmiEvent):
            facts = self.calls.feed(event, event.received)
        elif _is_run_record(event):
            facts = self._run_facts(event)
            event = dataclasses.replace(event, linkedid=self.calls.resolve(event.linkedid or event.uniqueid))
        elif isinstance(event, PartialTranscript | FinalTranscript):
            call = self.calls.resolve(event.call_id)  # an AudioSocket UUID -> its call
            if call != event.call_id:
                event = dataclasses.replace(event, call_id=call)
            if self.hub is not None:
                self.hub.publish(event)
        ended = [f for f in facts if isinstance(f, CallEnded)]
        for fact in facts:  # a call starts before its first event is stored, and ends after its last
            if not isinstance(fact, CallEnded):
                self._handle(fact)
        self._handle(event)
        for fact in ended:
            self._handle(fact)

    def link(self, call_id: str, alias: str, kind: str, now: float) -> None:
        """Another id of ``call_id`` (an AudioSocket UUID), through the call core: stored, and
        its transcripts shown under the call."""
        for fact in self.calls.link(call_id, alias, kind, now):
            self._handle(fact)

    def _run_facts(self, r: Any) -> list[Any]:
        """A run record tells the call core where the FastAGI channel belongs and whether the
        caller (or the flow) hung up there."""
        hung_up = bool(getattr(r, "hung_up", False))
        return (self.calls.agi_started(r.uniqueid, r.linkedid, r.channel, r.started)
                + self.calls.agi_ended(r.uniqueid, hung_up, r.ended))

    def _handle(self, event: Any) -> None:
        for op in self.mapper.ops(event):
            if isinstance(op, LiveFact):
                if self.hub is not None:
                    self.hub.publish(op.message)
                continue
            self._apply(op)

    def _apply(self, op: Op) -> None:
        fn = getattr(self._target, op.method)
        if self._submit is not None:
            self._submit(op.method, fn, *op.args, **op.kwargs)
        else:
            fn(*op.args, **op.kwargs)
