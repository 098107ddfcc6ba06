"""FastAGI server: panoramisk's ``fast_agi.Application`` behind one adapter.

The design card picks panoramisk's Application. Its sharp edges (panoramisk 1.4), and what
this adapter does about each:

- The header loop ``while b'\\n\\n' not in buffer: buffer += await reader.read(100)`` spins
  forever when the peer closes before the blank line (``read`` returns ``b''`` for ever).
  The Application gets a header guard instead of the raw stream: it reads the header with
  our own codec (bounded size, ``header_timeout``) and raises :class:`AgiHangup` at EOF,
  which ends that connection only.
- Routes are looked up with the whole ``agi_network_script``, ``?query`` included, so
  ``agi://host/main_menu?lang=zh`` would find no route. The guard hands panoramisk the header
  with the bare script name; the query stays in :class:`AgiRequest` (``channel.request``).
- Routes must be ``async def`` (``asyncio.coroutine`` is gone in 3.11): we register only our
  own coroutine endpoints.
- Its ``Request.send_command`` cannot read 520 usage replies, the async ``HANGUP`` line or EOF:
  commands go through :class:`AgiChannel` on the same stream instead.
- It logs the whole header (caller number and name) at DEBUG: a log filter drops that record.

No panoramisk type leaves this module: a flow handler is ``async def handler(channel) -> None``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk import fast_agi

from engine.asterisk.agi_channel import AgiChannel
from engine.asterisk.agi_codec import AgiCodec, AgiRequest
from engine.asterisk.errors import AgiError, AgiHangup, AgiProtocolError
from engine.listen import warn_if_exposed

log = logging.getLogger(__name__)

FlowHandler = Callable[[AgiChannel], Awaitable[None]]


class _NoHeaderDump(logging.Filter):
    """panoramisk logs every ``agi_*`` header at DEBUG, caller number included: drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Asterisk Headers")


_PANORAMISK_LOG = logging.getLogger("panoramisk.fast_agi")
if not any(isinstance(f, _NoHeaderDump) for f in _PANORAMISK_LOG.filters):
    _PANORAMISK_LOG.addFilter(_NoHeaderDump())


class _HeaderGuard:
    """What panoramisk's Application reads from instead of the socket.

    ``read()`` returns the complete, normalized header once (bare script name, LF lines,
    exactly up to the blank line), and raises AgiHangup at EOF instead of returning ``b''``.
    """

    def __init__(self, reader: asyncio.StreamReader, timeout: float | None) -> None:
        self.inner = reader
        self.codec = AgiCodec()
        self.request: AgiRequest | None = None
        self._timeout = timeout
        self._served = False

    async def read_request(self) -> AgiRequest:
        if self.request is not None:
            return self.request
        async with asyncio.timeout(self._timeout):
            while True:
                item = self.codec.next_item()
                if isinstance(item, AgiRequest):
                    self.request = item
                    return item
                data = await self.inner.read(4096)
                if not data:
                    raise AgiHangup("connection closed before the agi_* request header ended")
                self.codec.feed(data)

    async def read(self, n: int = -1) -> bytes:
        if self._served:
            raise AgiHangup("header already delivered")  # panoramisk never reads twice
        request = await self.read_request()
        self._served = True
        lines = []
        for key, value in request.headers:
            if key == "agi_network_script":
                value = request.script
            lines.append(f"{key}: {value}\n")
        return ("".join(lines) + "\n").encode("utf-8")


class AgiServer:
    """FastAGI server routing each session by flow name (the bare script name).

    ``server.route("main_menu", handler)``; ``await server.start()``; ``server.port`` is the
    bound port (give port 0 to let the OS choose). ``stats`` counts sessions and outcomes.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        header_timeout: float | None = 10.0,
        hangup_grace: float = 0.3,
        command_timeout: float | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self._header_timeout = header_timeout
        self._hangup_grace = hangup_grace
        self._command_timeout = command_timeout
        self._routes: dict[str, FlowHandler] = {}
        self._app: fast_agi.Application | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self.stats: dict[str, int] = {
            "sessions": 0,
            "completed": 0,
            "hangups": 0,
            "command_errors": 0,
            "handler_errors": 0,
            "no_route": 0,
            "bad_header": 0,
        }

    # -- routes ------------------------------------------------------------------------------

    def route(self, name: str, handler: FlowHandler) -> None:
        """Register ``async def handler(channel) -> None`` for the flow (script) ``name``."""
        if not asyncio.iscoroutinefunction(handler):
            raise TypeError(f"FastAGI handler for {name!r} must be an async def function")
        name = name.strip("/")
        if "?" in name:
            raise ValueError(f"route {name!r}: give the bare script name; the query is passed to the flow")
        if name in self._routes:
            raise ValueError(f"route {name!r} already registered")
        self._routes[name] = handler
        if self._app is not None:
            self._app.add_route(name, self._endpoint(name))

    @property
    def routes(self) -> list[str]:
        return list(self._routes)

    def _endpoint(self, name: str) -> Callable[[Any], Awaitable[None]]:
        async def endpoint(request: Any) -> None:  # panoramisk's Request; used only here
            guard: _HeaderGuard = request.reader
            assert guard.request is not None
            channel = AgiChannel(
                guard.request,
                guard.inner,
                request.writer,
                guard.codec,
                hangup_grace=self._hangup_grace,
                command_timeout=self._command_timeout,
            )
            await self._run_flow(name, channel)

        return endpoint

    async def _run_flow(self, name: str, channel: AgiChannel) -> None:
        req = channel.request
        try:
            await self._routes[name](channel)
        except AgiHangup as exc:
            self.stats["hangups"] += 1
            log.info("flow %s on %s ended: %s", name, req.uniqueid, exc)
            return
        except AgiError as exc:
            self.stats["command_errors"] += 1
            log.warning("flow %s on %s stopped: %s", name, req.uniqueid, exc)
            return
        except Exception as exc:  # a bug in a flow must not take the server down
            self.stats["handler_errors"] += 1
            log.error("flow %s on %s raised %s: %s", name, req.uniqueid, exc.__class__.__name__, exc)
            return
        if channel.caller_hung_up:  # the flow caught the hang-up (to keep its record) and returned
            self.stats["hangups"] += 1
            log.info("flow %s on %s ended: the caller hung up", name, req.uniqueid)
            return
        self.stats["completed"] += 1

    # -- connections ---------------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._app is not None
        self.stats["sessions"] += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        guard = _HeaderGuard(reader, self._header_timeout)
        try:
            try:
                request = await guard.read_request()
            except AgiHangup as exc:
                self.stats["hangups"] += 1
                log.info("FastAGI connection ended early: %s", exc)
                return
            except (AgiProtocolError, TimeoutError) as exc:
                self.stats["bad_header"] += 1
                log.warning("FastAGI connection dropped: bad request header (%s)", exc or "timeout")
                return
            if request.script not in self._routes:
                self.stats["no_route"] += 1
                log.error("FastAGI: no flow named %r (known: %s)", request.script, ", ".join(self._routes))
                return
            await self._app.handler(guard, writer)
        except (ConnectionError, OSError) as exc:
            log.info("FastAGI connection lost: %s", exc.__class__.__name__)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._conn_tasks.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._app = fast_agi.Application(loop=asyncio.get_running_loop())
        for name in self._routes:
            self._app.add_route(name, self._endpoint(name))
        self._server = await asyncio.start_server(self._on_connect, self.host, self._port)
        log.info("FastAGI server listening on %s:%d (flows: %s)", self.host, self.port, ", ".join(self._routes))
        warn_if_exposed(log, "FastAGI", self.host, self.port)

    @property
    def port(self) -> int:
        """The bound port once started (still known after stop), else the configured one."""
        if self._server is not None and self._server.sockets:
            self._port = self._server.sockets[0].getsockname()[1]
        return self._port

    async def stop(self, grace: float = 2.0) -> None:
        """Stop listening and close open sessions: their flows see AgiHangup and get ``grace``
        seconds to finish; flows still running after that are cancelled."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        pending = set(self._conn_tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("FastAGI stop: %d flows did not end within %.1f s; cancelled", len(late), grace)
                await asyncio.wait(late, timeout=1.0)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> AgiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
