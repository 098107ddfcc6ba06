"""The project's AMI client (panoramisk adapter) against the PBX simulator and bad servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from engine.asterisk.ami_client import AmiClient
from engine.asterisk.errors import AmiActionError, AmiAuthError, AmiConnectionError
from engine.events.ami import (
    AmiConnected,
    AmiDisconnected,
    AmiReconnected,
    QueueCallerJoin,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
)
from engine.pbxsim.ami_server import AmiServer
from engine.pbxsim.clock import ManualClock, ScaledClock
from engine.pbxsim.queue_model import load_queues

SECRET = "s3cret-Pw"
NAME = "张三丰 市民"


def client_for(server: AmiServer, secret: str = SECRET, **kw) -> AmiClient:
    kw.setdefault("connect_timeout", 1.0)
    kw.setdefault("reconnect_min", 0.05)
    kw.setdefault("reconnect_max", 0.2)
    return AmiClient("127.0.0.1", server.port, "hotline", secret, **kw)


def sim(**kw) -> AmiServer:
    kw.setdefault("clock", ManualClock())
    return AmiServer(load_queues(), secret=SECRET, **kw)


async def wait_for(predicate, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def msg(*pairs: tuple[str, str]) -> bytes:
    """One AMI message in wire form, for scripted servers."""
    return "".join(f"{k}: {v}\r\n" for k, v in pairs).encode() + b"\r\n"


async def read_action(reader: asyncio.StreamReader) -> dict[str, str]:
    block = await reader.readuntil(b"\r\n\r\n")
    return {k.strip().lower(): v.strip() for k, _, v in
            (line.partition(":") for line in block.decode().split("\r\n") if line)}


async def test_login_actions_and_typed_events(caplog):
    caplog.set_level(logging.DEBUG)
    async with sim() as server:
        client = client_for(server)
        seen = []
        client.subscribe(seen.append)
        await client.connect()
        assert client.connected and client.banner == "Asterisk Call Manager/13.0.0"
        assert any(isinstance(e, AmiConnected) for e in seen)
        pong = await client.ping()
        assert pong.round_trip >= 0 and pong.timestamp > 0
        summary = await client.queue_summary()
        assert {s.queue: s.logged_in for s in summary} == {"citizen": 3, "evening": 3}
        added = await client.queue_add("citizen", "Local/agent9@agents/n", member_name="Agent Nine", penalty=2)
        assert added.message == "Added interface to queue"
        paused = await client.queue_pause("Local/agent9@agents/n", True, queue="citizen", reason="lunch")
        assert paused.message == "Interface paused successfully"
        snapshot = await client.queue_status("citizen")
        nine = next(m for m in snapshot.members if m.interface == "Local/agent9@agents/n")
        assert nine.paused and nine.paused_reason == "lunch" and nine.penalty == 2 and nine.membership == "dynamic"
        assert snapshot.queue("citizen").strategy == "rrmemory"
        removed = await client.queue_remove("citizen", "Local/agent9@agents/n")
        assert removed.message == "Removed interface from queue"
        with pytest.raises(AmiActionError, match="Not there"):
            await client.queue_remove("citizen", "Local/agent9@agents/n")
        with pytest.raises(AmiActionError, match="Invalid/unknown command: NoSuchAction"):
            await client.action("NoSuchAction")
        with pytest.raises(AmiActionError, match="No such channel"):
            await client.hangup("Local/nobody-00000001;1")
        version = await client.command("core show version")
        assert version.text.startswith("Asterisk ")
        result = await client.originate("Local/s@caller/n", context="citizen", exten="s",
                                        caller_id=f'"{NAME}" <13912345678>', variables={"PATIENCE": "30"}, wait=True)
        assert result.message == "Originate successfully queued" and result.answered
        await wait_for(lambda: any(isinstance(e, QueueCallerJoin) for e in seen))
        join = next(e for e in seen if isinstance(e, QueueCallerJoin))
        assert join.caller_id_name == NAME and join.queue == "citizen"
        kinds = {type(e) for e in seen}
        assert {QueueMemberAdded, QueueMemberPause, QueueMemberRemoved} <= kinds
        await client.close()
        assert not client.connected
    assert SECRET not in caplog.text and SECRET not in repr(client)


async def test_wrong_secret_is_a_quick_clear_error(caplog):
    caplog.set_level(logging.DEBUG)
    async with sim() as server:
        client = client_for(server, secret="wrong-one", connect_timeout=5.0)
        started = time.monotonic()
        with pytest.raises(AmiAuthError, match="Authentication failed"):
            await client.connect()
        assert time.monotonic() - started < 2.0  # the connect timeout is 5 s: no waiting for it
        assert not client.connected and server.connections == 0
    assert "wrong-one" not in caplog.text


async def test_nobody_listening_and_silent_server():
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)  # never speaks
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    with pytest.raises(AmiConnectionError, match="no answer to Login"):
        await AmiClient("127.0.0.1", port, "u", "p", connect_timeout=0.3).connect()
    assert time.monotonic() - started < 1.5
    for writer in accepted:
        writer.close()
    server.close()
    await server.wait_closed()
    with pytest.raises(AmiConnectionError, match="cannot connect"):
        await AmiClient("127.0.0.1", port, "u", "p", connect_timeout=0.5).connect()


async def test_server_vanishing_mid_stream_and_coming_back():
    """Calls go on while the client is away; after the reconnect QueueStatus is re-read and what
    was missed is reported."""
    async with sim(clock=ScaledClock(speed=40)) as server:
        client = client_for(server)
        stream = client.events()
        await client.connect()
        server.add_caller("citizen", caller_num="13800000001", talk_time=2)
        await wait_for(lambda: server.model.counters("citizen")["completed"] == 1, 3)
        outage = asyncio.get_running_loop().create_task(server.restart(down_for=0.5, graceful=False))  # a crash
        await wait_for(lambda: not client.connected)  # Asterisk is gone; meanwhile two calls
        for i in range(2):  # complete, a member goes on a break and a caller abandons
            server.add_caller("citizen", caller_num=f"1380000001{i}", talk_time=2)
        server.pause_member("Local/agent3@agents/n", True, queue="citizen", reason="meeting")
        for i in range(3):
            server.pause_member(f"Local/agent{i + 1}@agents2/n", True, queue="evening")
        server.add_caller("evening", caller_num="13800000020", patience=3)
        await outage
        reconnected = None
        async for event in stream:
            if isinstance(event, AmiReconnected):
                reconnected = event
                break
        assert reconnected is not None and reconnected.attempts >= 2 and reconnected.down_seconds > 0.4
        snap = reconnected.queue_snapshot
        assert snap is not None and snap.queue("citizen") is not None
        text = " | ".join(reconnected.missed)
        assert "queue citizen: 2 call(s) completed and 0 abandoned" in text
        assert "queue evening: 0 call(s) completed and 1 abandoned" in text
        assert "member Agent Three now paused (meeting)" in text
        assert client.connected and client.reconnects == 1
        assert (await client.ping()).action_id  # actions work again
        await wait_for(lambda: server.model.counters("citizen")["completed"] == 3, 3)
        citizen = (await client.queue_status("citizen")).queue("citizen")
        assert citizen.completed == 3
        await client.close()


async def test_in_flight_action_fails_when_the_connection_drops():
    async with sim() as server:
        client = client_for(server)
        events = []
        client.subscribe(events.append)
        await client.connect()
        # a server that stops answering: freeze the session's reader by dropping all connections
        # right after the action was written
        task = asyncio.get_running_loop().create_task(client.action("QueueStatus"))
        await asyncio.sleep(0)  # written, no answer yet
        await server.drop_connections()
        with pytest.raises((AmiConnectionError, AmiActionError)):
            result = await asyncio.wait_for(task, 2)
            raise AmiConnectionError(f"answered before the drop: {result}")  # still a pass: never hangs
        await wait_for(lambda: any(isinstance(e, AmiReconnected) for e in events))
        assert any(isinstance(e, AmiDisconnected) for e in events)
        await client.close()


async def test_chinese_name_split_across_tcp_writes_arrives_intact():
    """The simulator cuts every non-ASCII message inside its first character, in two TCP writes.
    The project's client decodes whole lines: the name is intact. Plain panoramisk decodes each
    read on its own with errors ignored: the cut character is lost."""
    from panoramisk import Manager

    async with sim(fragment_utf8=True) as server:
        client = client_for(server)
        ours = []
        client.subscribe(lambda e: ours.append(e) if isinstance(e, QueueCallerJoin) else None)
        await client.connect()
        plain_joins = []
        logged_in = asyncio.get_running_loop().create_future()
        manager = Manager(host="127.0.0.1", port=server.port, username="hotline", secret=SECRET,
                          loop=asyncio.get_running_loop(),
                          on_login=lambda m: logged_in.done() or logged_in.set_result(True))
        manager.register_event("QueueCallerJoin", lambda m, e: plain_joins.append(e))
        await manager.connect()
        await asyncio.wait_for(logged_in, 2)
        server.add_caller("citizen", caller_num="13912345678", caller_name=NAME)
        await wait_for(lambda: ours and plain_joins)
        assert ours[0].caller_id_name == NAME
        assert plain_joins[0].CallerIDName != NAME
        assert plain_joins[0].CallerIDName == NAME[1:]  # the first character, cut in two, is gone
        manager.close()
        await client.close()


async def test_plain_panoramisk_queue_add_hangs_but_ours_does_not():
    """panoramisk guesses 'Added interface to queue' starts a list and waits for ever."""
    from panoramisk import Manager

    async with sim() as server:
        logged_in = asyncio.get_running_loop().create_future()
        manager = Manager(host="127.0.0.1", port=server.port, username="hotline", secret=SECRET,
                          loop=asyncio.get_running_loop(),
                          on_login=lambda m: logged_in.done() or logged_in.set_result(True))
        await manager.connect()
        await asyncio.wait_for(logged_in, 2)
        future = manager.send_action({"Action": "QueueAdd", "Queue": "citizen", "Interface": "Local/x@agents/n"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), 0.3)
        manager.close()
        client = client_for(server)
        await client.connect()
        result = await asyncio.wait_for(client.queue_add("citizen", "Local/y@agents/n"), 1)
        assert result.message == "Added interface to queue"
        await client.close()


async def test_plain_panoramisk_never_reports_a_refused_login():
    """What the adapter fixes: with a wrong secret panoramisk's login just stays unauthenticated."""
    from panoramisk import Manager

    async with sim() as server:
        manager = Manager(host="127.0.0.1", port=server.port, username="hotline", secret="wrong",
                          loop=asyncio.get_running_loop(), reconnect_timeout=60)
        await manager.connect()
        await asyncio.sleep(0.2)
        assert manager.authenticated is False and server.logins_failed == 1
        manager.close()


async def test_event_stream_is_bounded_and_counts_drops():
    async with sim() as server:
        client = client_for(server)
        await client.connect()
        stream = client.events(maxsize=5)
        for i in range(5):
            server.add_caller("citizen", caller_num=f"1{i}", patience=100)
        await wait_for(lambda: stream.dropped > 0)
        assert len([e async for e in _take(stream, 5)]) == 5
        await client.close()
        assert [e async for e in stream] == []  # ends after close


async def _take(stream, n):
    for _ in range(n):
        yield await stream.get(timeout=1)


async def test_keepalive_detects_a_dead_connection():
    """A server that keeps the socket open but stops answering is noticed by the Ping."""
    async with sim() as server:
        client = client_for(server, ping_interval=0.1, action_timeout=0.2)
        events = []
        client.subscribe(events.append)
        await client.connect()
        original = server._on_action

        def mute(session, msg):
            return True if (msg.get("Action") or "").lower() == "ping" else original(session, msg)

        server._on_action = mute
        await wait_for(lambda: any(isinstance(e, AmiDisconnected) for e in events), 3)
        assert "keep-alive" in next(e for e in events if isinstance(e, AmiDisconnected)).reason
        server._on_action = original
        await wait_for(lambda: any(isinstance(e, AmiReconnected) for e in events), 3)
        await client.close()


def test_from_config_takes_the_secret_from_the_environment(monkeypatch):
    from engine.config import load_config

    monkeypatch.setenv("HOTLINE_AMI_SECRET", "from-env")
    cfg = load_config(overrides={"ami.port": 5099})
    client = AmiClient.from_config(cfg)
    assert client.port == 5099 and client._secret == "from-env" and "from-env" not in repr(client)


async def test_restart_with_state_lost_is_reported():
    async with sim() as server:
        client = client_for(server)
        events = []
        client.subscribe(events.append)
        await client.connect()
        server.add_caller("citizen", caller_num="1", talk_time=1)
        server.advance(5)
        await wait_for(lambda: server.model.counters("citizen")["completed"] == 1)
        await client.ping()  # the events before the restart have arrived
        await server.restart(down_for=0.1, reset=True)
        await wait_for(lambda: any(isinstance(e, AmiReconnected) for e in events))
        disconnected = next(e for e in events if isinstance(e, AmiDisconnected))
        assert disconnected.reason == "Asterisk is shutting down"  # a clean restart says so first
        reconnected = next(e for e in events if isinstance(e, AmiReconnected))
        assert any("Completed 0 (seen 1)" in line for line in reconnected.missed)
        await client.close()


async def test_connection_cut_in_the_middle_of_a_message():
    """Half an event, then the connection is gone: nothing half-parsed is delivered, and after the
    reconnect the next events are whole."""
    async with sim(fragment_utf8=True) as server:
        server.fragment_delay = 0.3
        client = client_for(server)
        events = []
        client.subscribe(events.append)
        await client.connect()
        server.add_caller("citizen", caller_num="13912345678", caller_name=NAME, patience=100)
        await asyncio.sleep(0.1)  # the first half of a Newchannel is on the wire
        await server.drop_connections()
        await wait_for(lambda: any(isinstance(e, AmiReconnected) for e in events))
        assert not [e for e in events if isinstance(e, QueueCallerJoin)]  # never arrived whole
        names = [getattr(e, "caller_id_name", NAME) for e in events]
        assert all(n in (NAME, "") for n in names)
        server.fragment_delay = 0.005
        server.add_caller("citizen", caller_num="13912345679", caller_name=NAME, patience=100)
        await wait_for(lambda: any(isinstance(e, QueueCallerJoin) for e in events))
        assert next(e for e in events if isinstance(e, QueueCallerJoin)).caller_id_name == NAME
        reconnected = next(e for e in events if isinstance(e, AmiReconnected))
        assert any("1 caller(s) joined while disconnected" in line for line in reconnected.missed)
        await client.close()


async def test_first_queue_status_comes_with_amiconnected_in_stream_order():
    """A scripted Asterisk answers QueueStatus with one event before the answer and one glued
    after QueueStatusComplete in the same TCP write: subscribers see the event before, then
    AmiConnected with the snapshot, then the event after (which the snapshot does not hold)."""

    def join(uid: str) -> bytes:
        return msg(("Event", "QueueCallerJoin"), ("Privilege", "agent,all"), ("Channel", f"SIP/t-{uid}"),
                   ("CallerIDNum", "13912345678"), ("Uniqueid", uid), ("Linkedid", uid), ("Queue", "citizen"),
                   ("Position", "1"), ("Count", "1"))

    async def asterisk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/13.0.0\r\n")
        login = await read_action(reader)
        writer.write(msg(("Response", "Success"), ("ActionID", login["actionid"]),
                         ("Message", "Authentication accepted")))
        status = await read_action(reader)
        assert status["action"] == "QueueStatus"
        aid = status["actionid"]
        writer.write(join("1795881255.1")
                     + msg(("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                           ("Message", "Queue status will follow"))
                     + msg(("Event", "QueueParams"), ("Queue", "citizen"), ("Calls", "1"), ("Completed", "4"),
                           ("Abandoned", "1"), ("ServiceLevel", "20"), ("ActionID", aid))
                     + msg(("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"),
                           ("ListItems", "1"))
                     + join("1795881256.2"))
        await writer.drain()
        with contextlib.suppress(Exception):
            await reader.read()  # until the client goes
        writer.close()

    server = await asyncio.start_server(asterisk, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "hotline", SECRET, connect_timeout=2.0, ping_interval=3600)
    seen = []
    client.subscribe(seen.append)
    stream = client.events()
    try:
        await client.connect()
        await wait_for(lambda: len(seen) >= 3)
        kinds = [type(e).__name__ for e in seen[:3]]
        assert kinds == ["QueueCallerJoin", "AmiConnected", "QueueCallerJoin"]
        assert [seen[0].uniqueid, seen[2].uniqueid] == ["1795881255.1", "1795881256.2"]
        connected = seen[1]
        assert connected.banner == "Asterisk Call Manager/13.0.0"
        snap = connected.queue_snapshot
        assert snap is not None and snap.queue("citizen").completed == 4
        streamed = [await stream.get(timeout=1) for _ in range(3)]
        assert streamed == seen[:3]
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_amiconnected_without_reread_has_no_snapshot():
    async with sim() as server:
        client = client_for(server, reread_queues=False)
        seen = []
        client.subscribe(seen.append)
        await client.connect()
        (connected,) = [e for e in seen if isinstance(e, AmiConnected)]
        assert connected.queue_snapshot is None
        await client.close()


class HangingUpAsterisk:
    """Accepts the Login (``answer_status``: and answers QueueStatus with an empty list), then
    hangs up, every time; ``healthy_first`` keeps the first connection open until
    :meth:`drop_first`. Counts the connections it accepted."""

    def __init__(self, *, answer_status: bool = False, healthy_first: bool = False) -> None:
        self.answer_status = answer_status
        self.healthy_first = healthy_first
        self.connections = 0
        self._first: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> HangingUpAsterisk:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    def drop_first(self) -> None:
        assert self._first is not None
        self._first.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        healthy = self.healthy_first and self.connections == 1
        try:
            writer.write(b"Asterisk Call Manager/13.0.0\r\n")
            login = await read_action(reader)
            writer.write(msg(("Response", "Success"), ("ActionID", login["actionid"]),
                             ("Message", "Authentication accepted")))
            if healthy or self.answer_status:
                status = await read_action(reader)
                writer.write(msg(("Response", "Success"), ("ActionID", status["actionid"]), ("EventList", "start"),
                                 ("Message", "Queue status will follow"))
                             + msg(("Event", "QueueStatusComplete"), ("ActionID", status["actionid"]),
                                   ("EventList", "Complete"), ("ListItems", "0")))
            await writer.drain()
            if healthy:
                self._first = writer
                await reader.read()  # until drop_first() or the client goes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_login_then_hang_up_fails_the_connect():
    """Logged in, then hung up on before the QueueStatus answer: a failed connection, not a connected one."""
    async with HangingUpAsterisk() as server:
        client = AmiClient("127.0.0.1", server.port, "hotline", SECRET, connect_timeout=2.0)
        with pytest.raises(AmiConnectionError, match="connection closed right after the login"):
            await client.connect()
        assert not client.connected


@pytest.mark.parametrize("answer_status", [False, True], ids=["hangs-up-after-login", "hangs-up-after-queuestatus"])
async def test_server_hanging_up_after_login_gets_backoff_not_a_hot_loop(caplog, answer_status):
    """Issue 10: such a server was redialled 10,240 times in 12 s with 40,952 log lines. Now each
    redial waits the next backoff step (0.02, 0.04, 0.08, then 0.16 s): about ten in a second."""
    caplog.set_level(logging.INFO, logger="engine.asterisk")
    async with HangingUpAsterisk(answer_status=answer_status, healthy_first=True) as server:
        client = AmiClient("127.0.0.1", server.port, "hotline", SECRET, connect_timeout=2.0,
                           reconnect_min=0.02, reconnect_max=0.16, ping_interval=3600)
        events = []
        client.subscribe(events.append)
        await client.connect()
        await asyncio.sleep(0.2)  # up longer than reconnect_max: a stable connection
        caplog.clear()
        server.drop_first()
        await asyncio.sleep(1.0)
        await client.close()
        redials = server.connections - 1
        lines = len(caplog.records)
    assert 3 <= redials <= 14, redials  # the old client: thousands
    assert lines <= 3 * redials + 3, lines
    reconnected = [e for e in events if isinstance(e, AmiReconnected)]
    assert len(reconnected) == (redials if answer_status else 0)  # a login hung up on is no reconnect
