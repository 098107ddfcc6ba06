"""Files through the same speech path as live calls (``hotline transcribe`` / ``hotline vad``).

A file is read whole (any rate, any channel count), mixed to mono, resampled to 16 kHz unless
it already is 8 or 16 kHz, then fed to a ``SpeechStream`` in one-second chunks on the file's own
time line: the same VAD, endpointer, gating and forced finals as a live call leg, so offline
results predict live ones.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from asr.audio import Audio, load_for_asr, riff_chunks
from asr.stream import Gate, SpeechStream, StreamSettings
from engine.events.speech import FinalTranscript, SpeechEnded

CHUNK_S = 1.0

Progress = Callable[[float], None]  # seconds of audio just processed


@dataclass(frozen=True)
class Segment:
    start: float
    end: float


def _chunks(audio: Audio) -> Any:
    step = int(audio.rate * CHUNK_S)
    for i in range(0, audio.samples.size, step):
        yield audio.samples[i : i + step].tobytes(), i / audio.rate


def transcribe_audio(
    audio: Audio, model: Any, settings: StreamSettings | None = None, name: str = "", progress: Progress | None = None
) -> list[FinalTranscript]:
    """Final transcripts of one recording (times in seconds from its start)."""
    s = replace(settings or StreamSettings(), partial_interval=0.0)  # nobody reads partials offline
    stream = SpeechStream(model, name, "file", audio.rate, s)
    out: list[FinalTranscript] = []
    for pcm, t in _chunks(audio):
        out += [e for e in stream.feed(pcm, t) if isinstance(e, FinalTranscript)]
        if progress:
            progress(len(pcm) / 2 / audio.rate)
    out += [e for e in stream.close(audio.duration) if isinstance(e, FinalTranscript)]
    return out


def transcribe_file(
    path: str | os.PathLike[str], model: Any, settings: StreamSettings | None = None, progress: Progress | None = None
) -> list[FinalTranscript]:
    return transcribe_audio(load_for_asr(path), model, settings, str(path), progress)


def vad_audio(audio: Audio, settings: StreamSettings | None = None) -> list[Segment]:
    """Speech segments (VAD + endpointer only, no decoding)."""
    gate = Gate("", "file", audio.rate, settings)
    segments: list[Segment] = []
    for pcm, t in _chunks(audio):
        events, _ = gate.feed(pcm, t)
        segments += [Segment(e.start, e.end) for e in events if isinstance(e, SpeechEnded)]
    events, _ = gate.close(audio.duration)
    segments += [Segment(e.start, e.end) for e in events if isinstance(e, SpeechEnded)]
    return segments


def vad_file(path: str | os.PathLike[str], settings: StreamSettings | None = None) -> list[Segment]:
    return vad_audio(load_for_asr(path), settings)


def wav_duration(path: str | os.PathLike[str]) -> float:
    """Duration from the header alone (for progress bars); 0.0 when it cannot tell."""
    try:
        with Path(path).open("rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return 0.0
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0.0
    byte_rate = 0
    for cid, at, size in riff_chunks(head):
        if cid == b"fmt " and at + 12 <= len(head):
            byte_rate = struct.unpack_from("<I", head, at + 8)[0]
        elif cid == b"data":
            return size / byte_rate if byte_rate else 0.0
    return 0.0
