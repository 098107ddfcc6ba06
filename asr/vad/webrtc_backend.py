"""The ``webrtcvad`` C library (package webrtcvad-wheels) behind the project's VAD interface."""

from __future__ import annotations

import numpy as np
import webrtcvad

from asr.vad.base import as_int16, check_settings


class WebrtcVad:
    """One ``webrtcvad.Vad`` per call leg."""

    def __init__(self, sample_rate: int = 8000, mode: int = 2) -> None:
        check_settings(sample_rate, mode)
        self.sample_rate = sample_rate
        self.mode = mode
        self._vad = webrtcvad.Vad(mode)
        self._checked_bytes = -1  # length of a bytes frame as_int16 has already accepted

    def is_speech(self, frame: np.ndarray | bytes) -> bool:
        # bytes (as the gate sends them) go to the library as they are, once their length is known good
        if type(frame) is not bytes or len(frame) != self._checked_bytes:
            samples = as_int16(frame, self.sample_rate)
            if type(frame) is not bytes:
                return bool(self._vad.is_speech(samples.tobytes(), self.sample_rate))
            self._checked_bytes = len(frame)
        return bool(self._vad.is_speech(frame, self.sample_rate))

    def reset(self) -> None:
        self._vad = webrtcvad.Vad(self.mode)
