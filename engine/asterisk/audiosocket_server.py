"""AudioSocket server: one session per connection, keyed by the UUID Asterisk sends first.

Why it paces audio itself: Asterisk plays whatever arrives at once (no jitter buffer) and
aborts a call after 2 s with no traffic either way. So every session sends one frame every
20 ms from the moment the connection is accepted: queued audio when there is some, silence
otherwise. One server clock ticks for all sessions (absolute schedule, no bursts). EOF is a hangup (Asterisk closes without a 0x00 message, see the recordings).

Bounded in memory (issue 10: frames of up to 32 KB each let one connection hold 16 MB
unread, and 30 closed connections held 492 MB): received frames wait in a queue of at most
``max_queued_frames`` frames and ``max_queued_bytes`` bytes (the oldest are dropped when a
consumer is slow), audio to play likewise (what does not fit is dropped); both are counted in
``session.stats`` and logged when the session ends. At most ``max_connections`` connections
are served at once; one more is closed at once and logged, the others go on. A closed session
is not kept: the server remembers only its counters (:class:`EndedSession`, the last
``keep_closed`` of them); its unread audio lives only as long as a consumer holds the session.
Malformed input closes only that session, with the reason logged and kept in
``session.close_reason``.

Rates: a session speaks the rate of the channel, known from the kind of its audio frames
(0x10 8 kHz ... 0x18 192 kHz; ``session.rate``); before the first one arrives it sends the
server's ``out_rate`` (8 kHz unless told). ``play(pcm, rate)`` takes a prompt at any rate and
resamples it to the session's. If the channel's rate changes mid-call (Asterisk's own modules do
not do this: both fix the format for the call) the session follows it from the next frame it
sends, audio already queued keeps the kind it was cut for (Asterisk translates whatever kind
arrives), the change is counted in ``stats.rate_changes`` and logged once; received frames carry
their own rate, and the speech path's frame pump resamples them to its leg's.

Two ways to get sessions: ``AudioSocketServer(on_session=callback)`` runs ``callback(session)``
for each one, and ``await server.wait_session(uuid, timeout)`` returns the live session with
that UUID (a FastAGI flow starts waiting before it sends ``EXEC AudioSocket "<uuid>,host:port"``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

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
from engine.asterisk.errors import AudioSocketError, AudioSocketSessionEnded
from engine.config import AudioSocketConfig
from engine.listen import warn_if_exposed
from engine.resample import resample_pcm

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
    rate_changes: int = 0  # audio frames at another rate than the one before (the channel changed format)
    stalled_out: int = 0  # ticks skipped because the peer was not reading what we sent

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class EndedSession:
    """All the server keeps of a closed session: no audio, no socket."""

    uuid: str
    close_reason: str
    stats: SessionStats


_END = object()
MAX_UNSENT_BYTES = 64 * 1024  # about 4 s of 8 kHz audio waiting in the socket buffer
_DEFAULTS = AudioSocketConfig()  # the [audiosocket] settings' defaults, documented there
REFUSED_LOG_SECONDS = 10.0  # refused connections are logged at most once in this many seconds
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
        max_queued_bytes: int = _DEFAULTS.max_queued_bytes,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.uuid = ""
        self.peer = writer.get_extra_info("peername")
        self.stats = SessionStats()
        self.close_reason = ""
        self.out_rate = out_rate  # rate of the audio and silence sent next: the channel's, once known
        self.in_rate: int | None = None  # rate of the latest audio frame received
        self._frame_ms = frame_ms
        self._max = max_queued_frames
        self._max_bytes = max_queued_bytes
        self._in: asyncio.Queue[object] = asyncio.Queue()
        self._in_count = 0
        self._in_bytes = 0
        self._dtmf: asyncio.Queue[DtmfReceived] = asyncio.Queue(maxsize=64)
        self._out: deque[tuple[int, bytes]] = deque()  # (kind, 20 ms of PCM at that kind's rate)
        self._out_bytes = 0
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
            assert isinstance(item, AudioFrame)
            self._in_count -= 1
            self._in_bytes -= len(item.pcm)
            yield item

    async def next_dtmf(self, timeout: float | None = None) -> DtmfReceived | None:
        """Next digit pressed, or None after ``timeout`` seconds or when the call ended."""
        get = asyncio.ensure_future(self._dtmf.get())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({get, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when the caller is cancelled (an IVR turn ending): no task is left waiting
            closed.cancel()
            if not get.done():
                get.cancel()
        return get.result() if get.done() and not get.cancelled() else None

    @property
    def rate(self) -> int:
        """The rate this session speaks (Hz): the channel's, from its audio frames; before the
        first one arrived, the server's ``out_rate``."""
        return self.out_rate

    def play(self, pcm: bytes, rate: int | None = None) -> int:
        """Queue PCM to be sent at 20 ms a frame; returns frames queued (the rest is dropped, counted).

        ``rate``: the rate of ``pcm`` when it is not the session's (a prompt recorded at 8 kHz
        played to a 16 kHz channel): it is resampled once, here, to the session's rate."""
        if self.closed:
            return 0
        if rate is not None and rate != self.out_rate:
            if rate <= 0:
                raise AudioSocketError(f"play() at {rate} Hz: a rate must be positive")
            pcm = resample_pcm(pcm[: len(pcm) - len(pcm) % 2], rate, self.out_rate)
        kind = RATE_KINDS[self.out_rate]
        size = frame_bytes(self.out_rate, self._frame_ms)
        queued = 0
        for pos in range(0, len(pcm) - len(pcm) % 2, size):
            chunk = pcm[pos : pos + size]
            if len(self._out) >= self._max or self._out_bytes + len(chunk) > self._max_bytes:
                self.stats.dropped_out += 1
                continue
            self._out.append((kind, chunk))
            self._out_bytes += len(chunk)
            queued += 1
        if self._out:
            self._out_empty.clear()
        return queued

    def clear_playback(self) -> int:
        """Drop audio not yet sent (barge-in); returns frames dropped (not counted as drops)."""
        n = len(self._out)
        self._out.clear()
        self._out_bytes = 0
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
    def queued_in_bytes(self) -> int:
        return self._in_bytes

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
            kind, chunk = self._out.popleft()
            self._out_bytes -= len(chunk)
            frame = encode(kind, chunk)
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
        if rate != self.in_rate:
            if self.in_rate is not None:
                self.stats.rate_changes += 1
                if self.stats.rate_changes == 1:
                    log.warning("AudioSocket session %s: the channel's audio changed from %d to %d Hz; "
                                "answering at %d Hz from now on", self.uuid, self.in_rate, rate, rate)
            self.in_rate = rate
            self.out_rate = rate  # answer at the rate the channel speaks (queued audio keeps its own)
        size = len(pcm)
        self.stats.frames_in += 1
        self.stats.bytes_in += size
        if size > self._max_bytes:  # bigger than the whole queue may hold
            self.stats.dropped_in += 1
            return
        while self._in_count and (self._in_count >= self._max or self._in_bytes + size > self._max_bytes):
            oldest = self._in.get_nowait()
            assert isinstance(oldest, AudioFrame)
            self._in_count -= 1
            self._in_bytes -= len(oldest.pcm)
            self.stats.dropped_in += 1
        self._in.put_nowait(AudioFrame(pcm, rate, kind, self._loop.time() - self.started))
        self._in_count += 1
        self._in_bytes += size

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
        self._out.clear()  # nothing is sent after the end; received audio stays for the consumer
        self._out_bytes = 0
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
        max_queued_frames: int = _DEFAULTS.max_queued_frames,
        max_queued_bytes: int = _DEFAULTS.max_queued_bytes,
        max_connections: int = _DEFAULTS.max_connections,
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
        self._max_queued_bytes = max_queued_bytes
        self._max_connections = max_connections
        self._max_payload = max_payload
        self._uuid_timeout = uuid_timeout
        self._out_rate = out_rate
        self._frame_ms = frame_ms
        self._keep_closed = keep_closed
        self._server: asyncio.base_events.Server | None = None
        self.sessions: dict[str, AudioSocketSession] = {}
        self._ended: OrderedDict[str, EndedSession] = OrderedDict()
        self._refused_logged_at: float | None = None
        self._refused_since_log = 0
        self._waiters: dict[str, list[asyncio.Future[AudioSocketSession]]] = {}
        self._connections: set[AudioSocketSession] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._clock: asyncio.Task[None] | None = None
        self.stats: dict[str, int] = {
            "resyncs": 0,
            "connections": 0,
            "refused": 0,
            "sessions": 0,
            "malformed": 0,
            "eof": 0,
            "hangup_received": 0,
            "dropped_in": 0,
            "dropped_out": 0,
        }

    @classmethod
    def from_config(cls, config: AudioSocketConfig, on_session: SessionCallback | None = None,
                    **kwargs: Any) -> AudioSocketServer:
        """A server with the ``[audiosocket]`` settings."""
        return cls(on_session, config.host, config.port, advertise=config.advertise,
                   max_queued_frames=config.max_queued_frames, max_queued_bytes=config.max_queued_bytes,
                   max_connections=config.max_connections, **kwargs)

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
                self._resync_all()
                t0, n, delay = loop.time(), 0, 0.0
            await asyncio.sleep(max(0.0, delay))
            self._tick_all()

    # Loops over sessions live in their own frames: a loop variable left in the clock's frame
    # would keep the last session (and its unread audio) alive after it closed.
    def _resync_all(self) -> None:
        self.stats["resyncs"] += 1
        for session in self._connections:
            session.stats.resyncs += 1

    def _tick_all(self) -> None:
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
        """The live session with this UUID, once Asterisk connected (or already has).
        TimeoutError after ``timeout``; :class:`AudioSocketSessionEnded` when it came and went
        already (closed sessions are not kept: wait before Asterisk connects, or use ``on_session``)."""
        key = parse_uuid(uuid)
        found = self.sessions.get(key)
        if found is not None:
            return found
        ended = self._ended.get(key)
        if ended is not None:
            raise AudioSocketSessionEnded(f"AudioSocket session {key} already ended ({ended.close_reason})")
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

    def ended(self, uuid: str) -> EndedSession | None:
        """Close reason and counters of a session that ended (the last ``keep_closed`` of them)."""
        return self._ended.get(parse_uuid(uuid))

    def _track(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self._max_connections:
            self._refuse(writer)
            return
        self.stats["connections"] += 1
        session = AudioSocketSession(
            reader, writer, max_queued_frames=self._max_queued, max_queued_bytes=self._max_queued_bytes,
            out_rate=self._out_rate, frame_ms=self._frame_ms,
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

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        """Close a connection over ``max_connections`` at once; the live ones go on. Logged at
        most once every ``REFUSED_LOG_SECONDS`` (with the count), so a flood cannot flood the log."""
        self.stats["refused"] += 1
        self._refused_since_log += 1
        now = asyncio.get_running_loop().time()
        if self._refused_logged_at is None or now - self._refused_logged_at >= REFUSED_LOG_SECONDS:
            log.warning("AudioSocket connection from %s refused: %d connections open, the limit "
                        "([audiosocket] max_connections); %d refused since the last such line",
                        writer.get_extra_info("peername"), len(self._connections), self._refused_since_log)
            self._refused_logged_at = now
            self._refused_since_log = 0
        writer.close()

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
            self._ended[session.uuid] = EndedSession(session.uuid, session.close_reason, session.stats)
            while len(self._ended) > self._keep_closed:
                self._ended.popitem(last=False)
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
    "EndedSession",
    "SessionStats",
    "KIND_AUDIO",
]
