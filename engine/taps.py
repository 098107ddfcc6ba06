"""Live taps: both sides of an answered call, spied by Asterisk into the engine's AudioSocket server.

On ``AgentConnect`` the engine originates one ChanSpy leg per side into its own AudioSocket
server (``Channel: AudioSocket/<host:port>/<uuid>``, plus ``/c(<codec>)`` when ``[tap] codec`` is
set, ``Application: ChanSpy``, ``Data: <spied channel>,<spy options>``, as ``ami_spy.txt``
recorded). Each leg's UUID is linked to the call in the call core, and its audio goes through the
frame pump to a speech leg on the call's clock (the tap's first sample is the call time of the
answer). How many legs at once is bounded (``[tap] max_legs``, and no new taps while decoding
lags more than ``[tap] max_backlog``) because decoding is what costs CPU; ``[tap] sample`` taps a
share of calls. With ``[tap] record`` each leg is also written as a WAV file
(``engine.recording``), in step with its transcript.

With ``[tap] decode = "workers"`` each leg is originated to an ASR worker instead (the least busy
one alive, :class:`engine.workers.WorkerTable`), whose speech events come back over MQTT
(:meth:`Taps.on_worker_message`) and are put on the call's clock here. A worker that dies (its
last will) or goes quiet takes its open legs with it: they are counted lost (with the utterance
in progress, if any) and tapped again on another worker while the call lasts; with no worker
alive a leg is decoded here. Legs decoded on a worker are not recorded by the engine.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid as uuid_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.config import Config
from engine.events import ami as ev

log = logging.getLogger(__name__)

TAP_CHANNEL_PREFIX = "AudioSocket/"  # channels of our own taps: not calls
TAP_CONNECT_TIMEOUT = 10.0  # seconds for Asterisk to connect a tap after the Originate


@dataclass
class _Tap:
    """One ChanSpy leg into AudioSocket: which call, which side, where on the call's clock it starts."""

    uuid: str
    call_id: str
    side: str  # caller | agent
    spied: str = field(repr=False)  # the spied channel (names can carry numbers: not logged)
    offset: float  # call time (s) of the tap's first sample
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    worker: str = ""  # the ASR worker decoding it; "" = this process
    target: str = ""  # where Asterisk connects it (the worker's host:port); "" = our own server
    # on a worker: utterances begun whose final has not come (None while still spoken, else its end)
    pending: list[float | None] = field(default_factory=list)
    moved: bool = False  # its worker is stopping: tapped again elsewhere, this leg still sends its finals
    finals: int = 0  # finals received from its worker (the worker says at the end how many it sent)
    session: Any = field(default=None, repr=False)
    runner: asyncio.Task[Any] | None = field(default=None, repr=False)


def check_tap_config(cfg: Config) -> None:
    """``[tap]`` values that would silently tap nothing (or everything) are refused at start."""
    from engine.errors import ConfigError

    t = cfg.tap
    unknown = [leg for leg in t.legs if leg not in ("caller", "agent")]
    if unknown:
        raise ConfigError(f"[tap] legs: {', '.join(map(repr, unknown))} unknown (use \"caller\" and/or \"agent\")")
    if not 0.0 <= t.sample <= 1.0:
        raise ConfigError(f"[tap] sample must be between 0 and 1, got {t.sample:g}")
    if t.max_legs < 0 or t.max_backlog < 0:
        raise ConfigError("[tap] max_legs and max_backlog must be >= 0 (0 = no limit)")
    if not t.spy_options or "," in t.spy_options:
        raise ConfigError(f"[tap] spy_options: ChanSpy options without commas, got {t.spy_options!r}")
    from engine.asterisk.audiosocket_codec import CODEC_RATES

    if t.codec and t.codec not in CODEC_RATES:  # Asterisk would send any other codec labelled as slin
        raise ConfigError(f"[tap] codec: {t.codec!r} is not a signed linear codec (use one of "
                          f"{', '.join(CODEC_RATES)}, or leave it empty for slin at 8 kHz)")
    if t.decode == "workers" and not cfg.mqtt.host:
        raise ConfigError('[tap] decode = "workers" needs [mqtt] host: ASR workers send their transcripts over MQTT')
    if t.decode == "workers":
        from engine.workers import check_timing

        check_timing(cfg.worker)


def _note_utterance(tap: _Tap, event: Any) -> None:
    """Keep ``tap.pending``: what a worker's death would lose. A final comes after its utterance
    ended and after every earlier one's (a leg decodes in order), so it settles them all, also
    those that had no words (and so no final of their own)."""
    from engine.events.speech import FinalTranscript, SpeechEnded, SpeechStarted

    if isinstance(event, SpeechStarted):
        tap.pending.append(None)
    elif isinstance(event, SpeechEnded) and None in tap.pending:
        tap.pending[tap.pending.index(None)] = event.end
    elif isinstance(event, FinalTranscript):
        tap.pending = [end for end in tap.pending if end is None or end > event.end + 1e-3]


class Taps:
    """The engine's taps. ``on_agent_connect(event, now)`` starts them; ``on_session(session)``
    runs one when Asterisk connects (False: not a tap, an IVR step's session); ``stop()`` ends them
    as if the spied channels hung up, so every open utterance is decoded and stored.

    ``stats`` is the engine's ``EngineStats`` (tap counters); ``spawn`` starts a task the engine
    owns; ``on_speech`` takes the legs' speech events; ``clock`` is the engine's clock;
    ``workers``: the :class:`engine.workers.WorkerTable` when legs are decoded on ASR workers.
    """

    def __init__(self, cfg: Config, *, ami: Any, audiosocket: Any, pipeline: Any, calls: Any, feed: Any,
                 stats: Any, spawn: Callable[[Any, str], Any], on_speech: Callable[[Any], None],
                 clock: Callable[[], float], rng: random.Random, recorder: Any = None,
                 workers: Any = None) -> None:
        self.cfg = cfg.tap
        self.ami = ami
        self.audiosocket = audiosocket
        self.pipeline = pipeline
        self.calls = calls
        self.feed = feed
        self.stats = stats
        self._spawn = spawn
        self._on_speech = on_speech
        self.clock = clock
        self._rng = rng
        self.recorder = recorder  # engine.recording.Recorder: each tapped leg also as a WAV file
        self.workers = workers
        self._taps: dict[str, _Tap] = {}

    @property
    def active(self) -> int:
        """Legs started and not yet ended."""
        return len(self._taps)

    def on_agent_connect(self, e: ev.AgentConnect, now: float) -> None:
        t = self.cfg
        if not t.enabled:
            return
        if t.sample < 1.0 and self._rng.random() >= t.sample:
            self.stats.taps_sampled_out += 1
            return
        sides = [(side, ch) for side, ch in (("caller", e.channel), ("agent", e.dest_channel))
                 if side in t.legs and ch]
        if not sides:
            return
        backlog = self._backlog()
        if t.max_backlog and backlog > t.max_backlog:
            self.stats.taps_skipped_lag += 1
            log.info("call %s not tapped: decoding is %.1f s behind (max_backlog %.1f)", e.linkedid or e.uniqueid,
                     backlog, t.max_backlog)
            return
        tapped = sum(1 for tap in self._taps.values() if not tap.moved)  # a moved leg's successor counts
        if t.max_legs and tapped + len(sides) > t.max_legs:
            self.stats.taps_skipped_busy += 1
            log.info("call %s not tapped: %d legs already tapped (max_legs %d)", e.linkedid or e.uniqueid,
                     tapped, t.max_legs)
            return
        call = self.calls.resolve(e.linkedid or e.uniqueid)
        offset = self.calls.call_time(call, now)
        self.stats.taps_started += 1
        for side, channel in sides:
            self._start(_Tap(str(uuid_mod.uuid4()), call, side, channel, offset), now)

    def _pick(self) -> Any:
        """The ASR worker the next leg goes to (None: decode here)."""
        return self.workers.pick(time.monotonic()) if self.workers is not None else None

    def _backlog(self) -> float:
        """Decoding backlog where the next leg would go: the least busy worker's, else ours."""
        worker = self._pick()
        return worker.beat.backlog if worker is not None else self.pipeline.backlog()

    def _start(self, tap: _Tap, now: float) -> None:
        worker = self._pick()
        if worker is not None:
            tap.worker, tap.target = worker.beat.name, worker.beat.target
            self.workers.assign(tap.worker)
            self.stats.taps_remote += 1
        elif self.workers is not None:
            self.stats.taps_local_fallback += 1
            log.warning("call %s (%s) decoded here: no ASR worker alive", tap.call_id, tap.side)
        self._taps[tap.uuid] = tap
        self.stats.tap_legs += 1
        self.feed.link(tap.call_id, tap.uuid, "audiosocket", now)
        self._spawn(self._originate_tap(tap), "tap")

    async def _originate_tap(self, tap: _Tap) -> None:
        from engine.asterisk.errors import AsteriskError

        target = tap.target or self.audiosocket.target
        codec = f"/c({self.cfg.codec})" if self.cfg.codec else ""  # chan_audiosocket's codec option
        try:
            await self.ami.originate(f"AudioSocket/{target}/{tap.uuid}{codec}", application="ChanSpy",
                                     data=f"{tap.spied},{self.cfg.spy_options}")
        except (AsteriskError, TimeoutError) as exc:
            self.stats.taps_failed += 1
            self._taps.pop(tap.uuid, None)
            log.warning("tap of call %s (%s) not started: %s", tap.call_id, tap.side, type(exc).__name__)
            return
        try:
            await asyncio.wait_for(tap.connected.wait(), TAP_CONNECT_TIMEOUT)
        except TimeoutError:
            if tap.uuid in self._taps and tap.session is None:
                self.stats.taps_failed += 1
                self._taps.pop(tap.uuid, None)
                log.warning("tap of call %s (%s): Asterisk did not connect within %.0f s", tap.call_id, tap.side,
                            TAP_CONNECT_TIMEOUT)

    async def on_session(self, session: Any) -> bool:
        tap = self._taps.get(session.uuid)
        if tap is None:
            return False  # an IVR speech step: its flow takes the session with wait_session()
        tap.session = session
        tap.runner = asyncio.current_task()
        tap.connected.set()
        try:
            await self._run_tap(tap, session)
        finally:
            self._taps.pop(tap.uuid, None)
        return True

    async def _run_tap(self, tap: _Tap, session: Any) -> None:
        """Frames to a speech leg on the call's clock, until the spied channel hangs up (EOF)."""
        from asr.pump import FramePump

        def open_leg(rate: int) -> Any:
            return self.pipeline.open_leg(tap.call_id, tap.side, rate, on_event=self._on_speech,
                                          partials=self.cfg.partials)

        recording = self.recorder.leg(tap.call_id, tap.side, tap.offset) if self.recorder is not None else None
        pump = FramePump(open_leg=open_leg, offset=tap.offset, clock=self.clock,
                         on_pcm=None if recording is None else lambda pcm: recording.write(pcm, pump.leg.rate, pump.now))
        try:
            await pump.run(session.audio())
        finally:
            await pump.close()  # the open utterance's final is decoded and stored
            if recording is not None:
                recording.close()

    # -- legs decoded on ASR workers ---------------------------------------------------------------

    def on_worker_message(self, topic: str, payload: bytes) -> None:
        """A message from the workers' topics: heartbeats keep the table, session messages of our
        legs become speech events on the call's clock (other engines' legs are not ours)."""
        from engine.workers import (
            WORKER_STOPPING,
            Heartbeat,
            RemoteSpeech,
            SessionClosed,
            SessionOpened,
            parse_message,
            speech_event,
        )

        if self.workers is None:
            return
        msg = parse_message(topic, payload)
        if isinstance(msg, Heartbeat):
            self._workers_left(self.workers.heard(msg, time.monotonic()), "said it is gone")
            if msg.state == "stopping":
                self._move_from(msg.name)
            return
        tap = self._taps.get(msg.session)
        if tap is None or tap.worker != msg.worker:
            return
        if isinstance(msg, SessionOpened):
            tap.connected.set()
        elif isinstance(msg, RemoteSpeech):
            event = speech_event(msg.fields, tap.call_id, tap.side, tap.offset)
            tap.finals += msg.fields.get("event") == "final"
            _note_utterance(tap, event)
            self._on_speech(event)
        elif isinstance(msg, SessionClosed):
            self._taps.pop(tap.uuid, None)
            if msg.finals > tap.finals:  # sent while we were not listening (a broker outage)
                self.stats.finals_missed += msg.finals - tap.finals
                log.warning("tap of call %s (%s): %d finals from ASR worker %s never arrived", tap.call_id,
                            tap.side, msg.finals - tap.finals, tap.worker)
            if msg.reason == WORKER_STOPPING and not tap.moved:  # its "stopping" did not reach us
                self._tap_again(tap)

    def tick(self) -> None:
        """Workers quiet for ``[worker] timeout`` are gone; legs whose call the call core forgot
        without their session's end ever coming (lost on the bus) are dropped. Called by the engine's ticker."""
        if self.workers is None:
            return
        self._workers_left(self.workers.expire(time.monotonic()), "went quiet")
        for tap in [t for t in self._taps.values() if t.worker and self.calls.started_at(t.call_id) is None]:
            self._taps.pop(tap.uuid, None)
            self.stats.taps_lost += 1
            log.warning("tap of call %s (%s) on ASR worker %s: its end never came; dropped", tap.call_id, tap.side,
                        tap.worker)

    def _workers_left(self, names: list[str], why: str) -> None:
        """Their open legs are lost (with the utterance in progress, counted); the calls still
        going on are tapped again elsewhere."""
        for name in names:
            lost = [t for t in self._taps.values() if t.worker == name]
            log.warning("ASR worker %s %s: %d tapped legs lost", name, why, len(lost))
            for tap in lost:
                self._taps.pop(tap.uuid, None)
                self.stats.taps_lost += 1
                self.stats.utterances_lost += len(tap.pending)
                if not tap.moved:
                    self._tap_again(tap)

    def _move_from(self, name: str) -> None:
        """A worker is stopping: its legs are tapped again elsewhere now, while it finishes the
        utterances it heard (it lets go of the calls a second later)."""
        for tap in [t for t in self._taps.values() if t.worker == name and not t.moved]:
            tap.moved = True
            self._tap_again(tap)

    def _tap_again(self, tap: _Tap) -> None:
        """The same side of the same call, from now on, on another worker (or here)."""
        if not self.calls.is_live(tap.call_id):
            return
        now = self.clock()
        self.stats.taps_moved += 1
        self._start(_Tap(str(uuid_mod.uuid4()), tap.call_id, tap.side, tap.spied,
                         self.calls.call_time(tap.call_id, now)), now)

    async def stop(self, timeout: float = 30.0) -> None:
        """Every tap ends as if its spied channel hung up: each closes its leg, whose open
        utterance is decoded and stored (before the AudioSocket server's stop would cancel them).
        Legs on ASR workers go on there until their calls end; what they hear after this is not stored."""
        remote = sum(1 for t in self._taps.values() if t.worker)
        if remote:
            log.warning("engine stop: %d tapped legs on ASR workers are left to them (not stored from now on)", remote)
        runners = [t.runner for t in self._taps.values() if t.runner is not None and not t.runner.done()]
        for tap in list(self._taps.values()):
            if tap.session is not None:
                await tap.session.hangup()
        if runners:
            _, late = await asyncio.wait(runners, timeout=timeout)
            if late:
                log.error("engine stop: %d taps did not finish their transcripts within %.0f s", len(late), timeout)
