"""Estimated wait for a caller about to join a queue: position, agents, recent handle times.

Why not Asterisk's announcement: app_queue says ``|holdtime average - time waited|``, a running
average of past callers' holds, which ignores how many callers are ahead now and how many
agents are on duty; at an evening peak it is minutes off. Here:

With ``k`` the caller's position (1 = next; callbacks pending ahead count as callers), ``n``
agents staffed (logged in, not paused), ``a`` of them idle, and ``h`` the recent mean handle
time (talk + wrap-up): the first ``a`` callers are taken at once, then every agent is busy and
each completion moves the line by one. Completions come at rate ``n / h`` (memoryless service,
exact for exponential handle times and a good guide otherwise); callers ahead who hang up
(mean patience ``θ``, when known) also move the line. So with ``m = k - a - 1`` callers still
ahead after the idle agents took theirs::

    E[wait] = Σ_{i=0..m} 1 / (n/h + i/θ)        (= (k - a) · h / n without abandonment)

Pure: time (``now``) is passed in; ``HandleTimes`` keeps recent samples per queue.
``queueing.sim.waits_from_state`` measures the same situation by simulation; the tests hold
this estimate against it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class QueueSituation:
    position: int  # 1 = next to be answered
    agents_staffed: int  # logged in and not paused
    agents_available: int  # idle now (not ringing, talking or in wrap-up)
    aht: float  # recent mean handle time in seconds (talk + wrap-up)
    patience: float | None = None  # mean patience of waiting callers, when known


@dataclass(frozen=True)
class WaitEstimate:
    mean: float | None  # seconds; None when no agent is staffed (the wait is unbounded)
    upper: float | None  # about the 80th percentile: what to announce to avoid under-promising
    position: int
    basis: str  # short explanation, for logs and the dry run


def estimate_wait(s: QueueSituation) -> WaitEstimate:
    if s.position < 1:
        raise ValueError(f"position must be >= 1, got {s.position}")
    if s.agents_staffed <= 0:
        return WaitEstimate(None, None, s.position, "no agent staffed")
    if s.aht <= 0:
        raise ValueError(f"handle time must be > 0, got {s.aht}")
    idle = max(0, min(s.agents_available, s.agents_staffed))
    if s.position <= idle:
        return WaitEstimate(0.0, 0.0, s.position, f"{idle} agent(s) idle")
    rate = s.agents_staffed / s.aht
    ahead = s.position - idle - 1
    leave = 0.0 if not s.patience or s.patience <= 0 or math.isinf(s.patience) else 1.0 / s.patience
    rates = [rate + i * leave for i in range(ahead + 1)]
    mean = sum(1.0 / r for r in rates)
    var = sum(1.0 / (r * r) for r in rates)
    upper = _gamma_quantile(mean, var, 0.8416)  # z of the 80th percentile
    basis = f"{s.position - idle} completion(s) at {s.agents_staffed} agents x 1/{s.aht:.0f}s"
    return WaitEstimate(mean, upper, s.position, basis)


def _gamma_quantile(mean: float, var: float, z: float) -> float:
    """Quantile of a gamma with this mean and variance (Wilson-Hilferty): the sum of
    exponential stages is gamma when the rates are equal and close to it otherwise."""
    shape = mean * mean / var
    c = 1.0 / (9.0 * shape)
    return max(0.0, mean * (1.0 - c + z * math.sqrt(c)) ** 3)


def asterisk_announcement(average_hold: float, waited: float = 0.0) -> float:
    """What app_queue announces: ``|average - waited|`` (kept to compare against, not to use)."""
    return abs(average_hold - waited)


class HandleTimes:
    """Recent handle times per queue: the last ``window`` samples younger than ``max_age``.

    Until there are enough samples the mean is pulled toward ``prior`` (``prior_weight``
    pseudo-samples), so the first calls of a morning do not swing the estimate wildly.
    """

    def __init__(self, prior: float = 240.0, *, window: int = 50, max_age: float = 7200.0,
                 prior_weight: float = 5.0) -> None:
        if prior <= 0:
            raise ValueError("prior handle time must be > 0")
        self.prior = prior
        self.window = window
        self.max_age = max_age
        self.prior_weight = prior_weight
        self._samples: dict[str, deque[tuple[float, float]]] = {}

    def add(self, queue: str, seconds: float, now: float) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            return
        dq = self._samples.setdefault(queue, deque(maxlen=self.window))
        dq.append((now, seconds))

    def mean(self, queue: str, now: float) -> float:
        samples = [v for t, v in self._samples.get(queue, ()) if now - t <= self.max_age]
        return (sum(samples) + self.prior * self.prior_weight) / (len(samples) + self.prior_weight)

    def count(self, queue: str, now: float) -> int:
        return sum(1 for t, _ in self._samples.get(queue, ()) if now - t <= self.max_age)
