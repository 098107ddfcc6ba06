"""PBX simulator: the Asterisk side of an AudioSocket connection.

Does what Asterisk's ``AudioSocket(uuid,host:port)`` application was recorded doing
(``audiosocket_frames.json``): connect, send the 16-byte UUID (kind 0x01), then the caller's
audio as kind 0x10 (8 kHz) frames of 20 ms, a short last frame, and close the socket *without*
a 0x00 message. Whatever the server sends back is recorded with timestamps, as Asterisk would
play it. A 0x00 from the server ends the call the way it ends the application.

API (used by the FastAGI simulator client and by ``hotline pbxsim``)::

    client = AudioSocketClient("127.0.0.1", port, uuid, pace=1.0)   # pace 1.0 real time, 4.0 four
    result = await client.stream_wav("caller.wav")                  # times faster, 0 no pauses
    result.received_audio()   # PCM the server sent (silence included), in order
    result.audio_times()      # arrival time of each audio frame, seconds since connect
    result.hangup_received    # the server sent kind 0x00
    result.frames_sent        # audio frames sent (stops early when the server hangs up)

``rate`` is the rate the simulated channel speaks, as ``chan_audiosocket``'s ``c()`` codec
fixes it (16000 for ``c(slin16)``: kind 0x12, 640-byte frames); audio at another rate is
resampled to it first. None (the default) sends the audio at its own rate; ``AudioSocket()``
from the dialplan, and so ``EXEC AudioSocket`` from FastAGI, always speaks 8 kHz.

Options: ``dtmf={0.5: "2"}`` sends DTMF digits at those times; ``send_hangup=True`` ends with a
0x00 message before closing (Asterisk does not); ``linger`` keeps listening after the audio ended
(until the server hangs up, or that many seconds).
"""

from __future__ import annotations

import asyncio
import uuid as uuid_mod
import wave
from dataclasses import dataclass, field
from pathlib import Path

from engine.asterisk.audiosocket_codec import (
    AUDIO_RATES,
    FRAME_MS,
    KIND_HANGUP,
    RATE_KINDS,
    AudioSocketCodec,
    encode_audio,
    encode_dtmf,
    encode_hangup,
    encode_uuid,
    frame_bytes,
)
from engine.asterisk.errors import AudioSocketError
from engine.resample import resample_pcm


@dataclass(frozen=True)
class ReceivedMessage:
    at: float  # seconds since connect
    kind: int
    payload: bytes


@dataclass
class AudioSocketCallResult:
    uuid: str
    frames_sent: int = 0
    received: list[ReceivedMessage] = field(default_factory=list)
    hangup_received: bool = False
    server_closed: bool = False
    error: str = ""
    duration: float = 0.0

    def audio_messages(self) -> list[ReceivedMessage]:
        return [m for m in self.received if m.kind in AUDIO_RATES]

    def received_audio(self) -> bytes:
        return b"".join(m.payload for m in self.audio_messages())

    def audio_times(self) -> list[float]:
        return [m.at for m in self.audio_messages()]


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """PCM and rate of a mono 16-bit WAV (what AudioSocket carries)."""
    with wave.open(str(path)) as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise AudioSocketError(f"{path}: need mono 16-bit PCM, got {w.getnchannels()} ch, {w.getsampwidth() * 8} bit")
        return w.readframes(w.getnframes()), w.getframerate()


class AudioSocketClient:
    def __init__(
        self,
        host: str,
        port: int,
        uuid: str | None = None,
        *,
        pace: float = 1.0,
        frame_ms: int = FRAME_MS,
        send_hangup: bool = False,
        linger: float = 0.3,
        dtmf: dict[float, str] | None = None,
        connect_timeout: float = 2.0,
        rate: int | None = None,
    ) -> None:
        if rate is not None and rate not in RATE_KINDS:
            raise AudioSocketError(f"no AudioSocket kind for {rate} Hz (known: {sorted(RATE_KINDS)})")
        self.host = host
        self.port = port
        self.uuid = str(uuid_mod.UUID(uuid)) if uuid else str(uuid_mod.uuid4())
        self.pace = pace
        self.frame_ms = frame_ms
        self.send_hangup = send_hangup
        self.linger = linger
        self.dtmf = dict(sorted((dtmf or {}).items()))
        self.connect_timeout = connect_timeout
        self.rate = rate

    async def stream_wav(self, path: str | Path) -> AudioSocketCallResult:
        pcm, rate = read_wav(path)
        return await self.stream(pcm, rate)

    async def stream(self, pcm: bytes, rate: int = 8000) -> AudioSocketCallResult:
        """Send ``pcm`` (at ``rate``) in paced frames; return what happened and what came back."""
        if self.rate is not None and rate != self.rate:
            pcm, rate = resample_pcm(pcm, rate, self.rate), self.rate
        result = AudioSocketCallResult(self.uuid)
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        t0 = loop.time()
        ended = asyncio.Event()
        closing = False

        async def receive() -> None:
            codec = AudioSocketCodec(require_uuid_first=False)
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        result.server_closed = not closing
                        return
                    codec.feed(data)
                    now = loop.time() - t0
                    for m in codec.messages():
                        result.received.append(ReceivedMessage(now, m.kind, m.payload))
                        if m.kind == KIND_HANGUP:
                            result.hangup_received = True
                            return
            except (ConnectionError, OSError):
                result.server_closed = not closing
            except AudioSocketError as exc:
                result.error = str(exc)
            finally:
                ended.set()

        receiver = asyncio.ensure_future(receive())
        try:
            writer.write(encode_uuid(self.uuid))
            size = frame_bytes(rate, self.frame_ms)
            period = self.frame_ms / 1000 / self.pace if self.pace > 0 else 0.0
            digits = list(self.dtmf.items())
            n = 0
            for pos in range(0, len(pcm), size):
                if ended.is_set():
                    break
                at = n * self.frame_ms / 1000
                while digits and digits[0][0] <= at:
                    writer.write(encode_dtmf(digits.pop(0)[1]))
                writer.write(encode_audio(pcm[pos : pos + size], rate))
                await writer.drain()
                result.frames_sent += 1
                n += 1
                if period:
                    delay = t0 + n * period - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)
            if not ended.is_set() and self.linger > 0:
                try:
                    await asyncio.wait_for(ended.wait(), self.linger)
                except TimeoutError:
                    pass
            if self.send_hangup and not ended.is_set():
                writer.write(encode_hangup())
                await writer.drain()
        except (ConnectionError, OSError):
            result.server_closed = True
        finally:
            closing = True
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            try:
                await asyncio.wait_for(receiver, 1.0)
            except (TimeoutError, asyncio.CancelledError):
                receiver.cancel()
            result.duration = loop.time() - t0
        return result
