"""FastAGI server over loopback with a hand-driven fake Asterisk: routing, replies, every hangup path."""

from __future__ import annotations

import asyncio

import pytest
from panoramisk import fast_agi

from engine.asterisk.agi_channel import AgiChannel
from engine.asterisk.agi_recording import asterisk_bytes
from engine.asterisk.agi_server import AgiServer, _HeaderGuard
from engine.asterisk.errors import AgiCommandError, AgiHangup

HEADER = (
    "agi_network: yes\n"
    "agi_network_script: main_menu?lang=zh&mode=test\n"
    "agi_request: agi://127.0.0.1:4573/main_menu?lang=zh&mode=test\n"
    "agi_channel: Local/dtmf@caller-00000075;1\n"
    "agi_uniqueid: 1795881200.235\n"
    "agi_callerid: 13912345678\n"
    "agi_calleridname: 张三丰 市民\n"
    "agi_context: ivr\n"
    "\n"
).encode()


class Recorder:
    def __init__(self) -> None:
        self.outcome: object = None
        self.done = asyncio.Event()
        self.request = None


def _flow(rec: Recorder, body):
    async def handler(channel: AgiChannel) -> None:
        rec.request = channel.request
        try:
            rec.outcome = await body(channel)
        except Exception as exc:
            rec.outcome = exc
            raise
        finally:
            rec.done.set()

    return handler


async def _connect(server: AgiServer, header: bytes = HEADER):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(header)
    await writer.drain()
    return reader, writer


async def _expect(reader: asyncio.StreamReader, line: bytes) -> None:
    got = await asyncio.wait_for(reader.readline(), 5)
    assert got == line


async def test_routes_by_bare_script_name_and_passes_query():
    rec = Recorder()

    async def body(ch: AgiChannel):
        await ch.answer()
        digit, endpos = await ch.stream_file("hotline/hello", "0123456789")
        value = await ch.get_variable("CALLERID(num)")
        missing = await ch.get_variable("NOPE")
        data = await ch.get_data("hotline/enter", timeout=3, max_digits=4)
        waited = await ch.wait_for_digit(5)
        await ch.set_variable("IVR_CHOICE", digit)
        await ch.verbose("ivr done")
        return digit, endpos, value, missing, data, waited

    async with AgiServer(port=0) as server:
        server.route("main_menu", _flow(rec, body))
        assert server.port != 0
        reader, writer = await _connect(server)
        script = [
            (b"ANSWER\n", b"200 result=0\n"),
            (b'STREAM FILE hotline/hello "0123456789"\n', b"200 result=50 endpos=9760\n"),
            (b"GET VARIABLE CALLERID(num)\n", b"200 result=1 (13912345678)\n"),
            (b"GET VARIABLE NOPE\n", b"200 result=0\n"),
            (b"GET DATA hotline/enter 3000 4\n", b"200 result=12 (timeout)\n"),
            (b"WAIT FOR DIGIT 5000\n", b"100 result=0 Trying...\n200 result=0\n"),
            (b'SET VARIABLE IVR_CHOICE "2"\n', b"200 result=1\n"),
            (b'VERBOSE "ivr done" 1\n', b"200 result=1\n"),
        ]
        for command, reply in script:
            await _expect(reader, command)
            writer.write(reply)
        await asyncio.wait_for(rec.done.wait(), 5)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # server closed after the flow
        writer.close()
    digit, endpos, value, missing, data, waited = rec.outcome
    assert (digit, endpos, value, missing, waited) == ("2", 9760, "13912345678", None, None)
    assert data.digits == "12" and data.timed_out
    assert rec.request.script == "main_menu" and rec.request.params == {"lang": "zh", "mode": "test"}
    assert rec.request.calleridname == "张三丰 市民"
    assert server.stats["completed"] == 1 and server.stats["no_route"] == 0


async def test_recorded_session_replayed(asterisk_fixtures):
    """The recorded Asterisk bytes, fed in the order recorded, drive a flow to the same results."""
    data = asterisk_bytes(asterisk_fixtures / "fastagi_session.txt")
    header, _, replies = data.partition(b"\n\n")
    rec = Recorder()

    async def body(ch: AgiChannel):
        num = await ch.get_variable("CALLERID(num)")
        digit, _ = await ch.stream_file("hotline/hello", "0123456789")
        await ch.wait_for_digit(5)
        await ch.set_variable("IVR_CHOICE", digit)
        await ch.verbose("ivr done", 1)
        return num, digit

    async with AgiServer(port=0) as server:
        server.route("main_menu", _flow(rec, body))
        reader, writer = await _connect(server, header + b"\n\n")
        for reply in replies.splitlines(keepends=True):
            await asyncio.wait_for(reader.readline(), 5)
            writer.write(reply)
        await asyncio.wait_for(rec.done.wait(), 5)
        writer.close()
    assert rec.outcome == ("13800000001", "2")
    assert rec.request.masked_callerid == "138****0001"


@pytest.mark.parametrize(
    "how",
    ["eof", "hangup_line", "dead_511", "minus1_then_hangup", "minus1_then_eof", "hangup_before_reply"],
)
async def test_caller_hangs_up_mid_command(how):
    rec = Recorder()

    async def body(ch: AgiChannel):
        await ch.answer()
        await ch.stream_file("hotline/hello", "123")
        await ch.verbose("never reached")

    async with AgiServer(port=0, hangup_grace=2.0) as server:
        server.route("main_menu", _flow(rec, body))
        reader, writer = await _connect(server)
        await _expect(reader, b"ANSWER\n")
        writer.write(b"200 result=0\n")
        await _expect(reader, b'STREAM FILE hotline/hello "123"\n')
        if how == "eof":
            writer.close()
        elif how == "hangup_line":
            writer.write(b"HANGUP\n")
        elif how == "dead_511":
            writer.write(b"511 Command Not Permitted on a dead channel or intercept routine\n")
        elif how == "minus1_then_hangup":
            writer.write(b"200 result=-1 endpos=1200\n")
            await asyncio.sleep(0.05)
            writer.write(b"HANGUP\n")
        elif how == "minus1_then_eof":
            writer.write(b"200 result=-1 endpos=1200\n")
            await asyncio.sleep(0.05)
            writer.close()
        elif how == "hangup_before_reply":
            writer.write(b"HANGUP\n200 result=-1 endpos=0\n")
        await asyncio.wait_for(rec.done.wait(), 5)
        writer.close()
    assert isinstance(rec.outcome, AgiHangup), rec.outcome
    assert server.stats["hangups"] == 1 and server.stats["completed"] == 0


async def test_failure_without_hangup_is_a_command_error():
    rec = Recorder()

    async def body(ch: AgiChannel):
        try:
            await ch.stream_file("hotline/missing")
        except AgiCommandError as exc:
            first = str(exc)
        try:
            await ch.command("STREAM FILE")
        except AgiCommandError as exc:
            second = str(exc)
        try:
            await ch.command("FROB")
        except AgiCommandError as exc:
            third = str(exc)
        await ch.hangup()
        with pytest.raises(AgiHangup):
            await ch.verbose("after hangup")
        return first, second, third

    async with AgiServer(port=0, hangup_grace=0.1) as server:
        server.route("main_menu", _flow(rec, body))
        reader, writer = await _connect(server)
        await _expect(reader, b'STREAM FILE hotline/missing ""\n')
        writer.write(b"200 result=-1 endpos=0\n")
        await _expect(reader, b"STREAM FILE\n")
        writer.write(
            b"520-Invalid command syntax.  Proper usage follows:\n"
            b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n"
            b"520 End of proper usage.\n"
        )
        await _expect(reader, b"FROB\n")
        writer.write(b"510 Invalid or unknown command\n")
        await _expect(reader, b"HANGUP\n")
        writer.write(b"200 result=1\n")
        await asyncio.wait_for(rec.done.wait(), 5)
        writer.close()
    first, second, third = rec.outcome
    assert "result=-1" in first and "Usage: STREAM FILE" in second and "510" in third
    assert server.stats["completed"] == 1


async def test_eof_before_header_ends_connection_not_spins():
    """panoramisk's own header loop never ends at EOF; through the adapter the connection ends."""

    class EofReader:
        """At EOF a StreamReader returns b'' at once, without yielding: count the calls."""

        calls = 0

        async def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls == 1:
                return b"agi_network: yes\n"
            if self.calls > 10_000:
                raise RuntimeError("still reading after EOF")
            return b""

    class NullWriter:
        def close(self):
            pass

        def get_extra_info(self, name):
            return None

    app = fast_agi.Application(loop=asyncio.get_running_loop())
    eof_reader = EofReader()
    # without the guard the loop would block the whole event loop for ever; stop it after 10k reads
    with pytest.raises(RuntimeError, match="after EOF"):
        await app.handler(eof_reader, NullWriter())
    assert eof_reader.calls > 10_000

    # the same handler reading through the adapter's guard ends at once with AgiHangup
    stream = asyncio.StreamReader()
    stream.feed_data(b"agi_network: yes\n")
    stream.feed_eof()
    with pytest.raises(AgiHangup):
        await asyncio.wait_for(app.handler(_HeaderGuard(stream, 1.0), NullWriter()), 2)

    async with AgiServer(port=0) as server:
        server.route("main_menu", _flow(Recorder(), lambda ch: asyncio.sleep(0)))
        r, w = await asyncio.open_connection("127.0.0.1", server.port)
        w.write(b"agi_network: yes\nagi_network_script: main")
        await w.drain()
        w.close()
        for _ in range(100):
            if server.stats["hangups"]:
                break
            await asyncio.sleep(0.02)
        assert server.stats["hangups"] == 1


async def test_panoramisk_alone_misses_query_routes():
    """Without the adapter's normalized header, panoramisk finds no route for ``name?query``."""
    called = []

    async def endpoint(request):
        called.append(request.headers["agi_network_script"])

    app = fast_agi.Application(loop=asyncio.get_running_loop())
    app.add_route("main_menu", endpoint)
    reader = asyncio.StreamReader()
    reader.feed_data(HEADER)

    class NullWriter:
        def close(self):
            pass

        def get_extra_info(self, name):
            return None

    await asyncio.wait_for(app.handler(reader, NullWriter()), 2)
    assert called == []


async def test_unknown_route_bad_header_and_stop_closes_sessions():
    rec = Recorder()

    async def body(ch: AgiChannel):
        await ch.wait_for_digit(None)

    async with AgiServer(port=0, header_timeout=1.0) as server:
        server.route("main_menu", _flow(rec, body))
        with pytest.raises(TypeError):
            server.route("sync", lambda ch: None)
        with pytest.raises(ValueError):
            server.route("main_menu", _flow(rec, body))
        r1, w1 = await _connect(server, HEADER.replace(b"main_menu?", b"other?"))
        assert await asyncio.wait_for(r1.read(), 5) == b""
        r2, w2 = await _connect(server, b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(r2.read(), 5) == b""
        r3, w3 = await _connect(server)
        await _expect(r3, b"WAIT FOR DIGIT -1\n")
    # leaving the context stops the server: the waiting flow saw a hangup and ended before stop returned
    assert rec.done.is_set()
    assert isinstance(rec.outcome, AgiHangup)
    assert server.stats["no_route"] == 1 and server.stats["bad_header"] == 1
    for w in (w1, w2, w3):
        w.close()


async def test_chinese_caller_name_split_across_reads():
    """The header arrives in two TCP writes cut inside 张: the flow still sees the whole name."""
    rec = Recorder()

    async def body(ch: AgiChannel):
        return ch.request.calleridname

    async with AgiServer(port=0) as server:
        server.route("main_menu", _flow(rec, body))
        cut = HEADER.index("张".encode()) + 1
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(HEADER[:cut])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(HEADER[cut:])
        await writer.drain()
        await asyncio.wait_for(rec.done.wait(), 5)
        writer.close()
    assert rec.outcome == "张三丰 市民"
