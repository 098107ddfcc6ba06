"""Numba kernel of the WebRTC VAD, bit-exact with the C library in ``webrtcvad``.

Written from a reading of the algorithm (WebRTC ``common_audio/vad`` and the signal-processing
helpers it uses); every step keeps the C integer semantics, because that is what makes the
decisions equal frame by frame:

* all arithmetic is done in int64 and narrowed with ``_w16``/``_w32`` exactly where the C code
  stores into an ``int16_t``/``int32_t`` (two's-complement wrap-around, which the C code relies
  on in several places, e.g. ``h0_test >> 12`` cast to 16 bits, the 16-bit age counter of the
  noise-floor tracker that wraps after 65,536 frames, about 11 minutes of 10 ms frames);
* C division truncates toward zero (``_cdiv``), Python's ``//`` floors;
* a variable right shift by a negative count happens in one extreme case of the Gaussian
  (a wrapped ``delta``); x86 masks the count to 5 bits, and so do we;
* the speech-mean ceiling of one band is the previous band's ``kMaximumSpeech`` (+640);
* at 48 kHz the C code resamples the *first* 10 ms of the frame for each 10 ms block of a
  20/30 ms frame (it never advances the input pointer); we reproduce that.

All state of one call lives in one int64 row (offsets below), so that ``process_batch``
decides one tick of many concurrent calls in one compiled call. The functions run as plain
Python too (``.py_func`` / ``NUMBA_DISABLE_JIT=1``), which the tests use.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

# ---- layout of one call's state row (int64) -----------------------------------------------
DS = 0  # 4: int32 states of the 2:1 down-samplers (32->16 kHz uses [2:4], 16->8 kHz [0:2])
R48 = 4  # 40: 48->8 kHz resampler: S_48_24[8], S_24_24[16], S_24_16[8], S_16_8[8]
NM = 44  # 12: noise means (Q7), index channel + 6 * gaussian
SM = 56  # 12: speech means
NS = 68  # 12: noise stds
SS = 80  # 12: speech stds
FC = 92  # frame counter (int32)
OH = 93  # hangover frames left (int16)
NSP = 94  # consecutive speech frames (int16)
AGE = 95  # 96: ages of the 16 smallest feature values per channel (int16, wraps)
LOW = 191  # 96: the 16 smallest feature values per channel
MEAN = 287  # 6: smoothed noise floor per channel
UP = 293  # 5: upper all-pass states of the split filters
LO = 298  # 5: lower all-pass states
HP = 303  # 4: high-pass filter state
MODE = 307  # aggressiveness 0-3
RATE = 308  # sample rate in Hz (read by process_one)
INV_N = 309  # 12: 1/std of the noise Gaussians (Q10), kept with the stds to save divisions
INV_S = 321  # 12: the same for speech
STATE_SIZE = 333

# ---- layout of the scratch row (int64) ------------------------------------------------------
W_IN = 0  # 1440: the input frame widened to int64
W_WB = 1440  # 480: 32 -> 16 kHz intermediate
W_NB = 1920  # 240: the 8 kHz frame
W_T48 = 2160  # 736: the 48 kHz resampler's work memory, same layout as the C code's
W_HP120 = 2896
W_LP120 = 3016
W_HP60 = 3136
W_LP60 = 3196
W_FEAT = 3256  # 6
W_DN = 3262  # 12 deltaN
W_DS = 3274  # 12 deltaS
W_NG = 3286  # 12 ngprvec
W_SG = 3298  # 12 sgprvec
WORK_SIZE = 3310

# ---- constants of the algorithm -------------------------------------------------------------
_SPECTRUM_WEIGHT = np.array([6, 8, 10, 12, 14, 16], dtype=np.int64)
_MIN_DIFF = np.array([544, 544, 576, 576, 576, 576], dtype=np.int64)
_MAX_SPEECH = np.array([11392, 11392, 11520, 11520, 11520, 11520], dtype=np.int64)
_MIN_MEAN = np.array([640, 768], dtype=np.int64)
_MAX_NOISE = np.array([9216, 9088, 8960, 8832, 8704, 8576], dtype=np.int64)
_NOISE_W = np.array([34, 62, 72, 66, 53, 25, 94, 66, 56, 62, 75, 103], dtype=np.int64)
_SPEECH_W = np.array([48, 82, 45, 87, 50, 47, 80, 46, 83, 41, 78, 81], dtype=np.int64)
_NOISE_MEANS0 = np.array([6738, 4892, 7065, 6715, 6771, 3369, 7646, 3863, 7820, 7266, 5020, 4362], dtype=np.int64)
_SPEECH_MEANS0 = np.array(
    [8306, 10085, 10078, 11823, 11843, 6309, 9473, 9571, 10879, 7581, 8180, 7483], dtype=np.int64
)
_NOISE_STDS0 = np.array([378, 1064, 493, 582, 688, 593, 474, 697, 475, 688, 421, 455], dtype=np.int64)
_SPEECH_STDS0 = np.array([555, 505, 567, 524, 585, 1231, 509, 828, 492, 1540, 1079, 850], dtype=np.int64)
_OFFSETS = np.array([368, 368, 272, 176, 176, 176], dtype=np.int64)
# per mode (row) and frame length 10/20/30 ms (column)
_OVERHANG1 = np.array([[8, 4, 3], [8, 4, 3], [6, 3, 2], [6, 3, 2]], dtype=np.int64)
_OVERHANG2 = np.array([[14, 7, 5], [14, 7, 5], [9, 5, 3], [9, 5, 3]], dtype=np.int64)
_LOCAL_THR = np.array([[24, 21, 24], [37, 32, 37], [82, 78, 82], [94, 94, 94]], dtype=np.int64)
_GLOBAL_THR = np.array([[57, 48, 57], [100, 80, 100], [285, 260, 285], [1100, 1050, 1100]], dtype=np.int64)
_C48TO32 = np.array(
    [[778, -2050, 1087, 23285, 12903, -3783, 441, 222], [222, 441, -3783, 12903, 23285, 1087, -2050, 778]],
    dtype=np.int64,
)

_JIT = dict(nogil=True, cache=True)
_INLINE = dict(inline="always", nogil=True, cache=True)


# ---- integer helpers ------------------------------------------------------------------------
def _w16(x):
    """Narrow to int16 with wrap-around (a C store into ``int16_t``)."""
    return ((x + 0x8000) & 0xFFFF) - 0x8000


def _w32(x):
    """Narrow to int32 with wrap-around."""
    return ((x + 0x80000000) & 0xFFFFFFFF) - 0x80000000


# Compiled, the same narrowing is a truncating cast and a sign extension (one instruction);
# the Python bodies above serve .py_func and NUMBA_DISABLE_JIT=1.
@overload(_w16, inline="always")
def _w16_jit(x):
    return lambda x: np.int64(np.int16(x))


@overload(_w32, inline="always")
def _w32_jit(x):
    return lambda x: np.int64(np.int32(x))


@njit(**_INLINE)
def _cdiv(num, den):
    """C's ``int32 / int16``: truncates toward zero; a zero divisor gives INT32_MAX."""
    if den == 0:
        return 0x7FFFFFFF
    q = abs(num) // abs(den)
    if (num < 0) != (den < 0):
        q = -q
    return _w32(q)


@njit(**_INLINE)
def _norm_w32(a):
    """Left shifts that normalise a signed 32-bit value (0 for 0)."""
    if a == 0:
        return 0
    if a < 0:
        a = ~a
    a &= 0xFFFFFFFF
    z = 0
    if (a & 0xFFFF8000) == 0:
        z = 16
    if ((a << z) & 0xFF800000) == 0:
        z += 8
    if ((a << z) & 0xF8000000) == 0:
        z += 4
    if ((a << z) & 0xE0000000) == 0:
        z += 2
    if ((a << z) & 0xC0000000) == 0:
        z += 1
    return z


@njit(**_INLINE)
def _norm_u32(a):
    """Leading zeros of an unsigned 32-bit value (0 for 0)."""
    if a == 0:
        return 0
    z = 0
    if (a & 0xFFFF0000) == 0:
        z = 16
    if ((a << z) & 0xFF000000) == 0:
        z += 8
    if ((a << z) & 0xF0000000) == 0:
        z += 4
    if ((a << z) & 0xC0000000) == 0:
        z += 2
    if ((a << z) & 0x80000000) == 0:
        z += 1
    return z


@njit(**_INLINE)
def _size_in_bits(n):
    bits = 0
    while n >> bits:
        bits += 1
    return bits


# ---- resampling -----------------------------------------------------------------------------
@njit(**_INLINE)
def _downsample2(src, src_off, n_in, dst, dst_off, st, s):
    """2:1 down-sampling by two first-order all-pass filters (16->8 and 32->16 kHz)."""
    t1 = st[s]
    t2 = st[s + 1]
    for n in range(n_in >> 1):
        x0 = src[src_off + 2 * n]
        x1 = src[src_off + 2 * n + 1]
        a = _w16((t1 >> 1) + ((5243 * x0) >> 14))
        t1 = x0 - ((5243 * a) >> 12)
        b = _w16((t2 >> 1) + ((1392 * x1) >> 14))
        dst[dst_off + n] = _w16(a + b)
        t2 = x1 - ((1392 * b) >> 12)
    st[s] = t1
    st[s + 1] = t2


@njit(**_JIT)
def _ap3(st, b, x, c0, c1, c2):
    """Three cascaded all-pass sections of the 48 kHz resampler; returns the last state."""
    diff = _w32(_w32(x - st[b + 1]) + 8192) >> 14
    tmp1 = _w32(st[b] + diff * c0)
    st[b] = x
    diff = _w32(tmp1 - st[b + 2]) >> 14
    if diff < 0:
        diff += 1
    tmp0 = _w32(st[b + 1] + diff * c1)
    st[b + 1] = tmp1
    diff = _w32(tmp0 - st[b + 3]) >> 14
    if diff < 0:
        diff += 1
    st[b + 3] = _w32(st[b + 2] + diff * c2)
    st[b + 2] = tmp0
    return st[b + 3]


@njit(**_JIT)
def _resample_48_to_8(src, src_off, dst, dst_off, st, T):
    """480 samples at 48 kHz -> 80 at 8 kHz: 48->24 (half-band), 24->24 low-pass, 24->16, 16->8."""
    r = R48
    # 48 -> 24 kHz, int16 -> int32, into T[256:496]
    for i in range(240):
        x = (src[src_off + 2 * i] << 15) + 16384
        T[256 + i] = _ap3(st, r, x, 3050, 9368, 15063) >> 1
    for i in range(240):
        x = (src[src_off + 2 * i + 1] << 15) + 16384
        T[256 + i] = _w32(T[256 + i] + (_ap3(st, r + 4, x, 821, 6110, 12382) >> 1))
    # low-pass at 24 kHz, T[256:496] -> T[16:256]
    s = r + 8
    tmp0 = st[s + 12]
    for i in range(120):
        T[16 + 2 * i] = _ap3(st, s, tmp0, 3050, 9368, 15063) >> 1
        tmp0 = T[256 + 2 * i + 1]
    for i in range(120):
        T[16 + 2 * i] = _w32(T[16 + 2 * i] + (_ap3(st, s + 4, T[256 + 2 * i], 821, 6110, 12382) >> 1)) >> 15
    for i in range(120):
        T[17 + 2 * i] = _ap3(st, s + 8, T[256 + 2 * i], 3050, 9368, 15063) >> 1
    for i in range(120):
        T[17 + 2 * i] = _w32(T[17 + 2 * i] + (_ap3(st, s + 12, T[257 + 2 * i], 821, 6110, 12382) >> 1)) >> 15
    # 24 -> 16 kHz with 8 samples of history, T[8:256] -> T[0:160]
    q = r + 24
    for j in range(8):
        T[8 + j] = st[q + j]
    for j in range(8):
        st[q + j] = T[248 + j]
    for m in range(80):
        b = 8 + 3 * m
        acc0 = 16384
        acc1 = 16384
        for j in range(8):
            acc0 += _C48TO32[0, j] * T[b + j]
            acc1 += _C48TO32[1, j] * T[b + 1 + j]
        T[2 * m] = _w32(acc0)
        T[2 * m + 1] = _w32(acc1)
    # 16 -> 8 kHz, int32 -> int16
    q = r + 32
    for i in range(80):
        T[2 * i] = _ap3(st, q, T[2 * i], 3050, 9368, 15063) >> 1
    for i in range(80):
        T[2 * i + 1] = _ap3(st, q + 4, T[2 * i + 1], 821, 6110, 12382) >> 1
    for k in range(80):
        v = _w32(T[2 * k] + T[2 * k + 1]) >> 15
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dst[dst_off + k] = v


# ---- features -------------------------------------------------------------------------------
@njit(**_INLINE)
def _split(src, n, st, band, hp, lp):
    """Split a band into its upper and lower halves, each at half the rate (a QMF pair of
    first-order all-pass filters on the even and odd samples; both run in one loop so that
    their dependency chains overlap)."""
    half = n >> 1
    su = st[UP + band] << 16
    sl = st[LO + band] << 16
    for i in range(half):
        xu = src[2 * i]
        xl = src[2 * i + 1]
        tu = _w32(su + 20972 * xu) >> 16
        tl = _w32(sl + 5571 * xl) >> 16
        su = _w32(_w32((xu << 14) - 20972 * tu) << 1)
        sl = _w32(_w32((xl << 14) - 5571 * tl) << 1)
        hp[i] = _w16(tu - tl)
        lp[i] = _w16(tl + tu)
    st[UP + band] = su >> 16
    st[LO + band] = sl >> 16


@njit(**_INLINE)
def _highpass(src, n, st, dst):
    """Second-order high-pass that removes the lowest band's DC and hum (below ~80 Hz)."""
    s0 = st[HP]
    s1 = st[HP + 1]
    s2 = st[HP + 2]
    s3 = st[HP + 3]
    for i in range(n):
        x = src[i]
        t = 6631 * x - 13262 * s0 + 6631 * s1
        s1 = s0
        s0 = x
        t = _w32(t + 7756 * s2 - 5620 * s3)
        s3 = s2
        s2 = _w16(t >> 14)
        dst[i] = s2
    st[HP] = s0
    st[HP + 1] = s1
    st[HP + 2] = s2
    st[HP + 3] = s3


@njit(**_INLINE)
def _scaling(smax, n):
    """Right shift that keeps a sum of ``n`` squares of values up to ``smax`` in 32 bits."""
    if smax == 0:
        return 0
    nbits = _size_in_bits(n)
    t = _norm_w32(_w32(smax * smax))
    return 0 if t > nbits else nbits - t


@njit(**_INLINE)
def _log_finish(en, scaling, offset, total):
    """From a band's scaled energy (wrapped to 32 bits) to its log energy feature (Q4, plus
    the band's offset); also feeds the frame's total power."""
    energy = en & 0xFFFFFFFF
    if energy == 0:
        return offset, total
    tot = scaling
    nr = 17 - _norm_u32(energy)
    tot += nr
    if nr < 0:
        energy = (energy << -nr) & 0xFFFFFFFF
    else:
        energy = energy >> nr
    log2e = 14336 + ((energy & 0x3FFF) >> 4)
    le = _w16(((24660 * log2e) >> 19) + ((_w16(tot) * 24660) >> 9))
    if le < 0:
        le = 0
    le = _w16(le + offset)
    if total <= 10:
        if tot >= 0:
            total = _w16(total + 11)
        else:
            total = _w16(total + _w16(energy >> -tot))
    return le, total


@njit(**_INLINE)
def _log_energy(d, n, offset, total):
    """10*log10-like energy of a band in Q4 plus the band's offset; also feeds the total."""
    smax = -1
    for i in range(n):
        x = d[i]
        sabs = x if x > 0 else _w16(-x)
        if sabs > smax:
            smax = sabs
    scaling = _scaling(smax, n)
    en = 0
    for i in range(n):  # at most 120 terms below 2**31: the sum fits int64, wrap once
        en += (d[i] * d[i]) >> scaling
    return _log_finish(en, scaling, offset, total)


@njit(**_JIT)
def _features(st, x, n, W):
    """Six sub-band log energies (0-250, 250-500, 500-1k, 1-2k, 2-3k, 3-4k Hz) into W[W_FEAT:]."""
    hp120 = W[W_HP120 : W_HP120 + 120]
    lp120 = W[W_LP120 : W_LP120 + 120]
    hp60 = W[W_HP60 : W_HP60 + 60]
    lp60 = W[W_LP60 : W_LP60 + 60]
    f = W_FEAT
    half = n >> 1
    _split(x, n, st, 0, hp120, lp120)
    _split(hp120, half, st, 1, hp60, lp60)
    length = half >> 1
    total = 0
    W[f + 5], total = _log_energy(hp60, length, 176, total)
    W[f + 4], total = _log_energy(lp60, length, 176, total)
    _split(lp120, half, st, 2, hp60, lp60)
    W[f + 3], total = _log_energy(hp60, length, 176, total)
    _split(lp60, length, st, 3, hp120, lp120)
    length >>= 1
    W[f + 2], total = _log_energy(hp120, length, 272, total)
    _split(lp120, length, st, 4, hp60, lp60)
    length >>= 1
    W[f + 1], total = _log_energy(hp60, length, 368, total)
    _highpass(lp60, length, st, hp120)
    W[f + 0], total = _log_energy(hp120, length, 368, total)
    return total


# ---- the Gaussian mixture model -------------------------------------------------------------
@njit(**_INLINE)
def _inv_std(std):
    return _w16(_cdiv(131072 + (std >> 1), std))


@njit(**_INLINE)
def _gauss(inp, mean, inv_std):
    """Fixed-point Gaussian likelihood (Q20, unnormalised) and the scaled distance ``delta``;
    ``inv_std`` is ``_inv_std(std)``, cached in the state next to the std."""
    t = inv_std >> 2
    inv_std2 = _w16((t * t) >> 2)
    t = _w16(_w16(inp << 3) - mean)
    delta = _w16((inv_std2 * t) >> 10)
    tmp32 = (delta * t) >> 9
    exp_value = 0
    if tmp32 < 22005:
        t = _w16((5909 * _w16(tmp32)) >> 12)
        t = _w16(-t)
        exp_value = 0x0400 | (t & 0x03FF)
        t = _w16(t ^ 0xFFFF)
        t = _w16((t >> 10) + 1)
        exp_value = exp_value >> (t & 31)
    return inv_std * exp_value, delta


@njit(**_INLINE)
def _find_minimum(st, value, ch):
    """Track the 16 smallest values of the last 100 frames; return the smoothed noise floor."""
    age = AGE + 16 * ch
    low = LOW + 16 * ch
    for i in range(16):
        if st[age + i] != 100:
            st[age + i] = _w16(st[age + i] + 1)
        else:
            for j in range(i, 15):
                st[low + j] = st[low + j + 1]
                st[age + j] = st[age + j + 1]
            st[age + 15] = 101
            st[low + 15] = 10000
    pos = -1
    if value < st[low + 7]:
        if value < st[low + 3]:
            if value < st[low + 1]:
                pos = 0 if value < st[low] else 1
            elif value < st[low + 2]:
                pos = 2
            else:
                pos = 3
        elif value < st[low + 5]:
            pos = 4 if value < st[low + 4] else 5
        elif value < st[low + 6]:
            pos = 6
        else:
            pos = 7
    elif value < st[low + 15]:
        if value < st[low + 11]:
            if value < st[low + 9]:
                pos = 8 if value < st[low + 8] else 9
            elif value < st[low + 10]:
                pos = 10
            else:
                pos = 11
        elif value < st[low + 13]:
            pos = 12 if value < st[low + 12] else 13
        elif value < st[low + 14]:
            pos = 14
        else:
            pos = 15
    if pos > -1:
        for i in range(15, pos, -1):
            st[low + i] = st[low + i - 1]
            st[age + i] = st[age + i - 1]
        st[low + pos] = value
        st[age + pos] = 1
    fc = st[FC]
    median = 1600
    if fc > 2:
        median = st[low + 2]
    elif fc > 0:
        median = st[low]
    alpha = 0
    if fc > 0:
        alpha = 6553 if median < st[MEAN + ch] else 32439
    tmp32 = (alpha + 1) * st[MEAN + ch] + (32767 - alpha) * median + 16384
    st[MEAN + ch] = _w16(tmp32 >> 15)
    return st[MEAN + ch]


@njit(**_INLINE)
def _weighted(st, base, ch, offset, weights):
    """Add ``offset`` to both Gaussians' means of a channel; return their weighted sum."""
    s = 0
    for k in range(2):
        g = ch + 6 * k
        st[base + g] = _w16(st[base + g] + offset)
        s += st[base + g] * weights[g]
    return _w32(s)


@njit(**_JIT)
def _gmm_decide(st, W, total_power, n8):
    """Likelihood-ratio tests per band and overall, model adaptation, hangover. Returns 0..N."""
    fl = 0 if n8 == 80 else (1 if n8 == 160 else 2)
    mode = st[MODE]
    individual = _LOCAL_THR[mode, fl]
    total_thr = _GLOBAL_THR[mode, fl]
    feat = W_FEAT
    dN = W_DN
    dS = W_DS
    ng = W_NG
    sg = W_SG
    vadflag = 0
    if total_power > 10:
        for g in range(12):
            W[ng + g] = 0
            W[sg + g] = 0
        sum_llr = 0
        for ch in range(6):
            x = W[feat + ch]
            h0 = 0
            h1 = 0
            np0 = 0
            sp0 = 0
            for k in range(2):
                g = ch + 6 * k
                p, d = _gauss(x, st[NM + g], st[INV_N + g])
                W[dN + g] = d
                p = _w32(_NOISE_W[g] * p)
                h0 = _w32(h0 + p)
                if k == 0:
                    np0 = p
                p, d = _gauss(x, st[SM + g], st[INV_S + g])
                W[dS + g] = d
                p = _w32(_SPEECH_W[g] * p)
                h1 = _w32(h1 + p)
                if k == 0:
                    sp0 = p
            sh0 = 31 if h0 == 0 else _norm_w32(h0)
            sh1 = 31 if h1 == 0 else _norm_w32(h1)
            llr = sh0 - sh1
            sum_llr += llr * _SPECTRUM_WEIGHT[ch]
            if (llr << 2) > individual:
                vadflag = 1
            h0s = _w16(h0 >> 12)
            if h0s > 0:
                t = _w32(((np0 & 0xFFFFF000) << 2) & 0xFFFFFFFF)
                W[ng + ch] = _w16(_cdiv(t, h0s))
                W[ng + ch + 6] = _w16(16384 - W[ng + ch])
            else:
                W[ng + ch] = 16384
            h1s = _w16(h1 >> 12)
            if h1s > 0:
                t = _w32(((sp0 & 0xFFFFF000) << 2) & 0xFFFFFFFF)
                W[sg + ch] = _w16(_cdiv(t, h1s))
                W[sg + ch + 6] = _w16(16384 - W[sg + ch])
        if sum_llr >= total_thr:
            vadflag = 1
        maxspe = 12800  # the ceiling below uses the PREVIOUS channel's maximum (as the C code does)
        for ch in range(6):
            x = W[feat + ch]
            fmin = _find_minimum(st, x, ch)
            ngm = _weighted(st, NM, ch, 0, _NOISE_W)
            tmp1_s16 = _w16(ngm >> 6)
            for k in range(2):
                g = ch + 6 * k
                nmk = st[NM + g]
                smk = st[SM + g]
                nsk = st[NS + g]
                ssk = st[SS + g]
                nmk2 = nmk
                if vadflag == 0:
                    delt = _w16((W[ng + g] * W[dN + g]) >> 11)
                    nmk2 = _w16(nmk + _w16((delt * 655) >> 22))
                ndelt = _w16((fmin << 4) - tmp1_s16)
                nmk3 = _w16(nmk2 + _w16((ndelt * 154) >> 9))
                lo = (k + 5) << 7
                if nmk3 < lo:
                    nmk3 = lo
                hi = (72 + k - ch) << 7
                if nmk3 > hi:
                    nmk3 = hi
                st[NM + g] = nmk3
                if vadflag != 0:
                    delt = _w16((W[sg + g] * W[dS + g]) >> 11)
                    t16 = _w16((delt * 6554) >> 21)
                    smk2 = _w16(smk + ((t16 + 1) >> 1))
                    maxmu = _w16(maxspe + 640)
                    if smk2 < _MIN_MEAN[k]:
                        smk2 = _MIN_MEAN[k]
                    if smk2 > maxmu:
                        smk2 = maxmu
                    st[SM + g] = smk2
                    t16 = _w16((smk + 4) >> 3)
                    t16 = _w16(x - t16)
                    t1 = (W[dS + g] * t16) >> 3
                    t2 = t1 - 4096
                    t16 = W[sg + g] >> 2
                    t1 = _w32(t16 * t2)
                    t2 = t1 >> 4
                    den = _w16(ssk * 10)
                    if t2 > 0:
                        t16 = _w16(_cdiv(t2, den))
                    else:
                        t16 = _w16(-_w16(_cdiv(-t2, den)))
                    t16 = _w16(t16 + 128)
                    ssk = _w16(ssk + (t16 >> 8))
                    if ssk < 384:
                        ssk = 384
                    st[SS + g] = ssk
                    st[INV_S + g] = _inv_std(ssk)
                else:
                    t16 = _w16(x - (nmk >> 3))
                    t1 = (W[dN + g] * t16) >> 3
                    t1 = t1 - 4096
                    t16 = _w16((W[ng + g] + 2) >> 2)
                    t2 = _w32(t16 * t1)
                    t1 = t2 >> 14
                    if t1 > 0:
                        t16 = _w16(_cdiv(t1, nsk))
                    else:
                        t16 = _w16(-_w16(_cdiv(-t1, nsk)))
                    t16 = _w16(t16 + 32)
                    nsk = _w16(nsk + (t16 >> 6))
                    if nsk < 384:
                        nsk = 384
                    st[NS + g] = nsk
                    st[INV_N + g] = _inv_std(nsk)
            ngm = _weighted(st, NM, ch, 0, _NOISE_W)
            sgm = _weighted(st, SM, ch, 0, _SPEECH_W)
            diff = _w16(_w16(sgm >> 9) - _w16(ngm >> 9))
            if diff < _MIN_DIFF[ch]:
                t16 = _MIN_DIFF[ch] - diff
                a = _w16((13 * t16) >> 2)
                b = _w16((3 * t16) >> 2)
                sgm = _weighted(st, SM, ch, a, _SPEECH_W)
                ngm = _weighted(st, NM, ch, -b, _NOISE_W)
            maxspe = _MAX_SPEECH[ch]
            t16 = _w16(sgm >> 7)
            if t16 > maxspe:
                t16 -= maxspe
                for k in range(2):
                    st[SM + ch + 6 * k] = _w16(st[SM + ch + 6 * k] - t16)
            t16 = _w16(ngm >> 7)
            if t16 > _MAX_NOISE[ch]:
                t16 -= _MAX_NOISE[ch]
                for k in range(2):
                    st[NM + ch + 6 * k] = _w16(st[NM + ch + 6 * k] - t16)
        st[FC] = _w32(st[FC] + 1)
    if vadflag == 0:
        if st[OH] > 0:
            vadflag = 2 + st[OH]
            st[OH] = st[OH] - 1
        st[NSP] = 0
    else:
        st[NSP] = st[NSP] + 1
        if st[NSP] > 6:
            st[NSP] = 6
            st[OH] = _OVERHANG2[mode, fl]
        else:
            st[OH] = _OVERHANG1[mode, fl]
    return vadflag


# ---- one frame, many calls ------------------------------------------------------------------
@njit(**_JIT)
def init_state(st, mode):
    """Fresh state for one call (``WebRtcVad_Init`` followed by ``set_mode``)."""
    for i in range(STATE_SIZE):
        st[i] = 0
    for i in range(12):
        st[NM + i] = _NOISE_MEANS0[i]
        st[SM + i] = _SPEECH_MEANS0[i]
        st[NS + i] = _NOISE_STDS0[i]
        st[SS + i] = _SPEECH_STDS0[i]
        st[INV_N + i] = _inv_std(st[NS + i])
        st[INV_S + i] = _inv_std(st[SS + i])
    for i in range(96):
        st[LOW + i] = 10000
    for i in range(6):
        st[MEAN + i] = 1600
    st[MODE] = mode


@njit(**_JIT)
def process_frame(st, frame, rate, W):
    """Decide one frame (int16 samples at ``rate``) of one call; True for speech."""
    n = frame.shape[0]
    for i in range(n):
        W[W_IN + i] = frame[i]
    return _decide(st, n, rate, W)


@njit(**_JIT)
def _valid_length(n, rate):
    return n == rate // 100 or n == rate // 50 or n == rate * 3 // 100


@njit(**_JIT)
def process_one(buf, frame):
    """One frame (int16) of one call, state and scratch in one buffer: fewer arguments for
    the dispatcher to check at each call from Python (the per-frame path of ``NumbaVad``).
    Returns 1 (speech), 0, or -1 for a frame of a wrong length."""
    st = buf[:STATE_SIZE]
    W = buf[STATE_SIZE:]
    rate = st[RATE]
    n = frame.shape[0]
    if not _valid_length(n, rate):
        return -1
    for i in range(n):
        W[W_IN + i] = frame[i]
    return 1 if _decide(st, n, rate, W) else 0


@njit(**_JIT)
def process_one_bytes(buf, data):
    """``process_one`` for little-endian 16-bit PCM bytes as they come off the wire."""
    st = buf[:STATE_SIZE]
    W = buf[STATE_SIZE:]
    rate = st[RATE]
    n = len(data) >> 1
    if len(data) & 1 or not _valid_length(n, rate):
        return -1
    for i in range(n):
        v = data[2 * i] | (data[2 * i + 1] << 8)
        W[W_IN + i] = v - 65536 if v >= 32768 else v
    return 1 if _decide(st, n, rate, W) else 0


@njit(**_JIT)
def _decide(st, n, rate, W):
    """The frame is in W[W_IN:W_IN + n]: resample to 8 kHz, features, GMM, hangover."""
    inp = W[W_IN : W_IN + 1440]
    nb = W[W_NB : W_NB + 240]
    if rate == 8000:
        x = inp
        n8 = n
    elif rate == 16000:
        _downsample2(inp, 0, n, nb, 0, st, DS)
        x = nb
        n8 = n >> 1
    elif rate == 32000:
        wb = W[W_WB : W_WB + 480]
        _downsample2(inp, 0, n, wb, 0, st, DS + 2)
        _downsample2(wb, 0, n >> 1, nb, 0, st, DS)
        x = nb
        n8 = n >> 2
    else:
        T = W[W_T48 : W_T48 + 736]
        for b in range(n // 480):
            _resample_48_to_8(inp, 0, nb, 80 * b, st, T)  # always the first 10 ms, as in C
        x = nb
        n8 = n // 6
    total_power = _features(st, x, n8, W)
    return _gmm_decide(st, W, total_power, n8) > 0


# ---- one tick of many calls at 8 kHz, the filter bank vectorised across calls ---------------
# The filters are recurrences along time but independent across calls, so the batch path runs
# them "sideways": sample by sample, with the calls of a block in the innermost loop, which the
# compiler turns into SIMD. Buffers are rows of one int32 (SOA_ROWS, block) scratch array (every
# value stored there fits 32 bits; the energy sum wraps there exactly as the C code's does);
# reads go through int() so that pure Python computes in Python integers too.
SOA_BLOCK = 32  # calls per block: keeps the scratch (about 150 kB) in the L2 cache
S_X = 0  # 240 rows: the input frames, transposed
S_HP120 = 240
S_LP120 = 360
S_HP60 = 480
S_LP60 = 540
S_SU = 600  # all-pass states of the split being run
S_SL = 601
S_SMAX = 602
S_SC = 603
S_EN = 604
S_TOT = 605
S_H = 606  # 4 rows: high-pass states
S_FEAT = 610  # 6 rows
SOA_ROWS = 616


@njit(**_JIT)
def _split_soa(B, src, n, states, c0, nc, band, hp, lp):
    half = n >> 1
    for c in range(nc):
        B[S_SU, c] = states[c0 + c, UP + band] << 16
        B[S_SL, c] = states[c0 + c, LO + band] << 16
    for i in range(half):
        for c in range(nc):
            xu = int(B[src + 2 * i, c])
            xl = int(B[src + 2 * i + 1, c])
            tu = _w32(int(B[S_SU, c]) + 20972 * xu) >> 16
            tl = _w32(int(B[S_SL, c]) + 5571 * xl) >> 16
            B[S_SU, c] = _w32(_w32((xu << 14) - 20972 * tu) << 1)
            B[S_SL, c] = _w32(_w32((xl << 14) - 5571 * tl) << 1)
            B[hp + i, c] = _w16(tu - tl)
            B[lp + i, c] = _w16(tl + tu)
    for c in range(nc):
        states[c0 + c, UP + band] = int(B[S_SU, c]) >> 16
        states[c0 + c, LO + band] = int(B[S_SL, c]) >> 16


@njit(**_JIT)
def _log_energy_soa(B, d, n, nc, offset, feat):
    for c in range(nc):
        B[S_SMAX, c] = -1
        B[S_EN, c] = 0
    for i in range(n):
        for c in range(nc):
            x = int(B[d + i, c])
            sabs = x if x > 0 else _w16(-x)
            if sabs > int(B[S_SMAX, c]):
                B[S_SMAX, c] = sabs
    for c in range(nc):
        B[S_SC, c] = _scaling(int(B[S_SMAX, c]), n)
    for i in range(n):
        for c in range(nc):
            x = int(B[d + i, c])
            B[S_EN, c] = _w32(int(B[S_EN, c]) + ((x * x) >> int(B[S_SC, c])))
    for c in range(nc):
        B[S_FEAT + feat, c], B[S_TOT, c] = _log_finish(int(B[S_EN, c]), int(B[S_SC, c]), offset, int(B[S_TOT, c]))


@njit(**_JIT)
def _highpass_soa(B, src, n, states, c0, nc, dst):
    for k in range(4):
        for c in range(nc):
            B[S_H + k, c] = states[c0 + c, HP + k]
    for i in range(n):
        for c in range(nc):
            x = int(B[src + i, c])
            s0 = int(B[S_H, c])
            s1 = int(B[S_H + 1, c])
            s2 = int(B[S_H + 2, c])
            s3 = int(B[S_H + 3, c])
            t = _w32(6631 * x - 13262 * s0 + 6631 * s1 + 7756 * s2 - 5620 * s3)
            B[S_H + 1, c] = s0
            B[S_H, c] = x
            B[S_H + 3, c] = s2
            B[S_H + 2, c] = _w16(t >> 14)
            B[dst + i, c] = int(B[S_H + 2, c])
    for k in range(4):
        for c in range(nc):
            states[c0 + c, HP + k] = int(B[S_H + k, c])


@njit(**_JIT)
def process_batch_8k(states, frames, work, soa, out):
    """``process_batch`` at 8 kHz with the features of each block of calls computed together."""
    n_calls = frames.shape[0]
    n = frames.shape[1]
    half = n >> 1
    B = soa
    for c0 in range(0, n_calls, SOA_BLOCK):
        nc = min(SOA_BLOCK, n_calls - c0)
        for c in range(nc):
            for i in range(n):
                B[S_X + i, c] = frames[c0 + c, i]
            B[S_TOT, c] = 0
        _split_soa(B, S_X, n, states, c0, nc, 0, S_HP120, S_LP120)
        _split_soa(B, S_HP120, half, states, c0, nc, 1, S_HP60, S_LP60)
        length = half >> 1
        _log_energy_soa(B, S_HP60, length, nc, 176, 5)
        _log_energy_soa(B, S_LP60, length, nc, 176, 4)
        _split_soa(B, S_LP120, half, states, c0, nc, 2, S_HP60, S_LP60)
        _log_energy_soa(B, S_HP60, length, nc, 176, 3)
        _split_soa(B, S_LP60, length, states, c0, nc, 3, S_HP120, S_LP120)
        length >>= 1
        _log_energy_soa(B, S_HP120, length, nc, 272, 2)
        _split_soa(B, S_LP120, length, states, c0, nc, 4, S_HP60, S_LP60)
        length >>= 1
        _log_energy_soa(B, S_HP60, length, nc, 368, 1)
        _highpass_soa(B, S_LP60, length, states, c0, nc, S_HP120)
        _log_energy_soa(B, S_HP120, length, nc, 368, 0)
        for c in range(nc):
            for k in range(6):
                work[W_FEAT + k] = int(B[S_FEAT + k, c])
            out[c0 + c] = _gmm_decide(states[c0 + c], work, int(B[S_TOT, c]), n) > 0


@njit(**_JIT)
def process_batch(states, frames, rate, work, out):
    """One tick of many calls: ``frames[i]`` is call ``i``'s frame, ``states[i]`` its state row."""
    for c in range(frames.shape[0]):
        out[c] = process_frame(states[c], frames[c], rate, work)


@njit(**_JIT)
def process_stream(st, frames, rate, work, out):
    """Consecutive frames of one call (offline files, tests): ``frames[j]`` is the j-th frame."""
    for j in range(frames.shape[0]):
        out[j] = process_frame(st, frames[j], rate, work)
