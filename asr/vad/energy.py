"""A plain NumPy energy VAD: the simplest baseline the benchmark compares against.

Frame log energy against a noise floor that follows the minimum of recent frames, a fixed
margin above it, and a short hangover. Vectorised over calls, so one tick of many calls costs
a few NumPy operations.
"""

from __future__ import annotations

import numpy as np

from asr.vad.base import as_int16, check_settings


class EnergyVadBatch:
    """Many calls at one rate; ``process(frames[n_calls, samples]) -> bool[n_calls]``."""

    def __init__(self, n_calls: int, sample_rate: int = 8000, margin_db: float = 9.0, hang_ms: int = 200) -> None:
        check_settings(sample_rate, 0)
        self.sample_rate = sample_rate
        self.margin_db = margin_db
        self.hang_ms = hang_ms
        self.n_calls = n_calls
        self.reset()

    def reset(self) -> None:
        self._floor = np.full(self.n_calls, np.nan)
        self._hang = np.zeros(self.n_calls, dtype=np.int64)

    def process(self, frames: np.ndarray) -> np.ndarray:
        x = frames.astype(np.float32)
        e = 10.0 * np.log10(np.einsum("ij,ij->i", x, x) / x.shape[1] + 1.0)
        frame_ms = x.shape[1] * 1000 // self.sample_rate
        floor = np.where(np.isnan(self._floor), e, self._floor)
        # falls at once to a quieter frame, rises slowly (about 1 dB per second)
        floor = np.where(e < floor, e, floor + 0.001 * frame_ms)
        self._floor = floor
        loud = e > floor + self.margin_db
        self._hang = np.where(loud, self.hang_ms // frame_ms, np.maximum(self._hang - 1, 0))
        return loud | (self._hang > 0)


class EnergyVad:
    """One call leg (``VoiceDetector``) on top of the batch form with one row."""

    def __init__(self, sample_rate: int = 8000, mode: int = 2) -> None:
        check_settings(sample_rate, mode)
        self.sample_rate = sample_rate
        self.mode = mode
        self._batch = EnergyVadBatch(1, sample_rate, margin_db=6.0 + 2.0 * mode)

    def is_speech(self, frame: np.ndarray | bytes) -> bool:
        samples = as_int16(frame, self.sample_rate)
        return bool(self._batch.process(samples[None, :])[0])

    def reset(self) -> None:
        self._batch.reset()
