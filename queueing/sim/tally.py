"""Per-interval sums of one replication, in one compiled pass over the call records."""

from __future__ import annotations

import numpy as np
from numba import njit

from queueing.sim.kernel import ABANDONED, ANSWERED, BUSY, CALLBACK, UNSERVED

# columns of the sums table
FIELDS = (
    "offered", "answered", "abandoned", "busy", "callbacks", "redials", "unserved",
    "answered_within_t", "line_within_t", "line_calls", "wait_sum", "answered_wait_sum",
    "callback_delay_sum", "wait_max", "waited",
)
COL = {name: i for i, name in enumerate(FIELDS)}


@njit(nogil=True, cache=True)
def tally(times, waits, outcomes, redials, count, interval_length, n_int, sl_seconds, sums, grouped, offsets):
    """Fill ``sums[interval, field]`` and group the waits of callers on the line by interval.

    A call belongs to the interval it arrived in. ``grouped[offsets[i]:offsets[i + 1]]`` are the
    times on the line (answered or hung up) of callers who arrived in interval i.
    """
    idx = np.empty(count, dtype=np.int64)
    line_count = np.zeros(n_int, dtype=np.int64)
    for c in range(count):
        k = int(times[c] / interval_length)
        if k >= n_int:
            k = n_int - 1
        idx[c] = k
        o = outcomes[c]
        w = waits[c]
        sums[k, 0] += 1
        if redials[c]:
            sums[k, 5] += 1
        if o == ANSWERED or o == ABANDONED:
            line_count[k] += 1
            sums[k, 9] += 1
            sums[k, 10] += w
            if w > sums[k, 13]:
                sums[k, 13] = w
            if w <= sl_seconds:
                sums[k, 8] += 1
            if w > 0:
                sums[k, 14] += 1
            if o == ANSWERED:
                sums[k, 1] += 1
                sums[k, 11] += w
                if w <= sl_seconds:
                    sums[k, 7] += 1
            else:
                sums[k, 2] += 1
        elif o == BUSY:
            sums[k, 3] += 1
        elif o == CALLBACK:
            sums[k, 4] += 1
            sums[k, 12] += w
        elif o == UNSERVED:
            sums[k, 6] += 1
    offsets[0] = 0
    for k in range(n_int):
        offsets[k + 1] = offsets[k] + line_count[k]
    fill = offsets[:-1].copy()
    for c in range(count):
        o = outcomes[c]
        if o == ANSWERED or o == ABANDONED:
            k = idx[c]
            grouped[fill[k]] = waits[c]
            fill[k] += 1
