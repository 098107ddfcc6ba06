"""Receiving from MQTT (aiomqtt): topic filters in, ``(topic, payload)`` to a callback, reconnecting.

The engine listens to its ASR workers this way (``{root}/{site}/asr/#``). Like the publisher, it
connects and reconnects by itself with backoff and never makes the event loop wait for the
broker; the subscription is made again after every reconnect. What was published while this
client was away is not delivered (clean session): the engine judges workers by fresh heartbeats
and counts what a worker could not deliver (docs/serve.md, "Scale-out").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes], None]


class BusListener:
    """``await start()`` returns at once; ``await wait_subscribed(t)`` when the caller needs it;
    ``on_message(topic, payload)`` runs on the event loop for each message, in arrival order;
    ``connected`` while subscribed on a live connection (the engine's ``/healthz`` shows it)."""

    def __init__(
        self,
        host: str,
        port: int,
        filters: list[str],
        on_message: OnMessage,
        *,
        username: str = "",
        password: str = "",
        reconnect_min: float = 0.2,
        reconnect_max: float = 10.0,
        keepalive: int = 15,
        client_id: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.filters = list(filters)
        self.on_message = on_message
        self._username = username or None
        self._password = password or None
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._keepalive = keepalive
        self._client_id = client_id or f"hotline-listen-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mqtt-listener")

    async def wait_subscribed(self, timeout: float) -> bool:
        """True once the filters are subscribed on a live connection (within ``timeout``)."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected = False

    async def _run(self) -> None:
        import aiomqtt

        delay = self._reconnect_min
        down_logged = False
        while True:
            error = ""
            try:
                async with aiomqtt.Client(self.host, self.port, username=self._username, password=self._password,
                                          identifier=self._client_id, keepalive=self._keepalive) as client:
                    for topic in self.filters:
                        await client.subscribe(topic, qos=1)
                    self.connected = True
                    self._subscribed.set()
                    if down_logged:
                        log.warning("MQTT %s:%s: listening again", self.host, self.port)
                    down_logged = False
                    delay = self._reconnect_min
                    async for message in client.messages:
                        self._deliver(str(message.topic), message.payload)
            except (aiomqtt.MqttError, OSError) as exc:
                error = str(exc)
            self._subscribed.clear()
            self.connected = False
            if not down_logged:
                log.warning("MQTT %s:%s: not listening (%s); retrying", self.host, self.port, error or "closed")
                down_logged = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._reconnect_max)

    def _deliver(self, topic: str, payload: Any) -> None:
        try:
            self.on_message(topic, bytes(payload) if not isinstance(payload, bytes) else payload)
        except Exception as exc:  # one bad message must not stop the listening
            log.error("MQTT message on %s not handled: %s: %s", topic, type(exc).__name__, exc)


def listener_from_config(cfg: Any, filters: list[str], on_message: OnMessage) -> BusListener:
    """A listener on the ``[mqtt]`` broker (the caller checked that ``mqtt.host`` is set)."""
    m = cfg.mqtt
    return BusListener(m.host, m.port, filters, on_message, username=m.username, password=cfg.mqtt_password())
