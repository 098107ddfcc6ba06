"""The Numba port of WebRTC's VAD behind the project's interface: one call, or many at once.

``NumbaVad`` decides frame by frame for one call leg (the ``VoiceDetector`` protocol);
``NumbaVadBatch`` keeps the state of many legs in one array and decides one tick of all of them
in a single compiled call that releases the GIL. Both give exactly the decisions of
``webrtcvad.Vad(mode).is_speech`` (see asr/vad/webrtc_core.py for how).
"""

from __future__ import annotations

import numpy as np

from asr.vad import webrtc_core as core
from asr.vad.base import VadError, as_int16, check_settings

_INT16 = np.dtype("<i2")


class NumbaVad:
    """One call leg; same decisions as ``webrtcvad.Vad(mode)`` fed the same frames."""

    def __init__(self, sample_rate: int = 8000, mode: int = 2) -> None:
        check_settings(sample_rate, mode)
        self.sample_rate = sample_rate
        self.mode = mode
        self._buf = np.zeros(core.STATE_SIZE + core.WORK_SIZE, dtype=np.int64)
        self._state = self._buf[: core.STATE_SIZE]
        self._work = self._buf[core.STATE_SIZE :]
        self.reset()

    def is_speech(self, frame: np.ndarray | bytes) -> bool:
        # the common cases go straight to the kernel, which checks the length itself
        if type(frame) is bytes:
            r = core.process_one_bytes(self._buf, frame)
        elif type(frame) is np.ndarray and (frame.dtype is _INT16 or frame.dtype == _INT16) and frame.ndim == 1:
            r = core.process_one(self._buf, frame)
        else:
            r = core.process_one(self._buf, as_int16(frame, self.sample_rate))
        if r < 0:
            as_int16(frame, self.sample_rate)  # raises, naming what is wrong
        return r == 1

    def is_speech_frames(self, frames: np.ndarray) -> np.ndarray:
        """Decide consecutive frames (int16, shape (n_frames, samples)) in one compiled call."""
        frames = np.asarray(frames)
        if frames.dtype != np.int16 or frames.ndim != 2:
            raise VadError(f"frames must be int16 of shape (n_frames, samples); got {frames.dtype} {frames.shape}")
        out = np.zeros(frames.shape[0], dtype=np.bool_)
        if frames.shape[0]:
            as_int16(frames[0], self.sample_rate)  # validates the frame length
            core.process_stream(self._state, np.ascontiguousarray(frames), self.sample_rate, self._work, out)
        return out

    def reset(self) -> None:
        core.init_state(self._state, self.mode)
        self._state[core.RATE] = self.sample_rate


class NumbaVadBatch:
    """Many call legs at one rate; ``process`` decides one tick (one frame per leg).

    Each leg may have its own mode (``modes``), and a leg can be reset on its own when its
    slot is reused for a new call. The kernel releases the GIL, so several batches can run
    on several threads.
    """

    def __init__(self, n_calls: int, sample_rate: int = 8000, mode: int | np.ndarray = 2) -> None:
        if n_calls < 1:
            raise VadError(f"n_calls must be at least 1, got {n_calls}")
        modes = np.broadcast_to(np.asarray(mode, dtype=np.int64), (n_calls,))
        for m in np.unique(modes):
            check_settings(sample_rate, int(m))
        self.sample_rate = sample_rate
        self.n_calls = n_calls
        self.modes = modes.copy()
        self._states = np.zeros((n_calls, core.STATE_SIZE), dtype=np.int64)
        self._work = np.zeros(core.WORK_SIZE, dtype=np.int64)
        self._out = np.zeros(n_calls, dtype=np.bool_)
        self._soa = np.zeros((core.SOA_ROWS, core.SOA_BLOCK), dtype=np.int32)
        self.reset()

    def process(self, frames: np.ndarray) -> np.ndarray:
        """``frames``: int16 array (n_calls, samples); returns a new bool array (n_calls,)."""
        frames = np.asarray(frames)
        if frames.dtype != np.int16 or frames.ndim != 2 or frames.shape[0] != self.n_calls:
            raise VadError(
                f"frames must be int16 of shape ({self.n_calls}, samples); got {frames.dtype} {frames.shape}"
            )
        as_int16(frames[0], self.sample_rate)  # validates the frame length
        frames = np.ascontiguousarray(frames)
        if self.sample_rate == 8000:  # the telephone rate: filter bank vectorised across calls
            core.process_batch_8k(self._states, frames, self._work, self._soa, self._out)
        else:
            core.process_batch(self._states, frames, self.sample_rate, self._work, self._out)
        return self._out.copy()

    def reset(self, call: int | None = None) -> None:
        """Forget everything heard on one leg (``call``) or on all of them."""
        calls = range(self.n_calls) if call is None else [call]
        for c in calls:
            core.init_state(self._states[c], int(self.modes[c]))
