"""What to simulate: a day (or a stationary stretch) cut into equal intervals.

Why a validated dataclass in front of the kernel: the kernel trusts its arrays, so every range
check happens here, once, with a message naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from queueing.erlang import ScenarioError
from queueing.sim.distributions import Distribution


@dataclass(frozen=True)
class Scenario:
    """Arrival rates (calls/s) and agents on duty per interval, plus caller behaviour.

    ``patience=None``: callers never hang up. ``redial_prob``: an abandoning or busy caller
    calls again with this probability after ``redial_delay``. ``callback_threshold``: when all
    agents are busy and the estimated wait ``(queue + 1) * AHT / agents`` exceeds it, a caller is
    offered a callback and accepts with ``callback_accept``; it leaves the line, keeps its place
    and is called back at its turn. ``queue_capacity``: callers allowed to wait on the line
    (more get a busy signal). ``warmup_intervals`` are simulated but left out of the results.
    ``batch_means``: the intervals are batches of one stationary run (confidence intervals from
    batch means when there is a single replication). ``arrival_rates``: optional finer
    piecewise-constant rates (k equal steps per interval, averaging to ``rates``) so arrivals can
    follow a smooth curve while the roster and the results stay per interval.
    ``aht_by_interval`` / ``patience_by_interval``: optional mean service time / mean patience
    of the callers arriving in each interval (night calls run longer than midday ones); the
    distribution's shape stays, its draws are scaled by ``value / distribution mean``.
    """

    rates: tuple[float, ...]
    agents: tuple[int, ...]
    interval_seconds: float = 1800.0
    service: Distribution = field(default_factory=lambda: Distribution.exponential(180.0))
    patience: Distribution | None = None
    sl_seconds: float = 20.0
    redial_prob: float = 0.0
    redial_delay: Distribution = field(default_factory=lambda: Distribution.exponential(300.0))
    callback_threshold: float | None = None
    callback_accept: float = 1.0
    queue_capacity: int | None = None
    warmup_intervals: int = 0
    start_seconds: float = 0.0  # clock time of the first interval, for labels (e.g. 0 = midnight)
    batch_means: bool = False
    name: str = ""
    arrival_rates: tuple[float, ...] | None = None  # finer steps inside the intervals (see below)
    aht_by_interval: tuple[float, ...] | None = None  # mean service time per interval, seconds
    patience_by_interval: tuple[float, ...] | None = None  # mean patience per interval, seconds

    def __post_init__(self) -> None:
        object.__setattr__(self, "rates", tuple(float(r) for r in self.rates))
        object.__setattr__(self, "agents", tuple(self.agents))
        if not self.rates or len(self.rates) != len(self.agents):
            raise ScenarioError(
                f"need one arrival rate and one agent count per interval, got {len(self.rates)} rates "
                f"and {len(self.agents)} agent counts"
            )
        for i, r in enumerate(self.rates):
            if not (math.isfinite(r) and r >= 0):
                raise ScenarioError(f"interval {i}: arrival rate must be >= 0 calls/s, got {r!r}")
        for i, n in enumerate(self.agents):
            if isinstance(n, bool) or int(n) != n or n < 0:
                raise ScenarioError(f"interval {i}: agents must be a whole number >= 0, got {n!r}")
        object.__setattr__(self, "agents", tuple(int(n) for n in self.agents))
        if not (math.isfinite(self.interval_seconds) and self.interval_seconds > 0):
            raise ScenarioError(f"interval length must be > 0 seconds, got {self.interval_seconds!r}")
        if self.service.mean <= 0:
            raise ScenarioError(f"mean service time must be > 0 seconds, got {self.service.mean!r}")
        if not (math.isfinite(self.sl_seconds) and self.sl_seconds >= 0):
            raise ScenarioError(f"service-level threshold must be >= 0 seconds, got {self.sl_seconds!r}")
        if not (0.0 <= self.redial_prob < 1.0):
            raise ScenarioError(f"redial probability must be in [0, 1), got {self.redial_prob!r}")
        if self.callback_threshold is not None and not (self.callback_threshold >= 0):
            raise ScenarioError(f"callback threshold must be >= 0 seconds, got {self.callback_threshold!r}")
        if not (0.0 <= self.callback_accept <= 1.0):
            raise ScenarioError(f"callback acceptance must be in [0, 1], got {self.callback_accept!r}")
        if self.queue_capacity is not None and (int(self.queue_capacity) != self.queue_capacity
                                                or self.queue_capacity < 0):
            raise ScenarioError(f"queue capacity must be a whole number >= 0, got {self.queue_capacity!r}")
        if self.arrival_rates is not None:
            fine = tuple(float(r) for r in self.arrival_rates)
            object.__setattr__(self, "arrival_rates", fine)
            k = len(fine) // len(self.rates)
            if k < 1 or k * len(self.rates) != len(fine) or any(not (math.isfinite(r) and r >= 0) for r in fine):
                raise ScenarioError(
                    f"arrival_rates must hold k >= 1 rates >= 0 per interval ({len(fine)} for {len(self.rates)} intervals)"
                )
            for i, r in enumerate(self.rates):
                mean = sum(fine[i * k:(i + 1) * k]) / k
                if abs(mean - r) > 1e-9 * max(1.0, r):
                    raise ScenarioError(f"interval {i}: arrival_rates average {mean!r}, not the interval rate {r!r}")
        for name in ("aht_by_interval", "patience_by_interval"):
            values = getattr(self, name)
            if values is None:
                continue
            values = tuple(float(v) for v in values)
            object.__setattr__(self, name, values)
            if len(values) != len(self.rates):
                raise ScenarioError(f"{name}: need one value per interval, got {len(values)} for {len(self.rates)}")
            for i, v in enumerate(values):
                if not (math.isfinite(v) and v > 0):
                    raise ScenarioError(f"{name}, interval {i}: must be a finite number > 0 seconds, got {v!r}")
        if self.patience_by_interval is not None and (self.patience is None or self.patience.mean <= 0):
            raise ScenarioError("patience_by_interval needs a patience distribution with a mean > 0")
        if not (0 <= self.warmup_intervals < len(self.rates)):
            raise ScenarioError(
                f"warm-up must leave at least one interval: {self.warmup_intervals} of {len(self.rates)}"
            )

    def interval_scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-interval factors on service times and patience (ones when not given by interval)."""
        n = len(self.rates)
        service = np.ones(n)
        patience = np.ones(n)
        if self.aht_by_interval is not None:
            service = np.asarray(self.aht_by_interval) / self.service.mean
        if self.patience_by_interval is not None and self.patience is not None:
            patience = np.asarray(self.patience_by_interval) / self.patience.mean
        return service, patience

    @property
    def intervals(self) -> int:
        return len(self.rates)

    @property
    def horizon(self) -> float:
        return self.intervals * self.interval_seconds

    @property
    def expected_calls(self) -> float:
        """First attempts only (redials come on top)."""
        return sum(self.rates) * self.interval_seconds

    @classmethod
    def stationary(
        cls,
        rate: float,
        service: Distribution | float,
        agents: int,
        patience: Distribution | float | None = None,
        *,
        hours: float = 100.0,
        batches: int = 20,
        sl_seconds: float = 20.0,
        **kwargs: object,
    ) -> Scenario:
        """One constant rate and roster over ``hours``: ``batches + 1`` equal intervals, the first
        one a warm-up, the rest batches for batch-means confidence intervals."""
        if not (hours > 0 and batches >= 2):
            raise ScenarioError(f"need hours > 0 and at least 2 batches, got {hours!r} h, {batches!r}")
        if not isinstance(service, Distribution):
            service = Distribution.exponential(float(service))
        if patience is not None and not isinstance(patience, Distribution):
            patience = Distribution.exponential(float(patience))
        count = batches + 1
        return cls(
            rates=(float(rate),) * count, agents=(int(agents),) * count,
            interval_seconds=hours * 3600.0 / count, service=service, patience=patience,
            sl_seconds=sl_seconds, warmup_intervals=1, batch_means=True, **kwargs,
        )
