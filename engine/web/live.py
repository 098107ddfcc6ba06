"""Live calls for the supervisor page: what is happening now, pushed to open pages.

The composition root calls ``publish(event)`` from the event loop for every speech event
(``PartialTranscript``, ``FinalTranscript``) and for call facts given as dicts
(``{"type": "call.start" | "call.update" | "call.end", "call_id": ..., ...}``). The hub keeps a
small picture of each live call (caller, queue, agent, the current partial per leg, the last
finals) and fans every message out to subscribers, each with a bounded queue: a slow page loses
its oldest messages (counted), never slows the engine. Messages are kept unmasked here; each
subscriber masks for its viewer.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.events.speech import FinalTranscript, PartialTranscript

RECENT_FINALS = 20
ENDED_KEPT = 1000
_CALL_FIELDS = ("caller_number", "caller_name", "queue", "agent", "started_at", "ivr_path", "outcome")


@dataclass
class LiveCall:
    call_id: str
    started_at: float
    fields: dict[str, Any] = field(default_factory=dict)
    partials: dict[str, dict[str, Any]] = field(default_factory=dict)
    finals: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_FINALS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "started_at": self.started_at,
            **self.fields,
            "partials": dict(self.partials),
            "finals": list(self.finals),
        }


class Subscription:
    def __init__(self, hub: LiveHub, call_id: str | None, maxsize: int) -> None:
        self.hub = hub
        self.call_id = call_id
        self.queue: deque[dict[str, Any] | None] = deque()
        self.maxsize = maxsize
        self.dropped = 0
        self._wake = asyncio.Event()

    def put(self, message: dict[str, Any] | None) -> None:
        if message is not None and self.call_id is not None and message.get("call_id") != self.call_id:
            return
        if len(self.queue) >= self.maxsize:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(message)
        self._wake.set()

    async def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message; ``{"type": "ping"}`` after ``timeout``; None when the hub closed."""
        while not self.queue:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return {"type": "ping"}
        return self.queue.popleft()

    def close(self) -> None:
        self.hub._subs.discard(self)


class LiveHub:
    def __init__(self, *, clock: Callable[[], float] = time.time, queue_size: int = 1000) -> None:
        self._clock = clock
        self._calls: dict[str, LiveCall] = {}
        self._subs: set[Subscription] = set()
        self._queue_size = queue_size
        self._ended: OrderedDict[str, None] = OrderedDict()  # recently ended calls
        self.published = 0

    # -- input --------------------------------------------------------------------------

    def publish(self, event: Any) -> None:
        """Take one event (speech dataclass or call-fact dict); call from the event loop thread."""
        if isinstance(event, PartialTranscript):
            call = self._call(event.call_id)
            msg = {"type": "partial", "call_id": event.call_id, "leg": event.leg, "start": event.start, "text": event.text}
            call.partials[event.leg] = {"start": event.start, "text": event.text}
        elif isinstance(event, FinalTranscript):
            call = self._call(event.call_id)
            msg = {
                "type": "final",
                "call_id": event.call_id,
                "leg": event.leg,
                "start": event.start,
                "end": event.end,
                "text": event.text,
            }
            call.partials.pop(event.leg, None)
            call.finals.append({k: msg[k] for k in ("leg", "start", "end", "text")})
        elif isinstance(event, Mapping):
            msg = self._fact(event)
        else:
            raise TypeError(f"LiveHub.publish: cannot show {type(event).__name__}")
        self.published += 1
        for sub in list(self._subs):
            sub.put(msg)

    def publish_threadsafe(self, loop: asyncio.AbstractEventLoop, event: Any) -> None:
        loop.call_soon_threadsafe(self.publish, event)

    def _call(self, call_id: str) -> LiveCall:
        call = self._calls.get(call_id)
        if call is None:
            call = LiveCall(call_id, started_at=self._clock())
            if call_id not in self._ended:  # a late final after the hangup does not revive the call
                self._calls[call_id] = call
        return call

    def _fact(self, event: Mapping[str, Any]) -> dict[str, Any]:
        kind = event.get("type")
        call_id = event.get("call_id")
        if kind not in ("call.start", "call.update", "call.end") or not isinstance(call_id, str):
            raise ValueError(f"LiveHub.publish: unknown call fact {kind!r} (need type call.start/update/end and call_id)")
        fields = {k: event[k] for k in _CALL_FIELDS if k in event and event[k] is not None}
        if kind == "call.end":
            self._calls.pop(call_id, None)
            self._ended[call_id] = None
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)
            return {"type": "call.end", "call_id": call_id}
        if kind == "call.update" and call_id in self._ended:
            # a late fact of a call that has ended (its IVR record after the hang-up): not live again
            return {"type": kind, "call_id": call_id, **fields}
        self._ended.pop(call_id, None)
        call = self._call(call_id)
        if "started_at" in fields:
            call.started_at = float(fields.pop("started_at"))
        call.fields.update(fields)
        return {"type": kind, **call.to_dict()}

    # -- output ---------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in sorted(self._calls.values(), key=lambda c: c.started_at)]

    def live_call(self, call_id: str) -> dict[str, Any] | None:
        call = self._calls.get(call_id)
        return call.to_dict() if call else None

    def subscribe(self, call_id: str | None = None) -> Subscription:
        sub = Subscription(self, call_id, self._queue_size)
        self._subs.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @property
    def live_calls(self) -> int:
        """How many calls are live (what ``len(snapshot())`` is, without building it)."""
        return len(self._calls)

    def close(self) -> None:
        """End every subscription (on shutdown), so open event streams finish."""
        for sub in list(self._subs):
            sub.put(None)
