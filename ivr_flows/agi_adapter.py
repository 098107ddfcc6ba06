"""Carry out the runner's commands on a FastAGI channel and feed the results back.

This is the only place where a flow meets the wire: ``run_flow(channel, flow, services)`` is the
``async def handler(channel)`` a FastAGI route runs. Each command becomes AGI commands
(``STREAM FILE``, ``GET DATA``, ``WAIT FOR DIGIT``, ``SET VARIABLE``, ``EXEC``);
each answer becomes the runner's next event, stamped with ``services.clock()``. A caller hang-up
(``AgiHangup``) at any moment becomes a ``HungUp`` event, so the record says where it happened.
Numbers (positions, waits, a number read back) are ``STREAM FILE`` of the shipped number prompts
(``ivr_flows.numbers``): stock Asterisk has no Mandarin digit sounds for ``SAY NUMBER``.

Speech steps (``intake``, and ``record`` when an AudioSocket server is configured) hand the
caller's audio to the engine mid-flow: ``EXEC AudioSocket "<uuid>,host:port"`` makes Asterisk
connect to the AudioSocket server; the session's audio goes through the speech pipeline
(``asr.SpeechPipeline``) whose endpointer ends the caller's turn after the node's
``silence_ms``; the adapter then sends the AudioSocket hangup, the ``EXEC`` returns and the flow
goes on with the transcript. A ``record`` step also writes the audio to a WAV file.

The queue node does not run Queue() itself: it sets ``HOTLINE_ACTION=queue``,
``HOTLINE_QUEUE``, ``HOTLINE_PRIORITY`` (and ``QUEUE_PRIO``, which app_queue reads) and
returns, so the dialplan after ``AGI()`` runs ``Queue()`` (see docs/flows.md): the caller's
time in Queue() is then entirely Asterisk's, with its own announcements, timeouts and CDRs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuid_mod
import wave
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.asterisk.agi_codec import Quoted
from engine.asterisk.errors import AgiCommandError, AgiHangup
from ivr_flows import protocol as p
from ivr_flows.numbers import part_prompts
from ivr_flows.record import RunRecord
from ivr_flows.runner import CallInfo, RunState, record, start, step
from ivr_flows.schema import Flow
from ivr_flows.speech import match_phrase

log = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"


@dataclass
class FlowServices:
    """What a flow needs beyond the channel; everything is optional except the clock."""

    queue_info: Any = None  # ivr_flows.callback.LiveQueueInfo (query / book / left_queue_node)
    audiosocket: Any = None  # engine.asterisk.audiosocket_server.AudioSocketServer
    audiosocket_target: str = ""  # host:port Asterisk dials for EXEC AudioSocket
    pipeline: Any = None  # asr.pipeline.SpeechPipeline
    recordings_dir: str = "var/audio"  # where record steps write WAV files (with AudioSocket)
    clock: Callable[[], float] = time.time
    answer: bool = True  # send ANSWER first (harmless when the dialplan answered already)
    speech_menus: bool = False  # menus with phrases listen over AudioSocket (keys arrive there too)
    connect_timeout: float = 3.0  # for Asterisk to connect the AudioSocket after EXEC
    on_call: Callable[[CallInfo], None] | None = None  # who is calling, once known (the call core)
    on_record: Callable[[RunRecord], None] | None = None  # store / bus
    on_speech: Callable[[Any], None] | None = None  # transcript events of speech steps
    stats: dict[str, int] = field(default_factory=lambda: {"runs": 0, "hangups": 0, "command_errors": 0})


async def run_flow(channel: Any, flow: Flow, services: FlowServices | None = None) -> RunRecord:
    """Run ``flow`` on ``channel`` (an ``AgiChannel``) to its end; returns and reports the record."""
    services = services or FlowServices()
    services.stats["runs"] += 1
    runner = _Runner(channel, flow, services)
    rec = await runner.run()
    if services.on_record is not None:
        services.on_record(rec)
    return rec


class _Runner:
    def __init__(self, channel: Any, flow: Flow, services: FlowServices) -> None:
        self.ch = channel
        self.flow = flow
        self.sv = services
        self.say_number_ok = True
        self.language = flow.default_language  # the run's language, for spoken numbers
        self.call: CallInfo | None = None
        self.gone = False  # the channel was hung up (by the caller or by the flow)
        self.announced = False  # asked for a queue position: queue_info counts the caller in line

    async def run(self) -> RunRecord:
        req = self.ch.request
        state: RunState | None = None
        try:
            linkedid = ""
            with contextlib.suppress(AgiCommandError):
                linkedid = await self.ch.get_variable("CHANNEL(linkedid)") or ""
            self.call = CallInfo(uniqueid=req.uniqueid, linkedid=linkedid or req.uniqueid, channel=req.channel,
                                 caller=req.callerid if req.callerid.isdigit() else "", language=req.language)
            if self.sv.on_call is not None:
                self.sv.on_call(self.call)
            if self.sv.answer:
                await self.ch.answer()
            state, cmds = start(self.flow, self.call, self.sv.clock())
            while True:
                event = await self.execute(state, cmds)
                if event is None:
                    break
                state, cmds = step(state, event, self.sv.clock())
        except AgiHangup:
            self.sv.stats["hangups"] += 1
            self.gone = True
            if state is None:
                state, _ = start(self.flow, self.call or CallInfo(uniqueid=req.uniqueid), self.sv.clock())
            state, _ = step(state, p.HungUp(), self.sv.clock())
        if self.announced:  # before the session closes and the dialplan runs Queue()
            self.sv.queue_info.left_queue_node(req.uniqueid, self.sv.clock(), queued=state.outcome == "queued")
        return replace(record(state, self.sv.clock()), hung_up=self.gone)

    # -- one batch of commands -> the event that answers its last command (None: the run ended)

    async def execute(self, state: RunState, cmds: list[p.Command]) -> p.Event | None:
        event: p.Event | None = None
        self.language = state.language  # already the language any SetLanguage in cmds sets
        for cmd in cmds:
            if isinstance(cmd, p.SetVar):
                await self._quietly(self.ch.set_variable(cmd.name, _clean(cmd.value)), state)
            elif isinstance(cmd, p.SetLanguage):
                await self._quietly(self.ch.set_variable("CHANNEL(language)", cmd.language), state)
            elif isinstance(cmd, p.EnterQueue):
                await self._set_many({"HOTLINE_ACTION": "queue", "QUEUE_PRIO": str(cmd.priority),
                                      "HOTLINE_QUEUE_TIMEOUT": str(cmd.timeout or ""),
                                      "HOTLINE_OUTCOME": "queued"})
            elif isinstance(cmd, p.Transfer):
                await self._set_many({"HOTLINE_ACTION": "transfer", "HOTLINE_TRANSFER": cmd.destination,
                                      "HOTLINE_OUTCOME": "transferred"})
            elif isinstance(cmd, p.Hangup):
                await self._set_many({"HOTLINE_ACTION": "hangup", "HOTLINE_OUTCOME": state.outcome})
                await self.ch.hangup()
                self.gone = True
            else:
                try:
                    event = await self._awaited(state, cmd)
                except AgiCommandError as exc:
                    self.sv.stats["command_errors"] += 1
                    log.warning("flow %s node %s: %s", self.flow.name, state.node, exc)
                    event = p.CommandFailed(str(exc))
        return None if state.done else event

    async def _set_many(self, values: dict[str, str]) -> None:
        for k, v in values.items():
            await self.ch.set_variable(k, _clean(v))

    async def _quietly(self, command: Any, state: RunState) -> None:
        """A command whose failure must not stop the call (a variable Asterisk refused)."""
        try:
            await command
        except AgiCommandError as exc:
            self.sv.stats["command_errors"] += 1
            log.warning("flow %s node %s: %s", self.flow.name, state.node, exc)

    async def _awaited(self, state: RunState, cmd: p.Command) -> p.Event:
        if isinstance(cmd, p.Play):
            digit = await self.play(cmd.parts, ALL_KEYS if cmd.barge_in else "")
            return p.PlaybackDone(digit or "")
        if isinstance(cmd, p.GetDigits):
            if cmd.phrases and self.sv.speech_menus and self.sv.pipeline is not None:
                event = await self.speech_menu(state, cmd)
                if event is not None:
                    return event
            return await self.get_digits(cmd)
        if isinstance(cmd, p.StartIntake):
            await self.play(cmd.parts, "")
            turn = await self.listen(state, max_seconds=cmd.max_seconds, silence_ms=cmd.silence_ms)
            return p.TranscriptReady(" ".join(turn.texts), turn.id)
        if isinstance(cmd, p.RecordMessage):
            return await self.record_message(state, cmd)
        if isinstance(cmd, p.QueryQueue):
            if self.sv.queue_info is None:
                return p.QueueInfo(position=0, wait=None)
            self.announced = True
            call = self.call or CallInfo()
            return self.sv.queue_info.query(cmd.queue, cmd.priority, self.sv.clock(), uniqueid=call.uniqueid,
                                            linkedid=call.linkedid)
        if isinstance(cmd, p.BookCallback):
            if self.sv.queue_info is None:
                return p.CommandFailed("no callback manager configured")
            call = self.call or CallInfo()
            return p.CallbackBooked(self.sv.queue_info.book(cmd.queue, cmd.number, cmd.priority, self.sv.clock(),
                                                             call.linkedid, call.uniqueid))
        raise AgiCommandError(f"adapter cannot run {type(cmd).__name__}")

    # -- audio out -----------------------------------------------------------------------------

    async def play(self, parts: tuple[p.Part, ...], escape: str) -> str | None:
        """Play parts in order; the first key in ``escape`` stops it and is returned."""
        for part in parts:
            digit = await self.say(part, escape)
            if digit:
                return digit
        return None

    async def say(self, part: p.Part, escape: str) -> str | None:
        """One part; spoken numbers are never interrupted (a read-back must be heard whole)."""
        if isinstance(part, p.Prompt):
            digit, _ = await self.ch.stream_file(part.name, escape)
            return digit
        names = _number_prompts(part, self.language)
        if names is not None:
            for name in names:
                await self.ch.stream_file(name, "")
            return None
        # a language without number prompts: Asterisk's own SAY NUMBER / SAY DIGITS
        if isinstance(part, p.Digits):
            await self.ch.say_digits(part.value, "")
            return None
        if self.say_number_ok:
            try:
                await self.ch.command("SAY NUMBER", part.value, Quoted(""))
                return None
            except AgiCommandError:
                self.say_number_ok = False  # an Asterisk (or stand-in) without SAY NUMBER
        await self.ch.say_digits(str(part.value), "")
        return None

    # -- keys in -------------------------------------------------------------------------------

    async def get_digits(self, cmd: p.GetDigits) -> p.Event:
        *lead, last = cmd.parts
        first = await self.play(tuple(lead), ALL_KEYS) if lead else None
        if first is None and isinstance(last, p.Prompt) and cmd.terminator == "#":
            got = await self.ch.get_data(last.name, cmd.timeout, cmd.max_digits)
            if not got.digits:
                return p.Timeout()
            return p.DigitsReceived(got.digits)
        if first is None:
            first = await self.say(last, ALL_KEYS)
        digits = first or ""
        while len(digits) < cmd.max_digits and not digits.endswith(cmd.terminator):
            digit = await self.ch.wait_for_digit(cmd.timeout)
            if not digit:
                break
            digits += digit
        digits = digits.removesuffix(cmd.terminator) if cmd.terminator else digits
        return p.DigitsReceived(digits) if digits else p.Timeout()

    # -- audio in (AudioSocket + speech pipeline) ----------------------------------------------

    async def listen(self, state: RunState, *, max_seconds: float, silence_ms: int, keep_audio: bool = False,
                     grammar: tuple[str, ...] | None = None, prompt_pcm: bytes = b"") -> _Turn:
        """EXEC AudioSocket for one caller turn: what they said (or pressed), the audio if kept.

        The turn ends at the first final transcript (the endpointer's ``silence_ms`` after
        speech), at a key press (kind 0x03), after ``max_seconds`` of call audio, or when the
        caller leaves. ``prompt_pcm`` is played over the same socket first (speech menus);
        speech or a key during it stops it (barge-in).
        """
        if self.sv.audiosocket is None or self.sv.pipeline is None:
            raise AgiCommandError("speech step needs an AudioSocket server and a speech pipeline")
        target = self.sv.audiosocket_target or f"127.0.0.1:{self.sv.audiosocket.port}"
        turn = _Turn(str(uuid_mod.uuid4()))
        listener = asyncio.ensure_future(self._turn(turn, max_seconds, silence_ms, keep_audio, grammar, prompt_pcm))
        try:
            await self.ch.audiosocket(turn.id, target)
        except BaseException:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
            raise
        try:  # the caller's side has ended; what is left is decoding the audio already received
            await asyncio.wait_for(listener, self.sv.connect_timeout + max_seconds + 10.0)
        except TimeoutError:
            raise AgiCommandError("AudioSocket session gave no result") from None
        return turn

    async def _turn(self, turn: _Turn, max_seconds: float, silence_ms: int, keep_audio: bool,
                    grammar: tuple[str, ...] | None, prompt_pcm: bytes) -> None:
        from engine.events.speech import BargeIn, FinalTranscript

        try:
            session = await self.sv.audiosocket.wait_session(turn.id, self.sv.connect_timeout)
        except TimeoutError:
            raise AgiCommandError("Asterisk did not connect to the AudioSocket server") from None
        from asr.pump import FramePump

        pipeline = self.sv.pipeline
        settings = replace(pipeline.settings, trailing_silence=silence_ms / 1000,
                           grammar=tuple(grammar) if grammar else None)
        done = asyncio.Event()

        def on_event(event: Any) -> None:
            if self.sv.on_speech is not None:
                self.sv.on_speech(event)
            if isinstance(event, BargeIn):
                session.clear_playback()
                leg.set_prompt_playing(False, pump.now)
            if isinstance(event, FinalTranscript) and event.text.strip():
                turn.texts.append(event.text.strip())
                done.set()

        # the turn is known by the call's id (the Linkedid), not the AGI channel's Uniqueid
        call_id = (self.call.linkedid or self.call.uniqueid) if self.call else turn.id
        leg = pipeline.open_leg(call_id, "caller", 8000, on_event=on_event, settings=settings)
        pump = FramePump(leg, clock=self.sv.clock, max_seconds=max_seconds,
                         on_pcm=turn.audio.extend if keep_audio else None)
        if prompt_pcm:
            session.play(prompt_pcm)
            leg.set_prompt_playing(True, 0.0)

        async def keys() -> None:
            got = await session.next_dtmf(None)
            if got is not None:
                session.clear_playback()
                turn.digits = got.digit
                done.set()

        tasks = [asyncio.ensure_future(t) for t in (pump.run(session.audio()), done.wait(), keys())]
        try:
            await asyncio.wait(tasks, timeout=max_seconds + 2.0, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await session.hangup()  # ends EXEC AudioSocket: the flow goes on
            await pump.close()  # finishes an utterance still open

    def prompt_audio(self, parts: tuple[p.Part, ...], language: str) -> tuple[bytes, float] | None:
        """8 kHz PCM of prompt parts from the flow's prompt folder; None when one is missing."""
        from ivr_flows.loader import prompt_path

        names: list[str] = []
        for part in parts:
            spoken = (part.name,) if isinstance(part, p.Prompt) else _number_prompts(part, language)
            if spoken is None:
                return None
            names.extend(spoken)
        pcm = bytearray()
        for name in names:
            path = prompt_path(self.flow.prompt_root, language, name)
            if path is None or path.suffix.lower() != ".wav":
                return None
            try:
                with wave.open(str(path)) as w:
                    if w.getframerate() != 8000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
                        return None
                    pcm.extend(w.readframes(w.getnframes()))
            except (wave.Error, OSError, EOFError):
                return None
        return bytes(pcm), len(pcm) / 16000

    async def speech_menu(self, state: RunState, cmd: p.GetDigits) -> p.Event | None:
        """A menu that takes a key or a phrase, over AudioSocket; None: not possible here."""
        audio = self.prompt_audio(cmd.parts, state.language)  # the state has the step's SetLanguage
        if audio is None:
            return None
        pcm, seconds = audio
        phrases = tuple(ph for _, options in cmd.phrases for ph in options)
        turn = await self.listen(state, max_seconds=seconds + cmd.timeout, silence_ms=600, grammar=phrases,
                                 prompt_pcm=pcm)
        if turn.digits:
            return p.DigitsReceived(turn.digits)
        text = " ".join(turn.texts)
        if not text:
            return p.Timeout()
        return p.SpeechRecognized(text, _choice_for(text, cmd.phrases))

    async def record_message(self, state: RunState, cmd: p.RecordMessage) -> p.Event:
        await self.play(cmd.parts, "")
        if cmd.beep:
            await self.ch.stream_file("beep", "")
        uid = (self.call.uniqueid if self.call else "call").replace("/", "_")
        if self.sv.audiosocket is not None and self.sv.pipeline is not None:
            turn = await self.listen(state, max_seconds=cmd.max_seconds,
                                     silence_ms=int(cmd.silence_seconds * 1000), keep_audio=True)
            text, audio = " ".join(turn.texts), bytes(turn.audio)
            path = Path(self.sv.recordings_dir) / cmd.folder / f"{uid}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(audio)
            if text:
                await self.ch.set_variable("HOTLINE_MESSAGE_TEXT", _clean(text[:200]))
            return p.RecordingDone(str(path), len(audio) / 16000)
        # no AudioSocket: Asterisk records the file itself (Record(): silence, max, k = keep on hangup)
        name = f"{cmd.folder}/{uid}"
        await self.ch.exec("Record", f"{name}.wav,{int(cmd.silence_seconds)},{int(cmd.max_seconds)},k")
        return p.RecordingDone(f"{name}.wav", 0.0)


@dataclass
class _Turn:
    """What one AudioSocket turn gave: final texts, a key pressed, the audio when kept."""

    id: str
    texts: list[str] = field(default_factory=list)
    digits: str = ""
    audio: bytearray = field(default_factory=bytearray)


def _choice_for(text: str, phrases: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The choice key for a recognized text: whole phrases first, then most words in common."""
    key = match_phrase(text, phrases)
    if key:
        return key
    from asr.stream import match_phrase as match_words

    best = match_words(text, [ph for _, options in phrases for ph in options])
    return next((k for k, options in phrases if best in options), "") if best else ""


def _number_prompts(part: p.Number | p.Digits, language: str) -> tuple[str, ...] | None:
    """The number prompts for a part; None when the language has none (or the value cannot be read)."""
    try:
        return part_prompts(part, language)
    except ValueError as exc:
        log.warning("number not spoken from prompts: %s", type(exc).__name__)
        return None


def _clean(value: str) -> str:
    """A channel variable value on one line (AGI arguments may not hold line breaks)."""
    return " ".join(str(value).replace("\0", " ").split())
