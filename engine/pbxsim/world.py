"""The PBX simulator playing whole calls, as Asterisk and the hotline's dialplan would.

The AMI server and queue model (``ami_server``, ``queue_model``) know queues; the FastAGI and
AudioSocket clients know one session each. This module is the dialplan around them, so that a
call goes through everything a real one does (docs/flows.md has the dialplan it imitates):

1. a caller arrives: ``AGI(agi://engine/hotline)`` runs the flow over FastAGI (keys from a
   script, the intake step's speech over ``EXEC AudioSocket``). With ``channels="local"`` (the
   default, as the README's ``hotline-in`` dialplan runs calls and ``ami_ivr_queue_local.txt``
   recorded) the call is a Local channel pair: the citizen on ``;1`` (its Uniqueid is the call's
   Linkedid), FastAGI and Queue() on ``;2`` (another Uniqueid, same Linkedid). With
   ``channels="direct"`` one channel does everything (a SIP trunk channel running AGI() itself);
2. after the AGI session, on ``HOTLINE_ACTION=queue`` the channel enters ``Queue(${HOTLINE_QUEUE})``
   with ``QUEUE_PRIO`` (same Uniqueid as during the IVR), waits, abandons at its patience, or is
   answered by a call-taker of the queue model;
3. an Originate of ``AudioSocket/<host:port>/<uuid>`` with ``Application: ChanSpy`` and
   ``Data: <channel prefix>,qEo`` (a tap) connects to that AudioSocket server and streams what the
   spied side says (the caller's or the call-taker's audio) until that channel hangs up ('E'):
   the first tap of a channel from the start of the conversation (the engine taps at the answer,
   and its time line starts there), a later one (the engine tapping again after an ASR worker
   died) from where the conversation is at that moment.
   ``AudioSocket/<host:port>/<uuid>/c(slin16)`` streams at that codec's rate (kind 0x12, 640-byte
   frames), the 8 kHz audio upsampled, as Asterisk's ChanSpy (which hears ``slin``) writing to a
   ``slin16`` channel does; a codec that is not a signed linear one fails the Originate (Asterisk
   would take ``ulaw`` and send mu-law bytes labelled as slin);
4. an Originate carrying ``HOTLINE_CALLBACK`` (a callback) rings the citizen, who answers or not
   as scripted; answered, the call joins ``HOTLINE_QUEUE`` with ``QUEUE_PRIO`` (the callback context).

Tap audio is streamed at the simulated clock's speed, so its time line is the call's time line.
Ground truth per call (``CallTruth`` plus the queue model's ``CallRecord``) is kept to check the
engine's records against, keyed by the call's id (its Linkedid).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from dataclasses import dataclass, field, replace
from typing import Any

from engine.asterisk.audiosocket_codec import CODEC_RATES, encode_audio, encode_uuid, frame_bytes
from engine.pbxsim.agi_client import AgiCallResult, AgiClient, CallerScript
from engine.pbxsim.ami_server import AmiServer, Clock, parse_callerid
from engine.pbxsim.queue_model import SimConfig, WireEvent
from engine.resample import resample_pcm

log = logging.getLogger(__name__)

FRAME = 320  # 20 ms of 8 kHz 16-bit audio
CHANNEL_MODES = ("local", "direct")


@dataclass
class CallerPlan:
    """What one simulated citizen does. Audio is 8 kHz signed 16-bit mono PCM."""

    number: str = field(repr=False)
    name: str = ""
    dtmf: list[str] = field(default_factory=list)  # one entry per question the flow asks
    hangup_at: int | None = None  # hang up during the N-th AGI command (None: never in the IVR)
    intake_audio: bytes = field(default=b"", repr=False)  # what the caller says at the intake step
    patience: float | None = None  # seconds in the queue before hanging up (None: never)
    talk_time: float | None = None  # seconds the conversation lasts once answered
    caller_audio: bytes = field(default=b"", repr=False)  # the caller's side of the conversation
    agent_audio: bytes = field(default=b"", repr=False)  # the call-taker's side
    callback_answers: tuple[bool, ...] = (True,)  # per callback attempt: does the citizen answer
    language: str = "zh"
    texts: dict[str, str] = field(default_factory=dict)  # what was said (for reports), by part


@dataclass
class CallTruth:
    """What really happened to one simulated call (the queue part is in the model's records)."""

    uniqueid: str  # the call's id: its first channel's Uniqueid, the Linkedid of all its channels
    kind: str  # inbound | callback
    started: float
    plan: CallerPlan = field(repr=False)
    action: str = ""  # HOTLINE_ACTION after the IVR: queue | hangup | transfer; "" = hung up in the IVR
    ivr_outcome: str = ""
    callback_ref: str = ""
    queued: bool = False
    intake: bool = False  # the caller spoke at an intake step
    agi_failed: bool = False
    tapped: list[str] = field(default_factory=list)  # sides streamed to the engine
    tap_rates: list[int] = field(default_factory=list)  # the rate each of them was streamed at
    agi: AgiCallResult | None = field(default=None, repr=False)
    agi_uniqueid: str = ""  # the channel running FastAGI and Queue() (;2 of a Local pair)


def _tap_rate(options: str) -> int | None:
    """The rate of a tap channel's options (``c(slin16)``: 16000; none: slin, 8000); None when
    chan_audiosocket would refuse them or the codec is not a signed linear one."""
    if not options:
        return 8000
    if not (options.startswith("c(") and options.endswith(")")):
        return None
    return CODEC_RATES.get(options[2:-1])


class _WorldAmiServer(AmiServer):
    """The simulator's AMI server, with the Originates a real PBX would carry out for the engine."""

    world: PbxWorld

    def _originate(self, s: Any, msg: Any) -> None:
        channel = msg.get("Channel") or ""
        app = (msg.get("Application") or "").strip().lower()
        if channel.lower().startswith("audiosocket/") and app == "chanspy":
            self.world._tap(s, msg)
            return
        if "HOTLINE_CALLBACK" in self._variables(msg):
            self.world._callback(s, msg, self._variables(msg))
            return
        super()._originate(s, msg)


class PbxWorld:
    """Queues, call-takers and the dialplan, on loopback. ``await start()``; ``await call(plan)``."""

    def __init__(
        self,
        config: SimConfig,
        *,
        clock: Clock,
        agi_host: str = "127.0.0.1",
        agi_port: int = 4573,
        flow: str = "hotline",
        lead_ins: dict[str, str] | None = None,
        intake_pace: float | None = None,
        tap_pace: float | None = None,
        username: str = "hotline",
        secret: str = "hotlinepw",
        seed: int = 1,
        agi_timeout: float = 120.0,
        channels: str = "local",
    ) -> None:
        if channels not in CHANNEL_MODES:
            raise ValueError(f"channels must be one of {', '.join(CHANNEL_MODES)}, got {channels!r}")
        self.server = _WorldAmiServer(config, clock=clock, username=username, secret=secret)
        self.server.world = self
        self.clock = clock
        self.agi_host = agi_host
        self.agi_port = agi_port
        self.flow = flow
        self.lead_ins = dict(lead_ins or {})
        speed = float(getattr(clock, "speed", 1.0))
        self.intake_pace = speed if intake_pace is None else intake_pace
        self.tap_pace = speed if tap_pace is None else tap_pace
        self.agi_timeout = agi_timeout
        self.channels = channels
        self.rng = random.Random(seed)
        self.truth: dict[str, CallTruth] = {}
        self.in_ivr = 0
        self.taps_streaming = 0
        self.callbacks_ringing = 0
        self.tap_requests = 0
        self.tap_refused = 0
        self._seq = itertools.count(100_001)
        self._plans: dict[str, CallerPlan] = {}  # the call's id (Linkedid, as AgentConnect carries it) -> plan
        self._by_number: dict[str, CallerPlan] = {}
        self._cb_attempts: dict[str, int] = {}
        self._sides: dict[str, tuple[str, str]] = {}  # live channel -> (the call's id, its Linkedid; side)
        self._hung: dict[str, asyncio.Event] = {}  # spied channel -> set when it hangs up
        self._talking_since: dict[str, float] = {}  # spied channel -> clock time of its AgentConnect
        self._spied: set[str] = set()  # channels tapped at least once
        self._tasks: set[asyncio.Task[Any]] = set()
        self.server.listeners.append(self._on_event)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> int:
        return await self.server.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.stop()

    @property
    def ami_port(self) -> int:
        return self.server.port

    @property
    def model(self) -> Any:
        return self.server.model

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def busy(self) -> bool:
        """Anything still going on: an IVR session, a caller queued or talking, a tap, a ringing callback."""
        return bool(self.in_ivr or self.model.channels() or self.taps_streaming or self.callbacks_ringing)

    def hangup_all(self) -> int:
        """Every caller still queued or talking hangs up now (the end of a demo)."""
        n = 0
        for channel in list(self.model.channels()):
            with contextlib.suppress(KeyError):
                self.server._emit(self.model.hangup(channel, self.clock.now()))
                n += 1
        return n

    # -- calls --------------------------------------------------------------------------------

    def _uid(self) -> tuple[str, int]:
        n = next(self._seq)
        return f"{int(self.clock.now())}.{n}", n

    async def call(self, plan: CallerPlan) -> CallTruth:
        """One inbound call: the IVR over FastAGI, then the queue as the dialplan says."""
        uid, n = self._uid()
        if self.channels == "local":
            citizen, first = f"Local/s@hotline-in-{n:08x};1", uid
            agi_uid, _ = self._uid()
            channel = citizen.replace(";1", ";2")
        else:
            citizen = channel = f"PJSIP/trunk-{n:08x}"
            first = agi_uid = uid
        truth = CallTruth(uid, "inbound", self.clock.now(), plan, agi_uniqueid=agi_uid)
        self.truth[uid] = truth
        self._plans[uid] = plan
        self._by_number[plan.number] = plan
        script = CallerScript(
            dtmf=list(plan.dtmf), dtmf_by_prompt=dict(self.lead_ins), hangup_at=plan.hangup_at,
            audio=plan.intake_audio or bytes(FRAME * 100), audio_pace=self.intake_pace, audiosocket_linger=30.0,
            variables={"CHANNEL(linkedid)": uid})
        client = AgiClient(self.agi_host, self.agi_port, self.flow, caller=script, callerid=plan.number,
                           calleridname=plan.name or plan.number, language=plan.language, uniqueid=agi_uid,
                           channel=channel, context="hotline-in", timeout=self.agi_timeout)
        self.server._emit(self._arrive(citizen, first, channel, agi_uid, plan))
        up = {uid: (citizen, uid, uid), agi_uid: (channel, agi_uid, uid)}
        self.server.extra_channels.update(up)  # CoreShowChannels lists them while in the IVR
        self.in_ivr += 1
        try:
            result = await client.run()
        except OSError as exc:  # the engine is down: AGISTATUS=FAILURE, the dialplan hangs up
            log.warning("pbxsim call %s: FastAGI to %s:%d failed: %s", uid, self.agi_host, self.agi_port, exc)
            truth.agi_failed = True
            self.server._emit(self._leave(citizen, uid, channel, agi_uid, plan, citizen_first=False))
            return truth
        finally:
            self.in_ivr -= 1
            for key in up:  # gone, or in Queue() where the queue model lists them
                self.server.extra_channels.pop(key, None)
        truth.agi = result
        truth.intake = bool(result.audiosocket) and bool(plan.intake_audio)
        v = result.variables
        truth.callback_ref = v.get("HOTLINE_CALLBACK", "")
        if result.caller_hung_up:
            truth.ivr_outcome = "callback_booked" if truth.callback_ref else "abandoned_in_ivr"
        else:
            truth.action = v.get("HOTLINE_ACTION", "")
            truth.ivr_outcome = v.get("HOTLINE_OUTCOME", "")
        if truth.action != "queue":  # hung up in the IVR, or the dialplan hangs up (a transfer's Dial is not simulated)
            self.server._emit(self._leave(citizen, uid, channel, agi_uid, plan, citizen_first=result.caller_hung_up))
            return truth
        queue = v.get("HOTLINE_QUEUE") or self.model.queue_names[0]
        try:
            prio = int(v.get("QUEUE_PRIO") or 0)
        except ValueError:
            prio = 0
        _, events = self.model.add_caller(
            queue, self.clock.now(), caller_num=plan.number, caller_name=plan.name, patience=plan.patience,
            talk_time=plan.talk_time, context="hotline-in", uniqueid=agi_uid, channel=channel, priority=prio,
            linkedid=uid, first_channel=citizen if citizen != channel else "")
        self.server._emit(events)
        truth.queued = True
        return truth

    def _arrive(self, citizen: str, uid: str, channel: str, agi_uid: str, plan: CallerPlan,
                context: str = "hotline-in") -> list[WireEvent]:
        """A call comes up. A Local pair as recorded: both halves appear with no caller ID, then the
        caller ID is set on both (NewCallerid) and both are answered (Newstate Up, ``;2`` first)."""
        if citizen == channel:
            return [self._channel_event("Newchannel", channel, uid, plan, 0, context)]
        return [self._channel_event("Newchannel", citizen, uid, None, 0, context),
                self._channel_event("Newchannel", channel, agi_uid, None, 4, context, linkedid=uid),
                self._channel_event("NewCallerid", citizen, uid, plan, 0, context),
                self._channel_event("NewCallerid", channel, agi_uid, plan, 4, context, linkedid=uid),
                self._channel_event("Newstate", channel, agi_uid, plan, 6, context, linkedid=uid),
                self._channel_event("Newstate", citizen, uid, plan, 6, context)]

    def _leave(self, citizen: str, uid: str, channel: str, agi_uid: str, plan: CallerPlan, *,
               citizen_first: bool) -> list[WireEvent]:
        """The call ends before Queue(): the citizen hung up (``;1`` first, as recorded), or the
        dialplan on ``;2`` hung up after AGI() (``;2`` first)."""
        if citizen == channel:
            return [self._channel_event("Hangup", channel, uid, plan, 6)]
        pair = [self._channel_event("Hangup", citizen, uid, plan, 6),
                self._channel_event("Hangup", channel, agi_uid, plan, 6, linkedid=uid)]
        return pair if citizen_first else pair[::-1]

    def _channel_event(self, name: str, channel: str, uid: str, plan: CallerPlan | None, state: int,
                       context: str = "hotline-in", linkedid: str = "") -> WireEvent:
        """A channel event of a call's own channels, with the headers Asterisk sends (the queue
        model sends its own once the channel is in Queue()); ``plan`` None: no caller ID yet."""
        desc = {0: "Down", 4: "Ring", 6: "Up"}.get(state, "Unknown")
        num = (plan.number if plan else "") or "<unknown>"
        cid_name = (plan.name if plan else "") or "<unknown>"
        headers: list[tuple[str, str]] = [
            ("Privilege", "call,all"), ("Channel", channel), ("ChannelState", str(state)), ("ChannelStateDesc", desc),
            ("CallerIDNum", num), ("CallerIDName", cid_name),
            ("ConnectedLineNum", "<unknown>"), ("ConnectedLineName", "<unknown>"),
            ("Language", plan.language if plan else "en"),
            ("AccountCode", ""), ("Context", context), ("Exten", "s"), ("Priority", "1"),
            ("Uniqueid", uid), ("Linkedid", linkedid or uid)]
        if name == "Hangup":
            headers += [("Cause", "16"), ("Cause-txt", "Normal Clearing")]
        elif name == "NewCallerid":
            headers.append(("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        return WireEvent(name, tuple(headers), self.clock.now())

    # -- events the dialplan reacts to ----------------------------------------------------------

    def _on_event(self, e: WireEvent) -> None:
        if e.name == "AgentConnect":
            uid = e.header("Linkedid") or e.header("Uniqueid") or ""  # the call (truth and plans are kept by it)
            for side, key in (("caller", "Channel"), ("agent", "DestChannel")):
                channel = e.header(key) or ""
                if channel:
                    self._sides[channel] = (uid, side)
                    self._hung[channel] = asyncio.Event()
                    self._talking_since[channel] = self.clock.now()
        elif e.name == "Hangup":
            channel = e.header("Channel") or ""
            self._sides.pop(channel, None)
            self._talking_since.pop(channel, None)
            self._spied.discard(channel)
            hung = self._hung.pop(channel, None)
            if hung is not None:
                hung.set()

    def _response(self, msg: Any, ok: bool, channel: str, reason: int, uid: str, extra: list[tuple[str, str]],
                  num: str = "") -> WireEvent:
        return WireEvent("OriginateResponse", (
            ("Privilege", "call,all"), ("ActionID", msg.action_id or ""), ("Response", "Success" if ok else "Failure"),
            ("Channel", channel), *extra, ("Reason", str(reason)), ("Uniqueid", uid),
            ("CallerIDNum", num or "<unknown>"), ("CallerIDName", "<unknown>")), self.clock.now())

    # -- ChanSpy into AudioSocket ---------------------------------------------------------------

    def _tap(self, s: Any, msg: Any) -> None:
        self.tap_requests += 1
        channel = msg.get("Channel") or ""
        data = msg.get("Data") or ""
        target, _, rest = channel.split("/", 1)[1].partition("/")
        uuid, _, options = rest.partition("/")
        host, _, port = target.rpartition(":")
        rate = _tap_rate(options)
        prefix = data.split(",", 1)[0]
        spied = next((ch for ch in self._sides if prefix and ch.startswith(prefix)), None)
        self.server._respond(s, msg, "Success", "Originate successfully queued")
        name = f"AudioSocket/{target}-{uuid}"
        extra = [("Application", "ChanSpy"), ("Data", data)]
        if spied is None or not port.isdigit() or not uuid or rate is None:
            self.tap_refused += 1
            self.server._emit([self._response(msg, False, name, 0, "", extra)])
            return
        uid, side = self._sides[spied]
        plan = self._plans.get(uid)
        pcm = b"" if plan is None else (plan.caller_audio if side == "caller" else plan.agent_audio)
        if spied in self._spied:  # tapped again: what was said before this spy joined is not heard
            pcm = pcm[int((self.clock.now() - self._talking_since[spied]) / 0.02) * FRAME:]
        self._spied.add(spied)
        tap_uid, _ = self._uid()
        self.server._emit([self._response(msg, True, name, 4, tap_uid, extra)])
        truth = self.truth.get(uid)
        if truth is not None:
            truth.tapped.append(side)
            truth.tap_rates.append(rate)
        self._spawn(self._stream_tap(host or "127.0.0.1", int(port), uuid, pcm, self._hung[spied], rate))

    async def _stream_tap(self, host: str, port: int, uuid: str, pcm: bytes, hung: asyncio.Event,
                          rate: int = 8000) -> None:
        """chan_audiosocket for a ChanSpy leg: the spied side's audio (8 kHz, as ChanSpy hears it,
        at ``rate`` on the wire), then (as a phone in silence suppression) nothing until the spied
        channel hangs up, then EOF."""
        pcm = resample_pcm(pcm, 8000, rate)
        frame = frame_bytes(rate)
        self.taps_streaming += 1
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            self.taps_streaming -= 1
            log.warning("pbxsim tap %s: cannot connect to %s:%d: %s", uuid, host, port, exc)
            return

        async def drain() -> None:  # what the server plays to a spy goes nowhere
            with contextlib.suppress(ConnectionError, OSError):
                while await reader.read(65536):
                    pass

        drainer = asyncio.ensure_future(drain())
        loop = asyncio.get_running_loop()
        try:
            writer.write(encode_uuid(uuid))
            t0, sent = loop.time(), 0
            total = (len(pcm) + frame - 1) // frame
            while sent < total and not hung.is_set() and not drainer.done():
                due = min(total, int((loop.time() - t0) / 0.02 * self.tap_pace) + 1)
                for i in range(sent, due):
                    writer.write(encode_audio(pcm[i * frame:(i + 1) * frame], rate))
                sent = due
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hung.wait(), 0.02)
            if not hung.is_set():
                waiter = asyncio.ensure_future(hung.wait())
                await asyncio.wait({waiter, drainer}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
        except (ConnectionError, OSError):
            pass
        finally:
            self.taps_streaming -= 1
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            drainer.cancel()

    # -- callbacks ------------------------------------------------------------------------------

    def _callback(self, s: Any, msg: Any, variables: dict[str, str]) -> None:
        channel = msg.get("Channel") or ""
        number = channel.split("/", 1)[-1].split("@", 1)[0]
        self.server._respond(s, msg, "Success", "Originate successfully queued")
        plan = self._by_number.get(number)
        attempt = self._cb_attempts[number] = self._cb_attempts.get(number, 0) + 1
        answers = True if plan is None else plan.callback_answers[min(attempt, len(plan.callback_answers)) - 1]
        ring = self.rng.uniform(4.0, 12.0) if answers else min(30.0, int(msg.get("Timeout") or 30000) / 1000)
        self.callbacks_ringing += 1

        def ringing_over() -> None:
            self.callbacks_ringing -= 1
            self._callback_result(msg, variables, number, plan, answers)

        delay = self.clock.real_delay(ring)
        asyncio.get_running_loop().call_later(delay or 0.0, ringing_over)

    def _callback_result(self, msg: Any, variables: dict[str, str], number: str, plan: CallerPlan | None,
                         answered: bool) -> None:
        now = self.clock.now()
        extra = [("Context", msg.get("Context") or ""), ("Exten", msg.get("Exten") or "")]
        if not answered:
            self.server._emit([self._response(msg, False, msg.get("Channel") or "", 3, "", extra)])
            return
        uid, n = self._uid()
        base = f"Local/{number}@hotline-callback-out-{n:08x}"
        if self.channels == "local":  # ;1 rings the citizen, ;2 runs the callback context and Queue()
            citizen, (queue_uid, _) = f"{base};1", self._uid()
            channel = f"{base};2"
        else:
            citizen = channel = f"{base};1"
            queue_uid = uid
        queue = variables.get("HOTLINE_QUEUE") or variables.get("QUEUE") or self.model.queue_names[0]
        try:
            prio = int(variables.get("QUEUE_PRIO") or 0)
        except ValueError:
            prio = 0
        plan = plan or CallerPlan(number=number)
        self._plans[uid] = plan
        # the answered call carries the Originate's CallerID (the engine sends the citizen's number)
        name, caller_num = parse_callerid(msg.get("CallerID") or "")
        truth = CallTruth(uid, "callback", now, plan, action="queue", callback_ref=variables.get("HOTLINE_CALLBACK", ""),
                          queued=True, agi_uniqueid=queue_uid)
        self.truth[uid] = truth
        _, events = self.model.add_caller(queue, now, caller_num=caller_num, caller_name=name, patience=None,
                                          talk_time=plan.talk_time, context="hotline-callback", uniqueid=queue_uid,
                                          channel=channel, priority=prio, linkedid=uid,
                                          first_channel=citizen if citizen != channel else "")
        response = self._response(msg, True, citizen, 4, uid, extra, caller_num)
        # the Originate made these channels: Newchannel, then the answer, then Queue() in the callback context
        as_called = replace(plan, number=caller_num, name=name)
        self.server._emit([*self._arrive(citizen, uid, channel, queue_uid, as_called, "hotline-callback"), response,
                           *events])

    # -- ground truth -----------------------------------------------------------------------------

    def summary(self, sl_seconds: float = 20.0) -> dict[str, Any]:
        """Counts of what really happened (compare the engine's store and monitor with these)."""
        records = {r.linkedid: r for r in self.model.records()}  # truth is kept by the call's id
        inbound = [t for t in self.truth.values() if t.kind == "inbound"]
        queued = [records[t.uniqueid] for t in self.truth.values() if t.uniqueid in records]
        answered = [r for r in queued if r.answered_at is not None]
        abandoned = [r for r in queued if r.outcome in ("abandoned",)]
        waits = sorted(r.wait for r in queued if r.wait is not None)
        within = sum(1 for r in answered if r.hold_time is not None and r.hold_time <= sl_seconds)
        return {
            "calls": len(inbound),
            "callback_calls": sum(1 for t in self.truth.values() if t.kind == "callback"),
            "queued": len(queued),
            "answered": len(answered),
            "abandoned": len(abandoned),
            "callbacks": sum(1 for t in inbound if t.callback_ref),
            "abandoned_in_ivr": sum(1 for t in inbound if t.ivr_outcome == "abandoned_in_ivr"),
            "intakes": sum(1 for t in inbound if t.intake),
            "tapped_calls": sum(1 for t in self.truth.values() if t.tapped),
            "answered_within_sl": within,
            "waits": waits,
        }
