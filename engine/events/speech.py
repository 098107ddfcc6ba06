"""Events of the speech path (``asr``): frames in, these out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    conf: float


@dataclass(frozen=True)
class SpeechStarted:
    call_id: str
    leg: str
    start: float  # seconds from call start


@dataclass(frozen=True)
class SpeechEnded:
    call_id: str
    leg: str
    start: float
    end: float


@dataclass(frozen=True)
class BargeIn:
    """Enough speech (about 200 ms) while a prompt plays: stop the prompt."""

    call_id: str
    leg: str
    at: float


@dataclass(frozen=True)
class PartialTranscript:
    call_id: str
    leg: str
    start: float
    text: str


@dataclass(frozen=True)
class FinalTranscript:
    call_id: str
    leg: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class TranscriptionLag:
    """Decoding fell behind real time (workers saturated) or caught up again: transcripts come late.

    ``behind`` is the audio (seconds) waiting to be decoded for this leg; 0-ish means recovered.
    Speech start/end and barge-in are never late: only transcripts are.
    """

    call_id: str
    leg: str
    behind: float
    lagging: bool
