"""A noise-robust second stage: re-decide the frames the first stage calls speech.

WebRTC's VAD models energy per band; in babble (other voices) and in strong line noise it
calls nearly everything speech. This stage looks at what noise lacks:

* periodicity: the largest normalised autocorrelation over pitch lags 2.5-20 ms (50-400 Hz),
  computed at 4 kHz over the last 40 ms against a 60 ms history. Voiced speech of the talker
  on the line is strongly periodic; white noise is not, and a mix of several distant voices
  much less than one near voice;
* level above the noise floor: the floor is the minimum of the smoothed frame energy over the
  last ~3 s (minimum statistics; pauses between sentences reveal it), and spectral flux, the
  mean absolute change of four sub-band log energies from the frame before (speech changes
  its spectrum every few tens of ms, noise and a babble crowd much less);
* adaptive thresholds: the periodicity and flux of frames near the floor (noise alone) are
  tracked (mean and mean deviation), and speech must exceed them by a margin.

A frame is speech when the first stage says so AND (it is periodic with some level above the
floor, or clearly louder than the floor), with a short hangover that bridges the unvoiced
consonants between voiced parts. All of it runs in one Numba kernel per tick of many calls;
state per call is one float64 row. Time is counted in frames, never read from a clock.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from asr.vad.base import VadError, VoiceDetector, as_int16

# ---- state row layout (float64) -------------------------------------------------------------
H_LEN = 240  # 60 ms of history at 4 kHz
S_HIST = 0
S_ES = 240  # smoothed frame energy (dB)
S_BLK = 241  # 6 block minima of the smoothed energy, 0.5 s each
S_CURMIN = 247
S_BLKN = 248  # frames in the current block
S_BLKI = 249  # index of the current block
S_MUP = 250  # mean periodicity of noise-only frames
S_NUP = 251  # mean absolute deviation of the same
S_HANG = 252
S_N = 253  # frames seen
S_P = 254  # last periodicity (for inspection)
S_FLOOR = 255
S_BANDS = 256  # 4 sub-band log energies of the previous frame
S_MUF = 260  # mean flux of noise-only frames
S_NUF = 261
S_FLUX = 262
S_LP = 263  # 2 low-pass filter states for the band split
S_Q = 265  # running 30th percentile of the smoothed energy (noise level in babble)
STATE_SIZE = 266
_INT16 = np.dtype("<i2")

# ---- parameters (a float64 array, so tuning needs no recompilation) -------------------------
P_K = 0  # periodicity threshold = noise mean + P_K * noise deviation ...
P_MIN = 1  # ... but at least this
P_MAX = 2  # ... and at most this
SNR_VOICED = 3  # dB above the floor a periodic frame needs
Q_VOICED = 4  # dB above the running 30th percentile a periodic frame needs
Q_STRONG = 5  # dB above the running 30th percentile that alone makes speech
F_K = 6  # flux threshold = noise mean + F_K * deviation ...
SNR_FLUX = 7  # ... and the dB above the floor a frame with high flux needs
HANG_MS = 8  # hangover after the last frame that passed (bridges unvoiced sounds)
NOISE_MARGIN = 9  # frames within this many dB of the floor update the noise statistics
N_PARAMS = 10

# Tuned on a development set (benchmarks/bench_vad.py generator, seed 101, 150 s), not on
# the benchmark's own seed.
DEFAULT_PARAMS = np.array([3.0, 0.45, 0.80, 2.0, 2.0, 5.0, 3.0, 6.0, 240.0, 3.0])


@njit(nogil=True, cache=True)
def init_state(st):
    st[:] = 0.0
    st[S_ES] = np.nan
    st[S_CURMIN] = np.inf
    for b in range(6):
        st[S_BLK + b] = np.inf
    st[S_MUP] = 0.3
    st[S_NUP] = 0.1
    st[S_MUF] = 3.0
    st[S_NUF] = 1.0
    st[S_BANDS] = np.nan


@njit(nogil=True, cache=True)
def _corr(h, start, lag, mean):
    """Correlation of the last 40 ms with the same span ``lag`` samples earlier, and that
    earlier span's energy."""
    acc = 0.0
    el = 0.0
    for i in range(start, h.shape[0]):
        a = h[i] - mean
        b = h[i - lag] - mean
        acc += a * b
        el += b * b
    return acc, el


@njit(nogil=True, cache=True)
def _periodicity(h):
    """Max normalised autocorrelation of the last 40 ms over lags 10..80 at 4 kHz (pitch
    50-400 Hz): even lags first, then the two neighbours of the best one."""
    n = h.shape[0]
    start = n - 160
    mean = 0.0
    for i in range(n):
        mean += h[i]
    mean /= n
    e0 = 0.0
    for i in range(start, n):
        e0 += (h[i] - mean) * (h[i] - mean)
    if e0 <= 1e-9:
        return 0.0
    best = 0.0
    best_lag = 0
    for lag in range(10, 81, 2):
        acc, el = _corr(h, start, lag, mean)
        if acc > 0.0 and el > 1e-9:
            r = acc / np.sqrt(e0 * el)
            if r > best:
                best = r
                best_lag = lag
    if best_lag:
        for lag in (best_lag - 1, best_lag + 1):
            if 10 <= lag <= 80:
                acc, el = _corr(h, start, lag, mean)
                if acc > 0.0 and el > 1e-9:
                    r = acc / np.sqrt(e0 * el)
                    if r > best:
                        best = r
    return best


@njit(nogil=True, cache=True)
def process_frame(st, frame, rate, first, params):
    """Update the call's features with one frame; return the decision (False if ``first`` is)."""
    n = frame.shape[0]
    frame_ms = n * 1000 // rate
    # energy of the frame (dB re 1 LSB^2), and four sub-band energies for the flux
    acc = 0.0
    for i in range(n):
        v = float(frame[i])
        acc += v * v
    e = 10.0 * np.log10(acc / n + 1.0)
    # to 8 kHz by averaging, then [1 2 1]/4 and every second sample: 4 kHz history
    f8 = rate // 8000
    n8 = n // f8
    n4 = n8 // 2
    hist = st[S_HIST : S_HIST + H_LEN]
    for i in range(H_LEN - n4):
        hist[i] = hist[i + n4]
    # bands: 0-1 kHz, 1-2 kHz (from the 4 kHz signal), and the 2-4 kHz rest, split at 3 kHz
    # by the sign of a first difference
    b_lo = 0.0
    b_mid = 0.0
    b_hi1 = 0.0
    b_hi2 = 0.0
    prev = st[S_LP]
    prev2 = st[S_LP + 1]
    for k in range(n8):
        s = 0.0
        for j in range(f8):
            s += frame[k * f8 + j]
        s /= f8
        if k % 2 == 1:
            y = 0.25 * prev2 + 0.5 * prev + 0.25 * s
            hist[H_LEN - n4 + k // 2] = y
        d = s - prev
        dd = s - 2.0 * prev + prev2
        b_hi1 += d * d
        b_hi2 += dd * dd
        prev2 = prev
        prev = s
    st[S_LP] = prev
    st[S_LP + 1] = prev2
    # low and mid bands from the 4 kHz history (this frame's part)
    q_prev = hist[H_LEN - n4 - 1]
    for k in range(H_LEN - n4, H_LEN):
        y = hist[k]
        b_lo += (y + q_prev) * (y + q_prev)
        b_mid += (y - q_prev) * (y - q_prev)
        q_prev = y
    bands = np.empty(4)
    bands[0] = 10.0 * np.log10(b_lo / n4 + 1.0)
    bands[1] = 10.0 * np.log10(b_mid / n4 + 1.0)
    bands[2] = 10.0 * np.log10(b_hi1 / n8 + 1.0)
    bands[3] = 10.0 * np.log10(b_hi2 / n8 + 1.0)
    flux = 0.0
    if not np.isnan(st[S_BANDS]):
        for b in range(4):
            flux += abs(bands[b] - st[S_BANDS + b])
        flux *= 0.25
    for b in range(4):
        st[S_BANDS + b] = bands[b]
    st[S_FLUX] = flux
    # smoothed energy and the minimum-statistics floor
    if np.isnan(st[S_ES]):
        st[S_ES] = e
    else:
        st[S_ES] = 0.6 * st[S_ES] + 0.4 * e
    es = st[S_ES]
    if es < st[S_CURMIN]:
        st[S_CURMIN] = es
    st[S_BLKN] += 1.0
    block_frames = 500.0 / frame_ms
    if st[S_BLKN] >= block_frames:
        st[S_BLK + int(st[S_BLKI])] = st[S_CURMIN]
        st[S_BLKI] = (st[S_BLKI] + 1.0) % 6.0
        st[S_BLKN] = 0.0
        st[S_CURMIN] = np.inf
    floor = st[S_CURMIN]
    for b in range(6):
        if st[S_BLK + b] < floor:
            floor = st[S_BLK + b]
    st[S_FLOOR] = floor
    # stochastic-approximation 30th percentile: small steps up, larger steps down (dB)
    if st[S_N] == 0.0:
        st[S_Q] = es
    elif es > st[S_Q]:
        st[S_Q] += 0.3 * 0.1 * frame_ms / 20.0
    else:
        st[S_Q] -= 0.7 * 0.1 * frame_ms / 20.0
    if st[S_Q] < floor:  # never below the floor: follows a noise that starts late within 3 s
        st[S_Q] = floor
    st[S_N] += 1.0
    snr = es - floor
    near_floor = snr < params[NOISE_MARGIN]
    if not (first or near_floor) or st[S_N] < 3.0:
        if st[S_HANG] > 0.0:
            st[S_HANG] -= 1.0
        return False
    snrq = es - st[S_Q]
    thr = st[S_MUP] + params[P_K] * st[S_NUP]
    thr = min(max(thr, params[P_MIN]), params[P_MAX])
    fthr = st[S_MUF] + params[F_K] * st[S_NUF]
    loud = snrq > params[Q_STRONG]
    changing = flux > fthr and snr > params[SNR_FLUX]
    # periodicity costs most: compute it only where it can change the decision, and on
    # every 4th frame of noise alone for its statistics
    may_be_voiced = snr > params[SNR_VOICED] and snrq > params[Q_VOICED]
    learn = near_floor and int(st[S_N]) % 4 == 0
    voiced = False
    if (first and may_be_voiced and not (loud or changing)) or learn:
        p = _periodicity(hist)
        st[S_P] = p
        voiced = may_be_voiced and p > thr
        if learn:
            a = 0.15
            st[S_MUP] += a * (p - st[S_MUP])
            st[S_NUP] += a * (abs(p - st[S_MUP]) - st[S_NUP])
    if near_floor:  # noise alone: learn what its flux looks like
        a = 0.05
        st[S_MUF] += a * (flux - st[S_MUF])
        st[S_NUF] += a * (abs(flux - st[S_MUF]) - st[S_NUF])
    if not first:
        if st[S_HANG] > 0.0:
            st[S_HANG] -= 1.0
        return False
    speech = voiced or loud or changing
    if speech:
        st[S_HANG] = params[HANG_MS] / frame_ms
        return True
    if st[S_HANG] > 0.0:
        st[S_HANG] -= 1.0
        return True
    return False


@njit(nogil=True, cache=True)
def process_batch(states, frames, rate, first, params, out):
    for c in range(frames.shape[0]):
        out[c] = process_frame(states[c], frames[c], rate, first[c], params)


class SecondStage:
    """Wrap any first-stage ``VoiceDetector``; speech only where both stages agree."""

    def __init__(self, detector: VoiceDetector, params: np.ndarray | None = None) -> None:
        self.detector = detector
        self.sample_rate = detector.sample_rate
        self.mode = detector.mode
        self.params = (DEFAULT_PARAMS if params is None else np.asarray(params, dtype=np.float64)).copy()
        if self.params.shape != (N_PARAMS,):
            raise VadError(f"second-stage params must have {N_PARAMS} values, got {self.params.shape}")
        self._state = np.zeros(STATE_SIZE)
        self._checked_bytes = -1  # length of a bytes frame as_int16 has already accepted
        init_state(self._state)

    def is_speech(self, frame: np.ndarray | bytes) -> bool:
        # a stream's frames all have one length: validate it once, then only reinterpret the bytes
        if type(frame) is bytes and len(frame) == self._checked_bytes:
            samples = np.frombuffer(frame, dtype=_INT16)
        else:
            samples = as_int16(frame, self.sample_rate)
            if type(frame) is bytes:
                self._checked_bytes = len(frame)
        first = bool(self.detector.is_speech(samples))
        return process_frame(self._state, samples, self.sample_rate, first, self.params)

    def reset(self) -> None:
        self.detector.reset()
        init_state(self._state)


class SecondStageBatch:
    """Numba first stage and second stage for many calls: one tick in two compiled calls."""

    def __init__(
        self, n_calls: int, sample_rate: int = 8000, mode: int | np.ndarray = 2, params: np.ndarray | None = None
    ) -> None:
        from asr.vad.numba_vad import NumbaVadBatch

        self.first = NumbaVadBatch(n_calls, sample_rate, mode)
        self.sample_rate = sample_rate
        self.n_calls = n_calls
        self.params = (DEFAULT_PARAMS if params is None else np.asarray(params, dtype=np.float64)).copy()
        self._states = np.zeros((n_calls, STATE_SIZE))
        self._out = np.zeros(n_calls, dtype=np.bool_)
        self.reset()

    def process(self, frames: np.ndarray) -> np.ndarray:
        first = self.first.process(frames)
        process_batch(self._states, np.ascontiguousarray(frames), self.sample_rate, first, self.params, self._out)
        return self._out.copy()

    def reset(self, call: int | None = None) -> None:
        self.first.reset(call)
        for c in range(self.n_calls) if call is None else [call]:
            init_state(self._states[c])
