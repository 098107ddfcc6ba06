"""A queue model that behaves as Asterisk's app_queue does, on a clock it is given.

Pure logic: every method takes ``now`` (epoch-like seconds of simulated time) and returns the
AMI events it caused as :class:`WireEvent` (name + ordered headers, exactly the header names
and order of the recordings). Timers (ring answered, ring timeout, talk over, wrap-up over,
caller out of patience) sit in a heap; :meth:`QueueModel.advance` fires those due.

Semantics copied from the recordings and app_queue:
- ``HoldTime``/``TalkTime``/``RingTime`` on events are whole-second durations
  (``int(now) - int(start)``, as Asterisk subtracts ``time()`` values).
- QueueParams ``Holdtime``/``TalkTime`` are integer running averages
  (``engine.events.ami.running_average``: the first call sets them, then ``(3*old + new) >> 2``),
  updated at answer (hold) and at call end (talk).
- ``Completed`` counts answered calls at their end; ``Abandoned`` callers who hung up waiting.
  ``ServicelevelPerf`` = completed-within-SL / completed; ``ServicelevelPerf2`` adds
  abandoned-within-SL over completed + abandoned (percent, one decimal).
- QueueCallerAbandon precedes QueueCallerLeave; Leave/Join carry ``Count`` after the change.
- Callers are served in order; every free member (not paused, not on a call, wrap-up over) is
  rung for the first caller not yet ringing someone (autofill).

The model keeps ground truth per call (:class:`CallRecord`) to check a monitor against.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config import read_toml
from engine.errors import ConfigError
from engine.events.ami import running_average

Headers = tuple[tuple[str, str], ...]

DEFAULT_QUEUES_FILE = Path(__file__).with_name("queues.toml")

# Device states as Asterisk numbers them in a member's Status header.
NOT_INUSE, INUSE, RINGING = 1, 2, 6


@dataclass(frozen=True)
class WireEvent:
    """One AMI event as the simulator will send it: ``Event: name`` then ``headers``."""

    name: str
    headers: Headers
    at: float

    def header(self, key: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == key.lower()), None)

    def wire_headers(self) -> Headers:
        return (("Event", self.name), *self.headers)


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberConfig:
    interface: str
    name: str = ""
    penalty: int = 0
    answer_after: float | None = None  # None: the queue file's default; < 0: never answers
    talk_min: float | None = None
    talk_max: float | None = None


@dataclass(frozen=True)
class QueueConfig:
    name: str
    strategy: str = "rrmemory"
    timeout: float = 15.0
    retry: float = 1.0
    wrapuptime: float = 0.0
    servicelevel: int = 0
    max: int = 0
    weight: int = 0
    ringinuse: bool = True
    members: tuple[MemberConfig, ...] = ()


@dataclass(frozen=True)
class SimDefaults:
    answer_after: float = 1.0
    talk_min: float = 4.0
    talk_max: float = 9.0
    hangup_by: str = "agent"
    seed: int = 12345


@dataclass(frozen=True)
class SimConfig:
    queues: tuple[QueueConfig, ...]
    defaults: SimDefaults = SimDefaults()


_QUEUE_KEYS = {"strategy", "timeout", "retry", "wrapuptime", "servicelevel", "max", "weight", "ringinuse", "members"}
_MEMBER_KEYS = {"interface", "name", "penalty", "answer_after", "talk_min", "talk_max"}
_DEFAULT_KEYS = {"answer_after", "talk_min", "talk_max", "hangup_by", "seed"}
STRATEGIES = {"rrmemory", "ringall", "leastrecent", "fewestcalls", "random", "linear", "roundrobin"}


def _num(where: str, value: Any, typ: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return typ(value)


def parse_queues(data: dict[str, Any], source: str = "queues") -> SimConfig:
    """TOML data (see ``queues.toml``) -> :class:`SimConfig`; every mistake names file and key."""
    unknown = set(data) - {"defaults", "queues"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {sorted(unknown)} (known: defaults, queues)")
    d = data.get("defaults", {})
    bad = set(d) - _DEFAULT_KEYS
    if bad:
        raise ConfigError(f"{source} [defaults]: unknown key(s) {sorted(bad)}")
    defaults = SimDefaults(
        answer_after=_num(f"{source} [defaults].answer_after", d.get("answer_after", 1.0), float),
        talk_min=_num(f"{source} [defaults].talk_min", d.get("talk_min", 4.0), float),
        talk_max=_num(f"{source} [defaults].talk_max", d.get("talk_max", 9.0), float),
        hangup_by=str(d.get("hangup_by", "agent")),
        seed=_num(f"{source} [defaults].seed", d.get("seed", 12345), int),
    )
    if defaults.hangup_by not in ("agent", "caller"):
        raise ConfigError(f"{source} [defaults].hangup_by: expected agent or caller, got {defaults.hangup_by!r}")
    queues = []
    for name, q in (data.get("queues") or {}).items():
        where = f"{source} [queues.{name}]"
        if not isinstance(q, dict):
            raise ConfigError(f"{where}: must be a table")
        bad = set(q) - _QUEUE_KEYS
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {sorted(bad)} (known: {', '.join(sorted(_QUEUE_KEYS))})")
        strategy = str(q.get("strategy", "rrmemory"))
        if strategy not in STRATEGIES:
            raise ConfigError(f"{where}.strategy: {strategy!r} is not one of {sorted(STRATEGIES)}")
        members = []
        for i, m in enumerate(q.get("members", [])):
            mwhere = f"{where}.members[{i}]"
            if not isinstance(m, dict) or "interface" not in m:
                raise ConfigError(f"{mwhere}: needs at least interface = \"Local/...\"")
            bad = set(m) - _MEMBER_KEYS
            if bad:
                raise ConfigError(f"{mwhere}: unknown key(s) {sorted(bad)}")
            members.append(MemberConfig(
                interface=str(m["interface"]), name=str(m.get("name", "")),
                penalty=_num(f"{mwhere}.penalty", m.get("penalty", 0), int),
                answer_after=None if "answer_after" not in m else _num(f"{mwhere}.answer_after", m["answer_after"], float),
                talk_min=None if "talk_min" not in m else _num(f"{mwhere}.talk_min", m["talk_min"], float),
                talk_max=None if "talk_max" not in m else _num(f"{mwhere}.talk_max", m["talk_max"], float),
            ))
        queues.append(QueueConfig(
            name=name, strategy=strategy,
            timeout=_num(f"{where}.timeout", q.get("timeout", 15), float),
            retry=_num(f"{where}.retry", q.get("retry", 1), float),
            wrapuptime=_num(f"{where}.wrapuptime", q.get("wrapuptime", 0), float),
            servicelevel=_num(f"{where}.servicelevel", q.get("servicelevel", 0), int),
            max=_num(f"{where}.max", q.get("max", 0), int),
            weight=_num(f"{where}.weight", q.get("weight", 0), int),
            ringinuse=bool(q.get("ringinuse", True)),
            members=tuple(members),
        ))
    if not queues:
        raise ConfigError(f"{source}: no [queues.NAME] defined")
    return SimConfig(tuple(queues), defaults)


def load_queues(path: str | Path | None = None) -> SimConfig:
    file = Path(path) if path else DEFAULT_QUEUES_FILE
    return parse_queues(read_toml(file, "queues file"), str(file))


# --- state -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    """Ground truth for one caller: what really happened, to compare a monitor against."""

    uniqueid: str  # the channel in Queue() (on a Local pair: ;2, not the call's Linkedid)
    queue: str
    caller_num: str = field(repr=False)  # personal data: not in logs
    joined: float = 0.0
    patience: float | None = None
    outcome: str = "waiting"  # waiting | ringing | talking | completed | abandoned | hungup
    answered_at: float | None = None
    left_at: float | None = None  # answered or abandoned
    ended_at: float | None = None
    member: str = ""  # interface of the member who answered
    member_name: str = ""
    hold_time: int | None = None  # seconds as Asterisk reports them
    talk_time: int | None = None
    rings: int = 0  # how many times a member was rung for this caller
    linkedid: str = ""  # the call's id (its first channel's Uniqueid)

    @property
    def wait(self) -> float | None:
        return None if self.left_at is None else self.left_at - self.joined


@dataclass
class _Member:
    interface: str
    name: str
    penalty: int
    membership: str
    login_time: int
    answer_after: float
    talk_min: float
    talk_max: float
    paused: bool = False
    paused_reason: str = ""
    last_pause: int = 0
    calls_taken: int = 0
    last_call: int = 0
    in_call: bool = False
    ringing: str = ""  # uniqueid of the caller ringing this member
    wrap_until: float = 0.0
    status: int = NOT_INUSE


@dataclass
class _Caller:
    uniqueid: str
    channel: str
    other_uniqueid: str
    other_channel: str
    queue: str
    caller_num: str
    caller_name: str
    joined: float
    patience: float | None
    talk_time: float | None
    context: str
    original_position: int
    ring_member: str = ""
    ring_started: float = 0.0
    agent_channel: str = ""
    agent_uniqueid: str = ""
    retry_after: float = 0.0
    answered_at: float | None = None
    member: str = ""
    in_sl: bool = False
    rings: int = 0
    priority: int = 0  # QUEUE_PRIO: higher is served first, FCFS within a priority
    linkedid: str = ""  # the call's Linkedid (the ;1 channel's Uniqueid when Queue() runs on ;2)


@dataclass
class _Queue:
    cfg: QueueConfig
    members: dict[str, _Member] = field(default_factory=dict)
    waiting: list[_Caller] = field(default_factory=list)
    holdtime: int = 0
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    completed_insl: int = 0
    abandoned_insl: int = 0
    rr_last: str = ""


def _service_levels(q: _Queue) -> tuple[float, float]:
    """``ServicelevelPerf`` and ``ServicelevelPerf2`` in percent, unrounded (see the module doc)."""
    total = q.completed + q.abandoned
    return (100.0 * q.completed_insl / q.completed if q.completed else 0.0,
            100.0 * (q.completed_insl + q.abandoned_insl) / total if total else 0.0)


def _bool(value: bool) -> str:
    return "1" if value else "0"


def _agent_channel_base(interface: str) -> str:
    return interface[:-2] if interface.endswith("/n") else interface


class QueueModel:
    """Queues, members and callers; see the module docstring for the semantics."""

    def __init__(self, config: SimConfig, now: float) -> None:
        self.config = config
        self.defaults = config.defaults
        self._rng = random.Random(config.defaults.seed)
        self._timers: list[tuple[float, int, str, str, str]] = []
        self._seq = itertools.count()
        self._chan_seq = itertools.count(0x7D)
        self._uid_seq = itertools.count(200)
        self._queues: dict[str, _Queue] = {}
        self._callers: dict[str, _Caller] = {}  # all live callers (waiting or talking)
        self._records: dict[str, CallRecord] = {}
        self._by_linkedid: dict[str, str] = {}  # call id -> the Uniqueid its record is kept under
        self.now = now
        for qc in config.queues:
            q = _Queue(qc)
            for mc in qc.members:
                q.members[mc.interface] = self._new_member(mc, "static", now)
            self._queues[qc.name] = q

    # -- helpers ------------------------------------------------------------------------------

    def _new_member(self, mc: MemberConfig, membership: str, now: float) -> _Member:
        d = self.defaults
        return _Member(
            interface=mc.interface, name=mc.name or mc.interface, penalty=mc.penalty, membership=membership,
            login_time=int(now), answer_after=d.answer_after if mc.answer_after is None else mc.answer_after,
            talk_min=d.talk_min if mc.talk_min is None else mc.talk_min,
            talk_max=d.talk_max if mc.talk_max is None else mc.talk_max,
        )

    def _uid(self, now: float) -> str:
        return f"{int(now)}.{next(self._uid_seq)}"

    def _timer(self, at: float, kind: str, queue: str, key: str) -> None:
        heapq.heappush(self._timers, (at, next(self._seq), kind, queue, key))

    def _update_record(self, uid: str, **changes: Any) -> None:
        self._records[uid] = replace(self._records[uid], **changes)

    def queue(self, name: str) -> _Queue:
        try:
            return self._queues[name]
        except KeyError:
            raise KeyError(f"no such queue {name!r}") from None

    @property
    def queue_names(self) -> list[str]:
        return list(self._queues)

    def records(self) -> list[CallRecord]:
        """Ground truth, one record per caller, in order of arrival."""
        return list(self._records.values())

    def record(self, uniqueid: str) -> CallRecord:
        """Ground truth of the caller in Queue() as ``uniqueid``, or of the call with that Linkedid."""
        return self._records[self._by_linkedid.get(uniqueid, uniqueid)]

    def next_timer(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    # -- header builders (names and order as in the recordings) -------------------------------

    def _snapshot(self, prefix: str, channel: str, state: int, num: str, name: str, context: str,
                  exten: str, priority: int, uid: str, linked: str) -> list[tuple[str, str]]:
        desc = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}.get(state, "Unknown")
        return [
            (f"{prefix}Channel", channel), (f"{prefix}ChannelState", str(state)),
            (f"{prefix}ChannelStateDesc", desc), (f"{prefix}CallerIDNum", num or "<unknown>"),
            (f"{prefix}CallerIDName", name or "<unknown>"), (f"{prefix}ConnectedLineNum", num or "<unknown>"),
            (f"{prefix}ConnectedLineName", name or "<unknown>"), (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""), (f"{prefix}Context", context), (f"{prefix}Exten", exten),
            (f"{prefix}Priority", str(priority)), (f"{prefix}Uniqueid", uid), (f"{prefix}Linkedid", linked),
        ]

    def _caller_snap(self, c: _Caller, prefix: str = "", state: int = 6) -> list[tuple[str, str]]:
        return self._snapshot(prefix, c.channel, state, c.caller_num, c.caller_name, c.context, "s", 2,
                              c.uniqueid, c.linkedid)

    def _agent_snap(self, c: _Caller, m: _Member, prefix: str = "Dest", state: int = 6) -> list[tuple[str, str]]:
        context = m.interface.split("@", 1)[1].split("/", 1)[0] if "@" in m.interface else "default"
        exten = m.interface.split("/", 1)[1].split("@", 1)[0] if "/" in m.interface else "s"
        return self._snapshot(prefix, c.agent_channel, state, c.caller_num, c.caller_name, context, exten, 1,
                              c.agent_uniqueid, c.linkedid)

    def _dest_snap(self, c: _Caller, m: _Member | None, prefix: str) -> list[tuple[str, str]]:
        if m is not None:
            return self._agent_snap(c, m, prefix=prefix)
        return self._snapshot(prefix, c.agent_channel, 6, c.caller_num, c.caller_name, "default", "s", 1,
                              c.agent_uniqueid, c.linkedid)

    def _ev(self, out: list[WireEvent], name: str, privilege: str, headers: list[tuple[str, str]], now: float) -> None:
        out.append(WireEvent(name, (("Privilege", privilege), *headers), now))

    def _member_headers(self, q: _Queue, m: _Member) -> list[tuple[str, str]]:
        return [
            ("Queue", q.cfg.name), ("MemberName", m.name), ("Interface", m.interface),
            ("StateInterface", m.interface), ("Membership", m.membership), ("Penalty", str(m.penalty)),
            ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)), ("LastPause", str(m.last_pause)),
            ("LoginTime", str(m.login_time)), ("InCall", _bool(m.in_call)), ("Status", str(m.status)),
            ("Paused", _bool(m.paused)), ("PausedReason", m.paused_reason),
            ("Ringinuse", _bool(q.cfg.ringinuse)), ("Wrapuptime", str(int(q.cfg.wrapuptime))),
        ]

    def _member_event(self, out: list[WireEvent], name: str, q: _Queue, m: _Member, now: float) -> None:
        self._ev(out, name, "agent,all", self._member_headers(q, m), now)

    def _hangup(self, out: list[WireEvent], snap: list[tuple[str, str]], now: float) -> None:
        self._ev(out, "Hangup", "call,all", [*snap, ("Cause", "16"), ("Cause-txt", "Normal Clearing")], now)

    # -- callers ------------------------------------------------------------------------------

    def add_caller(
        self, queue: str, now: float, *, caller_num: str = "", caller_name: str = "",
        patience: float | None = None, talk_time: float | None = None, context: str = "queue",
        uniqueid: str | None = None, channel: str | None = None, priority: int = 0,
        linkedid: str = "", first_channel: str = "",
    ) -> tuple[str, list[WireEvent]]:
        """A caller enters ``queue``; gives up after ``patience`` seconds of waiting (None: never).
        ``talk_time`` overrides the member's talk-time draw. Returns (Uniqueid, events).
        ``uniqueid``/``channel``: the channel that was already up (it ran the IVR before Queue());
        ``priority``: app_queue's QUEUE_PRIO, placed ahead of callers with a lower one.
        ``linkedid``/``first_channel``: the call's first channel when ``channel`` is the ``;2`` half of a
        Local pair (the README's ``hotline-in`` dialplan): events carry that Linkedid, and the call
        ends with both halves hanging up, ``;1`` first, as ``ami_ivr_queue_local.txt`` shows."""
        q = self.queue(queue)
        out = self.advance(now)
        if uniqueid is not None and uniqueid in self._callers:
            raise ValueError(f"caller {uniqueid} is already in a queue")
        c = _Caller(
            uniqueid=uniqueid or self._uid(now), channel=channel or "", other_uniqueid="", other_channel="",
            queue=queue, caller_num=caller_num, caller_name=caller_name, joined=now,
            patience=patience, talk_time=talk_time, context=context, original_position=len(q.waiting) + 1,
            priority=priority, linkedid=linkedid,
        )
        if first_channel and linkedid:
            c.other_channel, c.other_uniqueid = first_channel, linkedid
        if uniqueid is None:
            # a new call: the Local channel pair comes up here, as Originate makes it
            chan = channel.removesuffix(";1") if channel else f"Local/s@{context}-{next(self._chan_seq):08x}"
            c.channel, c.other_channel, c.other_uniqueid = f"{chan};1", f"{chan};2", self._uid(now)
            self._ev(out, "Newchannel", "call,all", self._snapshot("", c.channel, 0, caller_num, caller_name,
                                                                    context, "s", 1, c.uniqueid, c.uniqueid), now)
            self._ev(out, "Newchannel", "call,all", self._snapshot("", c.other_channel, 4, caller_num, caller_name,
                                                                    context, "s", 1, c.other_uniqueid, c.uniqueid), now)
            self._ev(out, "Newstate", "call,all", self._snapshot("", c.other_channel, 6, caller_num, caller_name,
                                                                  context, "s", 1, c.other_uniqueid, c.uniqueid), now)
            self._ev(out, "Newstate", "call,all", self._snapshot("", c.channel, 6, caller_num, caller_name,
                                                                  context, "s", 1, c.uniqueid, c.uniqueid), now)
        elif not c.channel:
            c.channel = f"Local/s@{context}-{next(self._chan_seq):08x};1"
        # (a channel that was already up, e.g. after the IVR, was announced by whoever made it)
        c.linkedid = c.linkedid or c.uniqueid
        at = next((i for i, w in enumerate(q.waiting) if w.priority < priority), len(q.waiting))
        q.waiting.insert(at, c)
        c.original_position = at + 1
        self._callers[c.uniqueid] = c
        self._records[c.uniqueid] = CallRecord(c.uniqueid, queue, caller_num, now, patience, linkedid=c.linkedid)
        self._by_linkedid[c.linkedid] = c.uniqueid
        self._ev(out, "QueueCallerJoin", "agent,all", [
            *self._caller_snap(c), ("Queue", queue), ("Position", str(at + 1)),
            ("Count", str(len(q.waiting)))], now)
        if patience is not None:
            self._timer(now + patience, "abandon", queue, c.uniqueid)
        out += self._dispatch(q, now)
        return c.uniqueid, out

    def _hangup_other(self, out: list[WireEvent], c: _Caller, now: float) -> None:
        """The other half of the caller's Local channel pair (;2 when the model made the pair; ;1,
        the citizen, when Queue() runs on ;2 after the IVR)."""
        if c.other_channel:
            self._hangup(out, self._snapshot("", c.other_channel, 6, c.caller_num, c.caller_name, c.context, "s", 1,
                                             c.other_uniqueid, c.linkedid), now)

    def _position(self, q: _Queue, c: _Caller) -> int:
        return q.waiting.index(c) + 1

    def _leave(self, out: list[WireEvent], q: _Queue, c: _Caller, now: float) -> None:
        pos = self._position(q, c)
        q.waiting.remove(c)
        self._ev(out, "QueueCallerLeave", "agent,all", [
            *self._caller_snap(c), ("Queue", q.cfg.name), ("Position", str(pos)),
            ("Count", str(len(q.waiting)))], now)

    def _abandon(self, q: _Queue, c: _Caller, now: float, outcome: str = "abandoned") -> list[WireEvent]:
        out: list[WireEvent] = []
        if c.ring_member:
            self._stop_ring(out, q, c, now, "CANCEL")
        hold = int(now) - int(c.joined)
        pos = self._position(q, c)
        self._hangup_other(out, c, now)
        self._ev(out, "QueueCallerAbandon", "agent,all", [
            *self._caller_snap(c), ("Queue", q.cfg.name), ("Position", str(pos)),
            ("OriginalPosition", str(c.original_position)), ("HoldTime", str(hold))], now)
        self._leave(out, q, c, now)
        self._hangup(out, self._caller_snap(c), now)
        q.abandoned += 1
        if hold <= q.cfg.servicelevel:
            q.abandoned_insl += 1
        del self._callers[c.uniqueid]
        self._update_record(c.uniqueid, outcome=outcome, left_at=now, ended_at=now, hold_time=hold, rings=c.rings)
        out += self._dispatch(q, now)
        return out

    # -- members ------------------------------------------------------------------------------

    def _free(self, q: _Queue, m: _Member, now: float) -> bool:
        if m.paused or m.in_call or m.ringing or m.wrap_until > now:
            return False
        for other in self._queues.values():  # busy in another queue is busy here too
            om = other.members.get(m.interface)
            if om is not None and (om.in_call or om.ringing):
                return False
        return True

    def _pick(self, q: _Queue, free: list[_Member]) -> _Member:
        strategy = q.cfg.strategy
        best_penalty = min(m.penalty for m in free)
        free = [m for m in free if m.penalty == best_penalty]
        if strategy == "leastrecent":
            return min(free, key=lambda m: m.last_call)
        if strategy == "fewestcalls":
            return min(free, key=lambda m: m.calls_taken)
        if strategy == "random":
            return self._rng.choice(free)
        if strategy == "linear":  # always from the top of the member list, as app_queue's linear
            return next(m for m in q.members.values() if m in free)
        if strategy in ("rrmemory", "roundrobin", "ringall") and q.rr_last:
            order = list(q.members)
            start = order.index(q.rr_last) + 1 if q.rr_last in order else 0
            ranked = order[start:] + order[:start]
            for interface in ranked:
                for m in free:
                    if m.interface == interface:
                        return m
        return free[0]

    def _dispatch(self, q: _Queue, now: float) -> list[WireEvent]:
        out: list[WireEvent] = []
        for c in list(q.waiting):
            if c.ring_member or c.retry_after > now:
                continue
            free = [m for m in q.members.values() if self._free(q, m, now)]
            if not free:
                break
            m = self._pick(q, free)
            self._ring(out, q, c, m, now)
        return out

    def _ring(self, out: list[WireEvent], q: _Queue, c: _Caller, m: _Member, now: float) -> None:
        c.ring_member = m.interface
        c.ring_started = now
        c.rings += 1
        q.rr_last = m.interface  # rrmemory remembers where the last ring pass left off
        m.ringing = c.uniqueid
        base = _agent_channel_base(m.interface)
        seq = next(self._chan_seq)
        c.agent_channel = f"{base}-{seq:08x};1"
        c.agent_uniqueid = self._uid(now)
        self._ev(out, "Newchannel", "call,all", self._agent_snap(c, m, prefix="", state=0), now)
        self._ev(out, "AgentCalled", "agent,all", [
            *self._caller_snap(c), *self._agent_snap(c, m, state=0), ("Queue", q.cfg.name),
            ("Interface", m.interface), ("MemberName", m.name)], now)
        self._ev(out, "DialBegin", "call,all", [
            *self._caller_snap(c), *self._agent_snap(c, m, state=0),
            ("DialString", m.interface.split("/", 1)[1] if "/" in m.interface else m.interface)], now)
        if m.answer_after >= 0 and m.answer_after < q.cfg.timeout:
            self._timer(now + m.answer_after, "answer", q.cfg.name, c.uniqueid)
        else:
            self._timer(now + q.cfg.timeout, "noanswer", q.cfg.name, c.uniqueid)

    def _stop_ring(self, out: list[WireEvent], q: _Queue, c: _Caller, now: float, status: str) -> None:
        m = q.members.get(c.ring_member)
        c.ring_member = ""
        if m is None:
            return
        m.ringing = ""
        if status == "NOANSWER":
            self._ev(out, "AgentRingNoAnswer", "agent,all", [
                *self._caller_snap(c), *self._agent_snap(c, m, state=0), ("Queue", q.cfg.name),
                ("Interface", m.interface), ("MemberName", m.name),
                ("RingTime", str(int((now - c.ring_started) * 1000)))], now)
        self._ev(out, "DialEnd", "call,all", [
            *self._caller_snap(c), *self._agent_snap(c, m, state=0), ("DialStatus", status)], now)
        self._hangup(out, self._agent_snap(c, m, prefix="", state=0), now)

    def _answer(self, q: _Queue, c: _Caller, now: float) -> list[WireEvent]:
        out: list[WireEvent] = []
        m = q.members.get(c.ring_member)
        if m is None:  # member removed while ringing
            c.ring_member = ""
            return self._dispatch(q, now)
        m.ringing = ""
        m.in_call = True
        m.status = INUSE
        c.ring_member = ""
        c.member = m.interface
        c.answered_at = now
        hold = int(now) - int(c.joined)
        ring = int(now) - int(c.ring_started)
        c.in_sl = hold <= q.cfg.servicelevel
        q.holdtime = running_average(q.holdtime, hold, first=q.completed + q.abandoned == 0)
        self._ev(out, "Newstate", "call,all", self._agent_snap(c, m, prefix=""), now)
        self._ev(out, "DialEnd", "call,all", [*self._caller_snap(c), *self._agent_snap(c, m), ("DialStatus", "ANSWER")], now)
        self._leave(out, q, c, now)
        self._ev(out, "AgentConnect", "agent,all", [
            *self._caller_snap(c), *self._agent_snap(c, m), ("Queue", q.cfg.name), ("Interface", m.interface),
            ("MemberName", m.name), ("HoldTime", str(hold)), ("RingTime", str(ring))], now)
        self._member_event(out, "QueueMemberStatus", q, m, now)
        talk = c.talk_time if c.talk_time is not None else self._rng.uniform(m.talk_min, m.talk_max)
        self._timer(now + talk, "complete", q.cfg.name, c.uniqueid)
        self._update_record(c.uniqueid, outcome="talking", answered_at=now, left_at=now, member=m.interface,
                            member_name=m.name, hold_time=hold, rings=c.rings)
        out += self._dispatch(q, now)
        return out

    def _complete(self, q: _Queue, c: _Caller, now: float, reason: str) -> list[WireEvent]:
        out: list[WireEvent] = []
        m = q.members.get(c.member)
        hold = int(c.answered_at or now) - int(c.joined)
        talk = int(now) - int(c.answered_at or now)
        q.completed += 1
        q.talktime = running_average(q.talktime, talk, first=q.completed == 1)
        if c.in_sl:
            q.completed_insl += 1
        member_name = m.name if m else c.member
        self._ev(out, "AgentComplete", "agent,all", [
            *self._caller_snap(c), *self._dest_snap(c, m, "Dest"),
            ("Queue", q.cfg.name), ("Interface", c.member), ("MemberName", member_name),
            ("HoldTime", str(hold)), ("TalkTime", str(talk)), ("Reason", reason)], now)
        self._hangup(out, self._dest_snap(c, m, ""), now)
        if m is not None:
            m.in_call = False
            m.status = NOT_INUSE
            m.calls_taken += 1
            m.last_call = int(now)
            m.wrap_until = now + q.cfg.wrapuptime
            self._member_event(out, "QueueMemberStatus", q, m, now)
            if q.cfg.wrapuptime > 0:
                self._timer(m.wrap_until, "wrapup", q.cfg.name, m.interface)
        if c.other_uniqueid and c.other_uniqueid == c.linkedid:  # the citizen's ;1 goes first, as recorded
            self._hangup_other(out, c, now)
            self._hangup(out, self._caller_snap(c), now)
        else:
            self._hangup(out, self._caller_snap(c), now)
            self._hangup_other(out, c, now)
        del self._callers[c.uniqueid]
        self._update_record(c.uniqueid, outcome="completed", ended_at=now, talk_time=talk)
        for other in self._queues.values():  # a member shared by queues is free again everywhere
            out += self._dispatch(other, now)
        return out

    # -- time ---------------------------------------------------------------------------------

    def advance(self, now: float) -> list[WireEvent]:
        """Fire every timer due at or before ``now``, in time order."""
        out: list[WireEvent] = []
        while self._timers and self._timers[0][0] <= now:
            at, _, kind, queue, key = heapq.heappop(self._timers)
            at = max(at, self.now)
            self.now = at
            q = self._queues.get(queue)
            if q is None:
                continue
            if kind == "wrapup" or kind == "retry":
                out += self._dispatch(q, at)
                continue
            c = self._callers.get(key)
            if c is None:
                continue
            if kind == "abandon" and c.answered_at is None and c in q.waiting:
                out += self._abandon(q, c, at)
            elif kind == "answer" and c.ring_member and c.answered_at is None:
                out += self._answer(q, c, at)
            elif kind == "noanswer" and c.ring_member and c.answered_at is None:
                self._stop_ring(out, q, c, at, "NOANSWER")
                c.retry_after = at + q.cfg.retry
                self._timer(c.retry_after, "retry", queue, c.uniqueid)
                out += self._dispatch(q, at)
            elif kind == "complete" and c.answered_at is not None:
                out += self._complete(q, c, at, self.defaults.hangup_by)
        self.now = max(self.now, now)
        return out

    # -- control (actions) --------------------------------------------------------------------

    def pause(self, interface: str, paused: bool, now: float, *, queue: str | None = None,
              reason: str = "") -> list[WireEvent]:
        """QueuePause: in one queue or all queues the interface is a member of."""
        out = self.advance(now)
        targets = [self.queue(queue)] if queue else list(self._queues.values())
        hit = False
        for q in targets:
            m = q.members.get(interface)
            if m is None:
                continue
            hit = True
            m.paused = paused
            m.paused_reason = reason if paused else ""
            if paused:
                m.last_pause = int(now)
            self._member_event(out, "QueueMemberPause", q, m, now)
        if not hit:
            raise KeyError(f"interface {interface} is not a member of {queue or 'any queue'}")
        if not paused:
            for q in targets:
                out += self._dispatch(q, now)
        return out

    def add_member(self, queue: str, interface: str, now: float, *, name: str = "", penalty: int = 0,
                   paused: bool = False, reason: str = "") -> list[WireEvent]:
        q = self.queue(queue)
        if interface in q.members:
            raise ValueError(f"{interface} is already a member of {queue}")
        out = self.advance(now)
        m = self._new_member(MemberConfig(interface, name, penalty), "dynamic", now)
        m.paused = paused
        m.paused_reason = reason if paused else ""
        q.members[interface] = m
        self._member_event(out, "QueueMemberAdded", q, m, now)
        out += self._dispatch(q, now)
        return out

    def remove_member(self, queue: str, interface: str, now: float) -> list[WireEvent]:
        q = self.queue(queue)
        if interface not in q.members:
            raise KeyError(f"{interface} is not a member of {queue}")
        out = self.advance(now)
        m = q.members.pop(interface)
        for c in q.waiting:
            if c.ring_member == interface:
                c.ring_member = ""
        self._member_event(out, "QueueMemberRemoved", q, m, now)
        return out

    def set_member_behaviour(self, interface: str, *, answer_after: float | None = None,
                             talk_min: float | None = None, talk_max: float | None = None) -> None:
        """Make a member slow to answer (or never: ``answer_after=-1``) or change talk times."""
        for q in self._queues.values():
            m = q.members.get(interface)
            if m is None:
                continue
            if answer_after is not None:
                m.answer_after = answer_after
            if talk_min is not None:
                m.talk_min = talk_min
            if talk_max is not None:
                m.talk_max = talk_max

    def hangup(self, channel: str, now: float) -> list[WireEvent]:
        """Hangup action: a waiting caller abandons; a talking call ends (reason caller, or agent when
        the member's channel is hung up); a member's ringing channel means the member rejected it."""
        out = self.advance(now)
        for c in list(self._callers.values()):
            if channel in (c.channel, c.other_channel, c.agent_channel) and channel:
                q = self.queue(c.queue)
                if c.answered_at is None and channel == c.agent_channel:
                    if not c.ring_member:
                        break  # that ring already ended
                    # the member rejected the ringing call: like a ring timeout, try again later
                    self._stop_ring(out, q, c, now, "BUSY")
                    c.retry_after = now + q.cfg.retry
                    self._timer(c.retry_after, "retry", q.cfg.name, c.uniqueid)
                    return out + self._dispatch(q, now)
                if c.answered_at is None:
                    return out + self._abandon(q, c, now)
                reason = "agent" if channel == c.agent_channel else "caller"
                return out + self._complete(q, c, now, reason)
        raise KeyError(f"no such channel {channel}")

    def caller_channel(self, uniqueid: str) -> str:
        c = self._callers.get(uniqueid)
        return c.channel if c else ""

    def live_channels(self) -> list[tuple[str, str, str]]:
        """(channel, Uniqueid, Linkedid) of every channel of a caller in a queue or talking."""
        out = []
        for c in self._callers.values():
            out.append((c.channel, c.uniqueid, c.linkedid))
            if c.other_channel:
                out.append((c.other_channel, c.other_uniqueid, c.linkedid))
            if c.answered_at is not None or c.ring_member:
                out.append((c.agent_channel, c.agent_uniqueid, c.linkedid))
        return out

    def channels(self) -> list[str]:
        """Names of the channels :meth:`live_channels` lists."""
        return [channel for channel, _, _ in self.live_channels()]

    # -- list answers -------------------------------------------------------------------------

    def queue_status(self, now: float, queue: str | None = None) -> list[WireEvent]:
        """QueueParams, QueueMember..., QueueEntry... per queue, as QueueStatus lists them."""
        self.advance(now)
        out: list[WireEvent] = []
        for q in self._queues.values():
            if queue and q.cfg.name != queue:
                continue
            sl, sl2 = _service_levels(q)
            out.append(WireEvent("QueueParams", (
                ("Queue", q.cfg.name), ("Max", str(q.cfg.max)), ("Strategy", q.cfg.strategy),
                ("Calls", str(len(q.waiting))), ("Holdtime", str(q.holdtime)), ("TalkTime", str(q.talktime)),
                ("Completed", str(q.completed)), ("Abandoned", str(q.abandoned)),
                ("ServiceLevel", str(q.cfg.servicelevel)), ("ServicelevelPerf", f"{sl:.1f}"),
                ("ServicelevelPerf2", f"{sl2:.1f}"), ("Weight", str(q.cfg.weight))), now))
            for m in q.members.values():
                out.append(WireEvent("QueueMember", (
                    ("Queue", q.cfg.name), ("Name", m.name), ("Location", m.interface),
                    ("StateInterface", m.interface), ("Membership", m.membership), ("Penalty", str(m.penalty)),
                    ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)),
                    ("LastPause", str(m.last_pause)), ("LoginTime", str(m.login_time)),
                    ("InCall", _bool(m.in_call)), ("Status", str(RINGING if m.ringing else m.status)),
                    ("Paused", _bool(m.paused)), ("PausedReason", m.paused_reason),
                    ("Wrapuptime", str(int(q.cfg.wrapuptime)))), now))
            for pos, c in enumerate(q.waiting, 1):
                out.append(WireEvent("QueueEntry", (
                    ("Queue", q.cfg.name), ("Position", str(pos)), ("Channel", c.channel),
                    ("Uniqueid", c.uniqueid), ("CallerIDNum", c.caller_num or "<unknown>"),
                    ("CallerIDName", c.caller_name or "<unknown>"),
                    ("ConnectedLineNum", c.caller_num or "<unknown>"),
                    ("ConnectedLineName", c.caller_name or "<unknown>"),
                    ("Wait", str(int(now) - int(c.joined))), ("Priority", str(c.priority))), now))
        return out

    def queue_summary(self, now: float, queue: str | None = None) -> list[WireEvent]:
        self.advance(now)
        out: list[WireEvent] = []
        for q in self._queues.values():
            if queue and q.cfg.name != queue:
                continue
            logged_in = len(q.members)
            available = sum(1 for m in q.members.values() if not m.paused and not m.in_call and not m.ringing)
            longest = max((int(now) - int(c.joined) for c in q.waiting), default=0)
            out.append(WireEvent("QueueSummary", (
                ("Queue", q.cfg.name), ("LoggedIn", str(logged_in)), ("Available", str(available)),
                ("Callers", str(len(q.waiting))), ("HoldTime", str(q.holdtime)), ("TalkTime", str(q.talktime)),
                ("LongestHoldTime", str(longest))), now))
        return out

    def counters(self, queue: str) -> dict[str, float]:
        """Asterisk's counters for ``queue`` as numbers (what QueueParams would say)."""
        q = self.queue(queue)
        sl, sl2 = _service_levels(q)
        return {
            "completed": q.completed, "abandoned": q.abandoned, "holdtime": q.holdtime, "talktime": q.talktime,
            "calls": len(q.waiting), "servicelevel_perf": round(sl, 1), "servicelevel_perf2": round(sl2, 1),
        }
