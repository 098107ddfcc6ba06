"""Publishing to MQTT (aiomqtt) with a bounded buffer that survives broker outages.

Why a buffer of our own: aiomqtt/paho lose what was queued when a connection dies and a new
client is made, and a publish awaited on a dead socket would block the event loop's producers.
Producers here never await: they append to a bounded deque; one worker task connects,
drains the deque in order, and reconnects with backoff when the broker goes away. A message
leaves the deque only after the broker accepted it (PUBACK for QoS 1), so QoS 1 is
at-least-once across a reconnect. When the deque is full the oldest message is dropped and
counted (``stats.dropped``) and the loss is logged once per outage, never the payload.

Retained topics (queue snapshots, agent states) are state, not history: only the newest
payload per topic is kept, outside the bounded deque, and all of them are published again
after every (re)connect, so a broker restarted without persistence gets the current state
back. They may overtake buffered events; consumers should use ``ts`` for ordering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from engine.bus.payloads import build_payload, encode
from engine.bus.topics import Topics

log = logging.getLogger(__name__)

QOS_PARTIAL = 0
QOS_RELIABLE = 1


@dataclass(frozen=True)
class OutMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class BusStats:
    """Counters for health checks and tests."""

    published: int = 0  # accepted by the broker
    dropped: int = 0  # lost: the buffer was full (oldest dropped) or still queued at close
    connects: int = 0
    disconnects: int = 0
    connected: bool = False
    buffered: int = 0  # waiting now (events + dirty retained states)


class _BusApi:
    """The producer side, shared by the real and the null publisher."""

    topics: Topics

    def publish_json(self, topic: str, kind: str, data: Any, now: float, *, qos: int, retain: bool,
                     mask: bool = True) -> None:
        raise NotImplementedError

    def queue_snapshot(self, queue: str, data: Any, now: float) -> None:
        """Retained state of one queue (what a wallboard shows)."""
        self.publish_json(self.topics.queue(queue), "queue_snapshot", data, now, qos=QOS_RELIABLE, retain=True)

    def agent_state(self, agent: str, data: Any, now: float) -> None:
        """Retained state of one call-taker."""
        self.publish_json(self.topics.agent(agent), "agent_state", data, now, qos=QOS_RELIABLE, retain=True)

    def call_event(self, call: str, data: Any, now: float, *, kind: str = "call_event") -> None:
        self.publish_json(self.topics.call_events(call), kind, data, now, qos=QOS_RELIABLE, retain=False)

    def transcript_partial(self, call: str, data: Any, now: float) -> None:
        """Partials are superseded quickly: QoS 0, and the first to go when the buffer is full."""
        self.publish_json(self.topics.call_transcript(call), "transcript_partial", data, now, qos=QOS_PARTIAL, retain=False)

    def transcript_final(self, call: str, data: Any, now: float) -> None:
        self.publish_json(self.topics.call_transcript(call), "transcript_final", data, now, qos=QOS_RELIABLE, retain=False)

    def alert(self, data: Any, now: float) -> None:
        self.publish_json(self.topics.alerts(), "alert", data, now, qos=QOS_RELIABLE, retain=False)

    def asr_worker(self, worker: str, data: Any, now: float) -> None:
        """An ASR worker's heartbeat: superseded every second, QoS 0."""
        self.publish_json(self.topics.asr_worker(worker), "asr_worker", data, now, qos=QOS_PARTIAL, retain=False)

    def asr_session(self, uuid: str, kind: str, data: Any, now: float, *, qos: int = QOS_RELIABLE) -> None:
        """What a worker heard on one AudioSocket session, for the engine that tapped it: not masked
        (the engine stores it like a transcript of its own; docs/mqtt.md, "ASR workers")."""
        self.publish_json(self.topics.asr_session(uuid), kind, data, now, qos=qos, retain=False, mask=False)


class NullPublisher(_BusApi):
    """The bus when no broker is configured: accepts everything, sends nothing."""

    def __init__(self, site: str = "default", topic_root: str = "hotline") -> None:
        self.topics = Topics(topic_root, site)
        self.stats = BusStats()
        self.enabled = False

    def publish_json(self, topic: str, kind: str, data: Any, now: float, *, qos: int, retain: bool,
                     mask: bool = True) -> None:
        del topic, kind, data, now, qos, retain, mask

    async def start(self) -> None:
        return None

    async def wait_flushed(self, timeout: float) -> bool:
        del timeout
        return True

    async def close(self, flush_timeout: float = 2.0) -> None:
        del flush_timeout


class MqttPublisher(_BusApi):
    """Buffered, self-reconnecting publisher. ``start()`` returns at once, broker up or not."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        site: str = "default",
        topic_root: str = "hotline",
        username: str = "",
        password: str = "",
        buffer_limit: int = 10000,
        reconnect_min: float = 0.2,
        reconnect_max: float = 10.0,
        keepalive: int = 15,
        publish_timeout: float = 5.0,
        client_id: str | None = None,
        will: OutMessage | None = None,
    ) -> None:
        if buffer_limit < 1:
            raise ValueError("mqtt buffer_limit must be at least 1")
        self.host = host
        self.port = port
        self.site = site
        self.topics = Topics(topic_root, site)
        self.enabled = True
        self._username = username or None
        self._password = password or None
        self._limit = buffer_limit
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._keepalive = keepalive
        self._publish_timeout = publish_timeout
        self._client_id = client_id or f"hotline-{site}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._will = will  # the broker publishes it when this connection dies without a goodbye
        self._queue: deque[OutMessage] = deque()
        self._inflight: OutMessage | None = None
        self._retained: dict[str, OutMessage] = {}
        self._dirty: OrderedDict[str, OutMessage] = OrderedDict()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._outage_drops = 0
        self._last_error = ""
        self.stats = BusStats()

    # ---- producer side (never blocks) ----

    def publish_json(self, topic: str, kind: str, data: Any, now: float, *, qos: int, retain: bool,
                     mask: bool = True) -> None:
        payload = encode(build_payload(kind, self.site, now, data, mask=mask))
        self.publish_raw(OutMessage(topic, payload, qos, retain))

    def publish_raw(self, msg: OutMessage) -> None:
        if self._closing:
            self._count_drop(1)
            return
        if msg.retain:
            self._retained[msg.topic] = msg
            self._dirty[msg.topic] = msg
            self._dirty.move_to_end(msg.topic)
        else:
            if len(self._queue) >= self._limit:
                self._queue.popleft()
                self._count_drop(1)
            self._queue.append(msg)
        self._update_buffered()
        self._idle.clear()
        self._wake.set()

    def _count_drop(self, n: int) -> None:
        self.stats.dropped += n
        if self._outage_drops == 0:
            log.warning(
                "MQTT %s:%s: buffer full (%d messages), dropping the oldest", self.host, self.port, self._limit
            )
        self._outage_drops += n

    def _update_buffered(self) -> None:
        self.stats.buffered = len(self._queue) + len(self._dirty) + (1 if self._inflight is not None else 0)
        if self.stats.buffered == 0:
            self._idle.set()

    # ---- lifecycle ----

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mqtt-publisher")

    async def wait_flushed(self, timeout: float) -> bool:
        """True when everything buffered so far reached the broker within ``timeout``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Try to deliver what is buffered, then stop; what is left is counted as dropped."""
        if self._task is None:
            self._closing = True
            return
        if self.stats.connected:
            await self.wait_flushed(flush_timeout)
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        left = len(self._queue) + (1 if self._inflight is not None else 0)
        if left:
            self.stats.dropped += left
            log.warning("MQTT: %d messages not delivered at shutdown", left)
        self.stats.connected = False

    async def __aenter__(self) -> MqttPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- worker ----

    async def _run(self) -> None:
        import aiomqtt

        delay = self._reconnect_min
        down_logged = False
        while not self._closing:
            try:
                client = aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self._username,
                    password=self._password,
                    identifier=self._client_id,
                    keepalive=self._keepalive,
                    timeout=self._publish_timeout,
                    will=None if self._will is None else aiomqtt.Will(
                        self._will.topic, self._will.payload, self._will.qos, self._will.retain),
                )
                async with client:
                    self._on_connected(was_down=down_logged)
                    down_logged = False
                    delay = self._reconnect_min
                    await self._pump(client)
            except aiomqtt.MqttError as exc:
                self._last_error = str(exc)
            except OSError as exc:  # name resolution and the like, before aiomqtt wraps it
                self._last_error = str(exc)
            if self._inflight is not None:  # not acknowledged: send it again first
                self._requeue(self._inflight)
            if self.stats.connected:
                self.stats.connected = False
                self.stats.disconnects += 1
            if not down_logged:
                log.warning("MQTT %s:%s unreachable (%s); buffering up to %d messages",
                            self.host, self.port, self._last_error, self._limit)
                down_logged = True
            self._update_buffered()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max)

    def _on_connected(self, *, was_down: bool) -> None:
        self.stats.connected = True
        self.stats.connects += 1
        # The broker may have restarted without persistence: give it the current state again.
        for topic, msg in self._retained.items():
            self._dirty.setdefault(topic, msg)
        if was_down:
            log.warning("MQTT %s:%s connected again; %d messages were dropped during the outage",
                        self.host, self.port, self._outage_drops)
        else:
            log.info("MQTT %s:%s connected", self.host, self.port)
        self._outage_drops = 0
        self._update_buffered()

    def _take(self) -> OutMessage | None:
        if self._dirty:
            _, msg = self._dirty.popitem(last=False)
            return msg
        if self._queue:
            return self._queue.popleft()
        return None

    async def _pump(self, client: Any) -> None:
        watcher = asyncio.create_task(self._watch(client))
        try:
            while True:
                msg = self._take()
                if msg is None:
                    self._update_buffered()
                    self._wake.clear()
                    waiter = asyncio.create_task(self._wake.wait())
                    await asyncio.wait({waiter, watcher}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    if watcher.done():
                        watcher.result()  # raises the disconnect
                        return
                    continue
                self._inflight = msg
                pub = asyncio.create_task(
                    client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, timeout=self._publish_timeout)
                )
                await asyncio.wait({pub, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if not pub.done():
                    pub.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await pub
                    self._requeue(msg)
                    watcher.result()
                    return
                try:
                    pub.result()
                except BaseException:
                    self._requeue(msg)
                    raise
                self._inflight = None
                self.stats.published += 1
                self._update_buffered()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    def _requeue(self, msg: OutMessage) -> None:
        self._inflight = None
        if msg.retain:
            if msg.topic not in self._dirty:  # a newer state may already be waiting
                self._dirty[msg.topic] = msg
                self._dirty.move_to_end(msg.topic, last=False)
        elif len(self._queue) >= self._limit:
            self._count_drop(1)  # it is the oldest message, and the buffer is full
        else:
            self._queue.appendleft(msg)

    @staticmethod
    async def _watch(client: Any) -> None:
        """Ends (with MqttError) when the connection drops; we subscribe to nothing."""
        async for _ in client.messages:
            pass


def bus_from_config(cfg: Any, **kwargs: Any) -> MqttPublisher | NullPublisher:
    """The publisher for a :class:`engine.config.Config`: off unless ``mqtt.host`` is set.
    ``kwargs`` go to :class:`MqttPublisher` (an ASR worker's ``will``)."""
    m = cfg.mqtt
    if not m.host:
        return NullPublisher(cfg.site.name, m.topic_root)
    return MqttPublisher(
        m.host,
        m.port,
        site=cfg.site.name,
        topic_root=m.topic_root,
        username=m.username,
        password=cfg.mqtt_password(),
        buffer_limit=m.buffer_limit,
        **kwargs,
    )
