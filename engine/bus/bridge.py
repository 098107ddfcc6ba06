"""From the project's event dataclasses to bus messages (one place decides what leaves).

``publish_event(bus, event, now)`` accepts AMI queue/agent events (``engine.events.ami``) and
transcript events (``engine.events.speech``); anything else is ignored and ``False`` returned.
Payloads are masked by the bus. (The monitor's conclusions, agent states and surge alerts, are
published by the composition root with ``bus.agent_state`` / ``bus.alert``: the bus does not
import the domain packages.)
"""

from __future__ import annotations

from typing import Any

from engine.events.ami import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
)
from engine.events.speech import FinalTranscript, PartialTranscript

_CALL_EVENTS = (QueueCallerJoin, QueueCallerLeave, QueueCallerAbandon, AgentCalled, AgentConnect,
                AgentComplete, AgentRingNoAnswer)


def call_event_payload(event: AmiEvent) -> dict[str, Any]:
    """The fields of a queue/agent event worth sharing; the caller number is masked later."""
    out: dict[str, Any] = {"event": event.name}
    for name in ("queue", "uniqueid", "linkedid", "interface", "member_name", "position", "count",
                 "hold_time", "talk_time", "ring_time", "reason", "original_position"):
        value = getattr(event, name, None)
        if value not in (None, ""):
            out[name] = value
    caller = getattr(event, "caller_id_num", "")
    if caller:
        out["caller"] = caller
    return out


def publish_event(bus: Any, event: object, now: float | None = None) -> bool:
    """Publish ``event`` on the topic its kind belongs to; False when it has none."""
    if isinstance(event, _CALL_EVENTS):
        call = event.linkedid or event.uniqueid
        if not call:
            return False
        bus.call_event(call, call_event_payload(event), event.received if now is None else now)
        return True
    if isinstance(event, PartialTranscript):
        bus.transcript_partial(event.call_id, {"leg": event.leg, "start": event.start, "text": event.text},
                               0.0 if now is None else now)
        return True
    if isinstance(event, FinalTranscript):
        bus.transcript_final(event.call_id, {
            "leg": event.leg, "start": event.start, "end": event.end, "text": event.text,
            "words": [{"word": w.word, "start": w.start, "end": w.end, "conf": w.conf} for w in event.words],
        }, 0.0 if now is None else now)
        return True
    return False
