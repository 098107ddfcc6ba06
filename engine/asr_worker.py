"""An ASR worker (``hotline asr-worker``): tapped legs decoded in a process, or on a machine, of its own.

Decoding is what costs CPU (a hotline transcribing both sides of 300 calls needs more cores
than one machine has), so the engine can send its taps elsewhere (``[tap] decode = "workers"``):
it originates ``AudioSocket/<worker target>/<uuid>`` with ChanSpy, Asterisk connects here, and
each session's audio goes through the frame pump into a leg of this process's own speech
pipeline (``[asr]``: model, decoding threads). Its events go back over MQTT on
``asr/sessions/{uuid}`` with times in seconds since the session's first sample; the engine puts
them on the call's clock, under the call and side it tapped (:mod:`engine.workers`).

Every ``[worker] heartbeat`` seconds the worker says where it is and how busy
(``asr/workers/{name}``); its MQTT last will says ``gone``, so the broker tells the engine the
moment the process dies. ``stop()`` (SIGTERM) says ``stopping`` first (no new legs come, and
the engine taps those calls again on another worker), a second later ends every session as if
the spied channel hung up so the open utterances are decoded and sent, then says ``gone``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.config import Config
from engine.errors import ConfigError
from engine.workers import HEARTBEAT, SESSION, SPEECH, WORKER_STOPPING, Heartbeat, check_timing, speech_fields

log = logging.getLogger(__name__)

LEG = "tap"  # the leg name inside the worker; the engine knows the side
HANDOVER = 1.0  # seconds between saying "stopping" and ending the sessions: the new taps connect first


@dataclass
class WorkerStats:
    sessions: int = 0
    finals: int = 0
    refused: int = 0  # sessions that came while stopping (hung up at once)


class AsrWorker:
    """``await start()``, ``await stop()``. ``pipeline``: a ``SpeechPipeline`` to use (default:
    one from ``[asr]``); ``clock``: the frame pump's clock (time since a session's first sample)."""

    def __init__(self, cfg: Config, *, name: str = "", pipeline: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.name = name or cfg.worker.name or f"{socket.gethostname()}-{os.getpid()}"
        self.pipeline = pipeline
        self._own_pipeline = pipeline is None
        self.clock = clock
        self.server: Any = None
        self.bus: Any = None
        self.stats = WorkerStats()
        self.state = "up"
        self._runners: dict[str, asyncio.Task[Any]] = {}
        self._beats: asyncio.Task[None] | None = None

    @property
    def target(self) -> str:
        return self.server.target

    def heartbeat(self) -> Heartbeat:
        backlog = self.pipeline.backlog() if self.pipeline is not None else 0.0
        cores = self.pipeline.pool.workers if self.pipeline is not None else 1
        return Heartbeat(self.name, self.target, backlog, len(self._runners), cores, self.state)

    async def start(self) -> None:
        """Model, AudioSocket server, bus; a missing broker setting or model fails here."""
        from asr.pipeline import SpeechPipeline
        from engine.asterisk.audiosocket_server import AudioSocketServer
        from engine.bus import bus_from_config
        from engine.bus.payloads import build_payload, encode
        from engine.bus.publisher import QOS_RELIABLE, OutMessage

        cfg = self.cfg
        if not cfg.mqtt.host:
            raise ConfigError("[mqtt] host is not set: a worker sends its transcripts and heartbeats over MQTT")
        check_timing(cfg.worker)
        loop = asyncio.get_running_loop()
        if self.pipeline is None:
            self.pipeline = await loop.run_in_executor(None, SpeechPipeline.from_config, cfg.asr)
            await loop.run_in_executor(None, self.pipeline.prepare)  # not on the first tap's time
        gone = Heartbeat(self.name, "", cores=self.pipeline.pool.workers, state="gone")
        will = OutMessage(self._topics().asr_worker(self.name),
                          encode(build_payload(HEARTBEAT, cfg.site.name, time.time(), gone.fields())),
                          QOS_RELIABLE, False)
        self.bus = bus_from_config(cfg, will=will)  # before the server: a session may come at once
        await self.bus.start()
        a = cfg.audiosocket
        self.server = AudioSocketServer(self._on_session, cfg.worker.host, cfg.worker.port,
                                        advertise=cfg.worker.advertise, max_queued_frames=a.max_queued_frames,
                                        max_queued_bytes=a.max_queued_bytes, max_connections=a.max_connections)
        await self.server.start()
        self._beats = loop.create_task(self._beat(), name="asr-worker-heartbeat")
        log.info("ASR worker %s: AudioSocket on %s, %d decoding threads, MQTT %s:%d", self.name, self.target,
                 self.pipeline.pool.workers, cfg.mqtt.host, cfg.mqtt.port)

    def _topics(self) -> Any:
        from engine.bus.topics import Topics

        return Topics(self.cfg.mqtt.topic_root, self.cfg.site.name)

    async def _beat(self) -> None:
        """A heartbeat every ``[worker] heartbeat`` seconds while connected (stale ones are not
        buffered for later: a heartbeat says "now")."""
        while True:
            if self.bus.stats.connected:
                self.bus.asr_worker(self.name, self.heartbeat().fields(), time.time())
                await asyncio.sleep(self.cfg.worker.heartbeat)
            else:
                await asyncio.sleep(0.05)

    async def _on_session(self, session: Any) -> None:
        """One tapped leg: frames to a leg of our pipeline, its events to the engine."""
        from asr.pump import FramePump
        from engine.bus.publisher import QOS_PARTIAL, QOS_RELIABLE

        uuid = session.uuid
        if self.state != "up":
            self.stats.refused += 1
            await session.hangup()
            return
        self.stats.sessions += 1
        self._runners[uuid] = asyncio.current_task()  # type: ignore[assignment]
        self.bus.asr_session(uuid, SESSION, {"worker": self.name, "state": "open"}, time.time())
        finals = 0

        def on_event(event: Any) -> None:
            nonlocal finals
            fields = speech_fields(event)
            if fields is None:
                return
            finals += fields["event"] == "final"
            self.bus.asr_session(uuid, SPEECH, {"worker": self.name, "speech": fields}, time.time(),
                                 qos=QOS_PARTIAL if fields["event"] == "partial" else QOS_RELIABLE)

        def open_leg(rate: int) -> Any:
            return self.pipeline.open_leg(uuid, LEG, rate, on_event=on_event, partials=self.cfg.tap.partials)

        pump = FramePump(open_leg=open_leg, clock=self.clock)
        try:
            await pump.run(session.audio())
        finally:
            await pump.close()  # the open utterance's final is decoded and sent
            self.stats.finals += finals
            reason = WORKER_STOPPING if self.state != "up" else (session.close_reason or "closed")
            self.bus.asr_session(uuid, SESSION, {"worker": self.name, "state": "closed", "reason": reason,
                                                 "finals": finals}, time.time())
            self._runners.pop(uuid, None)
            log.info("ASR worker %s: session %s ended (%s), %d finals", self.name, uuid, reason, finals)

    async def stop(self, timeout: float = 30.0) -> None:
        """Say ``stopping``, end every session (finals decoded and sent), say ``gone``, close."""
        if self.server is None:
            if self.bus is not None:
                await self.bus.close()
            return
        self.state = "stopping"
        if self.bus is not None and self.bus.stats.connected:
            self.bus.asr_worker(self.name, self.heartbeat().fields(), time.time())
            if self._runners:  # the engine taps those calls again elsewhere before we let go
                await asyncio.sleep(HANDOVER)
        runners = [t for t in self._runners.values() if not t.done()]
        for uuid in list(self._runners):
            session = self.server.sessions.get(uuid)
            if session is not None:
                await session.hangup()
        if runners:
            _, late = await asyncio.wait(runners, timeout=timeout)
            if late:
                log.error("ASR worker stop: %d sessions did not finish their transcripts within %.0f s", len(late),
                          timeout)
        if self._beats is not None:
            self._beats.cancel()
        await self.server.stop()
        if self.pipeline is not None and self._own_pipeline:
            await self.pipeline.aclose()
        if self.bus is not None:
            self.state = "gone"
            gone = dataclasses.replace(self.heartbeat(), legs=0, backlog=0.0)
            self.bus.asr_worker(self.name, gone.fields(), time.time())
            await self.bus.close(flush_timeout=5.0)  # a clean goodbye: the broker sends no will
        log.info("ASR worker %s stopped: %s", self.name, dataclasses.asdict(self.stats))
        self.server = None
