"""The VAD interface every backend offers, and the factory that picks one by name.

Frames are signed 16-bit mono PCM (a ``numpy.int16`` array or raw little-endian bytes) of
10, 20 or 30 ms at 8000, 16000, 32000 or 48000 Hz, the lengths WebRTC's VAD accepts.
A detector keeps its own state (noise model, hangover) across calls, one per call leg.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

VALID_RATES = (8000, 16000, 32000, 48000)
VALID_FRAME_MS = (10, 20, 30)


class VadError(ValueError):
    """A frame or setting the VAD cannot take; the message names what was wrong."""


@runtime_checkable
class VoiceDetector(Protocol):
    sample_rate: int
    mode: int

    def is_speech(self, frame: np.ndarray | bytes) -> bool:
        """Decide one frame; state carries over to the next call."""
        ...

    def reset(self) -> None:
        """Forget everything heard so far (a new call on a recycled detector)."""
        ...


def as_int16(frame: np.ndarray | bytes, sample_rate: int) -> np.ndarray:
    """Validate a frame and return it as int16 samples."""
    if isinstance(frame, bytes | bytearray | memoryview):
        if len(frame) % 2:
            raise VadError(f"frame has an odd number of bytes ({len(frame)}); expected 16-bit samples")
        samples = np.frombuffer(frame, dtype="<i2")
    else:
        samples = np.asarray(frame)
        if samples.dtype != np.int16:
            raise VadError(f"frame dtype is {samples.dtype}; expected int16")
    if samples.ndim != 1:
        raise VadError(f"frame has shape {samples.shape}; expected mono (1-D)")
    ms = samples.size * 1000 / sample_rate
    if ms not in VALID_FRAME_MS:
        raise VadError(f"frame of {samples.size} samples is {ms:g} ms at {sample_rate} Hz; expected 10, 20 or 30 ms")
    return samples


def vad_rate(rate: int) -> int:
    """The rate a call leg runs its VAD at for audio arriving at ``rate``: the same when the VAD
    takes it, else 16 kHz (AudioSocket's 12, 24, 44.1, 96 and 192 kHz kinds): no speech model
    used on the telephone listens above 8 kHz."""
    return rate if rate in VALID_RATES else 16000


def check_settings(sample_rate: int, mode: int) -> None:
    if sample_rate not in VALID_RATES:
        raise VadError(f"sample rate {sample_rate} Hz not supported; expected one of {VALID_RATES}")
    if mode not in (0, 1, 2, 3):
        raise VadError(f"VAD mode {mode} not supported; expected 0, 1, 2 or 3")


def make_vad(kind: str = "numba", sample_rate: int = 8000, mode: int = 2, *, second_stage: bool = False) -> VoiceDetector:
    """``kind``: ``numba`` (default, bit-exact port of WebRTC's VAD) or ``webrtc`` (the C library).

    ``second_stage`` adds the noise-robust check on frames the first stage calls speech.
    """
    check_settings(sample_rate, mode)
    if kind == "webrtc":
        from asr.vad.webrtc_backend import WebrtcVad

        detector: VoiceDetector = WebrtcVad(sample_rate, mode)
    elif kind == "numba":
        from asr.vad.numba_vad import NumbaVad

        detector = NumbaVad(sample_rate, mode)
    else:
        raise VadError(f"unknown VAD {kind!r}; expected 'numba' or 'webrtc'")
    if second_stage:
        from asr.vad.second_stage import SecondStage

        detector = SecondStage(detector)
    return detector
