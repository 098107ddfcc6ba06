"""The call core: which call an id belongs to, when that call started, and when it ended.

Asterisk gives one citizen call many ids. A call that arrives on a Local channel pair (as the
README's ``hotline-in`` dialplan and ``ami_ivr_queue_local.txt`` show) has the citizen on
``;1`` (its Uniqueid is the call's Linkedid) and FastAGI and ``Queue()`` on ``;2`` (another
Uniqueid, same Linkedid); call-takers' channels carry the call's Linkedid too; an IVR speech step
or a live tap is known by an AudioSocket UUID; a FastAGI session by its channel's Uniqueid. The
rest of the engine (store, bus, live page, taps, intake offsets) asks this one place instead of
each deriving identity and call time by its own rule.

``CallTracker`` is pure (time passed in, no I/O). ``feed(event, now)`` takes AMI channel events;
``agi_started`` / ``agi_ended`` what FastAGI saw; ``link`` other ids (AudioSocket UUIDs). Each
returns the facts it established, as frozen dataclasses: :class:`CallStarted`,
:class:`CallLinked`, :class:`CallEnded`.

The rules:

- the call id is the Linkedid (an AGI session's ``CHANNEL(linkedid)``); every other id is an alias;
- a call starts when any of its channels is first seen (call time 0);
- it ends at the hang-up of its first channel (Uniqueid == Linkedid), or when the last channel
  seen alive hangs up (a call first seen mid-way, or a FastAGI session whose caller hung up with
  no AMI connection), or when Asterisk no longer lists any of its channels after a reconnect
  (:meth:`CallTracker.reconcile`, fed ``CoreShowChannels``), so no call stays live forever;
- an ended call is remembered for ``keep_ended`` seconds (late transcripts of its taps still
  resolve to it and late events do not start it again), then forgotten (:meth:`expire`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.events.ami import AgentEvent, ChannelEvent, Hangup

KEEP_ENDED = 120.0  # seconds an ended call still resolves (finals of its taps may be decoding)


@dataclass(frozen=True)
class CallStarted:
    """First sight of a call: ``at`` is its call time 0."""

    call_id: str
    at: float
    channel: str = field(default="", repr=False, compare=False)  # names can carry numbers: not in reprs


@dataclass(frozen=True)
class CallLinked:
    """``alias`` (a Uniqueid, FastAGI channel, AudioSocket UUID) belongs to ``call_id``."""

    call_id: str
    alias: str
    kind: str  # uniqueid | audiosocket
    channel: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class CallEnded:
    call_id: str
    at: float
    reason: str = ""  # Asterisk's Cause-txt, "ivr hang-up", "gone after reconnect"


CallFact = CallStarted | CallLinked | CallEnded


@dataclass
class _Call:
    call_id: str
    started: float
    live: set[str] = field(default_factory=set)  # Uniqueids of its channels seen up
    aliases: set[str] = field(default_factory=set)
    ended: float | None = None


class CallTracker:
    """Ids -> calls, call start and end; see the module docstring for the rules."""

    def __init__(self, *, keep_ended: float = KEEP_ENDED) -> None:
        self.keep_ended = keep_ended
        self._calls: dict[str, _Call] = {}
        self._alias: dict[str, str] = {}  # alias -> call id
        self.started_total = 0  # calls started since the tracker was made (for /metrics)
        self.ended_total = 0  # calls ended, including those first seen at their hang-up

    # -- questions ------------------------------------------------------------------------------

    def resolve(self, any_id: str) -> str:
        """The call id of ``any_id`` (itself when unknown: it may be a call id already)."""
        return self._alias.get(any_id, any_id)

    def started_at(self, any_id: str) -> float | None:
        call = self._calls.get(self.resolve(any_id))
        return None if call is None else call.started

    def call_time(self, any_id: str, now: float) -> float:
        """Seconds since the call started (0 for a call not seen yet)."""
        started = self.started_at(any_id)
        return 0.0 if started is None else max(0.0, now - started)

    def is_live(self, any_id: str) -> bool:
        call = self._calls.get(self.resolve(any_id))
        return call is not None and call.ended is None

    @property
    def live_calls(self) -> list[str]:
        return [c.call_id for c in self._calls.values() if c.ended is None]

    def __len__(self) -> int:
        """Calls remembered (live, and ended ones not yet expired)."""
        return len(self._calls)

    # -- input ----------------------------------------------------------------------------------

    def feed(self, event: Any, now: float) -> list[CallFact]:
        """One AMI event; events without a channel snapshot are not about a call's identity."""
        if not isinstance(event, ChannelEvent) or not event.uniqueid:
            return []
        uid = event.uniqueid
        call_id = event.linkedid or self._alias.get(uid, uid)
        if isinstance(event, Hangup):
            return self._gone(call_id, uid, now, event.cause_txt or "hangup")
        out = self._up(call_id, uid, event.channel, now)
        if isinstance(event, AgentEvent) and event.dest_uniqueid:  # the call-taker's channel
            out += self._note_alias(event.dest_linkedid or call_id, event.dest_uniqueid, "uniqueid",
                                    event.dest_channel)
        return out

    def agi_started(self, uniqueid: str, linkedid: str, channel: str, now: float) -> list[CallFact]:
        """A FastAGI session began on channel ``uniqueid`` of call ``linkedid`` (may be "")."""
        if not uniqueid:
            return []
        return self._up(self._alias.get(uniqueid) or linkedid or uniqueid, uniqueid, channel, now)

    def agi_ended(self, uniqueid: str, hung_up: bool, now: float) -> list[CallFact]:
        """A FastAGI session ended; ``hung_up``: the caller left (its channel is gone)."""
        if not hung_up or not uniqueid:
            return []
        return self._gone(self.resolve(uniqueid), uniqueid, now, "ivr hang-up")

    def link(self, any_id: str, alias: str, kind: str, now: float, channel: str = "") -> list[CallFact]:
        """``alias`` (an AudioSocket UUID, say) belongs to the call of ``any_id``."""
        call_id = self.resolve(any_id)
        out = [] if call_id in self._calls else self._start(call_id, now, channel)
        return out + self._note_alias(call_id, alias, kind, channel)

    def reconcile(self, live_uniqueids: Iterable[str], now: float, *, asked_at: float | None = None) -> list[CallFact]:
        """After an AMI reconnect: end every live call none of whose channels Asterisk still lists
        (their hang-ups were lost while the connection was down). ``asked_at``: when the list was
        asked for; calls first seen after that are not in it and are left alone."""
        alive = set(live_uniqueids)
        out: list[CallFact] = []
        for call in list(self._calls.values()):
            if asked_at is not None and call.started > asked_at:
                continue
            if call.ended is None and not ({call.call_id} | call.live | call.aliases) & alive:
                out += self._end(call, now, "gone after reconnect")
        return out

    def expire(self, now: float) -> int:
        """Forget calls ended more than ``keep_ended`` seconds ago; returns how many."""
        old = [c for c in self._calls.values() if c.ended is not None and now - c.ended >= self.keep_ended]
        for call in old:
            del self._calls[call.call_id]
            for alias in call.aliases:
                if self._alias.get(alias) == call.call_id:
                    del self._alias[alias]
        return len(old)

    # -- rules ------------------------------------------------------------------------------------

    def _start(self, call_id: str, now: float, channel: str) -> list[CallFact]:
        self._calls[call_id] = _Call(call_id, now)
        self.started_total += 1
        return [CallStarted(call_id, now, channel)]

    def _note_alias(self, call_id: str, alias: str, kind: str, channel: str) -> list[CallFact]:
        if not alias or alias == call_id or self._alias.get(alias) == call_id:
            return []
        self._alias[alias] = call_id
        call = self._calls.get(call_id)
        if call is not None:
            call.aliases.add(alias)
        return [CallLinked(call_id, alias, kind, channel)]

    def _up(self, call_id: str, uid: str, channel: str, now: float) -> list[CallFact]:
        call = self._calls.get(call_id)
        out: list[CallFact] = []
        if call is None:
            out = self._start(call_id, now, channel)
            call = self._calls[call_id]
        elif call.ended is not None:
            return []  # a late event of an ended call does not start it again
        call.live.add(uid)
        return out + self._note_alias(call_id, uid, "uniqueid", channel)

    def _gone(self, call_id: str, uid: str, now: float, reason: str) -> list[CallFact]:
        call = self._calls.get(call_id)
        if call is None:
            # first seen at its hang-up (the engine started mid-call): only its first channel says it ended
            if uid != call_id:
                return []
            call = self._calls[call_id] = _Call(call_id, now)
        if call.ended is not None:
            return []
        had = uid in call.live
        call.live.discard(uid)
        if uid == call_id or (had and not call.live):
            return self._end(call, now, reason)
        return []

    def _end(self, call: _Call, now: float, reason: str) -> list[CallFact]:
        call.ended = now
        call.live.clear()
        self.ended_total += 1
        return [CallEnded(call.call_id, now, reason)]
