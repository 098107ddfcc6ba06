"""ASR workers as the engine sees them: the messages of the link, and which workers are alive.

An ASR worker (``hotline asr-worker``, :mod:`engine.asr_worker`) is an AudioSocket server with
its own decoding threads. Taps the engine originates to it (``AudioSocket/<its target>/<uuid>``)
are decoded there, and what it hears comes back over MQTT (topics in :mod:`engine.bus.topics`):

- ``asr/workers/{name}`` ``asr_worker``: a heartbeat every ``[worker] heartbeat`` seconds
  (:class:`Heartbeat`: target, backlog, open legs, decoding threads, state ``up``, ``stopping``
  or ``gone``); ``gone`` is also its MQTT last will, which the broker publishes the moment the
  worker's connection dies, so a killed worker is known at once, a hung one after ``timeout``;
- ``asr/sessions/{uuid}`` ``asr_session``: a session opened (:class:`SessionOpened`) or closed
  (:class:`SessionClosed`, with the reason and how many finals it sent);
- ``asr/sessions/{uuid}`` ``asr_speech``: one speech event of the session, its times in
  seconds since the session's first sample (:func:`speech_fields`); the engine rebuilds it on the
  call's clock for the tap's call and side (:func:`speech_event`).

Everything here is pure (time passed in, no I/O): the codec and :class:`WorkerTable`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from engine.bus.payloads import SCHEMA_VERSION
from engine.bus.topics import unsegment
from engine.errors import ConfigError, HotlineError
from engine.events.speech import (
    FinalTranscript,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    TranscriptionLag,
    Word,
)

STATES = ("up", "stopping", "gone")
HEARTBEAT = "asr_worker"
SESSION = "asr_session"
SPEECH = "asr_speech"


class WorkerMessageError(HotlineError):
    """A message on the workers' topics that this engine cannot read (says what was wrong)."""


@dataclass(frozen=True)
class Heartbeat:
    """A worker's state: where Asterisk reaches it and how busy it is."""

    name: str
    target: str  # host:port for AudioSocket/<target>/<uuid>
    backlog: float = 0.0  # seconds of audio waiting for decoding
    legs: int = 0  # sessions being decoded now
    cores: int = 1  # decoding threads
    state: str = "up"  # up | stopping (takes no new legs, finishes its own) | gone

    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "backlog": round(self.backlog, 3), "legs": self.legs,
                "cores": self.cores, "state": self.state}


@dataclass(frozen=True)
class SessionOpened:
    session: str
    worker: str


@dataclass(frozen=True)
class SessionClosed:
    session: str
    worker: str
    reason: str = ""  # eof (the spied channel hung up), worker stopping, ...
    finals: int = 0  # finals the worker published for this session


@dataclass(frozen=True)
class RemoteSpeech:
    """One speech event of a session; ``fields`` as :func:`speech_fields` made them."""

    session: str
    worker: str
    fields: dict[str, Any]


WorkerMessage = Heartbeat | SessionOpened | SessionClosed | RemoteSpeech
WORKER_STOPPING = "worker stopping"  # SessionClosed.reason when the worker ended it to stop


# -- speech events <-> fields ---------------------------------------------------------------------


def speech_fields(event: Any) -> dict[str, Any] | None:
    """A pipeline event as message fields (times as the leg had them); None: not for the engine."""
    if isinstance(event, FinalTranscript):
        return {"event": "final", "start": event.start, "end": event.end, "text": event.text,
                "words": [[w.word, w.start, w.end, w.conf] for w in event.words]}
    if isinstance(event, PartialTranscript):
        return {"event": "partial", "start": event.start, "text": event.text}
    if isinstance(event, SpeechStarted):
        return {"event": "started", "start": event.start}
    if isinstance(event, SpeechEnded):
        return {"event": "ended", "start": event.start, "end": event.end}
    if isinstance(event, TranscriptionLag):
        return {"event": "lag", "behind": event.behind, "lagging": event.lagging}
    return None


def _time(fields: dict[str, Any], key: str) -> float:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WorkerMessageError(f"speech event field {key!r}: expected a number, got {value!r}")
    return float(value)


def _text(fields: dict[str, Any]) -> str:
    text = fields.get("text")
    if not isinstance(text, str):
        raise WorkerMessageError(f"speech event field 'text': expected text, got {type(text).__name__}")
    return text


def speech_event(fields: dict[str, Any], call_id: str, leg: str, offset: float) -> Any:
    """The engine's speech event for ``fields``: of ``call_id``'s ``leg``, ``offset`` seconds
    later (the call time of the session's first sample)."""
    kind = fields.get("event")
    if kind == "final":
        words = []
        for item in fields.get("words") or []:
            if not (isinstance(item, list) and len(item) == 4 and isinstance(item[0], str)):  # what was said: not shown
                raise WorkerMessageError("final: a word must be [word, start, end, conf]")
            w = dict(zip(("start", "end", "conf"), item[1:], strict=True))
            words.append(Word(item[0], _time(w, "start") + offset, _time(w, "end") + offset, _time(w, "conf")))
        return FinalTranscript(call_id, leg, _time(fields, "start") + offset, _time(fields, "end") + offset,
                               _text(fields), tuple(words))
    if kind == "partial":
        return PartialTranscript(call_id, leg, _time(fields, "start") + offset, _text(fields))
    if kind == "started":
        return SpeechStarted(call_id, leg, _time(fields, "start") + offset)
    if kind == "ended":
        return SpeechEnded(call_id, leg, _time(fields, "start") + offset, _time(fields, "end") + offset)
    if kind == "lag":
        return TranscriptionLag(call_id, leg, _time(fields, "behind"), bool(fields.get("lagging")))
    raise WorkerMessageError(f"unknown speech event {kind!r}")


# -- messages -------------------------------------------------------------------------------------


def _str(data: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise WorkerMessageError(f"field {key!r}: expected text, got {value!r}")
    return value


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkerMessageError(f"field {key!r}: expected a whole number >= 0, got {value!r}")
    return value


def parse_message(topic: str, payload: bytes) -> WorkerMessage:
    """One message from ``{root}/{site}/asr/...``; :class:`WorkerMessageError` says what is wrong."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise WorkerMessageError(f"{topic}: not JSON") from None
    if not isinstance(data, dict):
        raise WorkerMessageError(f"{topic}: expected a JSON object")
    if data.get("schema") != SCHEMA_VERSION:
        raise WorkerMessageError(f"{topic}: schema {data.get('schema')!r}, this engine reads {SCHEMA_VERSION}")
    kind = data.get("kind")
    levels = topic.split("/")
    if kind == HEARTBEAT:
        state = _str(data, "state")
        if state not in STATES:
            raise WorkerMessageError(f"{topic}: state {state!r} unknown")
        backlog = data.get("backlog", 0.0)
        if isinstance(backlog, bool) or not isinstance(backlog, int | float) or not backlog >= 0:
            raise WorkerMessageError(f"{topic}: backlog {backlog!r} is not a number >= 0")
        name = _str(data, "name")
        return Heartbeat(name, _str(data, "target", required=state != "gone"), float(backlog), _count(data, "legs"),
                         max(1, _count(data, "cores")), state)
    if kind not in (SESSION, SPEECH) or len(levels) < 2 or levels[-2] != "sessions":
        raise WorkerMessageError(f"{topic}: unexpected kind {kind!r}")
    session, worker = unsegment(levels[-1]), _str(data, "worker")
    if kind == SPEECH:
        fields = data.get("speech")
        if not isinstance(fields, dict):
            raise WorkerMessageError(f"{topic}: 'speech' must be an object")
        return RemoteSpeech(session, worker, fields)
    state = _str(data, "state")
    if state == "open":
        return SessionOpened(session, worker)
    if state == "closed":
        return SessionClosed(session, worker, _str(data, "reason", required=False), _count(data, "finals"))
    raise WorkerMessageError(f"{topic}: session state {state!r} unknown")


# -- which workers are alive ----------------------------------------------------------------------


def check_timing(worker: Any) -> None:
    """``[worker] timeout`` must be longer than ``heartbeat``: else a live worker goes quiet between
    two beats (checked where heartbeats are sent and where they are judged)."""
    if worker.timeout <= worker.heartbeat:
        raise ConfigError(f"[worker] timeout ({worker.timeout:g} s) must be longer than heartbeat "
                          f"({worker.heartbeat:g} s)")



@dataclass
class WorkerState:
    beat: Heartbeat
    seen: float  # when its last heartbeat came (the engine's monotonic clock)
    assigned: int = 0  # legs sent there since that heartbeat (not yet in its ``legs``)

    @property
    def load(self) -> float:
        """Legs per decoding thread, counting those just sent there."""
        return (self.beat.legs + self.assigned) / max(1, self.beat.cores)


class WorkerTable:
    """Workers with a fresh heartbeat. ``heard`` and ``expire`` return the names of workers that
    left (said ``gone``, or went quiet for ``timeout`` seconds): their open legs are lost."""

    def __init__(self, timeout: float = 3.0) -> None:
        self.timeout = timeout
        self._workers: dict[str, WorkerState] = {}

    def heard(self, beat: Heartbeat, now: float) -> list[str]:
        if beat.state == "gone":
            return [beat.name] if self._workers.pop(beat.name, None) is not None else []
        self._workers[beat.name] = WorkerState(beat, now)  # its legs now count what was assigned
        return []

    def expire(self, now: float) -> list[str]:
        quiet = [name for name, w in self._workers.items() if now - w.seen > self.timeout]
        for name in quiet:
            del self._workers[name]
        return quiet

    def _taking(self, now: float) -> list[WorkerState]:
        """Workers that take legs: up, and heard from within ``timeout`` (a stopping or quiet one takes none)."""
        return [w for w in self._workers.values() if w.beat.state == "up" and now - w.seen <= self.timeout]

    def pick(self, now: float) -> WorkerState | None:
        """Where the next leg goes: the least backlog (in whole seconds, so noise does not decide),
        then the fewest legs per decoding thread, among the workers taking legs."""
        ready = self._taking(now)
        if not ready:
            return None
        return min(ready, key=lambda w: (math.floor(w.beat.backlog), w.load, w.beat.name))

    def assign(self, name: str) -> None:
        worker = self._workers.get(name)
        if worker is not None:
            worker.assigned += 1

    def get(self, name: str) -> WorkerState | None:
        return self._workers.get(name)

    @property
    def names(self) -> list[str]:
        """Workers alive (taking legs or finishing theirs)."""
        return sorted(self._workers)

    def ready(self, now: float) -> list[str]:
        return sorted(w.beat.name for w in self._taking(now))
