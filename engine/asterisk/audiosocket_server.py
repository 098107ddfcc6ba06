"""AudioSocket server: one session per connection, keyed by the UUID Asterisk sends first.

Why it paces audio itself: Asterisk plays whatever arrives at once (no jitter buffer) and
aborts a call after 2 s with no traffic either way. So every session sends one frame every
20 ms from the moment the connection is accepted: queued audio when there is some, silence
otherwise. One server clock ticks for all sessions (absolute schedule, no bursts). EOF is a hangup (Asterisk closes without a 0x00 message, see the recordings).

Bounded both ways: received frames wait in a queue of ``max_queued_frames`` (the oldest is
dropped when a consumer is slow), audio to play likewise (what does not fit is dropped);
both are counted in ``session.stats`` and logged when the session ends. Malformed input
closes only that session, with the reason logged and kept in ``session.close_reason``.

Two ways to get sessions: ``AudioSocketServer(on_session=callback)`` runs ``callback(session)``
for each one, and ``await server.wait_session(uuid, timeout)`` returns the session with that
UUID (a FastAGI flow that just sent ``EXEC AudioSocket "<uuid>,host:port"`` uses this).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass

from engine.asterisk.audiosocket_codec import (
    AUDIO_RATES,
    DEFAULT_MAX_PAYLOAD,
    FRAME_MS,
    KIND_AUDIO,
    KIND_DTMF,
    KIND_ERROR,
    KIND_HANGUP,
    KIND_UUID,
    RATE_KINDS,
    AudioSocketCodec,
    encode,
    encode_hangup,
    frame_bytes,
    parse_uuid,
)
from engine.asterisk.errors import AudioSocketError
from engine.listen import warn_if_exposed

log = logging.getLogger(__name__)

SessionCallback = Callable[["AudioSocketSession"], Awaitable[None]]


@dataclass(frozen=True)
class AudioFrame:
    """Received PCM (signed 16-bit little-endian mono) with its rate; ``at`` in seconds since accept."""

    pcm: bytes
    rate: int
    kind: int
    at: float


@dataclass(frozen=True)
class DtmfReceived:
    digit: str
    at: float


@dataclass
class SessionStats:
    frames_in: int = 0
    bytes_in: int = 0
    dtmf_in: int = 0
    dropped_in: int = 0  # received frames dropped because the consumer was slow
    frames_out: int = 0  # audio frames sent from play()
    silence_out: int = 0  # silence frames sent while nothing was queued
    dropped_out: int = 0  # play() audio that did not fit the outbound queue (frames)
    resyncs: int = 0  # times the server's clock fell behind (event loop stalled) and restarted
    stalled_out: int = 0  # ticks skipped because the peer was not reading what we sent

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_END = object()
MAX_UNSENT_BYTES = 64 * 1024  # about 4 s of 8 kHz audio waiting in the socket buffer
_SILENCE: dict[tuple[int, int], bytes] = {}


def _silence_frame(rate: int, frame_ms: int) -> bytes:
    frame = _SILENCE.get((rate, frame_ms))
    if frame is None:
        frame = _SILENCE[(rate, frame_ms)] = encode(RATE_KINDS[rate], bytes(frame_bytes(rate, frame_ms)))
    return frame


class AudioSocketSession:
    """One call's audio. Read with ``async for frame in session.audio()``; speak with ``play()``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_queued_frames: int,
        out_rate: int,
        frame_ms: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.uuid = ""
        self.peer = writer.get_extra_info("peername")
        self.stats = SessionStats()
        self.close_reason = ""
        self.out_rate = out_rate
        self.in_rate: int | None = None
        self._frame_ms = frame_ms
        self._max = max_queued_frames
        self._in: asyncio.Queue[object] = asyncio.Queue()
        self._in_count = 0
        self._dtmf: asyncio.Queue[DtmfReceived] = asyncio.Queue(maxsize=64)
        self._out: deque[bytes] = deque()
        self._out_empty = asyncio.Event()
        self._out_empty.set()
        self._closed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.started = self._loop.time()
        self._hanging_up = False

    # -- consumer side ----------------------------------------------------------------------

    async def audio(self) -> AsyncIterator[AudioFrame]:
        """Received audio frames in order; ends when the call ends (after what was queued)."""
        while True:
            item = await self._in.get()
            if item is _END:
                self._in.put_nowait(_END)  # let other iterators end too
                return
            self._in_count -= 1
            assert isinstance(item, AudioFrame)
            yield item

    async def next_dtmf(self, timeout: float | None = None) -> DtmfReceived | None:
        """Next digit pressed, or None after ``timeout`` seconds or when the call ended."""
        get = asyncio.ensure_future(self._dtmf.get())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait({get, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if get in done:
            return get.result()
        get.cancel()
        return None

    def play(self, pcm: bytes, rate: int | None = None) -> int:
        """Queue PCM to be sent at 20 ms a frame; returns frames queued (the rest is dropped, counted)."""
        if self.closed:
            return 0
        if rate is not None and rate != self.out_rate:
            raise AudioSocketError(f"play() at {rate} Hz on a session sending {self.out_rate} Hz")
        size = frame_bytes(self.out_rate, self._frame_ms)
        queued = 0
        for pos in range(0, len(pcm) - len(pcm) % 2, size):
            chunk = pcm[pos : pos + size]
            if len(self._out) >= self._max:
                self.stats.dropped_out += 1
                continue
            self._out.append(chunk)
            queued += 1
        if self._out:
            self._out_empty.clear()
        return queued

    def clear_playback(self) -> int:
        """Drop audio not yet sent (barge-in); returns frames dropped (not counted as drops)."""
        n = len(self._out)
        self._out.clear()
        self._out_empty.set()
        return n

    async def drain(self) -> None:
        """Wait until every queued frame was sent (or the session ended)."""
        closed = asyncio.ensure_future(self._closed.wait())
        empty = asyncio.ensure_future(self._out_empty.wait())
        try:
            await asyncio.wait({closed, empty}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            empty.cancel()

    async def hangup(self) -> None:
        """Ask Asterisk to end the AudioSocket application (0x00), then close."""
        if self.closed or self._hanging_up:
            return
        self._hanging_up = True  # no more ticks from here on
        try:
            self._writer.write(encode_hangup())
            await self._writer.drain()
        except (ConnectionError, OSError):
            pass
        self._close("hangup sent")

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    @property
    def queued_in(self) -> int:
        return self._in_count

    @property
    def queued_out(self) -> int:
        return len(self._out)

    # -- server side ---------------------------------------------------------------------------

    def _tick(self) -> None:
        """Send this tick's frame: queued audio, else silence. Called every 20 ms by the server."""
        if self.closed or self._hanging_up:
            return
        transport = self._writer.transport
        if transport.is_closing():
            self._close("connection lost while sending")
            return
        if transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            self.stats.stalled_out += 1  # peer not reading: skip rather than grow memory
            return
        if self._out:
            frame = encode(RATE_KINDS[self.out_rate], self._out.popleft())
            self.stats.frames_out += 1
            if not self._out:
                self._out_empty.set()
        else:
            frame = _silence_frame(self.out_rate, self._frame_ms)
            self.stats.silence_out += 1
        try:
            self._writer.write(frame)
        except (ConnectionError, OSError, RuntimeError):
            self._close("connection lost while sending")

    def _received_audio(self, kind: int, pcm: bytes) -> None:
        rate = AUDIO_RATES[kind]
        if self.in_rate is None:
            self.in_rate = rate
            if rate != self.out_rate and not self._out:
                self.out_rate = rate  # answer at the rate the channel speaks
        self.stats.frames_in += 1
        self.stats.bytes_in += len(pcm)
        if self._in_count >= self._max:
            try:
                self._in.get_nowait()
                self._in_count -= 1
            except asyncio.QueueEmpty:
                pass
            self.stats.dropped_in += 1
        self._in.put_nowait(AudioFrame(pcm, rate, kind, self._loop.time() - self.started))
        self._in_count += 1

    def _received_dtmf(self, digit: str) -> None:
        self.stats.dtmf_in += 1
        event = DtmfReceived(digit, self._loop.time() - self.started)
        if self._dtmf.full():
            self._dtmf.get_nowait()
        self._dtmf.put_nowait(event)

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        self.close_reason = reason
        self._closed.set()
        self._out_empty.set()
        self._in.put_nowait(_END)
        self._writer.close()


class AudioSocketServer:
    """asyncio AudioSocket server. Port 0 lets the OS choose; ``port`` is the bound one."""

    def __init__(
        self,
        on_session: SessionCallback | None = None,
        host: str = "127.0.0.1",
        port: int = 9092,
        *,
        max_queued_frames: int = 500,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        uuid_timeout: float = 2.0,
        out_rate: int = 8000,
        frame_ms: int = FRAME_MS,
        keep_closed: int = 256,
        advertise: str = "",
    ) -> None:
        if out_rate not in RATE_KINDS:
            raise ValueError(f"out_rate {out_rate} is not an AudioSocket rate")
        self.on_session = on_session
        self.host = host
        self.advertise = advertise
        self._port = port
        self._max_queued = max_queued_frames
        self._max_payload = max_payload
        self._uuid_timeout = uuid_timeout
        self._out_rate = out_rate
        self._frame_ms = frame_ms
        self._keep_closed = keep_closed
        self._server: asyncio.base_events.Server | None = None
        self.sessions: dict[str, AudioSocketSession] = {}
        self._recent: OrderedDict[str, AudioSocketSession] = OrderedDict()
        self._waiters: dict[str, list[asyncio.Future[AudioSocketSession]]] = {}
        self._connections: set[AudioSocketSession] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._clock: asyncio.Task[None] | None = None
        self.stats: dict[str, int] = {
            "resyncs": 0,
            "connections": 0,
            "sessions": 0,
            "malformed": 0,
            "eof": 0,
            "hangup_received": 0,
            "dropped_in": 0,
            "dropped_out": 0,
        }

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self._port)
        self._clock = asyncio.ensure_future(self._run_clock())
        log.info("AudioSocket server listening on %s:%d", self.host, self.port)
        warn_if_exposed(log, "AudioSocket", self.host, self.port)

    async def _run_clock(self) -> None:
        """One clock for every session: a frame to each every ``frame_ms``, on an absolute schedule.

        One task instead of one per call keeps 200 calls at 50 wake-ups a second, not 10,000.
        If the loop stalls for more than 5 periods the clock restarts instead of bursting.
        """
        loop = asyncio.get_running_loop()
        period = self._frame_ms / 1000
        t0, n = loop.time(), 0
        while True:
            n += 1
            delay = t0 + n * period - loop.time()
            if delay < -5 * period:
                self.stats["resyncs"] += 1
                for session in self._connections:
                    session.stats.resyncs += 1
                t0, n, delay = loop.time(), 0, 0.0
            await asyncio.sleep(max(0.0, delay))
            for session in list(self._connections):
                session._tick()

    @property
    def port(self) -> int:
        """The bound port once started (still known after stop), else the configured one."""
        if self._server is not None and self._server.sockets:
            self._port = self._server.sockets[0].getsockname()[1]
        return self._port

    @property
    def target(self) -> str:
        """``host:port`` for ``EXEC AudioSocket "<uuid>,host:port"``: ``advertise`` when set
        (config ``audiosocket.advertise``, e.g. when listening on 0.0.0.0), else host and bound port."""
        return self.advertise or f"{self.host}:{self.port}"

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        if self._clock is not None:
            self._clock.cancel()
        for session in list(self._connections):
            session._close("server stopped")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> AudioSocketServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_session(self, uuid: str, timeout: float | None = None) -> AudioSocketSession:
        """The session with this UUID, once Asterisk connected (or already has). TimeoutError after ``timeout``."""
        key = parse_uuid(uuid)
        found = self.sessions.get(key) or self._recent.get(key)
        if found is not None:
            return found
        fut: asyncio.Future[AudioSocketSession] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            waiters = self._waiters.get(key, [])
            if fut in waiters:
                waiters.remove(fut)
            if not waiters:
                self._waiters.pop(key, None)

    def _track(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        session = AudioSocketSession(
            reader, writer, max_queued_frames=self._max_queued, out_rate=self._out_rate, frame_ms=self._frame_ms
        )
        self._connections.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        session._tick()  # silence from the first moment; then every tick of the server's clock
        codec = AudioSocketCodec(max_payload=self._max_payload)
        try:
            await self._read_loop(session, codec, reader)
        except asyncio.CancelledError:
            session._close("server stopped")
            raise
        finally:
            self._finish(session)

    async def _read_loop(
        self, session: AudioSocketSession, codec: AudioSocketCodec, reader: asyncio.StreamReader
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._uuid_timeout
        while not session.closed:
            try:
                if not session.uuid:
                    async with asyncio.timeout_at(deadline):
                        data = await reader.read(65536)
                else:
                    data = await reader.read(65536)
            except TimeoutError:
                self._malformed(session, f"no UUID message within {self._uuid_timeout} s")
                return
            except (ConnectionError, OSError):
                data = b""
            if not data:
                if not session.closed:
                    self.stats["eof"] += 1
                    cut = f", {codec.pending_bytes} bytes of a cut message" if codec.pending_bytes else ""
                    session._close(f"eof (caller hung up){cut}")
                return
            try:
                codec.feed(data)
            except AudioSocketError as exc:
                for message in codec.messages():  # what came before the bad bytes still counts
                    self._dispatch(session, message)
                self._malformed(session, str(exc))
                return
            for message in codec.messages():
                self._dispatch(session, message)
                if session.closed:
                    return

    def _dispatch(self, session: AudioSocketSession, message) -> None:
        kind = message.kind
        if kind in AUDIO_RATES:
            session._received_audio(kind, message.payload)
        elif kind == KIND_DTMF:
            session._received_dtmf(message.digit)
        elif kind == KIND_UUID:
            self._register(session, message.uuid)
        elif kind == KIND_HANGUP:
            self.stats["hangup_received"] += 1
            session._close("hangup message received")
        elif kind == KIND_ERROR:
            code = message.payload.hex() or "none"
            session._close(f"error message from Asterisk (code {code})")

    def _register(self, session: AudioSocketSession, uuid: str) -> None:
        if uuid in self.sessions:
            self._malformed(session, f"UUID {uuid} already has a live session")
            return
        session.uuid = uuid
        self.sessions[uuid] = session
        self.stats["sessions"] += 1
        log.info("AudioSocket session %s from %s", uuid, session.peer)
        for fut in self._waiters.pop(uuid, []):
            if not fut.done():
                fut.set_result(session)
        if self.on_session is not None:
            self._track(self._run_callback(session))

    async def _run_callback(self, session: AudioSocketSession) -> None:
        assert self.on_session is not None
        try:
            await self.on_session(session)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("AudioSocket session %s: handler raised %s: %s", session.uuid, exc.__class__.__name__, exc)
            await session.hangup()

    def _malformed(self, session: AudioSocketSession, reason: str) -> None:
        self.stats["malformed"] += 1
        log.warning("AudioSocket session %s closed: malformed input: %s", session.uuid or "(no uuid yet)", reason)
        session._close(f"malformed: {reason}")

    def _finish(self, session: AudioSocketSession) -> None:
        session._close(session.close_reason or "closed")
        self._connections.discard(session)
        if session.uuid and self.sessions.get(session.uuid) is session:
            del self.sessions[session.uuid]
            self._recent[session.uuid] = session
            while len(self._recent) > self._keep_closed:
                self._recent.popitem(last=False)
        self.stats["dropped_in"] += session.stats.dropped_in
        self.stats["dropped_out"] += session.stats.dropped_out
        s = session.stats
        log.info(
            "AudioSocket session %s ended (%s): in %d frames, %d DTMF; out %d audio + %d silence; "
            "dropped in %d, out %d",
            session.uuid or "-", session.close_reason, s.frames_in, s.dtmf_in, s.frames_out,
            s.silence_out, s.dropped_in, s.dropped_out,
        )


__all__ = [
    "AudioFrame",
    "AudioSocketServer",
    "AudioSocketSession",
    "DtmfReceived",
    "SessionStats",
    "KIND_AUDIO",
]
