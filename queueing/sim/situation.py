"""Waits from a given state: what the queue simulator measures for a live situation.

Why: a live wait estimator (queueing.estimate*, another engineer's) predicts how long a caller
who joins now will wait, given the agents, the callers already waiting and the AHT. This runs
the same FCFS-with-abandonment rule as the day simulator from that state, many times, so a test
can hold the estimate against measured waits. Under FCFS later arrivals never delay an earlier
caller, so no arrival rate is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from queueing.erlang import ScenarioError
from queueing.sim.distributions import Distribution
from queueing.sim.kernel import run_situation


@dataclass(frozen=True)
class SituationWaits:
    """Offered waits (seconds until an agent takes the caller, had it held on) of a caller who
    joins behind ``queued`` waiting callers; ``samples`` has one value per replication."""

    agents: int
    queued: int
    samples: np.ndarray
    ahead_served: float  # mean number of the callers ahead who were answered (the rest hung up)

    @property
    def mean(self) -> float:
        return float(self.samples.mean())

    @property
    def std_error(self) -> float:
        return float(self.samples.std(ddof=1) / math.sqrt(self.samples.size))

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.samples, q))


def waits_from_state(
    agents: int,
    queued: int,
    aht: float,
    *,
    busy: int | None = None,
    residuals: Sequence[float] | None = None,
    service: Distribution | None = None,
    patience: Distribution | float | None = None,
    replications: int = 10_000,
    seed: int = 0,
) -> SituationWaits:
    """Simulate the wait of a caller joining now.

    ``agents`` on duty, ``busy`` of them talking (default: all), ``queued`` callers already
    waiting ahead. Remaining talk times of busy agents: ``residuals`` if given (seconds, one per
    busy agent), else drawn from ``service`` (exponential with mean ``aht`` by default, which is
    exact by memorylessness). Callers ahead hang up after ``patience`` (None = never; a number
    is an exponential mean, their remaining patience by memorylessness).
    """
    if int(agents) != agents or agents < 1:
        raise ScenarioError(f"agents must be a whole number >= 1, got {agents!r}")
    if int(queued) != queued or queued < 0:
        raise ScenarioError(f"queued callers must be a whole number >= 0, got {queued!r}")
    if not (aht > 0 and math.isfinite(aht)):
        raise ScenarioError(f"AHT must be > 0 seconds, got {aht!r}")
    if replications < 2:
        raise ScenarioError(f"need at least 2 replications, got {replications!r}")
    busy = agents if busy is None else int(busy)
    if not 0 <= busy <= agents:
        raise ScenarioError(f"busy agents must be between 0 and {agents}, got {busy!r}")
    service = service or Distribution.exponential(aht)
    if patience is not None and not isinstance(patience, Distribution):
        patience = Distribution.exponential(float(patience))
    rng = np.random.default_rng(seed)
    reps, n, m = int(replications), int(agents), int(queued) + 1
    residual = np.zeros((reps, n))
    if residuals is not None:
        r = np.asarray(residuals, dtype=np.float64)
        if r.size != busy or np.any(r < 0):
            raise ScenarioError(f"need {busy} remaining talk times >= 0, got {r.size}")
        residual[:, :busy] = r
    else:
        residual[:, :busy] = service.sample(rng, reps * busy).reshape(reps, busy)
    svc = service.sample(rng, reps * m).reshape(reps, m)
    pat = np.full((reps, m), np.inf) if patience is None else patience.sample(rng, reps * m).reshape(reps, m)
    start = np.empty((reps, m))
    run_situation(residual, svc, pat, start)
    served_ahead = float(np.mean(np.sum(~np.isnan(start[:, :-1]), axis=1))) if m > 1 else 0.0
    return SituationWaits(n, int(queued), start[:, -1].copy(), served_ahead)
