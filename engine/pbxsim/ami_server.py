"""The PBX simulator's AMI side: an asyncio server that answers as Asterisk does in the recordings.

Banner ``Asterisk Call Manager/13.0.0`` with no blank line after it; Login (failure answers
``Authentication failed`` and closes the connection); Ping, QueueStatus and QueueSummary (list
responses: ``EventList: start``, events with the ActionID last, ``...Complete`` with
``ListItems``), QueueAdd, QueueRemove, QueuePause, Originate, Hangup, Command, Logoff, and the
recorded error text for an unknown action. Events from the :class:`QueueModel` go to every
logged-in connection that asked for events, in the recorded header order.

Control for tests (Python methods): :meth:`AmiServer.add_caller`, :meth:`pause_member`,
:meth:`advance` (manual clock), :meth:`drop_connections`, :meth:`restart`; and the same over
AMI itself with the actions ``PbxSimAddCaller`` and ``PbxSimDropConnections`` so that a tool
run against ``hotline pbxsim`` can drive it. ``fragment_utf8=True`` writes every message
holding non-ASCII text in two TCP writes cut inside a character, as a real network may.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from engine.asterisk.ami_codec import AmiCodec, AmiMessage, serialize_message
from engine.asterisk.errors import AmiProtocolError
from engine.pbxsim.clock import ManualClock, ScaledClock
from engine.pbxsim.queue_model import QueueModel, SimConfig, WireEvent, load_queues

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/13.0.0\r\n"
MAX_OUTBOX = 50_000  # messages queued for one client before it counts as gone
VERSION_TEXT = "Asterisk GIT-master-f0c1c1a7b7 (hotline pbxsim) built by hotline on a x86_64 running Linux"

Pairs = list[tuple[str, str]]
Clock = ManualClock | ScaledClock

_CALLERID = re.compile(r'^\s*(?:"(?P<qname>[^"]*)"|(?P<name>[^<]*?))\s*(?:<(?P<num>[^>]*)>)?\s*$')


def parse_callerid(text: str) -> tuple[str, str]:
    """``"张三丰 市民" <13912345678>`` -> (name, number)."""
    m = _CALLERID.match(text or "")
    if not m:
        return "", text
    name = m.group("qname") if m.group("qname") is not None else (m.group("name") or "")
    num = m.group("num") or ""
    if not num and name.isdigit():
        return "", name
    return name.strip(), num.strip()


@dataclass(eq=False)
class _Session:
    writer: asyncio.StreamWriter
    outbox: asyncio.Queue[bytes | None]
    peer: str
    authenticated: bool = False
    events: bool = True
    username: str = ""
    sid: str = ""


class AmiServer:
    """AMI on loopback over a :class:`QueueModel`. ``await start()`` then read ``port``."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "hotline",
        secret: str = "hotlinepw",
        fragment_utf8: bool = False,
    ) -> None:
        self.config = config or load_queues()
        self.clock: Clock = clock or ScaledClock()
        self.model = QueueModel(self.config, self.clock.now())
        self.extra_channels: dict[str, tuple[str, str, str]] = {}  # uniqueid -> (channel, uniqueid, linkedid)
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.fragment_utf8 = fragment_utf8
        self.fragment_delay = 0.005  # seconds between the two writes of a fragmented message
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[_Session] = set()
        self._runner: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._handler_tasks: set[asyncio.Task | None] = set()
        self._sid = itertools.count(0x7F55A400E490, 0x40)
        self._started = time.time()
        self.listeners: list[Callable[[WireEvent], None]] = []  # see every event (tests, bridges)
        self.logins_failed = 0

    def __repr__(self) -> str:
        return f"<AmiServer {self.host}:{self.port} sessions={len(self._sessions)}>"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self._runner is None and isinstance(self.clock, ScaledClock):
            self._runner = asyncio.get_running_loop().create_task(self._run())
        log.info("pbxsim AMI listening on %s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Asterisk stops: pending output is flushed, clients get a Shutdown event, then EOF."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self._close_listener()
        await self._close_sessions(graceful=True)

    async def __aenter__(self) -> AmiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> int:
        """Close every AMI connection at once, as a network failure would: what was not yet
        written is lost, no Shutdown event."""
        return await self._close_sessions(graceful=False)

    async def _close_sessions(self, *, graceful: bool) -> int:
        sessions = list(self._sessions)
        self._sessions.clear()
        shutdown = serialize_message((("Event", "Shutdown"), ("Privilege", "system,all"),
                                      ("Shutdown", "Cleanly"), ("Restart", "True")))
        for s in sessions:
            if graceful:
                if s.authenticated and s.events:
                    s.outbox.put_nowait(shutdown)
                s.outbox.put_nowait(None)  # the sender writes what is queued, then closes
            else:
                s.writer.transport.abort()
        # let the connection handlers finish (and flush) before anything else happens
        pending = [t for t in self._handler_tasks if t is not None and t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        return len(sessions)

    async def restart(self, down_for: float = 0.0, *, reset: bool = False, graceful: bool = True) -> None:
        """Asterisk goes away for ``down_for`` real seconds and comes back on the same port.
        ``graceful`` (a restart): pending events are sent, then a Shutdown event; otherwise (a
        crash) connections are cut at once. ``reset=True`` also forgets all state (counters,
        callers), as a real restart does."""
        await self._close_listener()
        await self._close_sessions(graceful=graceful)
        if down_for > 0:
            await asyncio.sleep(down_for)
        if reset:
            self.model = QueueModel(self.config, self.clock.now())
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    @property
    def connections(self) -> int:
        return len(self._sessions)

    # -- time ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        """Fire model timers as the scaled clock reaches them."""
        while True:
            self._emit(self.model.advance(self.clock.now()))
            due = self.model.next_timer()
            delay = 0.5 if due is None else self.clock.real_delay(due - self.clock.now())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(delay or 0.0, 0.5)):
                    await self._wake.wait()

    def advance(self, seconds: float) -> list[WireEvent]:
        """Manual clock: move simulated time on and send what happened."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs a ManualClock; a ScaledClock runs by itself")
        self.clock.advance(seconds)
        return self._emit(self.model.advance(self.clock.now()))

    def emit(self, events: list[WireEvent]) -> list[WireEvent]:
        """Send events (from the model, or made by a dialplan around it) to every client."""
        return self._emit(events)

    def _emit(self, events: list[WireEvent]) -> list[WireEvent]:
        for ev in events:
            for listener in self.listeners:
                listener(ev)
            data = b""  # written once, and only when some client takes events
            for s in list(self._sessions):
                if s.authenticated and s.events:
                    if s.outbox.qsize() >= MAX_OUTBOX:
                        # as Asterisk drops an AMI client that does not read (writetimeout)
                        log.warning("pbxsim AMI %s does not read its events; disconnecting it", s.peer)
                        self._sessions.discard(s)
                        s.writer.transport.abort()
                        continue
                    data = data or serialize_message(ev.wire_headers())
                    s.outbox.put_nowait(data)
        if events:
            self._wake.set()
        return events

    # -- control API --------------------------------------------------------------------------

    def add_caller(self, queue: str, *, caller_num: str = "", caller_name: str = "",
                   patience: float | None = None, talk_time: float | None = None) -> str:
        """A caller joins ``queue`` now; returns its Uniqueid (ground truth: ``model.record(uid)``)."""
        uid, events = self.model.add_caller(queue, self.clock.now(), caller_num=caller_num,
                                            caller_name=caller_name, patience=patience, talk_time=talk_time)
        self._emit(events)
        return uid

    def pause_member(self, interface: str, paused: bool = True, *, queue: str | None = None,
                     reason: str = "") -> None:
        self._emit(self.model.pause(interface, paused, self.clock.now(), queue=queue, reason=reason))

    # -- connections --------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        session = _Session(writer, asyncio.Queue(), f"{peer[0]}:{peer[1]}" if peer else "?",
                           sid=f"0x{next(self._sid):x}")
        self._handler_tasks.add(asyncio.current_task())
        self._sessions.add(session)
        sender = asyncio.get_running_loop().create_task(self._sender(session))
        session.outbox.put_nowait(BANNER)
        codec = AmiCodec(group_lists=False)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    codec.feed(data)
                except AmiProtocolError as exc:
                    log.warning("pbxsim AMI %s sent garbage, closing: %s", session.peer, exc)
                    break
                keep = True
                for item in codec.items():
                    if isinstance(item, AmiMessage):
                        keep = self._on_action(session, item)
                        if not keep:
                            break
                if not keep:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            self._sessions.discard(session)
            session.outbox.put_nowait(None)
            try:
                async with asyncio.timeout(2.0):
                    await sender
            except (asyncio.CancelledError, Exception):
                sender.cancel()
                writer.transport.abort()
            self._handler_tasks.discard(asyncio.current_task())

    async def _sender(self, s: _Session) -> None:
        try:
            while True:
                data = await s.outbox.get()
                if data is None:
                    break
                if self.fragment_utf8 and any(b >= 0x80 for b in data):
                    cut = next(i for i, b in enumerate(data) if b >= 0x80) + 1
                    s.writer.write(data[:cut])
                    await s.writer.drain()
                    await asyncio.sleep(self.fragment_delay)
                    data = data[cut:]
                s.writer.write(data)
                await s.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                s.writer.close()

    def _send(self, s: _Session, pairs: Iterable[tuple[str, str]]) -> None:
        s.outbox.put_nowait(serialize_message(pairs))

    def _respond(self, s: _Session, msg: AmiMessage, response: str, message: str | None = None,
                 extra: Pairs | None = None) -> None:
        pairs: Pairs = [("Response", response)]
        if msg.action_id is not None:
            pairs.append(("ActionID", msg.action_id))
        if message is not None:
            pairs.append(("Message", message))
        pairs += extra or []
        self._send(s, pairs)

    def _error(self, s: _Session, msg: AmiMessage, message: str) -> None:
        self._respond(s, msg, "Error", message)

    # -- actions ------------------------------------------------------------------------------

    def _on_action(self, s: _Session, msg: AmiMessage) -> bool:
        """Answer one action; False closes the connection."""
        action = (msg.get("Action") or "").strip()
        low = action.lower()
        if not action:
            self._error(s, msg, "Missing action in request")
            return True
        if low == "login":
            return self._login(s, msg)
        if low == "logoff":
            self._respond(s, msg, "Goodbye", "Thanks for all the fish.")
            return False
        if not s.authenticated:
            self._error(s, msg, "Permission denied")
            return True
        handler = self._handlers().get(low)
        if handler is None:
            self._error(s, msg, f"Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.")
            self._send(s, self._security_event(s, "RequestBadFormat", "Error", [
                ("RequestType", f"Action: {action}")]))
            return True
        try:
            handler(s, msg)
        except Exception as exc:  # a bug here must not kill the connection
            log.exception("pbxsim AMI action %s failed", action)
            self._error(s, msg, f"Internal error: {exc}")
        return True

    def _handlers(self) -> dict[str, Callable[[_Session, AmiMessage], None]]:
        return {
            "ping": self._ping, "queuestatus": self._queue_status, "queuesummary": self._queue_summary,
            "coreshowchannels": self._core_show_channels,
            "queueadd": self._queue_add, "queueremove": self._queue_remove, "queuepause": self._queue_pause,
            "originate": self._originate, "hangup": self._hangup, "command": self._command,
            "events": self._events, "pbxsimaddcaller": self._pbxsim_add_caller,
            "pbxsimdropconnections": self._pbxsim_drop,
        }

    def _security_event(self, s: _Session, name: str, severity: str, extra: Pairs) -> Pairs:
        tv = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
        local = s.writer.get_extra_info("sockname") or ("127.0.0.1", self.port)
        remote = s.writer.get_extra_info("peername") or ("127.0.0.1", 0)
        pairs: Pairs = [("Event", name), ("Privilege", "security,all"), ("EventTV", tv), ("Severity", severity),
                        ("Service", "AMI"), ("EventVersion", "1")]
        if name == "SuccessfulAuth":
            pairs += [("AccountID", s.username), ("SessionID", s.sid),
                      ("LocalAddress", f"IPV4/TCP/{local[0]}/{local[1]}"),
                      ("RemoteAddress", f"IPV4/TCP/{remote[0]}/{remote[1]}"), *extra, ("SessionTV", tv)]
        else:
            pairs += [("SessionID", s.sid), ("LocalAddress", f"IPV4/TCP/{local[0]}/{local[1]}"),
                      ("RemoteAddress", f"IPV4/TCP/{remote[0]}/{remote[1]}"), *extra, ("SessionTV", tv),
                      ("AccountID", s.username)]
        return pairs

    def _login(self, s: _Session, msg: AmiMessage) -> bool:
        if s.authenticated:
            self._respond(s, msg, "Success", "Already authenticated")
            return True
        user = msg.get("Username") or ""
        if user != self.username or (msg.get("Secret") or "") != self._secret:
            self.logins_failed += 1
            log.info("pbxsim AMI login as %r from %s refused", user, s.peer)  # never the secret
            self._error(s, msg, "Authentication failed")
            return False  # Asterisk closes the connection after a failed login
        s.authenticated = True
        s.username = user
        s.events = (msg.get("Events") or "on").strip().lower() not in ("off", "no", "false", "0")
        self._respond(s, msg, "Success", "Authentication accepted")
        uptime = int(time.time() - self._started)
        if s.events:
            self._send(s, [("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", str(uptime)),
                           ("LastReload", str(uptime)), ("Status", "Fully Booted")])
            self._send(s, self._security_event(s, "SuccessfulAuth", "Informational", [("UsingPassword", "0")]))
        return True

    def _events(self, s: _Session, msg: AmiMessage) -> None:
        mask = (msg.get("EventMask") or "on").strip().lower()
        s.events = mask not in ("off", "no", "false", "0")
        self._respond(s, msg, "Success", None, [("Events", "On" if s.events else "Off")])

    def _ping(self, s: _Session, msg: AmiMessage) -> None:
        self._respond(s, msg, "Success", None, [("Ping", "Pong"), ("Timestamp", f"{self.clock.now():.6f}")])

    def _list(self, s: _Session, msg: AmiMessage, what: str, complete: str, items: list[WireEvent]) -> None:
        self._respond(s, msg, "Success", None, [("EventList", "start"), ("Message", f"{what} will follow")])
        aid = [("ActionID", msg.action_id)] if msg.action_id is not None else []
        for ev in items:
            self._send(s, [*ev.wire_headers(), *aid])
        self._send(s, [("Event", complete), *aid, ("EventList", "Complete"), ("ListItems", str(len(items)))])

    def _queue_status(self, s: _Session, msg: AmiMessage) -> None:
        queue = msg.get("Queue") or None
        items = self.model.queue_status(self.clock.now(), queue)
        member = msg.get("Member")
        if member:
            items = [e for e in items if e.name != "QueueMember" or e.header("Location") == member]
        self._list(s, msg, "Queue status", "QueueStatusComplete", items)

    def _queue_summary(self, s: _Session, msg: AmiMessage) -> None:
        items = self.model.queue_summary(self.clock.now(), msg.get("Queue") or None)
        self._list(s, msg, "Queue summary", "QueueSummaryComplete", items)

    def _core_show_channels(self, s: _Session, msg: AmiMessage) -> None:
        """Every channel that is up: the queue model's and those a dialplan around it has up
        (``extra_channels``, e.g. calls in the IVR), as manager.c lists them (no recording)."""
        now = self.clock.now()
        self.model.advance(now)
        items = [WireEvent("CoreShowChannel", (
            ("Channel", channel), ("ChannelState", "6"), ("ChannelStateDesc", "Up"), ("Uniqueid", uid),
            ("Linkedid", linked), ("Application", ""), ("ApplicationData", ""), ("Duration", "00:00:00"),
            ("BridgeId", "")), now)
            for channel, uid, linked in [*self.model.live_channels(), *self.extra_channels.values()]]
        self._list(s, msg, "Channels", "CoreShowChannelsComplete", items)

    def _queue_add(self, s: _Session, msg: AmiMessage) -> None:
        queue, interface = msg.get("Queue") or "", msg.get("Interface") or ""
        if not queue or not interface:
            self._error(s, msg, "'Queue' not set." if not queue else "'Interface' not set.")
            return
        if queue not in self.model.queue_names:
            self._error(s, msg, "Unable to add interface to queue: No such queue")
            return
        try:
            penalty = int(msg.get("Penalty") or 0)
        except ValueError:
            self._error(s, msg, "Invalid penalty")
            return
        paused = (msg.get("Paused") or "").strip().lower() in ("1", "true", "yes", "on")
        try:
            events = self.model.add_member(queue, interface, self.clock.now(), name=msg.get("MemberName") or "",
                                           penalty=penalty, paused=paused, reason=msg.get("Reason") or "")
        except ValueError:
            self._error(s, msg, "Unable to add interface: Already there")
            return
        self._respond(s, msg, "Success", "Added interface to queue")
        self._emit(events)

    def _queue_remove(self, s: _Session, msg: AmiMessage) -> None:
        queue, interface = msg.get("Queue") or "", msg.get("Interface") or ""
        if not queue or not interface:
            self._error(s, msg, "Need 'Queue' and 'Interface' parameters.")
            return
        if queue not in self.model.queue_names:
            self._error(s, msg, "Unable to remove interface from queue: No such queue")
            return
        try:
            events = self.model.remove_member(queue, interface, self.clock.now())
        except KeyError:
            self._error(s, msg, "Unable to remove interface: Not there")
            return
        self._respond(s, msg, "Success", "Removed interface from queue")
        self._emit(events)

    def _queue_pause(self, s: _Session, msg: AmiMessage) -> None:
        interface, paused_text = msg.get("Interface") or "", msg.get("Paused")
        if not interface or paused_text is None:
            self._error(s, msg, "Need 'Interface' and 'Paused' parameters.")
            return
        paused = paused_text.strip().lower() in ("1", "true", "yes", "on")
        queue = msg.get("Queue") or None
        if queue is not None and queue not in self.model.queue_names:
            self._error(s, msg, "Interface not found")
            return
        try:
            events = self.model.pause(interface, paused, self.clock.now(), queue=queue,
                                      reason=msg.get("Reason") or "")
        except KeyError:
            self._error(s, msg, "Interface not found")
            return
        self._respond(s, msg, "Success", f"Interface {'paused' if paused else 'unpaused'} successfully")
        self._emit(events)

    def _variables(self, msg: AmiMessage) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in msg.get_all("Variable"):
            for part in item.split(","):
                key, _, value = part.partition("=")
                if key.strip():
                    out[key.strip().upper()] = value.strip()
        return out

    def _originate(self, s: _Session, msg: AmiMessage) -> None:
        channel = msg.get("Channel") or ""
        if not channel:
            self._error(s, msg, "Channel not specified")
            return
        variables = self._variables(msg)
        context, exten = msg.get("Context") or "", msg.get("Exten") or ""
        queue = variables.get("QUEUE") or next((n for n in (exten, context) if n in self.model.queue_names), "")
        name, num = parse_callerid(msg.get("CallerID") or "")
        try:
            patience = float(variables["PATIENCE"]) if "PATIENCE" in variables else None
            talk = float(variables["TALK"]) if "TALK" in variables else None
        except ValueError:
            self._error(s, msg, "Invalid PATIENCE or TALK variable")
            return
        self._respond(s, msg, "Success", "Originate successfully queued")
        now = self.clock.now()
        aid = msg.action_id or ""
        if queue:
            uid, events = self.model.add_caller(queue, now, caller_num=num, caller_name=name, patience=patience,
                                                talk_time=talk, context=context or "queue")
            chan = self.model.caller_channel(uid) or channel
        else:
            uid, chan, events = f"{int(now)}.{random.randint(1000, 9999)}", f"{channel}-00000001;1", []
        response = WireEvent("OriginateResponse", (
            ("Privilege", "call,all"), ("ActionID", aid), ("Response", "Success"), ("Channel", chan),
            *(((("Application", msg.get("Application") or ""), ("Data", msg.get("Data") or "")))
              if msg.get("Application") else (("Context", context), ("Exten", exten))),
            ("Reason", "4"), ("Uniqueid", uid), ("CallerIDNum", num or "<unknown>"),
            ("CallerIDName", name or "<unknown>")), now)
        join = next((i for i, e in enumerate(events) if e.name == "QueueCallerJoin"), len(events))
        events.insert(join, response)
        self._emit(events)

    def _hangup(self, s: _Session, msg: AmiMessage) -> None:
        channel = msg.get("Channel") or ""
        if not channel:
            self._error(s, msg, "No channel specified")
            return
        try:
            events = self.model.hangup(channel, self.clock.now())
        except KeyError:
            self._error(s, msg, "No such channel")
            return
        self._respond(s, msg, "Success", "Channel Hungup")
        self._emit(events)

    def _command(self, s: _Session, msg: AmiMessage) -> None:
        command = " ".join((msg.get("Command") or "").split())
        if command == "core show version":
            output = [VERSION_TEXT]
        elif command.startswith("queue show"):
            output = self._queue_show(command[len("queue show"):].strip())
        elif command == "core show channels":
            chans = self.model.channels()
            output = [*chans, f"{len(chans)} active channel(s)"]
        else:
            self._respond(s, msg, "Error", "Command output follows",
                          [("Output", f"No such command '{command}' (type 'core show help {command}' for other possible commands)")])
            return
        self._respond(s, msg, "Success", "Command output follows", [("Output", line) for line in output])

    def _queue_show(self, name: str) -> list[str]:
        lines = []
        for q in self.model.queue_names:
            if name and q != name:
                continue
            c = self.model.counters(q)
            lines.append(f"{q} has {int(c['calls'])} calls (max unlimited) in 'rrmemory' strategy "
                         f"({int(c['holdtime'])}s holdtime, {int(c['talktime'])}s talktime), "
                         f"W:0, C:{int(c['completed'])}, A:{int(c['abandoned'])}, SL:{c['servicelevel_perf']}%")
        return lines or [f"No such queue: {name}."]

    def _pbxsim_add_caller(self, s: _Session, msg: AmiMessage) -> None:
        queue = msg.get("Queue") or ""
        if queue not in self.model.queue_names:
            self._error(s, msg, f"No such queue: {queue}")
            return
        try:
            patience = float(msg["Patience"]) if msg.get("Patience") else None
            talk = float(msg["TalkTime"]) if msg.get("TalkTime") else None
        except ValueError:
            self._error(s, msg, "Patience and TalkTime must be seconds")
            return
        uid = self.add_caller(queue, caller_num=msg.get("CallerIDNum") or "",
                              caller_name=msg.get("CallerIDName") or "", patience=patience, talk_time=talk)
        self._respond(s, msg, "Success", "Caller added", [("Uniqueid", uid)])

    def _pbxsim_drop(self, s: _Session, msg: AmiMessage) -> None:
        self._respond(s, msg, "Success", "Dropping all AMI connections")
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self.drop_connections()))


Route = Callable[[str, str, str], Awaitable[str | None]]


async def generate_callers(server: AmiServer, queue: str, per_minute: float, *, patience: tuple[float, float] = (10, 90),
                           seed: int = 1, limit: int | None = None, route: Route | None = None) -> int:
    """Poisson arrivals into ``queue`` on the server's clock (so a demo shows live traffic).

    ``route(queue, number, name)``, when given, runs first for each caller (the IVR over FastAGI)
    and says which queue the caller then joins (``None``: the caller left in the IVR)."""
    rng = random.Random(seed)
    count = 0
    tasks: set[asyncio.Task[None]] = set()

    async def routed(number: str, name: str, wait: float) -> None:
        try:
            target = await route(queue, number, name) if route is not None else queue
        except Exception as exc:  # the engine being away must not stop the simulator
            log.warning("pbxsim IVR for a caller failed: %s", exc)
            return
        if target:
            server.add_caller(target, caller_num=number, caller_name=name, patience=wait)

    try:
        while limit is None or count < limit:
            gap = rng.expovariate(per_minute / 60.0)
            delay = server.clock.real_delay(gap)
            await asyncio.sleep(delay if delay is not None else gap)
            count += 1
            number, name, wait = f"139{rng.randrange(10**8):08d}", f"Caller {count}", rng.uniform(*patience)
            if route is None:
                server.add_caller(queue, caller_num=number, caller_name=name, patience=wait)
            else:
                task = asyncio.get_running_loop().create_task(routed(number, name, wait))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
    return count
