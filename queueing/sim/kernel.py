"""The Numba kernels: arrays in, arrays out, no randomness and no Python objects inside.

Why this shape: every random number is drawn up front by the caller from a seeded
``numpy.random.Generator``, so the same seed gives the same result whether the kernel runs
compiled or as plain Python (``run_day.py_func``), and the kernel can release the GIL.

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

OK = 0
POOL_EXHAUSTED = 1  # more calls (redials) than per-call random numbers drawn; caller redraws


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


@njit(nogil=True, cache=True)
def run_day(
    arrivals,  # float64[N] sorted first-attempt arrival times, seconds
    service,  # float64[M] per processed call, M >= N (redials use the rest)
    patience,  # float64[M] (inf = never hangs up)
    redial_u,  # float64[M] uniforms, or length 1 when redial_prob == 0
    redial_delay,  # float64[M], or length 1
    callback_u,  # float64[M] uniforms, or length 1 when callbacks are off
    agents,  # int64[I] agents on duty per interval
    nxt,  # int64[S, I] first interval >= i where slot j is on duty, -1 if none
    interval_length,
    horizon,  # redials later than this are dropped
    redial_prob,
    callback_threshold,  # seconds of estimated wait; inf = no callback offer
    callback_accept,
    mean_service,  # for the estimated wait (queue + 1) * AHT / agents on duty
    capacity,  # callers allowed to wait on the line; -1 = unlimited
    out_time,  # float64[M] arrival time of each processed call
    out_wait,  # float64[M] time on the line (answer or hang-up); callback delay for callbacks
    out_outcome,  # int8[M]
    out_redial,  # int8[M] 1 when the call is a redial
    busy_time,  # float64[I + 1] agent-seconds of talk per interval (+ after the horizon)
):
    n_base = arrivals.size
    pool = service.size
    n_int = agents.size
    n_slots = nxt.shape[0]
    key = np.empty(n_slots)
    heap = np.arange(n_slots)
    for j in range(n_slots):
        key[j] = _next_on(j, 0.0, interval_length, nxt)
    for pos in range(n_slots // 2, -1, -1):  # heapify
        if n_slots > 0:
            _sift_down(heap, key, pos)
    rheap = np.empty(pool if redial_prob > 0 else 1)
    rsize = 0
    track_queue = capacity >= 0 or callback_threshold < np.inf
    qheap = np.empty(pool if track_queue else 1)
    qsize = 0
    ib = 0
    c = 0
    while True:
        if ib < n_base and (rsize == 0 or arrivals[ib] <= rheap[0]):
            a = arrivals[ib]
            ib += 1
            is_redial = 0
        elif rsize > 0:
            a = rheap[0]
            rsize = _pop(rheap, rsize)
            is_redial = 1
        else:
            break
        if c >= pool:
            return c, POOL_EXHAUSTED
        out_time[c] = a
        out_redial[c] = is_redial
        outcome = -1
        wait = 0.0
        leave = a
        if track_queue:
            while qsize > 0 and qheap[0] <= a:
                qsize = _pop(qheap, qsize)
        # earliest on-duty free slot (keys <= a are refreshed lazily: the agent may be off duty)
        if n_slots == 0:
            start = np.inf
            j = -1
        else:
            while True:
                j = heap[0]
                e = key[j]
                if e <= a:
                    if agents[_interval(a, interval_length, n_int)] > j:
                        start = a
                        break
                    key[j] = _next_on(j, a, interval_length, nxt)
                    _sift_down(heap, key, 0)
                else:
                    start = e
                    break
        if capacity >= 0 and start > a and qsize >= capacity:
            outcome = BUSY
        if outcome < 0:
            pat = patience[c]
            took_callback = False
            if callback_threshold < np.inf and start > a:
                on_duty = agents[_interval(a, interval_length, n_int)]
                ewt = (qsize + 1) * mean_service / on_duty if on_duty > 0 else np.inf
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
                end = start + service[c]
                key[j] = _next_on(j, end, interval_length, nxt)
                _sift_down(heap, key, 0)
                k = int(start / interval_length)
                while True:
                    lo = k * interval_length
                    if lo < start:
                        lo = start
                    if k >= n_int:
                        busy_time[n_int] += end - lo
                        break
                    hi = (k + 1) * interval_length
                    if end <= hi:
                        busy_time[k] += end - lo
                        break
                    busy_time[k] += hi - lo
                    k += 1
            if track_queue and not took_callback and wait > 0 and outcome != UNSERVED:
                qsize = _push(qheap, qsize, leave)
        out_wait[c] = wait
        out_outcome[c] = outcome
        if redial_prob > 0 and (outcome == ABANDONED or outcome == BUSY):
            if redial_u[c] < redial_prob:
                t = leave + redial_delay[c]
                if t < horizon:
                    rsize = _push(rheap, rsize, t)
        c += 1
    return c, OK


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
