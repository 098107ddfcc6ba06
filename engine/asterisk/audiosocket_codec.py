"""AudioSocket framing without I/O: feed bytes, take messages; build frames.

A message is 1 byte kind, 2 bytes big-endian payload length, payload (Asterisk
``res/res_audiosocket.c`` at f0c1c1a7b7, ``enum ast_audiosocket_msg_kind``):

=====  ===========================  ==============================================
kind   meaning                      payload
=====  ===========================  ==============================================
0x00   hangup                       none (length 0)
0x01   UUID, always first           16 raw bytes
0x03   DTMF                         1 ASCII byte
0x10   audio, slin 8 kHz            signed 16-bit little-endian mono PCM
0x11   audio, slin12 (12 kHz)       same
0x12   audio, slin16 (16 kHz)       same
0x13   audio, slin24 (24 kHz)       same
0x14   audio, slin32 (32 kHz)       same
0x15   audio, slin44 (44.1 kHz)     same
0x16   audio, slin48 (48 kHz)       same
0x17   audio, slin96 (96 kHz)       same
0x18   audio, slin192 (192 kHz)     same
0xFF   error (Asterisk side)        optional error code byte(s)
=====  ===========================  ==============================================

Which audio kind a connection carries is fixed by Asterisk's side: the ``AudioSocket()``
dialplan application always sets the channel to ``slin`` (0x10); a channel of ``chan_audiosocket``
(``AudioSocket/host:port/uuid/c(slin16)``) speaks the codec its ``c()`` option names, else the
first format the requester offers (an AMI Originate offers ``slin`` unless given ``Codecs:``).
Asterisk labels every non-slin codec 0x10, so ``c(ulaw)`` would send mu-law bytes as "slin":
``CODEC_RATES`` lists the names that make sense here. Audio sent back in another kind is still
played: Asterisk switches the channel's write format and translates.

Asterisk itself rejects a zero-length audio message; so does this codec. The recording shows
Asterisk ending a call by closing the socket without a 0x00 message: the transport treats EOF
as hangup, the codec only reports bytes left over in an incomplete message.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections import deque
from dataclasses import dataclass

from engine.asterisk.errors import AudioSocketError

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF

AUDIO_RATES: dict[int, int] = {
    0x10: 8000,
    0x11: 12000,
    0x12: 16000,
    0x13: 24000,
    0x14: 32000,
    0x15: 44100,
    0x16: 48000,
    0x17: 96000,
    0x18: 192000,
}
RATE_KINDS = {rate: kind for kind, rate in AUDIO_RATES.items()}
# Asterisk's format names (format_cache.c) of the signed linear codecs, as ``c()`` takes them
CODEC_RATES: dict[str, int] = {
    "slin": 8000, "slin12": 12000, "slin16": 16000, "slin24": 24000, "slin32": 32000,
    "slin44": 44100, "slin48": 48000, "slin96": 96000, "slin192": 192000,
}
KNOWN_KINDS = frozenset({KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_ERROR, *AUDIO_RATES})
KIND_NAMES = {KIND_HANGUP: "hangup", KIND_UUID: "uuid", KIND_DTMF: "dtmf", KIND_ERROR: "error"}
KIND_NAMES.update({k: f"audio/{r}" for k, r in AUDIO_RATES.items()})

HEADER_SIZE = 3
FRAME_MS = 20
DTMF_DIGITS = frozenset(b"0123456789*#ABCDabcd")

# The largest payload accepted: 20 ms at 192 kHz is 7680 bytes; allow a few frames' worth.
DEFAULT_MAX_PAYLOAD = 32768


def frame_bytes(rate: int, ms: int = FRAME_MS) -> int:
    """Bytes of slin PCM in ``ms`` milliseconds at ``rate`` Hz (2 bytes a sample)."""
    return rate * ms // 1000 * 2


@dataclass(frozen=True)
class AudioSocketMessage:
    """One message. ``payload`` raw; helpers read it by kind."""

    kind: int
    payload: bytes = b""

    @property
    def is_audio(self) -> bool:
        return self.kind in AUDIO_RATES

    @property
    def rate(self) -> int | None:
        return AUDIO_RATES.get(self.kind)

    @property
    def uuid(self) -> str:
        """The canonical UUID text (``2f0a1c3e-0000-4000-8000-000000000001``) of a 0x01 message."""
        return str(uuid_mod.UUID(bytes=self.payload))

    @property
    def digit(self) -> str:
        return chr(self.payload[0])

    @property
    def name(self) -> str:
        return KIND_NAMES.get(self.kind, f"0x{self.kind:02x}")


def encode(kind: int, payload: bytes = b"") -> bytes:
    if kind not in KNOWN_KINDS:
        raise AudioSocketError(f"unknown AudioSocket kind 0x{kind:02x}")
    if len(payload) > 0xFFFF:
        raise AudioSocketError(f"AudioSocket payload of {len(payload)} bytes does not fit 16 bits")
    return bytes((kind, len(payload) >> 8, len(payload) & 0xFF)) + payload


def encode_uuid(value: str | uuid_mod.UUID) -> bytes:
    u = value if isinstance(value, uuid_mod.UUID) else uuid_mod.UUID(str(value))
    return encode(KIND_UUID, u.bytes)


def encode_audio(pcm: bytes, rate: int = 8000) -> bytes:
    kind = RATE_KINDS.get(rate)
    if kind is None:
        raise AudioSocketError(f"no AudioSocket kind for {rate} Hz (known: {sorted(RATE_KINDS)})")
    if not pcm:
        raise AudioSocketError("an AudioSocket audio message may not be empty")
    return encode(kind, pcm)


def encode_dtmf(digit: str) -> bytes:
    return encode(KIND_DTMF, digit.encode("ascii"))


def encode_hangup() -> bytes:
    return encode(KIND_HANGUP)


def parse_uuid(value: str) -> str:
    """Canonical text of a UUID given with or without dashes (AGI, AMI and logs mix both)."""
    try:
        return str(uuid_mod.UUID(value))
    except ValueError:
        raise AudioSocketError(f"not a UUID: {value!r}") from None


class AudioSocketCodec:
    """Incremental reader of one AudioSocket connection.

    Checks what a server must check: the first message is a 16-byte UUID, kinds are known,
    lengths are legal and not above ``max_payload``. Any violation raises AudioSocketError
    naming what was wrong; messages already returned stay valid.
    """

    def __init__(self, *, max_payload: int = DEFAULT_MAX_PAYLOAD, require_uuid_first: bool = True) -> None:
        self._buf = bytearray()
        self._messages: deque[AudioSocketMessage] = deque()
        self._max_payload = max_payload
        self._need_uuid = require_uuid_first

    def feed(self, data: bytes) -> None:
        self._buf += data
        buf = self._buf
        pos = 0
        try:
            while len(buf) - pos >= HEADER_SIZE:
                kind = buf[pos]
                length = (buf[pos + 1] << 8) | buf[pos + 2]
                self._check_header(kind, length)
                end = pos + HEADER_SIZE + length
                if len(buf) < end:
                    break
                payload = bytes(buf[pos + HEADER_SIZE : end])
                self._check_payload(kind, payload)
                self._messages.append(AudioSocketMessage(kind, payload))
                pos = end
        finally:
            del buf[:pos]

    def _check_header(self, kind: int, length: int) -> None:
        if kind not in KNOWN_KINDS:
            raise AudioSocketError(f"unknown message kind 0x{kind:02x} (length {length})")
        if self._need_uuid and kind != KIND_UUID:
            raise AudioSocketError(f"first message must be the UUID (kind 0x01), got kind 0x{kind:02x}")
        if kind == KIND_UUID and length != 16:
            raise AudioSocketError(f"UUID message must carry 16 bytes, got {length}")
        if kind == KIND_DTMF and length != 1:
            raise AudioSocketError(f"DTMF message must carry 1 byte, got {length}")
        if kind in AUDIO_RATES:
            if length == 0:
                raise AudioSocketError(f"zero-length audio message (kind 0x{kind:02x})")
            if length % 2:
                raise AudioSocketError(f"audio message of odd length {length}: not 16-bit samples")
        if length > self._max_payload:
            raise AudioSocketError(f"message length {length} above the limit of {self._max_payload} bytes")

    def _check_payload(self, kind: int, payload: bytes) -> None:
        if kind == KIND_UUID:
            if not self._need_uuid:
                raise AudioSocketError("a second UUID message on the same connection")
            self._need_uuid = False
        elif kind == KIND_DTMF and payload[0] not in DTMF_DIGITS:
            raise AudioSocketError(f"DTMF message with a non-digit byte 0x{payload[0]:02x}")

    def next_message(self) -> AudioSocketMessage | None:
        return self._messages.popleft() if self._messages else None

    def messages(self) -> list[AudioSocketMessage]:
        out = list(self._messages)
        self._messages.clear()
        return out

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete message (at EOF: a frame cut short)."""
        return len(self._buf)
