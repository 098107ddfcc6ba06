"""What the store hands back: plain frozen records, JSON-ready through ``to_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

LEGS = ("caller", "agent")
# Kinds of relation between two calls, each with the kind of the reverse relation.
RELATIONS = {"callback": "callback_of", "callback_of": "callback"}
AUDIO_LEGS = ("caller", "agent", "mixed")

# Fields of a call record that ``Store.upsert_call`` accepts.
CALL_FIELDS = (
    "started_at",
    "answered_at",
    "ended_at",
    "caller_number",
    "caller_name",
    "ivr_flow",
    "ivr_path",
    "ivr_inputs",
    "ivr_outcome",
    "queue",
    "queue_joined_at",
    "queue_answered_at",
    "queue_abandoned_at",
    "wait_seconds",
    "agent",
    "outcome",
    "language",
)


@dataclass(frozen=True)
class CallRecord:
    id: str
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    ivr_flow: str | None = None
    ivr_path: tuple[str, ...] = ()
    ivr_inputs: Any = None
    ivr_outcome: str | None = None
    queue: str | None = None
    queue_joined_at: float | None = None
    queue_answered_at: float | None = None
    queue_abandoned_at: float | None = None
    wait_seconds: float | None = None
    agent: str | None = None
    outcome: str | None = None
    language: str | None = None  # the IVR's language for the caller (zh, en, ...)
    updated_at: float = 0.0
    segment_count: int = 0
    has_audio: bool = False

    @property
    def live(self) -> bool:
        return self.ended_at is None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ivr_path"] = list(self.ivr_path)
        d["live"] = self.live
        return d


@dataclass(frozen=True)
class Segment:
    id: int
    call_id: str
    leg: str
    start: float
    end: float
    text: str
    words: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["words"] = list(self.words)
        return d


@dataclass(frozen=True)
class Audio:
    id: int
    call_id: str
    leg: str
    path: str
    offset: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TimelineItem:
    """One line of a call's timeline; ``t`` is seconds from the call's start."""

    t: float
    kind: str  # "speech" for a transcript segment, else the event kind (ivr.node, queue.join, ...)
    end: float | None = None
    leg: str | None = None
    text: str = ""
    words: tuple[dict[str, Any], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    segment_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["words"] = list(self.words)
        return d


# a callback still to be dialled (ivr_flows.callback.PENDING); the others are done
CALLBACK_PENDING = ("waiting", "due", "dialing", "retry")
CALLBACK_STATUSES = (*CALLBACK_PENDING, "answered", "failed")


@dataclass(frozen=True)
class StoredCallback:
    """A booked callback as the store keeps it for the engine that dials it (``node``). The
    number is kept while the callback is pending and erased once it is done; never shown."""

    id: str
    node: str
    call_id: str
    queue: str
    number: str = field(repr=False)
    priority: int
    booked_at: float
    status: str
    attempts: int


@dataclass(frozen=True)
class Relation:
    """Another call related to this one: ``callback`` (the call back of this booking) or
    ``callback_of`` (the call that booked this call back)."""

    call_id: str
    kind: str
    at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Timeline:
    call: CallRecord
    items: tuple[TimelineItem, ...]
    audio: tuple[Audio, ...] = ()
    related: tuple[Relation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "call": self.call.to_dict(),
            "items": [i.to_dict() for i in self.items],
            "audio": [a.to_dict() for a in self.audio],
            "related": [r.to_dict() for r in self.related],
        }


@dataclass(frozen=True)
class SearchHit:
    call: CallRecord
    segment: Segment
    spans: tuple[tuple[int, int], ...] = ()  # where the query's terms are in segment.text

    def to_dict(self) -> dict[str, Any]:
        return {"call": self.call.to_dict(), "segment": self.segment.to_dict(), "spans": [list(s) for s in self.spans]}
