"""The one adapter around panoramisk 1.4's ``Manager``: nothing from panoramisk leaks out.

What it adds, and why:

- Bytes are parsed by the project's :class:`AmiCodec` instead of panoramisk's
  ``AMIProtocol.data_received``, which decodes each TCP chunk on its own with errors ignored
  (a Chinese caller name cut by a read boundary loses bytes).
- Login failure is an :class:`AmiAuthError` at once. Plain panoramisk only sets
  ``authenticated = False``, then reconnects every 2 s for ever; the Login future never fails.
- Connect and action timeouts; in-flight actions fail with :class:`AmiConnectionError` when the
  connection drops (panoramisk parks them and re-sends them after the next ``FullyBooted``,
  which could place an Originate twice, or never answers them).
- QueueAdd and async Originate are sent as single-response actions: panoramisk's guesswork
  (``Added interface to queue``, ``successfully queued``) treats their answers as the start of a
  list and would wait for ever.
- The first QueueStatus comes with :class:`AmiConnected` (``queue_snapshot``), placed in the
  event stream where Asterisk answered it, so a monitor needs no QueueStatus of its own.
- Reconnect with exponential backoff; after each reconnect QueueStatus is re-read and what was
  missed while away (calls completed/abandoned, callers waiting, members whose state changed)
  is logged and published as :class:`AmiReconnected`, placed the same way. The backoff also
  holds when the login succeeds but the connection drops right after (a server that accepts
  the login and hangs up would otherwise be redialled in a hot loop): a connection closed
  before its QueueStatus answer is a failed attempt, and one that stayed up less than
  ``reconnect_max`` seconds waits the next backoff step before redialling. So the log gets a
  few lines per backoff step, never a flood.
- Events become the frozen dataclasses of :mod:`engine.events.ami`, delivered to callbacks and
  async iterators. The secret is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from engine.asterisk.ami_codec import AmiBanner, AmiCodec, AmiMessage
from engine.asterisk.errors import AmiActionError, AmiAuthError, AmiConnectionError, AmiProtocolError
from engine.events.ami import (
    AgentComplete,
    AmiConnected,
    AmiDisconnected,
    AmiEvent,
    AmiReconnected,
    MemberEvent,
    OriginateResponse,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueMemberRemoved,
    QueueSnapshot,
    QueueSummary,
    event_from_message,
)

if TYPE_CHECKING:
    from engine.config import Config

log = logging.getLogger(__name__)

EventCallback = Callable[[AmiEvent], Any]


# --- typed results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionResult:
    """A single ``Response: Success`` (``message`` is Asterisk's text)."""

    action: str
    action_id: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PingResult:
    action_id: str
    timestamp: float  # Asterisk's clock (epoch seconds) when it answered
    round_trip: float  # seconds, measured here


@dataclass(frozen=True)
class OriginateResult:
    """``queued`` once Asterisk accepted the Originate; with ``wait=True`` also the outcome."""

    action_id: str
    message: str
    response: OriginateResponse | None = None

    @property
    def answered(self) -> bool | None:
        if self.response is None:
            return None
        return self.response.response.lower() == "success"


@dataclass(frozen=True)
class CommandResult:
    action_id: str
    output: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.output)


# --- the panoramisk seam ---------------------------------------------------------------------


def _to_panoramisk(msg: AmiMessage) -> Message:
    headers: dict[str, Any] = {}
    for key, value in msg.headers:
        if key in headers:
            old = headers[key]
            headers[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            headers[key] = value
    # only Command answers carry Output lines: skip the scan of every header for the rest
    content = "\n".join(msg.get_all("Output")) if "Output" in msg else ""
    message = Message(headers, content=content)
    message.ami = msg  # the original, ordered, for our side of the seam
    return message


def _from_panoramisk(message: Any) -> AmiMessage:
    if isinstance(message, AmiMessage):  # an event that never went through panoramisk
        return message
    ami = getattr(message, "ami", None)
    if isinstance(ami, AmiMessage):
        return ami
    return AmiMessage(tuple((str(k), str(v)) for k, v in message.items()))  # pragma: no cover


class _CodecProtocol(AMIProtocol):
    """panoramisk's protocol with its parser swapped for :class:`AmiCodec` (bytes split into
    lines before decoding, so no character is ever cut)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.codec = AmiCodec(group_lists=False)
        self.banner: str | None = None

    def data_received(self, data: bytes) -> None:
        try:
            self.codec.feed(data)
        except AmiProtocolError as exc:
            log.error("AMI stream from Asterisk is malformed, closing: %s", exc)
            self.transport.close()
            return
        for item in self.codec.items():
            if isinstance(item, AmiBanner):
                self.banner = item.text
                self.version = item.version
                continue
            if item.is_event and item.action_id is None and "CommandID" not in item \
                    and item["Event"].lower() != "shutdown":
                # nearly every event: no action waits for it, so do what handle_message would
                # (dispatch it) without building panoramisk's Message for it
                self.factory.dispatch(item)
            elif item.is_event or item.is_response:
                self.handle_message(_to_panoramisk(item))
            if item.is_event and (item.get("EventList") or "").lower() == "complete":
                on_complete = getattr(self.factory, "list_completed", None)
                if on_complete is not None:
                    on_complete(item)


class _Manager(Manager):
    """``Manager`` whose connection loss, events and pings are handed to :class:`AmiClient`."""

    def __init__(self, owner: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self._owner = owner

    def ping(self) -> None:  # our keep-alive checks the answer; panoramisk's does not
        self.pinger = None

    def dispatch(self, event: Any) -> list[str]:
        self._owner._on_message(_from_panoramisk(event))
        return []

    def list_completed(self, msg: AmiMessage) -> None:
        self._owner._on_list_complete(msg)

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        # panoramisk parks unanswered actions for re-sending; we fail them instead.
        self.awaiting_actions.clear()
        if isinstance(exc, Message):
            reason = "Asterisk is shutting down"
        else:
            reason = "connection closed by Asterisk" + (f" ({exc})" if exc else "")
        self._owner._on_lost(self, reason)


# --- event stream ----------------------------------------------------------------------------


class AmiEventStream:
    """An async iterator over events; bounded, the oldest event is dropped (and counted) when
    the consumer falls behind."""

    _END = object()

    def __init__(self, client: AmiClient, maxsize: int) -> None:
        self._client = client
        self._items: deque[Any] = deque()
        self._maxsize = maxsize
        self._wakeup = asyncio.Event()
        self.dropped = 0

    def _put(self, event: Any) -> None:
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self._items.append(self._END)
        self._wakeup.set()

    def __aiter__(self) -> AmiEventStream:
        return self

    async def __anext__(self) -> AmiEvent:
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items[0]
        if item is self._END:  # stays: every later call ends too
            self._client._streams.discard(self)
            raise StopAsyncIteration
        return self._items.popleft()

    async def get(self, timeout: float | None = None) -> AmiEvent:
        """Next event, or ``TimeoutError``."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    def aclose(self) -> None:
        """Stop receiving events (synchronous, despite the name: nothing to await)."""
        self._client._streams.discard(self)


# --- the client ------------------------------------------------------------------------------


class _Tracker:
    """What the client saw since the last QueueStatus, to tell after a reconnect what was missed."""

    def __init__(self) -> None:
        self.snapshot: QueueSnapshot | None = None
        self.completed: dict[str, int] = {}
        self.abandoned: dict[str, int] = {}
        self.waiting: dict[str, set[str]] = {}
        self.members: dict[tuple[str, str], tuple[bool, str]] = {}  # (queue, interface) -> paused, reason

    def reset(self, snapshot: QueueSnapshot) -> None:
        self.snapshot = snapshot
        self.completed.clear()
        self.abandoned.clear()
        self.waiting = {}
        for entry in snapshot.entries:
            self.waiting.setdefault(entry.queue, set()).add(entry.uniqueid)
        self.members = {(m.queue, m.interface): (m.paused, m.paused_reason) for m in snapshot.members}

    def seen(self, event: AmiEvent) -> None:
        if isinstance(event, AgentComplete):
            self.completed[event.queue] = self.completed.get(event.queue, 0) + 1
        elif isinstance(event, QueueCallerAbandon):
            self.abandoned[event.queue] = self.abandoned.get(event.queue, 0) + 1
        elif isinstance(event, QueueCallerJoin):
            self.waiting.setdefault(event.queue, set()).add(event.uniqueid)
        elif isinstance(event, QueueCallerLeave):
            self.waiting.setdefault(event.queue, set()).discard(event.uniqueid)
        elif isinstance(event, QueueMemberRemoved):
            self.members.pop((event.queue, event.interface), None)
        elif isinstance(event, MemberEvent):
            self.members[(event.queue, event.interface)] = (event.paused, event.paused_reason)

    def missed(self, new: QueueSnapshot) -> list[str]:
        """Differences between what events told us and what Asterisk now says."""
        lines: list[str] = []
        old = self.snapshot
        if old is None:
            return lines
        old_params = {p.queue: p for p in old.params}
        for params in new.params:
            before = old_params.get(params.queue)
            if before is None:
                lines.append(f"queue {params.queue}: appeared")
                continue
            completed = params.completed - before.completed - self.completed.get(params.queue, 0)
            abandoned = params.abandoned - before.abandoned - self.abandoned.get(params.queue, 0)
            if completed < 0 or abandoned < 0:
                seen_c = before.completed + self.completed.get(params.queue, 0)
                seen_a = before.abandoned + self.abandoned.get(params.queue, 0)
                lines.append(f"queue {params.queue}: counters are below what was already seen "
                             f"(Asterisk restarted or the queue was reset): Completed {params.completed} "
                             f"(seen {seen_c}), Abandoned {params.abandoned} (seen {seen_a})")
            elif completed or abandoned:
                lines.append(f"queue {params.queue}: {completed} call(s) completed and {abandoned} abandoned "
                             "while disconnected")
            now_waiting = {e.uniqueid for e in new.entries if e.queue == params.queue}
            unseen = now_waiting - self.waiting.get(params.queue, set())
            if unseen:
                lines.append(f"queue {params.queue}: {len(unseen)} caller(s) joined while disconnected and still wait")
        for name in sorted(set(old_params) - {p.queue for p in new.params}):
            lines.append(f"queue {name}: gone")
        now_members = {(m.queue, m.interface): m for m in new.members}
        for key, m in sorted(now_members.items()):
            known = self.members.get(key)
            if known is None:
                lines.append(f"queue {m.queue}: member {m.member_name or m.interface} added")
            elif known[0] != m.paused:
                state = f"paused ({m.paused_reason})" if m.paused and m.paused_reason else (
                    "paused" if m.paused else "unpaused")
                lines.append(f"queue {m.queue}: member {m.member_name or m.interface} now {state}")
        for key in sorted(set(self.members) - set(now_members)):
            lines.append(f"queue {key[0]}: member {key[1]} removed")
        return lines


class AmiClient:
    """An AMI connection to Asterisk (or the PBX simulator) with typed actions and events.

    ``await client.connect()`` logs in (``AmiAuthError`` / ``AmiConnectionError`` on failure) and
    from then on keeps the connection up, reconnecting with backoff until :meth:`close`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "hotline",
        secret: str = "",
        *,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        ping_interval: float = 20.0,
        reread_queues: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.ping_interval = ping_interval
        self.reread_queues = reread_queues
        self._clock = clock
        self._manager: _Manager | None = None
        self._lost_future: asyncio.Future[str] | None = None
        self._callbacks: list[EventCallback] = []
        self._streams: set[AmiEventStream] = set()
        self._inflight: set[asyncio.Future[Any]] = set()
        self._originate_waiters: dict[str, asyncio.Future[OriginateResponse]] = {}
        self._tracker = _Tracker()
        self._supervisor: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._closing = False
        self._ids = itertools.count(1)
        self._id_prefix = f"hl-{id(self) & 0xFFFF:04x}"
        self.banner: str = ""
        self.connected = False
        self.reconnects = 0
        self._up_since = 0.0  # time.monotonic() of the last successful login
        # events kept back while (re)connecting, and how many of them came before QueueStatus's end
        self._held: list[AmiEvent] | None = None
        self._held_split: int | None = None

    def __repr__(self) -> str:  # no secret, ever
        return f"<AmiClient {self.username}@{self.host}:{self.port} connected={self.connected}>"

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> AmiClient:
        ami = config.ami
        return cls(ami.host, ami.port, ami.username, config.ami_secret(),
                   connect_timeout=ami.connect_timeout, reconnect_min=ami.reconnect_min,
                   reconnect_max=ami.reconnect_max, ping_interval=ami.ping_interval, **kwargs)

    # -- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """First connection: errors are raised (wrong secret, nobody listening, no banner).

        Publishes :class:`AmiConnected` with the first QueueStatus (``queue_snapshot``), in its
        place in the event stream: events Asterisk sent before the QueueStatus answer come before
        it, later ones after. Subscribe (or open ``events()``) before ``connect()`` to get it and
        every event after it, with no gap between the snapshot and the events.
        """
        self._closing = False
        snapshot, _ = await self._open_and_read()  # nothing missed yet on a first connection
        self._release(AmiConnected(received=self._clock(), banner=self.banner, queue_snapshot=snapshot))
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def _open_and_read(self) -> tuple[QueueSnapshot | None, list[str]]:
        """Log in, then (``reread_queues``) read QueueStatus, holding events back meanwhile:
        :meth:`_release` publishes them around the fact that announces the connection."""
        self._held, self._held_split = [], None
        try:
            await self._open()
            if not self.reread_queues:
                return None, []
            try:
                snapshot = await self.queue_status()
            except (AmiActionError, AmiConnectionError, TimeoutError) as exc:
                if not self.connected:  # logged in, then hung up on: a failed attempt, not a connection
                    raise AmiConnectionError(f"AMI at {self.host}:{self.port}: connection closed right "
                                             "after the login") from None
                return None, [f"QueueStatus after reconnect failed: {exc}"]
            missed = self._tracker.missed(snapshot)
            self._tracker.reset(snapshot)
            split = len(self._held) if self._held_split is None else self._held_split
            for event in self._held[split:]:  # after the snapshot: count them against the next one
                self._tracker.seen(event)
            return snapshot, missed
        except BaseException:
            self._held = self._held_split = None  # nothing of a failed attempt is published
            raise

    def _release(self, announce: AmiEvent) -> None:
        """Publish the held events with ``announce`` where the QueueStatus answer ended."""
        held, split = self._held or [], self._held_split
        self._held = self._held_split = None
        split = len(held) if split is None else split
        for event in held[:split]:
            self._publish(event)
        self._publish(announce)
        for event in held[split:]:
            self._publish(event)

    def _on_list_complete(self, msg: AmiMessage) -> None:
        if self._held is not None and self._held_split is None and msg.get("Event") == "QueueStatusComplete":
            self._held_split = len(self._held)

    async def __aenter__(self) -> AmiClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        where = f"{self.host}:{self.port}"
        manager = _Manager(
            self, host=self.host, port=self.port, username=self.username, secret=self._secret,
            events="on", loop=loop, ping_delay=10**6, ping_interval=10**6,
            protocol_factory=_CodecProtocol, log=logging.getLogger(__name__ + ".panoramisk"),
        )
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation when the
            # connection fails at the same moment, and close() would never stop the reconnect loop
            async with asyncio.timeout(self.connect_timeout):
                transport, protocol = await loop.create_connection(_CodecProtocol, self.host, self.port)
        except TimeoutError:
            raise AmiConnectionError(f"AMI at {where}: no TCP connection within {self.connect_timeout:g} s") from None
        except OSError as exc:
            raise AmiConnectionError(f"AMI at {where}: cannot connect ({exc.strerror or exc})") from None
        self._lost_future = loop.create_future()
        done: asyncio.Future[Any] = loop.create_future()
        done.set_result((transport, protocol))
        manager.connection_made(done)  # panoramisk sends Login here
        auth = manager.authenticated_future
        lost = self._lost_future
        self._manager = manager
        finished, _ = await asyncio.wait({auth, lost}, timeout=self.connect_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        if auth.done():
            reply = _from_panoramisk(auth.result())
            if not reply.is_success:
                self._drop(manager)
                raise AmiAuthError(f"AMI at {where}: login as {self.username!r} refused: "
                                   f"{reply.get('Message') or reply.response}")
        else:
            self._drop(manager)
            if lost in finished:
                raise AmiConnectionError(f"AMI at {where}: connection closed before the Login answer")
            raise AmiConnectionError(f"AMI at {where}: no answer to Login within {self.connect_timeout:g} s")
        self.banner = getattr(protocol, "banner", None) or ""
        self.connected = True
        self._up_since = time.monotonic()
        self._keepalive = loop.create_task(self._keep_alive(manager))
        log.info("AMI connected to %s as %s (%s)", where, self.username, self.banner or "no banner")

    def _drop(self, manager: _Manager) -> None:
        """Close one connection without reporting it as lost."""
        if self._manager is manager:
            self._manager = None
            self.connected = False
        with contextlib.suppress(Exception):
            manager.close()

    async def _keep_alive(self, manager: _Manager) -> None:
        while self._manager is manager:
            await asyncio.sleep(self.ping_interval)
            if self._manager is not manager:
                return
            try:
                await self.ping()
            except (AmiConnectionError, AmiActionError, TimeoutError):
                if self._manager is manager:
                    log.warning("AMI keep-alive Ping unanswered; dropping the connection")
                    manager.close()  # panoramisk won't report a close it made itself
                    self._on_lost(manager, "keep-alive Ping unanswered")
                return

    def _on_lost(self, manager: _Manager, reason: str) -> None:
        if self._manager is not manager:
            return
        self._manager = None
        self.connected = False
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        for fut in list(self._inflight):
            if not fut.done():
                fut.set_exception(AmiConnectionError(f"AMI connection lost ({reason}) before the answer"))
        for fut in self._originate_waiters.values():
            if not fut.done():
                fut.set_exception(AmiConnectionError(f"AMI connection lost ({reason}) before OriginateResponse"))
        self._originate_waiters.clear()
        if self._lost_future is not None and not self._lost_future.done():
            self._lost_future.set_result(reason)

    async def _supervise(self) -> None:
        """Reconnect after each loss. The delay doubles from ``reconnect_min`` to ``reconnect_max``
        and starts over only after a connection stayed up ``reconnect_max`` seconds: a flapping
        server is redialled once per backoff step, not at once after every short-lived login."""
        delay = self.reconnect_min
        while not self._closing:
            lost = self._lost_future
            if lost is None:
                return
            reason = await asyncio.shield(lost)
            if self._closing:
                return
            down_since = self._clock()
            started = time.monotonic()
            up = started - self._up_since
            flapped = up < self.reconnect_max
            if flapped:
                log.warning("AMI connection to %s:%s lost %.1f s after the login: %s; reconnecting in %g s",
                            self.host, self.port, up, reason, delay)
            else:
                delay = self.reconnect_min
                log.warning("AMI connection to %s:%s lost: %s; reconnecting", self.host, self.port, reason)
            self._publish(AmiDisconnected(received=down_since, reason=reason))
            attempts = 0
            snapshot: QueueSnapshot | None = None
            missed: list[str] = []
            while not self._closing:
                if attempts or flapped:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.reconnect_max)
                    if self._closing:
                        break
                attempts += 1
                try:
                    snapshot, missed = await self._open_and_read()
                    break
                except AmiAuthError as exc:
                    log.error("AMI reconnect attempt %d: %s; next in %g s", attempts, exc, delay)
                except AmiConnectionError as exc:
                    log.info("AMI reconnect attempt %d failed: %s; next in %g s", attempts, exc, delay)
            if self._closing:
                self._held = self._held_split = None
                return
            self.reconnects += 1
            down = time.monotonic() - started
            log.warning("AMI reconnected to %s:%s after %.1f s (%d attempt(s)); missed: %s",
                        self.host, self.port, down, attempts, "; ".join(missed) or "nothing")
            self._release(AmiReconnected(received=self._clock(), down_seconds=down, attempts=attempts,
                                         queue_snapshot=snapshot, missed=tuple(missed)))

    async def close(self) -> None:
        """Log off (when connected) and stop reconnecting; streams end."""
        self._closing = True
        manager = self._manager
        if manager is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self._send(manager, "Logoff", {})
            self._drop(manager)
        for task in (self._supervisor, self._keepalive):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._supervisor = self._keepalive = None
        if self._lost_future is not None and not self._lost_future.done():
            self._lost_future.set_result("closed")
        for stream in list(self._streams):
            stream.close()

    # -- events -------------------------------------------------------------------------------

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """``callback(event)`` for every event (exceptions are logged, not raised); returns an
        unsubscribe function. Coroutine results are scheduled as tasks."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def events(self, maxsize: int = 10_000) -> AmiEventStream:
        """An async iterator of events from now on (ends when the client is closed)."""
        stream = AmiEventStream(self, maxsize)
        self._streams.add(stream)
        return stream

    def _on_message(self, msg: AmiMessage) -> None:
        event = event_from_message(msg, self._clock())
        if event is None:
            return
        self._tracker.seen(event)
        if isinstance(event, OriginateResponse):
            waiter = self._originate_waiters.pop(event.action_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event)
        self._publish(event)

    def _publish(self, event: AmiEvent) -> None:
        if self._held is not None:  # (re)connecting: kept back until the snapshot is in
            self._held.append(event)
            return
        for callback in list(self._callbacks):
            try:
                result = callback(event)
                if asyncio.iscoroutine(result):
                    asyncio.get_running_loop().create_task(result)
            except Exception:
                log.exception("AMI event subscriber %r failed on %s", callback, event.name)
        for stream in list(self._streams):
            stream._put(event)

    # -- actions ------------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def _send(self, manager: _Manager, action: str, headers: Mapping[str, Any] | Sequence[tuple[str, Any]],
                    *, single: bool = True, timeout: float | None = None) -> Any:
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        data: dict[str, Any] = {"Action": action, "ActionID": self._next_id()}
        for key, value in pairs:
            if value is None:
                continue
            values = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
            for v in values:
                if "\r" in v or "\n" in v:
                    raise ValueError(f"AMI {action}: header {key} may not contain a line break")
            data[key] = values if len(values) > 1 else values[0]
        # single=True forces one response (as_list=False); None lets panoramisk see EventList.
        future = manager.send_action(data, as_list=False if single else None)
        self._inflight.add(future)
        try:
            async with asyncio.timeout(timeout or self.action_timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            protocol = manager.protocol
            if protocol is not None:
                protocol.responses.pop(data["ActionID"], None)
            raise TimeoutError(f"AMI {action}: no answer within {timeout or self.action_timeout:g} s") from None
        finally:
            self._inflight.discard(future)

    async def action(self, action: str, headers: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
                     *, timeout: float | None = None) -> AmiMessage:
        """Any single-response action; ``Response: Error`` raises :class:`AmiActionError`."""
        manager = self._manager
        if manager is None:
            raise AmiConnectionError(f"AMI {action}: not connected")
        reply = _from_panoramisk(await self._send(manager, action, headers, timeout=timeout))
        if not reply.is_success:
            raise AmiActionError(action, reply.get("Message") or reply.response or "error")
        return reply

    async def list_action(self, action: str, headers: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
                          *, timeout: float | None = None) -> list[AmiMessage]:
        """A list action (``EventList: start`` ... ``Complete``): the events between, in order."""
        manager = self._manager
        if manager is None:
            raise AmiConnectionError(f"AMI {action}: not connected")
        result = await self._send(manager, action, headers, single=False, timeout=timeout)
        messages = [_from_panoramisk(m) for m in (result if isinstance(result, list) else [result])]
        first = messages[0]
        if not first.is_success:
            raise AmiActionError(action, first.get("Message") or first.response or "error")
        return [m for m in messages[1:] if m.is_event and not (m.get("EventList") or "").lower() == "complete"]

    def _result(self, action: str, reply: AmiMessage) -> ActionResult:
        return ActionResult(action, reply.action_id or "", reply.get("Message") or "", reply.headers)

    async def ping(self) -> PingResult:
        started = time.monotonic()
        reply = await self.action("Ping")
        try:
            stamp = float(reply.get("Timestamp") or 0)
        except ValueError:
            stamp = 0.0
        return PingResult(reply.action_id or "", stamp, time.monotonic() - started)

    async def queue_status(self, queue: str | None = None, member: str | None = None) -> QueueSnapshot:
        now = self._clock()
        events = await self.list_action("QueueStatus", {"Queue": queue, "Member": member})
        return QueueSnapshot.of(now, [event_from_message(msg, now) for msg in events])

    async def core_show_channels(self) -> tuple[str, ...]:
        """Uniqueids of every channel Asterisk has up (``CoreShowChannels``): after a reconnect,
        which calls ended while the events were lost."""
        return tuple(uid for m in await self.list_action("CoreShowChannels") if (uid := m.get("Uniqueid")))

    async def queue_summary(self, queue: str | None = None) -> tuple[QueueSummary, ...]:
        now = self._clock()
        events = await self.list_action("QueueSummary", {"Queue": queue})
        return tuple(e for e in (event_from_message(m, now) for m in events) if isinstance(e, QueueSummary))

    async def queue_add(self, queue: str, interface: str, *, member_name: str | None = None,
                        penalty: int | None = None, paused: bool | None = None,
                        state_interface: str | None = None, reason: str | None = None) -> ActionResult:
        reply = await self.action("QueueAdd", {
            "Queue": queue, "Interface": interface, "MemberName": member_name, "Penalty": penalty,
            "Paused": None if paused is None else ("true" if paused else "false"),
            "StateInterface": state_interface, "Reason": reason})
        return self._result("QueueAdd", reply)

    async def queue_remove(self, queue: str, interface: str) -> ActionResult:
        return self._result("QueueRemove", await self.action("QueueRemove", {"Queue": queue, "Interface": interface}))

    async def queue_pause(self, interface: str, paused: bool, *, queue: str | None = None,
                          reason: str | None = None) -> ActionResult:
        reply = await self.action("QueuePause", {"Queue": queue, "Interface": interface,
                                                 "Paused": "true" if paused else "false", "Reason": reason})
        return self._result("QueuePause", reply)

    async def hangup(self, channel: str, cause: int | None = None) -> ActionResult:
        return self._result("Hangup", await self.action("Hangup", {"Channel": channel, "Cause": cause}))

    async def command(self, command: str) -> CommandResult:
        reply = await self.action("Command", {"Command": command})
        return CommandResult(reply.action_id or "", tuple(reply.get_all("Output")))

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int | None = None,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | Iterable[str] | None = None,
        timeout_ms: int | None = None,
        wait: bool = False,
        wait_timeout: float = 60.0,
    ) -> OriginateResult:
        """Place a call (always ``Async: true``). ``wait=True`` also waits for its
        OriginateResponse (answered or failed)."""
        if (application is None) == (context is None and exten is None):
            raise ValueError("originate: give either context/exten/priority or application/data")
        if variables is None:
            var_list: list[str] = []
        elif isinstance(variables, Mapping):
            var_list = [f"{k}={v}" for k, v in variables.items()]
        else:
            var_list = list(variables)
        headers: list[tuple[str, Any]] = [
            ("Channel", channel), ("Context", context), ("Exten", exten),
            ("Priority", priority if priority is not None or application else (1 if context else None)),
            ("Application", application), ("Data", data), ("CallerID", caller_id),
            ("Timeout", timeout_ms), ("Async", "true"),
        ]
        if var_list:
            headers.append(("Variable", var_list))
        manager = self._manager
        if manager is None:
            raise AmiConnectionError("AMI Originate: not connected")
        waiter: asyncio.Future[OriginateResponse] | None = None
        action_id = self._next_id()
        if wait:
            waiter = asyncio.get_running_loop().create_future()
            self._originate_waiters[action_id] = waiter
        try:
            reply = await self.action("Originate", [("ActionID", action_id), *headers])
            response = None
            if waiter is not None:
                async with asyncio.timeout(wait_timeout):
                    response = await waiter
        finally:
            self._originate_waiters.pop(action_id, None)
        return OriginateResult(reply.action_id or action_id, reply.get("Message") or "", response)

