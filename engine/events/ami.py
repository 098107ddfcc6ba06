"""What Asterisk reported over AMI, as small frozen dataclasses.

Class names are Asterisk's own event names (``QueueCallerJoin``, ``AgentComplete``...), so a
reader of the recordings finds them at once. Field names are snake_case forms of the headers;
numbers are typed (``hold_time: int`` seconds, ``paused: bool``). Every event carries
``received`` (the time the caller of :func:`event_from_message` passed in, never read from a
clock here) and ``raw`` (all headers as Asterisk sent them, in order) for anything not typed.

Conventions worth knowing:

- ``HoldTime``/``TalkTime``/``RingTime`` on events are durations in whole seconds, not times.
- ``QueueParams.holdtime``/``talktime`` are Asterisk's running averages (3/4 old + 1/4 new).
- Caller ID ``<unknown>`` becomes ``""`` in typed fields (``raw`` keeps it).
- Headers an event may lack (``AgentComplete`` after the caller's channel is gone carries only
  Queue, Interface, MemberName, HoldTime, TalkTime, Reason) are ``""`` or ``0``.
- Caller numbers and names are personal data: they are left out of ``repr`` so that logging an
  event never writes them; ``engine.privacy.mask_number`` shows a number.

This module is the vocabulary layer: it imports nothing from the rest of the project, so
:func:`event_from_message` takes any object with AMI-style ``headers`` (an ``AmiMessage``).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

Headers = tuple[tuple[str, str], ...]

UNKNOWN_CALLER = "<unknown>"


class HasHeaders(Protocol):
    """Anything carrying AMI headers in order (``engine.asterisk.ami_codec.AmiMessage``)."""

    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...


class MemberStatus(enum.IntEnum):
    """Asterisk device state as sent in a queue member's ``Status`` header."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


def running_average(old: int, new: int, *, first: bool) -> int:
    """How Asterisk updates ``QueueParams`` ``Holdtime``/``TalkTime`` (app_queue
    ``recalc_holdtime``/``update_queue``): the first call sets it, then ``(3*old + new) >> 2``.

    ``first`` for the hold time: no call completed or abandoned yet; for the talk time: this is
    the first completed call. One definition for the monitor (which recomputes Asterisk's value
    between QueueStatus answers) and the PBX simulator (which reports it).
    """
    return new if first else (3 * old + new) >> 2


def _h(name: str, default: Any = "", *, personal: bool = False) -> Any:
    """A field read from header ``name``; personal fields are kept out of ``repr``."""
    return field(default=default, metadata={"header": name}, repr=not personal)


# --- base classes ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AmiEvent:
    """Root of everything this module produces."""

    NAME: ClassVar[str] = ""
    received: float = 0.0
    raw: Headers = field(default=(), repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.NAME

    def header(self, name: str, default: str | None = None) -> str | None:
        """Any header from ``raw``, compared case-insensitively."""
        low = name.lower()
        for key, value in self.raw:
            if key.lower() == low:
                return value
        return default


@dataclass(frozen=True, kw_only=True)
class ChannelEvent(AmiEvent):
    """Events carrying Asterisk's channel snapshot (``Channel`` ... ``Linkedid``)."""

    channel: str = _h("Channel")
    channel_state: int = _h("ChannelState", 0)
    channel_state_desc: str = _h("ChannelStateDesc")
    caller_id_num: str = _h("CallerIDNum", personal=True)
    caller_id_name: str = _h("CallerIDName", personal=True)
    connected_line_num: str = _h("ConnectedLineNum", personal=True)
    connected_line_name: str = _h("ConnectedLineName", personal=True)
    language: str = _h("Language")
    account_code: str = _h("AccountCode")
    context: str = _h("Context")
    exten: str = _h("Exten")
    priority: int = _h("Priority", 0)
    uniqueid: str = _h("Uniqueid")
    linkedid: str = _h("Linkedid")


@dataclass(frozen=True, kw_only=True)
class AgentEvent(ChannelEvent):
    """Queue events about one caller and one member: the caller's snapshot, then ``Dest*``."""

    dest_channel: str = _h("DestChannel")
    dest_caller_id_num: str = _h("DestCallerIDNum", personal=True)
    dest_caller_id_name: str = _h("DestCallerIDName", personal=True)
    dest_uniqueid: str = _h("DestUniqueid")
    dest_linkedid: str = _h("DestLinkedid")
    queue: str = _h("Queue")
    interface: str = _h("Interface")
    member_name: str = _h("MemberName")


@dataclass(frozen=True, kw_only=True)
class MemberEvent(AmiEvent):
    """A queue member's full state, as QueueMemberStatus/Pause/Added/Removed carry it."""

    queue: str = _h("Queue")
    member_name: str = _h("MemberName")
    interface: str = _h("Interface")
    state_interface: str = _h("StateInterface")
    membership: str = _h("Membership")  # static | dynamic | realtime
    penalty: int = _h("Penalty", 0)
    calls_taken: int = _h("CallsTaken", 0)
    last_call: int = _h("LastCall", 0)  # epoch seconds of the end of the last call, 0 = never
    last_pause: int = _h("LastPause", 0)  # epoch seconds, 0 = never
    login_time: int = _h("LoginTime", 0)  # epoch seconds
    in_call: bool = _h("InCall", False)
    status: int = _h("Status", 0)  # a MemberStatus value
    paused: bool = _h("Paused", False)
    paused_reason: str = _h("PausedReason")
    ringinuse: bool = _h("Ringinuse", False)
    wrapuptime: int = _h("Wrapuptime", 0)


# --- channel events --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Newchannel(ChannelEvent):
    NAME: ClassVar[str] = "Newchannel"


@dataclass(frozen=True, kw_only=True)
class Newstate(ChannelEvent):
    NAME: ClassVar[str] = "Newstate"


@dataclass(frozen=True, kw_only=True)
class Hangup(ChannelEvent):
    NAME: ClassVar[str] = "Hangup"
    cause: int = _h("Cause", 0)
    cause_txt: str = _h("Cause-txt")


@dataclass(frozen=True, kw_only=True)
class DTMFBegin(ChannelEvent):
    NAME: ClassVar[str] = "DTMFBegin"
    digit: str = _h("Digit")
    direction: str = _h("Direction")  # Received | Sent


@dataclass(frozen=True, kw_only=True)
class DTMFEnd(ChannelEvent):
    NAME: ClassVar[str] = "DTMFEnd"
    digit: str = _h("Digit")
    duration_ms: int = _h("DurationMs", 0)
    direction: str = _h("Direction")


@dataclass(frozen=True, kw_only=True)
class VarSet(ChannelEvent):
    NAME: ClassVar[str] = "VarSet"
    variable: str = _h("Variable")
    value: str = _h("Value")


@dataclass(frozen=True, kw_only=True)
class OriginateResponse(AmiEvent):
    """The end of an ``Async: true`` Originate; ``response`` is Success or Failure."""

    NAME: ClassVar[str] = "OriginateResponse"
    action_id: str = _h("ActionID")
    response: str = _h("Response")
    channel: str = _h("Channel")
    context: str = _h("Context")
    exten: str = _h("Exten")
    application: str = _h("Application")
    data: str = _h("Data")
    reason: int = _h("Reason", 0)  # 4 = answered, 5 = busy, 3 = no answer, 0 = failed
    uniqueid: str = _h("Uniqueid")
    caller_id_num: str = _h("CallerIDNum", personal=True)
    caller_id_name: str = _h("CallerIDName", personal=True)


# --- queue caller events ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueCallerJoin(ChannelEvent):
    """A caller entered ``queue`` at ``position``; ``count`` callers now wait (this one included)."""

    NAME: ClassVar[str] = "QueueCallerJoin"
    queue: str = _h("Queue")
    position: int = _h("Position", 0)
    count: int = _h("Count", 0)


@dataclass(frozen=True, kw_only=True)
class QueueCallerLeave(ChannelEvent):
    """A caller left the queue (answered or abandoned); ``count`` callers remain."""

    NAME: ClassVar[str] = "QueueCallerLeave"
    queue: str = _h("Queue")
    position: int = _h("Position", 0)
    count: int = _h("Count", 0)


@dataclass(frozen=True, kw_only=True)
class QueueCallerAbandon(ChannelEvent):
    """A caller hung up while waiting; ``hold_time`` is how long they waited, in seconds.
    Asterisk sends it before the matching QueueCallerLeave."""

    NAME: ClassVar[str] = "QueueCallerAbandon"
    queue: str = _h("Queue")
    position: int = _h("Position", 0)
    original_position: int = _h("OriginalPosition", 0)
    hold_time: int = _h("HoldTime", 0)


# --- agent events ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AgentCalled(AgentEvent):
    """A member's phone starts ringing for a waiting caller."""

    NAME: ClassVar[str] = "AgentCalled"


@dataclass(frozen=True, kw_only=True)
class AgentConnect(AgentEvent):
    """A member answered: ``hold_time`` the caller waited, ``ring_time`` the member's phone rang."""

    NAME: ClassVar[str] = "AgentConnect"
    hold_time: int = _h("HoldTime", 0)
    ring_time: int = _h("RingTime", 0)


@dataclass(frozen=True, kw_only=True)
class AgentComplete(AgentEvent):
    """The call ended: ``talk_time`` seconds talked; ``reason`` is ``caller``, ``agent`` or ``transfer``."""

    NAME: ClassVar[str] = "AgentComplete"
    hold_time: int = _h("HoldTime", 0)
    talk_time: int = _h("TalkTime", 0)
    reason: str = _h("Reason")


@dataclass(frozen=True, kw_only=True)
class AgentRingNoAnswer(AgentEvent):
    """A member's phone rang out without an answer; ``ring_time`` is in milliseconds here
    (Asterisk's unit for this event, unlike AgentConnect's seconds)."""

    NAME: ClassVar[str] = "AgentRingNoAnswer"
    ring_time: int = _h("RingTime", 0)


@dataclass(frozen=True, kw_only=True)
class AgentDump(AgentEvent):
    NAME: ClassVar[str] = "AgentDump"


# --- member events ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueMemberStatus(MemberEvent):
    NAME: ClassVar[str] = "QueueMemberStatus"


@dataclass(frozen=True, kw_only=True)
class QueueMemberPause(MemberEvent):
    NAME: ClassVar[str] = "QueueMemberPause"


@dataclass(frozen=True, kw_only=True)
class QueueMemberAdded(MemberEvent):
    NAME: ClassVar[str] = "QueueMemberAdded"


@dataclass(frozen=True, kw_only=True)
class QueueMemberRemoved(MemberEvent):
    NAME: ClassVar[str] = "QueueMemberRemoved"


# --- list items (QueueStatus / QueueSummary answers) -----------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueParams(AmiEvent):
    """One queue's counters from QueueStatus. ``holdtime``/``talktime`` are running averages;
    ``service_level_perf`` is the percent of answered calls answered within ``service_level`` s."""

    NAME: ClassVar[str] = "QueueParams"
    queue: str = _h("Queue")
    max: int = _h("Max", 0)
    strategy: str = _h("Strategy")
    calls: int = _h("Calls", 0)
    holdtime: int = _h("Holdtime", 0)
    talktime: int = _h("TalkTime", 0)
    completed: int = _h("Completed", 0)
    abandoned: int = _h("Abandoned", 0)
    service_level: int = _h("ServiceLevel", 0)
    service_level_perf: float = _h("ServicelevelPerf", 0.0)
    service_level_perf2: float = _h("ServicelevelPerf2", 0.0)
    weight: int = _h("Weight", 0)


@dataclass(frozen=True, kw_only=True)
class QueueMember(AmiEvent):
    """One member from QueueStatus (``Name``/``Location`` there, mapped to the names used above)."""

    NAME: ClassVar[str] = "QueueMember"
    queue: str = _h("Queue")
    member_name: str = _h("Name")
    interface: str = _h("Location")
    state_interface: str = _h("StateInterface")
    membership: str = _h("Membership")
    penalty: int = _h("Penalty", 0)
    calls_taken: int = _h("CallsTaken", 0)
    last_call: int = _h("LastCall", 0)
    last_pause: int = _h("LastPause", 0)
    login_time: int = _h("LoginTime", 0)
    in_call: bool = _h("InCall", False)
    status: int = _h("Status", 0)
    paused: bool = _h("Paused", False)
    paused_reason: str = _h("PausedReason")
    wrapuptime: int = _h("Wrapuptime", 0)


@dataclass(frozen=True, kw_only=True)
class QueueEntry(AmiEvent):
    """One waiting caller from QueueStatus; ``wait`` is seconds waited so far."""

    NAME: ClassVar[str] = "QueueEntry"
    queue: str = _h("Queue")
    position: int = _h("Position", 0)
    channel: str = _h("Channel")
    uniqueid: str = _h("Uniqueid")
    caller_id_num: str = _h("CallerIDNum", personal=True)
    caller_id_name: str = _h("CallerIDName", personal=True)
    connected_line_num: str = _h("ConnectedLineNum", personal=True)
    connected_line_name: str = _h("ConnectedLineName", personal=True)
    wait: int = _h("Wait", 0)
    priority: int = _h("Priority", 0)


@dataclass(frozen=True, kw_only=True)
class QueueSummary(AmiEvent):
    """One queue from QueueSummary; ``hold_time``/``talk_time`` are the same running averages."""

    NAME: ClassVar[str] = "QueueSummary"
    queue: str = _h("Queue")
    logged_in: int = _h("LoggedIn", 0)
    available: int = _h("Available", 0)
    callers: int = _h("Callers", 0)
    hold_time: int = _h("HoldTime", 0)
    talk_time: int = _h("TalkTime", 0)
    longest_hold_time: int = _h("LongestHoldTime", 0)


@dataclass(frozen=True, kw_only=True)
class OtherAmiEvent(AmiEvent):
    """Any event without a class here (Newexten, BridgeEnter...), or one whose numbers did not
    parse (``error`` says which header); nothing Asterisk sent is dropped."""

    event: str = ""
    headers: Headers = field(default=(), repr=False)  # may hold caller numbers: not in repr
    error: str = ""

    @property
    def name(self) -> str:
        return self.event


# --- connection facts (made by the client, not sent by Asterisk) -----------------------------


@dataclass(frozen=True)
class QueueSnapshot:
    """Queue state as one QueueStatus answer gave it."""

    taken_at: float
    params: tuple[QueueParams, ...] = ()
    members: tuple[QueueMember, ...] = ()
    entries: tuple[QueueEntry, ...] = ()

    @classmethod
    def of(cls, taken_at: float, events: Sequence[AmiEvent | None]) -> QueueSnapshot:
        """The snapshot a QueueStatus answer's parsed events make (anything else is ignored)."""
        return cls(taken_at,
                   tuple(e for e in events if isinstance(e, QueueParams)),
                   tuple(e for e in events if isinstance(e, QueueMember)),
                   tuple(e for e in events if isinstance(e, QueueEntry)))

    def queue(self, name: str) -> QueueParams | None:
        return next((p for p in self.params if p.queue == name), None)


@dataclass(frozen=True, kw_only=True)
class AmiConnected(AmiEvent):
    """Logged in for the first time; ``banner`` is e.g. ``Asterisk Call Manager/13.0.0``.
    ``queue_snapshot`` is the QueueStatus read at once (``None`` when not read or it failed);
    events before it in the stream are in it, events after it are not."""

    NAME: ClassVar[str] = "AmiConnected"
    banner: str = ""
    queue_snapshot: QueueSnapshot | None = None


@dataclass(frozen=True, kw_only=True)
class AmiDisconnected(AmiEvent):
    """The AMI connection was lost; events until :class:`AmiReconnected` are missed."""

    NAME: ClassVar[str] = "AmiDisconnected"
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class AmiReconnected(AmiEvent):
    """Back after ``down_seconds``; ``queue_snapshot`` is the queue state re-read at once, and
    ``missed`` says in words what changed while away (per queue: calls completed/abandoned)."""

    NAME: ClassVar[str] = "AmiReconnected"
    down_seconds: float = 0.0
    attempts: int = 0
    queue_snapshot: QueueSnapshot | None = None
    missed: tuple[str, ...] = ()


# --- parsing ---------------------------------------------------------------------------------

EVENT_CLASSES: dict[str, type[AmiEvent]] = {
    cls.NAME.lower(): cls
    for cls in (
        Newchannel, Newstate, Hangup, DTMFBegin, DTMFEnd, VarSet, OriginateResponse,
        QueueCallerJoin, QueueCallerLeave, QueueCallerAbandon,
        AgentCalled, AgentConnect, AgentComplete, AgentRingNoAnswer, AgentDump,
        QueueMemberStatus, QueueMemberPause, QueueMemberAdded, QueueMemberRemoved,
        QueueParams, QueueMember, QueueEntry, QueueSummary,
    )
}

_PERSONAL_CALLER_FIELDS = {"CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName",
                           "DestCallerIDNum", "DestCallerIDName"}

_plans: dict[type, list[tuple[str, str, str, str]]] = {}


def _plan(cls: type[AmiEvent]) -> list[tuple[str, str, str, str]]:
    """(field name, header, lower-cased header, type name) for each header-backed field,
    computed once per class."""
    plan = _plans.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = []
        for f in dataclasses.fields(cls):
            header = f.metadata.get("header")
            if header:
                typ = hints[f.name]
                plan.append((f.name, header, header.lower(), typ.__name__ if isinstance(typ, type) else "str"))
        _plans[cls] = plan
    return plan


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)


def _convert(text: str, typ: str, header: str) -> Any:
    if typ == "int":
        return int(text.strip() or 0)
    if typ == "float":
        return float(text.strip() or 0)
    if typ == "bool":
        return _bool(text)
    if header in _PERSONAL_CALLER_FIELDS and text == UNKNOWN_CALLER:
        return ""
    return text


def event_from_headers(headers: Sequence[tuple[str, str]], now: float) -> AmiEvent | None:
    """Headers of one AMI event -> its dataclass; ``None`` when they carry no ``Event`` header."""
    raw: Headers = tuple((str(k), str(v)) for k, v in headers)
    return _build(raw, {k.lower(): v for k, v in reversed(raw)}, now)  # reversed: first one wins


def _build(raw: Headers, lowered: Mapping[str, str], now: float) -> AmiEvent | None:
    """``lowered``: the first value of each header by lower-cased name."""
    name = lowered.get("event")
    if name is None:
        return None
    cls = EVENT_CLASSES.get(name.lower())
    if cls is None:
        return OtherAmiEvent(event=name, headers=raw, received=now, raw=raw)
    values: dict[str, Any] = {}
    for fname, header, low, typ in _plan(cls):
        text = lowered.get(low)
        if text is None:
            continue
        try:
            values[fname] = _convert(text, typ, header)
        except ValueError:
            return OtherAmiEvent(event=name, headers=raw, received=now, raw=raw,
                                 error=f"{header}: expected {typ}, got {text!r}")
    return cls(received=now, raw=raw, **values)


def event_from_message(msg: HasHeaders, now: float) -> AmiEvent | None:
    """An ``AmiMessage`` that is an event -> its dataclass (``OtherAmiEvent`` when unknown);
    ``None`` for responses and anything without an ``Event`` header.

    A message that already holds its headers as a tuple and offers ``by_name`` (an
    ``AmiMessage``: first value by lower-cased name) is used as it is, not copied and
    re-indexed: this runs once per AMI event."""
    raw = msg.headers
    by_name = getattr(msg, "by_name", None)
    if by_name is None or not isinstance(raw, tuple):
        return event_from_headers(raw, now)
    return _build(raw, by_name, now)


__all__ = [name for name in dir() if not name.startswith("_") and name[0].isupper()] + [
    "event_from_headers", "event_from_message", "running_average",
]
