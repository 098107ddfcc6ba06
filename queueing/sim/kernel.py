"""The Numba kernels: arrays in, arrays out, no randomness and no Python objects inside.

Why this shape: every random number is drawn by the caller from a seeded
``numpy.random.Generator`` before the kernel sees it, so the same seed gives the same result
whether the kernel runs compiled or as plain Python (``run_chunk.py_func``), and the kernel can
release the GIL. The numbers come in cache-sized chunks (the kernel returns when a buffer is
used up and is called again with its state arrays), which keeps memory flat for 10^7 calls and
the random-number buffers in cache.

The queue is FCFS with abandonment, served by the Kiefer-Wolfowitz workload recursion: callers
are taken in arrival order and each one's start time is the earliest moment an agent slot is
free and on duty. That is exact for FCFS (a caller's fate depends only on earlier callers) and
costs one heap update per call instead of a full event list. Agent slots are nested: slot ``j``
is on duty in interval ``i`` when ``j < agents[i]``; an agent whose shift ends mid-call finishes
the call and then goes off duty. After the last interval the last interval's roster holds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ANSWERED = 0
ABANDONED = 1
BUSY = 2  # refused at the door: the queue was at capacity
CALLBACK = 3  # accepted a callback: left the line, kept its place, served at its turn
UNSERVED = 4  # never reached an agent (no agent on duty ever again, infinite patience)



@njit(nogil=True, cache=True)
def _sift_down(heap, key, pos):
    """Restore the min-heap of slot ids ordered by ``key`` after ``key[heap[pos]]`` grew."""
    n = heap.size
    j = heap[pos]
    kj = key[j]
    while True:
        c = 2 * pos + 1
        if c >= n:
            break
        if c + 1 < n and key[heap[c + 1]] < key[heap[c]]:
            c += 1
        if key[heap[c]] >= kj:
            break
        heap[pos] = heap[c]
        pos = c
    heap[pos] = j


@njit(nogil=True, cache=True)
def _tree_replace_min(tv, ti, v):
    """Winner (tournament) tree over P leaves: ``tv[1]`` is the minimum, held by leaf ``ti[1]``.
    Replace that leaf's value with ``v`` and replay its path: a fixed number of compare-selects
    and no data-dependent early exit, cheaper than a heap's sift-down on modern CPUs."""
    size = tv.size >> 1
    cur_i = ti[1]
    cur_v = v
    pos = size + cur_i
    tv[pos] = v
    while pos > 1:  # the running winner stays in registers; only siblings are loaded
        sib = pos ^ 1
        sv = tv[sib]
        if sv < cur_v:
            cur_v = sv
            cur_i = ti[sib]
        pos >>= 1
        tv[pos] = cur_v
        ti[pos] = cur_i


def winner_tree(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Build the winner tree of ``values`` (padded with +inf to a power of two), one level at a
    time from the leaves up: each node holds the smaller of its two children (the left one on a
    tie). Level by level with numpy because a replication of a short interval is small enough
    for a per-node Python loop to cost more than its calls."""
    size = 1
    while size < max(values.size, 1):
        size <<= 1
    tv = np.full(2 * size, np.inf)
    ti = np.zeros(2 * size, dtype=np.int64)
    tv[size:size + values.size] = values
    ti[size:] = np.arange(size)
    hi = 2 * size
    while hi > 2:  # children in [hi / 2, hi), their parents in [hi / 4, hi / 2)
        lo = hi >> 1
        left, right = tv[lo:hi:2], tv[lo + 1:hi:2]
        ti[lo >> 1:lo] = np.where(left <= right, ti[lo:hi:2], ti[lo + 1:hi:2])
        tv[lo >> 1:lo] = np.minimum(left, right)
        hi = lo
    return tv, ti


@njit(nogil=True, cache=True)
def _push(h, size, v):
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if h[p] <= v:
            break
        h[i] = h[p]
        i = p
    h[i] = v
    return size + 1


@njit(nogil=True, cache=True)
def _pop(h, size):
    size -= 1
    if size == 0:
        return 0
    v = h[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and h[c + 1] < h[c]:
            c += 1
        if h[c] >= v:
            break
        h[i] = h[c]
        i = c
    h[i] = v
    return size


@njit(nogil=True, cache=True)
def _interval(t, length, count):
    k = int(t / length)
    return k if k < count else count - 1


@njit(nogil=True, cache=True)
def _next_on(j, t, length, nxt):
    """First time >= t at which slot j is on duty (inf if never again)."""
    if t == np.inf:
        return np.inf
    k = _interval(t, length, nxt.shape[1])
    nx = nxt[j, k]
    if nx == k:
        return t
    if nx < 0:
        return np.inf
    return nx * length


# Columns of the per-interval sums table the kernel fills (a call belongs to the interval it
# arrived in; "line" callers are those who held on: answered or hung up).
FIELDS = (
    "offered", "answered", "abandoned", "busy", "callbacks", "redials", "unserved",
    "answered_within_t", "line_within_t", "line_calls", "wait_sum", "answered_wait_sum",
    "callback_delay_sum", "wait_max", "waited",
)
COL = {name: i for i, name in enumerate(FIELDS)}
# The columns the compiled code writes, taken from FIELDS (Numba freezes module-level ints).
F_OFFERED = COL["offered"]
F_ANSWERED = COL["answered"]
F_ABANDONED = COL["abandoned"]
F_BUSY = COL["busy"]
F_CALLBACKS = COL["callbacks"]
F_REDIALS = COL["redials"]
F_UNSERVED = COL["unserved"]
F_ANSWERED_WITHIN_T = COL["answered_within_t"]
F_LINE_WITHIN_T = COL["line_within_t"]
F_LINE_CALLS = COL["line_calls"]
F_WAIT_SUM = COL["wait_sum"]
F_ANSWERED_WAIT_SUM = COL["answered_wait_sum"]
F_CALLBACK_DELAY_SUM = COL["callback_delay_sum"]
F_WAIT_MAX = COL["wait_max"]
F_WAITED = COL["waited"]


@njit(nogil=True, cache=True)
def arrivals_chunk(e, rates, length, total, fstate, istate):
    """Turn unit exponentials into the next arrival times, in place, by inverting the
    piecewise-linear cumulative rate. ``fstate = [cumulative, cumulative at interval start]``
    and ``istate = [interval, exhausted]`` carry over between chunks. Returns how many of ``e``
    are arrivals before the horizon (fewer than ``e.size`` only once the horizon is reached)."""
    n_int = rates.size
    acc = fstate[0]
    lam_lo = fstate[1]
    k = istate[0]
    for c in range(e.size):
        acc += e[c]
        if acc >= total:
            istate[1] = 1
            fstate[0] = acc
            return c
        while k < n_int - 1 and acc >= lam_lo + rates[k] * length:
            lam_lo += rates[k] * length
            k += 1
        e[c] = k * length + (acc - lam_lo) / rates[k]
    fstate[0] = acc
    fstate[1] = lam_lo
    istate[0] = k
    return e.size


@njit(nogil=True, cache=True)
def _line_stats(sums, k, o, w, sl_seconds):
    sums[k, F_LINE_CALLS] += 1
    sums[k, F_WAIT_SUM] += w
    if w > sums[k, F_WAIT_MAX]:
        sums[k, F_WAIT_MAX] = w
    if w <= sl_seconds:
        sums[k, F_LINE_WITHIN_T] += 1
    if w > 0:
        sums[k, F_WAITED] += 1
    if o == ANSWERED:
        sums[k, F_ANSWERED] += 1
        sums[k, F_ANSWERED_WAIT_SUM] += w
        if w <= sl_seconds:
            sums[k, F_ANSWERED_WITHIN_T] += 1
    else:
        sums[k, F_ABANDONED] += 1


# run_chunk return codes: what the caller must do before calling again
DONE = 0
NEED_ARRIVALS = 1  # refill the arrival buffer (arr, st[S_NB]) and reset st[S_IB]
NEED_CALLS = 2  # collect this chunk's outputs, refill the per-call buffers, reset st[S_C], st[S_NPOS]
GROW_REDIALS = 3  # enlarge rheap
GROW_QUEUE = 4  # enlarge qheap
# integer state slots
S_IB, S_NB, S_EXHAUSTED, S_C, S_RSIZE, S_QSIZE, S_NPOS, S_CONSTANT, S_CALLS = range(9)


@njit(nogil=True, cache=True)
def run_chunk(
    arr,  # float64[B] first-attempt arrival times, valid up to st[S_NB], sorted
    service,  # float64[B] per processed call, in processing order (redials included)
    patience,  # float64[B] (inf = never hangs up)
    redial_u,  # float64[B] uniforms, or length 1 when redial_prob == 0
    redial_delay,  # float64[B], or length 1
    callback_u,  # float64[B] uniforms, or length 1 when callbacks are off
    agents,  # int64[I] agents on duty per interval
    nxt,  # int64[S, I] first interval >= i where slot j is on duty, -1 if none
    interval_length,
    horizon,  # redials later than this are dropped
    redial_prob,
    callback_threshold,  # seconds of estimated wait; inf = no callback offer
    callback_accept,
    mean_service,  # for the estimated wait (queue + 1) * AHT / agents on duty
    service_scale,  # float64[I] factor on the service times of calls arriving in interval i (AHT by interval)
    patience_scale,  # float64[I] factor on the patience of callers arriving in interval i
    capacity,  # callers allowed to wait on the line; -1 = unlimited
    sl_seconds,
    keep_records,
    st,  # int64 state (S_* slots)
    key,  # float64[S] next time each slot is free and on duty (time-varying roster)
    heap,  # int64[S] min-heap of slots by key
    free,  # float64[2P] winner tree of free times (constant roster; see _tree_replace_min)
    free_i,  # int64[2P] which leaf holds each node's minimum
    rheap,  # float64 min-heap of pending redial times
    qheap,  # float64 min-heap of the times waiting callers leave the line
    out_time,  # float64[B] records of this chunk's calls (when keep_records), else length 1
    out_wait,
    out_outcome,  # int8
    out_redial,  # int8
    pos_wait,  # float64[B] positive times on the line of this chunk's calls, in order
    pos_k,  # int64[B] their interval
    busy_time,  # float64[I + 1] agent-seconds of talk per interval (+ after the horizon)
    sums,  # float64[I, len(FIELDS)] per-interval tallies
):
    """Process calls in arrival order (first attempts merged with redials) until a buffer runs
    out; all state lives in the arrays, so a run is a sequence of calls with refills between.

    Each caller starts at the earliest moment an on-duty agent slot is free (Kiefer-Wolfowitz
    recursion for FCFS); it abandons if that is later than its patience. Interval indices never
    decrease, so positive waits come out grouped by interval.
    """
    n_int = agents.size
    n_slots = key.size
    pool = service.size
    ib = st[S_IB]
    nb = st[S_NB]
    exhausted = st[S_EXHAUSTED]
    c = st[S_C]
    rsize = st[S_RSIZE]
    qsize = st[S_QSIZE]
    n_pos = st[S_NPOS]
    constant = st[S_CONSTANT] == 1
    track_queue = capacity >= 0 or callback_threshold < np.inf
    code = DONE
    while True:
        if c >= pool:
            code = NEED_CALLS
            break
        if ib >= nb and exhausted == 0:
            code = NEED_ARRIVALS
            break
        if redial_prob > 0 and rsize >= rheap.size:
            code = GROW_REDIALS
            break
        if track_queue and qsize >= qheap.size:
            code = GROW_QUEUE
            break
        if ib < nb and (rsize == 0 or arr[ib] <= rheap[0]):
            a = arr[ib]
            ib += 1
            is_redial = 0
        elif rsize > 0:
            a = rheap[0]
            rsize = _pop(rheap, rsize)
            is_redial = 1
        else:
            code = DONE
            break
        k = int(a / interval_length)
        if k >= n_int:
            k = n_int - 1
        outcome = -1
        wait = 0.0
        leave = a
        if track_queue:
            while qsize > 0 and qheap[0] <= a:
                qsize = _pop(qheap, qsize)
        # earliest on-duty free slot (keys <= a are refreshed lazily: the agent may be off duty)
        j = -1
        if constant:
            start = free[1] if free[1] > a else a
        elif n_slots == 0:
            start = np.inf
        else:
            while True:
                j = heap[0]
                e = key[j]
                if e <= a:
                    if agents[k] > j:
                        start = a
                        break
                    key[j] = _next_on(j, a, interval_length, nxt)
                    _sift_down(heap, key, 0)
                else:
                    start = e
                    break
        if capacity >= 0 and start > a and qsize >= capacity:
            outcome = BUSY
        took_callback = False
        if outcome < 0:
            pat = patience[c] * patience_scale[k]
            if callback_threshold < np.inf and start > a:
                on_duty = agents[k]
                ewt = (qsize + 1) * mean_service * service_scale[k] / on_duty if on_duty > 0 else np.inf
                if ewt > callback_threshold and callback_u[c] < callback_accept:
                    took_callback = True
                    pat = np.inf
            if start == np.inf and pat == np.inf:
                outcome = UNSERVED
                wait = np.inf
            elif start - a > pat:
                outcome = ABANDONED
                wait = pat
                leave = a + pat
            else:
                outcome = CALLBACK if took_callback else ANSWERED
                wait = start - a
                leave = start
                end = start + service[c] * service_scale[k]
                if constant:
                    _tree_replace_min(free, free_i, end)
                else:
                    key[j] = _next_on(j, end, interval_length, nxt)
                    _sift_down(heap, key, 0)
                b = int(start / interval_length)
                while True:
                    lo = b * interval_length
                    if lo < start:
                        lo = start
                    if b >= n_int:
                        busy_time[n_int] += end - lo
                        break
                    hi = (b + 1) * interval_length
                    if end <= hi:
                        busy_time[b] += end - lo
                        break
                    busy_time[b] += hi - lo
                    b += 1
            if track_queue and not took_callback and wait > 0 and outcome != UNSERVED:
                qsize = _push(qheap, qsize, leave)
        sums[k, F_OFFERED] += 1
        if is_redial:
            sums[k, F_REDIALS] += 1
        if outcome == ANSWERED or outcome == ABANDONED:
            _line_stats(sums, k, outcome, wait, sl_seconds)
            if wait > 0:
                pos_wait[n_pos] = wait
                pos_k[n_pos] = k
                n_pos += 1
        elif outcome == BUSY:
            sums[k, F_BUSY] += 1
        elif outcome == CALLBACK:
            sums[k, F_CALLBACKS] += 1
            sums[k, F_CALLBACK_DELAY_SUM] += wait
        else:
            sums[k, F_UNSERVED] += 1
        if keep_records:
            out_time[c] = a
            out_redial[c] = is_redial
            out_wait[c] = wait
            out_outcome[c] = outcome
        if redial_prob > 0 and (outcome == ABANDONED or outcome == BUSY):
            if redial_u[c] < redial_prob:
                t = leave + redial_delay[c]
                if t < horizon:
                    rsize = _push(rheap, rsize, t)
        c += 1
        st[S_CALLS] += 1
    st[S_IB] = ib
    st[S_C] = c
    st[S_RSIZE] = rsize
    st[S_QSIZE] = qsize
    st[S_NPOS] = n_pos
    return code


@njit(nogil=True, cache=True)
def run_situation(residual, service, patience, out_start):
    """Offered waits from a given state, one row per replication.

    ``residual[r, j]``: time until agent j is free (0 = idle); ``service[r, i]`` and
    ``patience[r, i]`` for the callers already waiting, in queue order, plus a last column for
    the tagged new caller (whose patience is ignored: its offered wait is what is measured).
    ``out_start[r, i]``: when caller i would reach an agent (its offered wait, from time 0);
    NaN for callers ahead who hung up first.
    """
    reps, n = residual.shape
    m = service.shape[1]
    heap = np.empty(n, dtype=np.int64)
    key = np.empty(n)
    for r in range(reps):
        for j in range(n):
            heap[j] = j
            key[j] = residual[r, j]
        for pos in range(n // 2, -1, -1):
            _sift_down(heap, key, pos)
        for i in range(m):
            j = heap[0]
            start = key[j]
            if i < m - 1 and start > patience[r, i]:
                out_start[r, i] = np.nan
                continue
            out_start[r, i] = start
            key[j] = start + service[r, i]
            _sift_down(heap, key, 0)
