"""The composition root: one process that runs the hotline next to Asterisk (``hotline serve``).

It wires the parts the other packages provide and owns nothing but the wiring:

- AMI client (``engine.asterisk.ami_client``): every event goes to the queue monitor and the
  call-takers' board (``queueing.monitor``), the MQTT bus (off unless configured), the store
  (``engine.store.feed.StoreFeed``, which also feeds the live page) and the callback manager;
- FastAGI server running the configured flows (``ivr_flows``); a flow's speech steps reach the
  engine's AudioSocket server over ``EXEC AudioSocket`` and the speech pipeline (``asr``);
- the call core (``engine.calls.CallTracker``): which call every id belongs to, its call time 0
  and its end; the store feed runs AMI events and IVR records through it, the engine FastAGI
  sessions and tap UUIDs, and everything else asks it;
- live taps (``engine.taps``): on ``AgentConnect`` one ChanSpy leg per side into the engine's
  AudioSocket server, transcribed on the call's clock and recorded (``engine.recording``), or,
  with ``[tap] decode = "workers"``, into an ASR worker's (``engine.workers``: heartbeats and
  transcripts come back over MQTT through a ``engine.bus.listener.BusListener``);
- callbacks: the callback manager says when a booked caller would have reached an agent; the
  engine originates the call back and reports the outcome to it;
- the supervisor page (``engine.web``) with ``/healthz`` reporting each component and the live
  wallboard over the queue monitor (``queueing.wallboard``).

Time: ``clock`` is passed in (``time.time`` for a real PBX; the simulator's scaled clock in the
demo), and every timestamp the engine produces (AMI ``received``, IVR records, store events)
comes from it. Speech segment times are seconds from the call's start, as the store wants them.

Shutdown (``stop``): FastAGI sessions end (flows see the hang-up and leave their record), taps
and speech legs are closed so their last finals are decoded and stored, then AMI, the bus, the
web page and the store (which finishes its pending writes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.bus.bridge import publish_event
from engine.calls import CallTracker
from engine.config import Config
from engine.events import ami as ev
from engine.events.speech import FinalTranscript, Word
from engine.taps import TAP_CHANNEL_PREFIX, Taps, check_tap_config

log = logging.getLogger(__name__)

def _shift(event: Any, offset: float) -> Any:
    """A speech event moved ``offset`` seconds later on the time line (intake turns start at 0)."""
    if not offset:
        return event
    changes: dict[str, Any] = {}
    for name in ("start", "end", "at"):
        if hasattr(event, name):
            changes[name] = getattr(event, name) + offset
    if isinstance(event, FinalTranscript):
        changes["words"] = tuple(Word(w.word, w.start + offset, w.end + offset, w.conf) for w in event.words)
    return dataclasses.replace(event, **changes) if changes else event


class _IntakePipeline:
    """The speech pipeline as the IVR adapter sees it. It notes when each intake leg opens, so
    that the leg's events (whose times start at the turn) can be put on the call's clock."""

    def __init__(self, pipeline: Any, on_open: Callable[[str, str], None], partials: bool = True) -> None:
        self._pipeline = pipeline
        self._on_open = on_open
        self._partials = partials

    @property
    def settings(self) -> Any:
        s = self._pipeline.settings
        return s if self._partials else dataclasses.replace(s, partial_interval=0.0)

    def open_leg(self, call_id: str, leg: str, rate: int = 8000, **kwargs: Any) -> Any:
        self._on_open(call_id, leg)
        return self._pipeline.open_leg(call_id, leg, rate, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)


@dataclass
class EngineStats:
    ivr_runs: int = 0
    ivr_outcomes: dict[str, int] = field(default_factory=dict)
    taps_started: int = 0  # calls tapped (one or two legs each)
    tap_legs: int = 0
    taps_skipped_busy: int = 0  # answered calls not tapped: max_legs reached
    taps_sampled_out: int = 0  # answered calls not tapped: outside [tap] sample
    taps_skipped_lag: int = 0  # answered calls not tapped: decoding was behind ([tap] max_backlog)
    taps_failed: int = 0  # Originate refused or Asterisk never connected
    taps_remote: int = 0  # legs sent to ASR workers ([tap] decode = "workers")
    taps_local_fallback: int = 0  # legs decoded here because no ASR worker was alive
    taps_lost: int = 0  # legs cut short by their worker's death (or whose end never came over the bus)
    taps_moved: int = 0  # legs tapped again on another worker for the rest of their call
    utterances_lost: int = 0  # utterances in progress on a worker when it died
    finals_missed: int = 0  # finals a worker says it sent for a leg that never reached the engine
    callbacks_originated: int = 0
    callbacks_answered: int = 0
    finals: int = 0
    transcribed_calls: set[str] = field(default_factory=set)
    max_backlog: float = 0.0  # seconds of audio waiting for decoding, the worst seen

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["transcribed_calls"] = len(self.transcribed_calls)
        return out


class Engine:
    """Everything ``hotline serve`` runs, in one asyncio process. ``await start()``, ``await stop()``.

    ``clock``: where time comes from (see the module docstring); ``web``: serve the supervisor
    page (needs a token); ``pipeline``: a ``SpeechPipeline`` to share (default: one from ``[asr]``);
    ``intake_partials``: partial transcripts at IVR speech steps (the demo turns them off: its
    audio runs faster than real time, and partials cost decoding CPU).
    """

    def __init__(self, cfg: Config, *, clock: Callable[[], float] = time.time, web: bool = True,
                 pipeline: Any = None, seed: int | None = None, intake_partials: bool = True) -> None:
        self.intake_partials = intake_partials
        self.cfg = cfg
        self.clock = clock
        self.web_enabled = web
        self.pipeline = pipeline
        self.stats = EngineStats()
        self._rng = random.Random(seed)
        self._own_pipeline = pipeline is None
        self.calls = CallTracker()  # ids -> calls, call time 0, call ends (engine.calls)
        self._intake_offsets: dict[tuple[str, str], float] = {}
        self.taps: Any = None  # engine.taps.Taps, once the parts it uses are up
        self.workers: Any = None  # engine.workers.WorkerTable with [tap] decode = "workers"
        self.worker_link: Any = None  # engine.bus.listener.BusListener on the workers' topics
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ivr_active = 0
        self._started = False
        self.store: Any = None
        self.hub: Any = None
        self.feed: Any = None
        self.recorder: Any = None
        self.monitor: Any = None
        self.surges: Any = None
        self.bus: Any = None
        self.audiosocket: Any = None
        self.agi: Any = None
        self.ami: Any = None
        self.queue_info: Any = None
        self.flows: dict[str, Any] = {}
        self.web_runner: Any = None
        self.web_port: int | None = None
        self.ami_error = ""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every part; a bad flow, a missing model or no web token fail here, not later."""
        from asr.pipeline import SpeechPipeline
        from engine.asterisk.agi_server import AgiServer
        from engine.asterisk.ami_client import AmiClient
        from engine.asterisk.audiosocket_server import AudioSocketServer
        from engine.bus import bus_from_config
        from engine.callback_keeper import CallbackKeeper
        from engine.queue_history import SurgeBaseline, book_today
        from engine.recording import Recorder
        from engine.store import AsyncStore
        from engine.store.feed import StoreFeed
        from engine.web import LiveHub
        from ivr_flows.callback import QueueState
        from ivr_flows.service import live_queue_info, load_configured_flows, services_from_config
        from queueing.monitor import QueueMonitor
        from queueing.surge import SurgeDetector

        cfg = self.cfg
        loop = asyncio.get_running_loop()
        check_tap_config(cfg)
        self.flows = load_configured_flows(cfg)  # a broken flow stops the start, naming file and line
        web_settings = None
        if self.web_enabled:
            from engine.web import settings_from_config

            web_settings = settings_from_config(cfg)  # ConfigError without a token: never open
        Path(cfg.store.path).parent.mkdir(parents=True, exist_ok=True)
        self._started = True  # from here on stop() undoes whatever was started
        self.store = await AsyncStore.open_config(cfg)
        self.hub = LiveHub(clock=self.clock)
        self.feed = StoreFeed(self.store, self.hub, self.calls)
        self.recorder = Recorder.from_config(cfg, self.store, self.clock)  # tapped legs as WAV files
        # the monitor keeps today and yesterday; the surge baseline's days come from the store
        self.monitor = QueueMonitor(default_sl_seconds=cfg.queueing.sl_seconds, surge=SurgeDetector(),
                                    interval_minutes=cfg.queueing.interval_minutes, timezone=cfg.site.timezone,
                                    keep_days=2, learn_days=False)
        await book_today(self.store, self.monitor, self.clock())  # the wallboard's "today" survives a restart
        self.surges = SurgeBaseline(self.store, self.monitor.surge, self.monitor.clock)
        await self.surges.update(self.clock())
        self.bus = bus_from_config(cfg)
        await self.bus.start()
        if self.pipeline is None:
            self.pipeline = await loop.run_in_executor(None, SpeechPipeline.from_config, cfg.asr)
            await loop.run_in_executor(None, self.pipeline.prepare)  # not on the first caller's time
        self.audiosocket = AudioSocketServer.from_config(cfg.audiosocket, self._on_audio_session)
        await self.audiosocket.start()
        self.queue_info = live_queue_info(
            cfg, agents=lambda q: QueueState.from_counts(self.monitor.board.counts(q)))
        # bookings are kept in the store from here on; those of before a restart are dialled still
        await CallbackKeeper(self.store, self.queue_info.callbacks, cfg.store.node_name).restore(self.clock())
        self.services = services_from_config(
            cfg, audiosocket=self.audiosocket, audiosocket_target=self.audiosocket.target,
            pipeline=_IntakePipeline(self.pipeline, self._intake_opened, self.intake_partials),
            queue_info=self.queue_info, on_call=self._on_agi_call,
            on_record=self._on_run_record, on_speech=self._on_intake_speech, clock=self.clock)
        self.agi = AgiServer(cfg.agi.host, cfg.agi.port)
        for name, flow in self.flows.items():
            self.agi.route(name, self._flow_handler(flow))
        await self.agi.start()
        self.ami = AmiClient.from_config(cfg, clock=self.clock)
        if cfg.tap.decode == "workers":
            from engine.workers import WorkerTable

            self.workers = WorkerTable(cfg.worker.timeout)
            if cfg.tap.record:
                log.warning("[tap] record: legs decoded on ASR workers are not recorded (their audio goes there)")
        self.taps = Taps(cfg, ami=self.ami, audiosocket=self.audiosocket, pipeline=self.pipeline, calls=self.calls,
                         feed=self.feed, stats=self.stats, spawn=self._spawn, on_speech=self._on_speech,
                         clock=self.clock, rng=self._rng, recorder=self.recorder, workers=self.workers)
        if self.workers is not None:
            from engine.bus.listener import listener_from_config

            self.worker_link = listener_from_config(cfg, [self.bus.topics.asr_everything()],
                                                    self.taps.on_worker_message)
            await self.worker_link.start()
        self.ami.subscribe(self._on_ami)
        self._spawn(self._connect_ami(), "ami-connect")
        self._spawn(self._ticker(), "ticker")
        if web_settings is not None:
            from engine.metrics import METRICS, engine_metrics
            from engine.web import create_app, start_site
            from engine.web.app import COMPONENTS, WALLBOARD
            from queueing.wallboard import Wallboard

            app = create_app(self.store, web_settings, self.hub)
            app[COMPONENTS] = self.health
            app[WALLBOARD] = Wallboard(self.monitor, cfg.wallboard, clock=self.clock)
            app[METRICS] = lambda: engine_metrics(self)
            self.web_runner, self.web_port = await start_site(app, cfg.web.host, cfg.web.port)
        log.info("engine started: flows=%s agi=%s:%d audiosocket=%s ami=%s:%d web=%s",
                 ",".join(self.flows), cfg.agi.host, self.agi.port, self.audiosocket.target, cfg.ami.host,
                 cfg.ami.port, f"{cfg.web.host}:{self.web_port}" if self.web_port else "off")

    async def stop(self, grace: float = 3.0) -> None:
        """Graceful: flows end, taps and speech legs close (finals decoded and stored), then the rest.
        Every step has a time limit, so a part that hangs cannot keep the process from exiting."""
        if not self._started:
            return
        self._started = False
        log.info("engine stopping")
        if self.agi is not None:
            await self._step("FastAGI", self.agi.stop(grace=grace), grace + 2.0)  # flows report their record
        for task in list(self._tasks):  # nothing new starts: no ticks, taps or callbacks
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        # taps end as if the spied channels hung up: each closes its leg, whose open utterance
        # is decoded and stored (before the server's stop would cancel what is still running)
        if self.taps is not None:
            await self.taps.stop(30.0)
        if self.worker_link is not None:
            await self._step("ASR workers' link", self.worker_link.close(), grace)
        if self.audiosocket is not None:
            await self._step("AudioSocket", self.audiosocket.stop(), grace)
        if self.pipeline is not None and self._own_pipeline:
            await self._step("speech", self.pipeline.aclose(), 30.0)  # the last finals are decoded
        if self.ami is not None:
            await self._step("AMI", self.ami.close(), grace)
        if self.bus is not None:
            await self._step("MQTT", self.bus.close(), grace)
        if self.web_runner is not None:
            await self._step("web", self.web_runner.cleanup(), grace)
        if self.store is not None:
            await self._step("store", self.store.close(), 30.0)  # pending writes are committed
        log.info("engine stopped: %s", {k: v for k, v in self.stats.as_dict().items() if v})

    async def _step(self, name: str, coro: Any, timeout: float) -> None:
        try:
            await asyncio.wait_for(coro, timeout)
        except TimeoutError:
            log.error("engine stop: %s did not finish within %.0f s; going on", name, timeout)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # stop() itself is being cancelled
            log.error("engine stop: %s was cancelled from inside; going on", name)  # the rest still stops
        except Exception as exc:
            log.error("engine stop: %s failed: %s: %s", name, type(exc).__name__, exc)

    def _spawn(self, coro: Any, name: str = "") -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("engine task %s failed: %s: %s", task.get_name(), type(exc).__name__, exc)

    async def _connect_ami(self) -> None:
        """First connection with backoff (Asterisk may start after us); the client reconnects by itself after."""
        from engine.asterisk.errors import AmiAuthError, AmiConnectionError

        delay = self.cfg.ami.reconnect_min
        while True:
            try:
                await self.ami.connect()
                break
            except AmiAuthError as exc:
                self.ami_error = "login refused"
                log.error("AMI login refused by %s:%d: %s (check [ami] username and the secret)",
                          self.cfg.ami.host, self.cfg.ami.port, exc)
                return
            except (AmiConnectionError, OSError, TimeoutError) as exc:
                self.ami_error = type(exc).__name__
                log.warning("AMI %s:%d not reachable (%s); retrying in %.1f s", self.cfg.ami.host,
                            self.cfg.ami.port, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cfg.ami.reconnect_max)
        self.ami_error = ""
        try:
            self._publish_facts(self.monitor.feed(await self.ami.queue_status(), self.clock()))
        except Exception as exc:  # the live events still flow; the monitor catches up from them
            log.warning("AMI QueueStatus after connect failed: %s", type(exc).__name__)
        log.info("AMI connected to %s:%d", self.cfg.ami.host, self.cfg.ami.port)

    async def _ticker(self) -> None:
        """Clock-driven work: callbacks that became due, wrap-ups ending, queue snapshots on the bus."""
        last_snapshot = 0.0
        while True:
            await asyncio.sleep(0.25)
            now = self.clock()
            for cmd in self.queue_info.callbacks.tick(now):
                self._spawn(self._originate_callback(cmd), "callback")
            self._publish_facts(self.monitor.board.tick(now))
            if self.surges.due(now):  # a local day ended: the baseline reads it from the store
                self._spawn(self.surges.update(now), "surge-baseline")
            self.taps.tick()  # ASR workers gone quiet
            if self.calls.expire(now):
                self._intake_offsets = {k: v for k, v in self._intake_offsets.items()
                                        if self.calls.started_at(k[0]) is not None}
            if self.pipeline is not None:
                self.stats.max_backlog = max(self.stats.max_backlog, self.pipeline.backlog())
            if self.cfg.mqtt.host and time.monotonic() - last_snapshot >= 5.0:
                last_snapshot = time.monotonic()
                for view in self.monitor.views(now):
                    self.bus.queue_snapshot(view["queue"], view, now)

    # -- AMI ----------------------------------------------------------------------------------

    def _on_ami(self, event: ev.AmiEvent) -> None:
        if isinstance(event, ev.ChannelEvent) and event.channel.startswith(TAP_CHANNEL_PREFIX):
            return  # our own tap legs are not calls
        now = event.received
        self.feed.handle(event)  # the call core first: taps and callbacks below ask it
        self._publish_facts(self.monitor.feed(event, now))
        if self.bus.enabled:  # no payload built for a bus that sends nothing
            publish_event(self.bus, event, now)
        for cmd in self.queue_info.feed(event, now):
            self._spawn(self._originate_callback(cmd), "callback")
        if isinstance(event, ev.AgentConnect):
            self.taps.on_agent_connect(event, now)
        elif isinstance(event, ev.AmiReconnected):
            self._spawn(self._reconcile_calls(), "reconcile-calls")

    async def _reconcile_calls(self) -> None:
        """Hang-ups lost while AMI was down: calls none of whose channels Asterisk still has end now."""
        from engine.asterisk.errors import AsteriskError

        asked = self.clock()
        try:
            alive = await self.ami.core_show_channels()
        except (AsteriskError, TimeoutError) as exc:
            log.warning("AMI CoreShowChannels after reconnect failed: %s; calls that ended meanwhile stay open",
                        type(exc).__name__)
            return
        facts = self.calls.reconcile(alive, self.clock(), asked_at=asked)
        for fact in facts:
            self.feed.handle(fact)
        if facts:
            log.info("AMI reconnect: %d calls ended while the connection was down", len(facts))

    def _publish_facts(self, facts: list[Any]) -> None:
        if not facts:
            return
        from agents_adapter.model import AgentStateChanged
        from queueing.monitor import SurgeDetected

        for fact in facts:
            if isinstance(fact, SurgeDetected):
                log.warning("surge in %s: %d calls in %s", fact.queue, fact.offered, fact.interval_label)
                if self.cfg.mqtt.host:
                    self.bus.alert(fact.as_dict(), fact.at)
            elif isinstance(fact, AgentStateChanged) and self.cfg.mqtt.host:
                agent = self.monitor.board.agents.get(fact.interface)
                if agent is not None:
                    self.bus.agent_state(fact.interface, agent.view(fact.at), fact.at)

    # -- IVR ----------------------------------------------------------------------------------

    def _flow_handler(self, flow: Any) -> Callable[[Any], Any]:
        from ivr_flows.agi_adapter import run_flow

        async def handler(channel: Any) -> None:
            self._ivr_active += 1
            try:
                await run_flow(channel, flow, self.services)
            finally:
                self._ivr_active -= 1

        return handler

    def _on_run_record(self, rec: Any) -> None:
        self.stats.ivr_runs += 1
        self.stats.ivr_outcomes[rec.outcome] = self.stats.ivr_outcomes.get(rec.outcome, 0) + 1
        self.feed.handle(rec)  # the call core learns there whether the caller hung up in the IVR

    def _on_agi_call(self, call: Any) -> None:
        """A flow knows who is calling: its channel joins the call (call time 0 if it is the first)."""
        for fact in self.calls.agi_started(call.uniqueid, call.linkedid, call.channel, self.clock()):
            self.feed.handle(fact)

    def _intake_opened(self, call_id: str, leg: str) -> None:
        self._intake_offsets[(call_id, leg)] = self.calls.call_time(call_id, self.clock())

    def _on_intake_speech(self, event: Any) -> None:
        self._on_speech(_shift(event, self._intake_offsets.get((event.call_id, event.leg), 0.0)))

    def _on_speech(self, event: Any) -> None:
        call = self.calls.resolve(event.call_id)
        if call != event.call_id:
            event = dataclasses.replace(event, call_id=call)
        if isinstance(event, FinalTranscript):
            self.stats.finals += 1
            self.stats.transcribed_calls.add(event.call_id)
        if self.bus.enabled:
            publish_event(self.bus, event, self.clock())
        self.feed.handle(event)

    async def _on_audio_session(self, session: Any) -> None:
        """AudioSocket: a tap's session runs here; an IVR step's is taken by its flow."""
        if self.taps is not None:
            await self.taps.on_session(session)

    # -- callbacks ----------------------------------------------------------------------------

    async def _originate_callback(self, cmd: Any) -> None:
        from engine.asterisk.errors import AsteriskError

        self.stats.callbacks_originated += 1
        answered = False
        called_back = ""  # the answered call back's Uniqueid (= its Linkedid: a call of its own)
        try:
            result = await self.ami.originate(**cmd.kwargs(), wait=True, wait_timeout=cmd.timeout_ms / 1000 + 30)
            answered = bool(result.answered)
            called_back = result.response.uniqueid if answered and result.response is not None else ""
        except (AsteriskError, TimeoutError) as exc:
            log.warning("callback %s: Originate failed: %s", cmd.callback_id, type(exc).__name__)
        now = self.clock()
        req = self.queue_info.callbacks.originate_result(cmd.callback_id, answered, now)
        if answered:
            self.stats.callbacks_answered += 1
        if req.linkedid and called_back:  # each call's page links to the other
            self.store.submit_relate(req.linkedid, called_back, "callback", now)
        if req.linkedid:
            self.store.submit_event(req.linkedid, "callback.answered" if answered else "callback.no_answer", now,
                                    {"callback": req.id, "attempt": req.attempts, "status": req.status},
                                    dedupe=f"callback/{req.id}/{req.attempts}")

    # -- state ----------------------------------------------------------------------------------

    @property
    def ivr_active(self) -> int:
        return self._ivr_active

    @property
    def taps_active(self) -> int:
        return self.taps.active if self.taps is not None else 0

    def pending_callbacks(self) -> int:
        return sum(1 for r in self.queue_info.callbacks.requests.values() if r.pending)

    def _workers_health(self) -> dict[str, Any]:
        """ASR workers: ok while at least one takes legs (else taps are decoded here)."""
        ready = self.workers.ready(time.monotonic())
        return {"ok": bool(ready), "ready": ready, "alive": len(self.workers.names),
                "listening": bool(self.worker_link is not None and self.worker_link.connected)}

    def health(self) -> dict[str, dict[str, Any]]:
        """Per component: ``ok`` and a few numbers (``/healthz`` shows it; 503 when one is not ok)."""
        backlog = self.pipeline.backlog() if self.pipeline is not None else 0.0
        bus_stats = getattr(self.bus, "stats", None)
        return {
            "ami": {"ok": bool(self.ami is not None and self.ami.connected),
                    "reconnects": getattr(self.ami, "reconnects", 0), **({"error": self.ami_error} if self.ami_error else {})},
            "agi": {"ok": self.agi is not None and self.agi._server is not None, "port": self.agi.port if self.agi else None,
                    "active": self._ivr_active, **(self.agi.stats if self.agi else {})},
            "audiosocket": {"ok": self.audiosocket is not None and self.audiosocket._server is not None,
                            "sessions": len(self.audiosocket.sessions) if self.audiosocket else 0},
            "asr": {"ok": backlog < 60.0, "backlog_seconds": round(backlog, 1),
                    "legs": len(getattr(self.pipeline, "legs", ()))},
            "taps": {"ok": True, "active_legs": self.taps_active, "started": self.stats.taps_started,
                     "skipped_busy": self.stats.taps_skipped_busy, "skipped_lag": self.stats.taps_skipped_lag,
                     "failed": self.stats.taps_failed, "remote": self.stats.taps_remote,
                     "local_fallback": self.stats.taps_local_fallback, "lost": self.stats.taps_lost,
                     "moved": self.stats.taps_moved, "utterances_lost": self.stats.utterances_lost,
                     "finals_missed": self.stats.finals_missed},
            **({"workers": self._workers_health()} if self.workers is not None else {}),
            "store": {"ok": self.store is not None, "pending_writes": self.store.pending if self.store else 0,
                      "failed_writes": getattr(self.store, "failed_writes", 0)},
            "bus": {"ok": (not self.cfg.mqtt.host) or bool(bus_stats and bus_stats.connected),
                    "enabled": bool(self.cfg.mqtt.host),
                    **({"dropped": bus_stats.dropped, "buffered": bus_stats.buffered} if bus_stats else {})},
        }
