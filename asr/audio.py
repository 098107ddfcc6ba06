"""WAV files in, 16-bit mono PCM at a rate the VAD and Vosk accept out.

The reader parses RIFF chunks itself (not ``wave``) so it takes what telephony tools write:
PCM 8/16/24/32-bit, IEEE float 32/64-bit, and WAVE_FORMAT_EXTENSIBLE, any channel count
(channels are averaged). A file that is not WAV, is empty, is cut short, or whose header claims
an impossible format (no channels, a sample rate outside ``MIN_RATE``-``MAX_RATE``) is an
``AudioFileError`` naming the file and what is wrong, never a partial result.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import HotlineError
from engine.resample import resample as resample  # re-exported: the speech path's callers import it here

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
MIN_RATE = 1000
# Highest sample rate accepted. Resampling to 16 kHz costs time and memory in proportion to the
# rate (a 5 MHz header made a one-second file take 4.4 GB); 384 kHz is the most any audio gear writes.
MAX_RATE = 384_000


class AudioFileError(HotlineError):
    """A file that cannot be read as audio; the message names the file."""


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # int16, mono
    rate: int

    @property
    def duration(self) -> float:
        return self.samples.size / self.rate


def riff_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(id, offset of the body, size its header declares) of each chunk after the RIFF/WAVE header;
    stops where ``data`` ends, so a header alone (the first kilobytes of a file) can be walked."""
    pos = 12
    while pos + 8 <= len(data):
        size = struct.unpack_from("<I", data, pos + 4)[0]
        yield data[pos : pos + 4], pos + 8, size
        pos += 8 + size + (size & 1)


def read_wav(path: str | os.PathLike[str]) -> Audio:
    """Read a WAV file as int16 mono at its own rate."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AudioFileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not data:
        raise AudioFileError(f"{name}: empty file")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFileError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    fmt: tuple[int, int, int, int] | None = None
    for cid, at, size in riff_chunks(data):
        body = data[at : at + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise AudioFileError(f"{name}: truncated fmt chunk")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == _EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise AudioFileError(f"{name}: data chunk before fmt chunk")
            if len(body) < size and size not in (0, 0xFFFFFFFF):
                raise AudioFileError(f"{name}: truncated: header promises {size} bytes of audio, file holds {len(body)}")
            return Audio(_decode(name, body, *fmt), fmt[2])
    if fmt is None:
        raise AudioFileError(f"{name}: no fmt chunk (truncated or not a WAV file)")
    raise AudioFileError(f"{name}: no data chunk (truncated?)")


def _decode(name: str, body: bytes, tag: int, channels: int, rate: int, bits: int) -> np.ndarray:
    if channels < 1:
        raise AudioFileError(f"{name}: bad format: the header claims {channels} channels")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioFileError(f"{name}: bad format: the header claims {rate} Hz "
                             f"(expected {MIN_RATE} to {MAX_RATE} Hz)")
    width = bits // 8
    frame = width * channels
    if frame == 0:
        raise AudioFileError(f"{name}: bad sample width {bits} bits")
    body = body[: len(body) - len(body) % frame]
    if tag == _PCM and width == 1:
        x = (np.frombuffer(body, np.uint8).astype(np.float64) - 128.0) * 256.0
    elif tag == _PCM and width == 2:
        x = np.frombuffer(body, "<i2").astype(np.float64)
    elif tag == _PCM and width == 3:
        b = np.frombuffer(body, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v) / 256.0).astype(np.float64)
    elif tag == _PCM and width == 4:
        x = np.frombuffer(body, "<i4").astype(np.float64) / 65536.0
    elif tag == _FLOAT and width in (4, 8):
        x = np.frombuffer(body, "<f4" if width == 4 else "<f8").astype(np.float64) * 32768.0
    else:
        raise AudioFileError(f"{name}: unsupported WAV encoding (format {tag}, {bits} bits)")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def load_for_asr(path: str | os.PathLike[str], rates: tuple[int, ...] = (8000, 16000), target: int = 16000) -> Audio:
    """A WAV file as mono int16 at one of ``rates`` (kept when already there, else ``target``)."""
    audio = read_wav(path)
    if audio.samples.size == 0:
        raise AudioFileError(f"{path}: no audio samples")
    if audio.rate in rates:
        return audio
    return Audio(resample(audio.samples, audio.rate, target), target)
