"""AudioSocket server over loopback: pacing, silence first, DTMF, EOF, garbage, bounded queues, wait_session."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import statistics
import struct
import time
import uuid as uuid_mod
import weakref

import pytest

from engine.asterisk.audiosocket_codec import AudioSocketCodec, encode_audio, encode_uuid
from engine.asterisk.audiosocket_server import AudioSocketServer, AudioSocketSession
from engine.asterisk.errors import AudioSocketError, AudioSocketSessionEnded
from engine.config import AudioSocketConfig, load_config
from engine.pbxsim.audiosocket_client import AudioSocketClient, read_wav
from engine.resample import resample_pcm


def tone(seconds: float, freq: float = 440.0, rate: int = 8000) -> bytes:
    n = int(seconds * rate)
    return struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)))


async def _waiting(server: AudioSocketServer, uid: str) -> asyncio.Future[AudioSocketSession]:
    """Start waiting for a session before its caller connects (closed sessions are not kept)."""
    fut = asyncio.ensure_future(server.wait_session(uid, 5))
    await asyncio.sleep(0)
    return fut


async def _until(cond, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_receives_wav_and_sends_paced_audio(asterisk_fixtures):
    pcm, rate = read_wav(asterisk_fixtures / "audiosocket_received.wav")
    prompt = tone(0.6)
    got: dict[str, bytes] = {}
    sessions: dict[str, AudioSocketSession] = {}

    async def on_session(session: AudioSocketSession) -> None:
        sessions[session.uuid] = session
        session.play(prompt)
        got[session.uuid] = b"".join([f.pcm async for f in session.audio()])

    async with AudioSocketServer(on_session, port=0) as server:
        client = AudioSocketClient("127.0.0.1", server.port, pace=3.0, linger=0.0)
        result = await client.stream(pcm, rate)
        await _until(lambda: client.uuid in got)
        session = sessions[client.uuid]
    assert got[client.uuid] == pcm  # every byte of the caller's audio, in order
    assert session.close_reason.startswith("eof") and session.stats.frames_in == 194
    # what came back: the prompt, exactly, inside a steady 20 ms stream that started with silence
    back = result.received_audio()
    assert prompt in back
    times = result.audio_times()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert statistics.median(gaps) == pytest.approx(0.020, abs=0.004)
    expected = result.duration / 0.020
    assert 0.8 * expected <= len(times) <= 1.1 * expected + 2  # no bursts, no long gaps
    assert max(gaps) < 0.5  # no long silence gaps (loose: the machine is shared)
    assert session.stats.frames_out == len(prompt) // 320


async def test_silence_from_the_first_moment():
    async with AudioSocketServer(port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uuid_mod.uuid4()))
        await asyncio.sleep(0.3)
        codec = AudioSocketCodec(require_uuid_first=False)
        codec.feed(await reader.read(65536))
        frames = codec.messages()
        assert len(frames) >= 8 and all(m.kind == 0x10 and m.payload == bytes(320) for m in frames)
        writer.close()


async def test_dtmf_eof_and_wait_session():
    uid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0) as server:
        waiting = asyncio.ensure_future(server.wait_session(uid.replace("-", ""), 5))
        await asyncio.sleep(0)
        client = AudioSocketClient("127.0.0.1", server.port, uid, pace=0, dtmf={0.0: "2", 0.04: "#"}, linger=0.2)
        streaming = asyncio.ensure_future(client.stream(bytes(320 * 5)))
        session = await waiting
        d1 = await session.next_dtmf(2)
        d2 = await session.next_dtmf(2)
        await streaming
        await session.wait_closed()
        assert (d1.digit, d2.digit) == ("2", "#")
        assert await session.next_dtmf(0.1) is None
        assert session.close_reason.startswith("eof")
        assert [f async for f in session.audio()] != []  # queued audio still readable after the end
        with pytest.raises(AudioSocketSessionEnded, match="already ended"):  # not kept by the server
            await server.wait_session(uid, 0.1)
        assert server.ended(uid).close_reason == session.close_reason  # its counters are
        assert server.ended(uid).stats.dtmf_in == 2
        with pytest.raises(TimeoutError):
            await server.wait_session(str(uuid_mod.uuid4()), 0.05)
    assert server.stats["eof"] == 1


async def test_a_cancelled_wait_for_a_key_leaves_no_task_behind():
    """An IVR turn that ends (speech heard) cancels its wait for a key: the queue read it started
    must go too, or it is destroyed pending when the freed session is collected (seen in the demo
    as 'Task was destroyed but it is pending! ... Queue.get()')."""
    uid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0) as server:
        waiting = asyncio.ensure_future(server.wait_session(uid.replace("-", ""), 5))
        await asyncio.sleep(0)
        client = AudioSocketClient("127.0.0.1", server.port, uid, pace=0, linger=0.5)
        streaming = asyncio.ensure_future(client.stream(bytes(320 * 5)))
        session = await waiting
        before = asyncio.all_tasks()
        keys = asyncio.ensure_future(session.next_dtmf(None))
        await asyncio.sleep(0.05)
        keys.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keys
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() - before if not t.done() and "Queue.get" in repr(t.get_coro())]
        assert left == []
        await streaming


@pytest.mark.parametrize(
    "garbage, reason",
    [
        (b"\x42\x00\x01\x00", "unknown message kind 0x42"),
        (b"\x10\x00\x00", "zero-length audio"),
        (b"\x10\x7f\xfe", "above the limit"),
        (b"GET / HTTP/1.1\r\n\r\n", "unknown message kind 0x47"),
    ],
)
async def test_garbage_closes_only_that_session(garbage, reason):
    good_uuid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0, max_payload=8192) as server:
        good_session = await _waiting(server, good_uuid)
        good = AudioSocketClient("127.0.0.1", server.port, good_uuid, pace=2.0, linger=0.0)
        good_run = asyncio.ensure_future(good.stream(tone(0.5)))
        bad_uuid = uuid_mod.uuid4()
        bad_session = await _waiting(server, str(bad_uuid))
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(bad_uuid) + encode_audio(bytes(320)) + garbage)
        await writer.drain()
        bad = await bad_session
        await asyncio.wait_for(bad.wait_closed(), 2)
        assert bad.close_reason.startswith("malformed") and reason in bad.close_reason
        assert bad.stats.frames_in == 1  # the good frame before the garbage was kept
        result = await good_run
        session = await good_session
        assert session.close_reason.startswith("eof") and session.stats.frames_in == 25
        assert not result.server_closed and result.frames_sent == 25
        writer.close()
    assert server.stats["malformed"] == 1


async def test_no_uuid_first_and_uuid_timeout():
    async with AudioSocketServer(port=0, uuid_timeout=0.2) as server:
        r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        w1.write(encode_audio(bytes(320)))
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)  # sends nothing
        await _until(lambda: server.stats["malformed"] == 2)
        for r in (r1, r2):
            await asyncio.wait_for(r.read(), 2)  # server closed both (after some silence)
        w1.close()
        w2.close()
    assert server.sessions == {}


async def test_slow_consumer_is_bounded_and_counted():
    uid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0, max_queued_frames=10) as server:
        waiting = await _waiting(server, uid)
        client = AudioSocketClient("127.0.0.1", server.port, uid, pace=0, linger=0.1)
        pcm = b"".join(struct.pack("<h", i) * 160 for i in range(100))  # frame i holds value i
        await client.stream(pcm)
        session = await waiting
        await session.wait_closed()
        frames = [f async for f in session.audio()]
        assert session.stats.frames_in == 100 and session.stats.dropped_in == 90
        assert [struct.unpack_from("<h", f.pcm)[0] for f in frames] == list(range(90, 100))  # newest kept
        assert session.play(bytes(320 * 5)) == 0  # closed: nothing queued
    assert server.stats["dropped_in"] == 90


async def test_play_overflow_counted_and_hangup_stops_caller():
    uid = str(uuid_mod.uuid4())
    sessions: list[AudioSocketSession] = []

    async def on_session(session: AudioSocketSession) -> None:
        sessions.append(session)
        assert session.play(bytes(range(256)) * 50) == 10  # 40 frames; 10 fit
        assert session.stats.dropped_out == 30
        await session.drain()
        await session.hangup()

    async with AudioSocketServer(on_session, port=0, max_queued_frames=10) as server:
        client = AudioSocketClient("127.0.0.1", server.port, uid, pace=1.0, linger=1.0)
        result = await client.stream(bytes(320 * 100))  # 2 s of audio, cut short by the hangup
        (session,) = sessions
    assert result.hangup_received and result.frames_sent < 60
    assert session.close_reason == "hangup sent" and session.stats.frames_out == 10
    assert (bytes(range(256)) * 50)[: 320 * 10] in result.received_audio()


async def test_clock_does_not_burst_after_a_stall():
    """A blocked event loop (200 ms) must not make the server fire the missed frames at once."""
    async with AudioSocketServer(port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uuid_mod.uuid4()))
        await asyncio.sleep(0.1)
        await reader.read(65536)  # what was sent so far
        time.sleep(0.2)  # stall the loop on purpose
        await asyncio.sleep(0.01)
        codec = AudioSocketCodec(require_uuid_first=False)
        codec.feed(await asyncio.wait_for(reader.read(65536), 1))
        assert len(codec.messages()) <= 5  # not the ~10 frames missed during the stall
        assert server.stats["resyncs"] >= 1
        writer.close()


async def test_peer_not_reading_skips_ticks():
    class Transport:
        def is_closing(self):
            return False

        def get_write_buffer_size(self):
            return 10**6

    class Writer:
        transport = Transport()
        written = 0

        def get_extra_info(self, name):
            return None

        def write(self, data):
            self.written += 1

        def close(self):
            pass

    writer = Writer()
    session = AudioSocketSession(None, writer, max_queued_frames=10, out_rate=8000, frame_ms=20)
    for _ in range(5):
        session._tick()
    assert session.stats.stalled_out == 5 and writer.written == 0


async def test_client_closing_with_hangup_message():
    uid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0) as server:
        waiting = await _waiting(server, uid)
        client = AudioSocketClient("127.0.0.1", server.port, uid, pace=0, send_hangup=True, linger=0.05)
        await client.stream(bytes(320 * 3))
        session = await waiting
        await session.wait_closed()
    assert session.close_reason == "hangup message received" and server.stats["hangup_received"] == 1


async def test_target_for_exec_audiosocket():
    async with AudioSocketServer(port=0) as server:
        assert server.target == f"127.0.0.1:{server.port}"
    assert AudioSocketServer(advertise="10.0.0.5:9092").target == "10.0.0.5:9092"


BIG = 32000  # bytes of audio in one frame: legal (below max_payload), 100 times Asterisk's 320


async def test_big_frames_fill_the_queue_only_up_to_the_byte_cap():
    """Issue 10: the queue was capped in frames only, so 500 frames of 32 KB (16 MB) could wait
    unread per connection. Now the bytes are capped too, the oldest dropped and counted."""
    uid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0) as server:  # the defaults: 500 frames, 256 KiB
        waiting = await _waiting(server, uid)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uid) + b"".join(encode_audio(bytes([i]) * BIG) for i in range(40)))
        await writer.drain()
        session = await waiting
        await _until(lambda: session.stats.frames_in == 40)
        cap = AudioSocketConfig().max_queued_bytes
        kept = cap // BIG
        assert session.queued_in == kept and session.queued_in_bytes == kept * BIG <= cap
        assert session.stats.dropped_in == 40 - kept
        writer.close()
        await session.wait_closed()
        frames = [f async for f in session.audio()]
        assert [f.pcm[0] for f in frames] == list(range(40 - kept, 40))  # the newest kept
    assert server.stats["dropped_in"] == 40 - kept


async def test_play_is_capped_in_bytes_too():
    """At 192 kHz a 20 ms frame is 7,680 bytes: 500 of them would be 3.8 MB waiting to be sent."""
    uid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0, out_rate=192000, max_queued_bytes=100_000) as server:
        waiting = await _waiting(server, uid)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uid))
        session = await waiting
        assert session.play(bytes(7680 * 100)) == 100_000 // 7680
        assert session.stats.dropped_out == 100 - 100_000 // 7680
        writer.close()


async def test_connection_over_the_limit_is_refused_and_the_others_go_on(caplog):
    caplog.set_level(logging.INFO, logger="engine.asterisk.audiosocket_server")
    cfg = load_config(overrides={"audiosocket.port": 0, "audiosocket.max_connections": 3})
    async with AudioSocketServer.from_config(cfg.audiosocket) as server:  # [audiosocket] max_connections = 3
        uids = [str(uuid_mod.uuid4()) for _ in range(3)]
        waiting = [await _waiting(server, uid) for uid in uids]
        conns = []
        for uid in uids:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(encode_uuid(uid))
            conns.append((reader, writer))
        sessions = [await w for w in waiting]
        for _ in range(2):  # two over the limit: closed at once, one log line for both
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(encode_uuid(uuid_mod.uuid4()))
            with contextlib.suppress(ConnectionResetError):  # closed with the UUID unread: a reset
                assert await asyncio.wait_for(reader.read(), 2) == b""  # closed without a frame
            writer.close()
        assert server.stats["refused"] == 2 and len(server.sessions) == 3
        assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1
        assert "max_connections" in caplog.text
        for session, (reader, _) in zip(sessions, conns, strict=True):
            assert not session.closed
            assert await asyncio.wait_for(reader.read(323), 1)  # still paced audio
        conns[0][1].close()  # one call ends: a new one is served again
        await sessions[0].wait_closed()
        await _until(lambda: len(server._connections) == 2)
        uid = str(uuid_mod.uuid4())
        again = await _waiting(server, uid)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uid))
        assert not (await asyncio.wait_for(again, 2)).closed
        writer.close()
        for _, w in conns[1:]:
            w.close()


async def test_closed_sessions_are_freed():
    """Issue 10: 30 closed connections held 492 MB (each kept with its unread audio). Now the
    server keeps none of them, only their counters."""
    refs: list[weakref.ref[AudioSocketSession]] = []

    async def on_session(session: AudioSocketSession) -> None:  # takes a look, keeps nothing
        refs.append(weakref.ref(session))

    async with AudioSocketServer(on_session, port=0) as server:
        uids = [str(uuid_mod.uuid4()) for _ in range(30)]
        for uid in uids:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(encode_uuid(uid) + encode_audio(bytes(BIG)) * 8)  # 256 KB nobody reads
            writer.write_eof()  # the caller hangs up; the server closes, having read everything
            await asyncio.wait_for(reader.read(), 2)
            writer.close()
        await _until(lambda: server.stats["eof"] == 30)
        gc.collect()
        assert len(refs) == 30 and [r for r in refs if r() is not None] == []
        assert server.sessions == {} and not server._connections
        assert all(server.ended(uid).stats.bytes_in == 8 * BIG for uid in uids)


async def test_a_16k_session_paces_640_byte_frames_and_resamples_an_8k_prompt():
    """chan_audiosocket with c(slin16): kind 0x12, 20 ms = 640 bytes each way; a prompt given at
    8 kHz goes out at the channel's 16 kHz, still one frame every 20 ms."""
    speech = tone(1.2, 300.0, rate=16000)
    prompt = tone(0.6, 500.0, rate=8000)
    got: list = []
    sessions: list[AudioSocketSession] = []

    async def on_session(session: AudioSocketSession) -> None:
        sessions.append(session)
        async for frame in session.audio():
            if not got:
                assert session.rate == 16000  # known from the first frame's kind
                assert session.play(prompt, rate=8000) == len(prompt) * 2 // 640
            got.append(frame)

    async with AudioSocketServer(on_session, port=0) as server:
        client = AudioSocketClient("127.0.0.1", server.port, pace=1.0, linger=0.8, rate=16000)
        result = await client.stream(speech, 16000)
        await _until(lambda: sessions and sessions[0].closed)
    session = sessions[0]
    assert [(f.kind, f.rate, len(f.pcm)) for f in got] == [(0x12, 16000, 640)] * 60
    assert b"".join(f.pcm for f in got) == speech
    assert (session.in_rate, session.rate, session.stats.rate_changes) == (16000, 16000, 0)
    audio = result.audio_messages()
    first16 = next(i for i, m in enumerate(audio) if m.kind == 0x12)
    assert all(m.kind == 0x10 and m.payload == bytes(320) for m in audio[:first16])  # silence before the first frame
    assert all(m.kind == 0x12 and len(m.payload) == 640 for m in audio[first16:])  # then the channel's rate
    back = b"".join(m.payload for m in audio[first16:])
    assert resample_pcm(prompt, 8000, 16000) in back  # the prompt, resampled once, in order
    times = [m.at for m in audio[first16:]]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert statistics.median(gaps) == pytest.approx(0.020, abs=0.004)  # pacing stays 20 ms
    assert session.stats.frames_out == len(prompt) * 2 // 640


async def test_the_session_follows_a_rate_change_and_queued_audio_keeps_its_kind():
    uid = str(uuid_mod.uuid4())
    async with AudioSocketServer(port=0) as server:
        waiting = await _waiting(server, uid)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uid) + encode_audio(bytes(320)))
        session = await waiting
        await _until(lambda: session.stats.frames_in == 1)
        assert session.rate == 8000
        session.play(b"\x01\x00" * 160 * 3)  # three 8 kHz frames queued before the change
        writer.write(encode_audio(bytes(640), 16000))
        await _until(lambda: session.stats.frames_in == 2)
        assert (session.rate, session.in_rate, session.stats.rate_changes) == (16000, 16000, 1)
        session.play(b"\x02\x00" * 320)
        with pytest.raises(AudioSocketError, match="positive"):
            session.play(bytes(4), rate=0)
        await session.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await session.wait_closed()
        codec = AudioSocketCodec(require_uuid_first=False)
        codec.feed(await reader.read())
    sent = [(m.kind, m.payload[:2], len(m.payload)) for m in codec.messages()]
    played = [s for s in sent if s[1] != b"\x00\x00"]
    assert played == [(0x10, b"\x01\x00", 320)] * 3 + [(0x12, b"\x02\x00", 640)]
    assert sent[-1] == (0x12, b"\x00\x00", 640)  # silence at the new rate too
    frames = [f async for f in session.audio()]
    assert [f.rate for f in frames] == [8000, 16000]  # each frame says its own rate
