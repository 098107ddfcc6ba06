"""Band-limited resampling of 16-bit mono PCM, whole or as a stream: one filter for every use.

Why it sits below the wire layer and the speech path both: the AudioSocket server resamples a
prompt to the rate of the channel it plays to, the PBX simulator streams at the rate a tap's
codec asks for, and the speech path brings a leg's audio to the rate its VAD or its model takes.

The filter is a windowed sinc (Hann window, ``zeros`` zero crossings each side at the lower of
the two rates), its cut-off at the lower Nyquist frequency, applied polyphase: the taps of each
of the ``up`` output phases are computed once per pair of rates, so a 20 ms frame costs one
gather and one dot product per output sample. ``Resampler`` keeps the last input samples the
next outputs still need, so audio cut into frames comes out exactly as it would whole; it holds
back the last ``half`` input samples (2 ms at 8 kHz with the default 16 zero crossings) until
more input or ``flush()`` comes.
"""

from __future__ import annotations

import functools
from math import ceil, gcd

import numpy as np

DEFAULT_ZEROS = 16
_MAX_GATHER = 1 << 15  # input samples gathered at once: a block that stays in the CPU's cache


@functools.lru_cache(maxsize=64)
def _polyphase(up: int, down: int, zeros: int) -> tuple[np.ndarray, int]:
    """Taps per output phase (``up`` rows) and ``half``, the filter's reach in input samples."""
    cutoff = min(1.0, up / down)  # relative to the input's Nyquist: lowpass before decimating
    half = int(ceil(zeros / cutoff))
    offsets = np.arange(-half + 1, half + 1)
    d = (np.arange(up) / up)[:, None] - offsets[None, :]  # output position minus input position
    table = cutoff * np.sinc(cutoff * d) * (0.5 + 0.5 * np.cos(np.pi * np.clip(d / half, -1.0, 1.0)))
    table.setflags(write=False)
    return table, half


def _as_samples(pcm: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(pcm, np.ndarray):
        return pcm
    if len(pcm) % 2:
        raise ValueError(f"PCM of {len(pcm)} bytes: expected whole 16-bit samples")
    return np.frombuffer(pcm, "<i2")


class Resampler:
    """``rate_in`` to ``rate_out``, one stream: ``process()`` chunks in order, then ``flush()``.

    Output sample ``k`` sits at time ``k / rate_out`` of the input's time line (no delay), so
    a caller can stamp output with the input's clock; ``flush()`` ends the stream with the
    outputs up to the input's end and starts a new one.
    """

    def __init__(self, rate_in: int, rate_out: int, zeros: int = DEFAULT_ZEROS) -> None:
        if rate_in <= 0 or rate_out <= 0:
            raise ValueError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
        g = gcd(rate_in, rate_out)
        self.rate_in = rate_in
        self.rate_out = rate_out
        self.up, self.down = rate_out // g, rate_in // g
        self._table, self._half = _polyphase(self.up, self.down, zeros)
        self._offsets = np.arange(-self._half + 1, self._half + 1)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: what comes next starts a new one (preceded by silence)."""
        self._buf = np.zeros(self._half, np.float64)  # input not yet used up; silence before the start
        self._start = -self._half  # input index of _buf[0]
        self._next = 0  # index of the next output sample
        self._taken = 0  # input samples given since the stream started

    def process(self, pcm: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
        """Outputs (int16) that the input so far determines; the rest waits for more input."""
        x = _as_samples(pcm)
        if x.size:
            self._buf = np.concatenate([self._buf, x.astype(np.float64)])
            self._taken += x.size
        end = self._start + self._buf.size  # input index just past what we have
        # output n needs inputs up to floor(n * down / up) + half
        return self._emit(((end - self._half) * self.up - 1) // self.down + 1)

    def flush(self) -> np.ndarray:
        """The outputs still held back (the input's end followed by silence); then a new stream."""
        stop = -(-self._taken * self.up // self.down)  # ceil: one output per 1/rate_out of input
        self._buf = np.concatenate([self._buf, np.zeros(self._half + 1)])
        out = self._emit(stop)
        self.reset()
        return out

    def _emit(self, stop: int) -> np.ndarray:
        if stop <= self._next:
            return np.zeros(0, np.int16)
        chunk = max(64, _MAX_GATHER // self._offsets.size)
        parts = []
        for lo in range(self._next, stop, chunk):
            n = np.arange(lo, min(stop, lo + chunk), dtype=np.int64)
            base = n * self.down // self.up
            idx = (base - self._start)[:, None] + self._offsets[None, :]
            taps = self._table[n * self.down % self.up]
            parts.append(np.einsum("ij,ij->i", self._buf[idx], taps))
        self._next = stop
        keep = stop * self.down // self.up - self._half + 1 - self._start  # first input still needed
        if keep > 0:
            self._buf = self._buf[keep:]
            self._start += keep
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def resample(samples: np.ndarray, rate: int, target: int, taps: int = DEFAULT_ZEROS) -> np.ndarray:
    """A whole signal (int16) at ``target`` Hz: ``ceil(n * target / rate)`` samples."""
    if rate == target or samples.size == 0:
        return samples.astype(np.int16, copy=False)
    r = Resampler(rate, target, taps)
    return np.concatenate([r.process(samples), r.flush()])


def resample_pcm(pcm: bytes, rate: int, target: int) -> bytes:
    """``resample`` for s16le bytes (what AudioSocket carries)."""
    if rate == target:
        return pcm
    return resample(_as_samples(pcm), rate, target).astype("<i2").tobytes()
