"""Clocks for the PBX simulator: the queue model only ever receives ``now``; these say what it is.

``ManualClock`` moves only when a test advances it. ``ScaledClock`` runs ``speed`` times faster
than the wall clock from an epoch-like start, so 200 calls of a few minutes each take seconds,
and the timestamps in events (Uniqueid, LastCall) still look like Asterisk's epoch seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ManualClock:
    now_value: float = 1_795_880_000.0

    def now(self) -> float:
        return self.now_value

    def advance(self, seconds: float) -> float:
        self.now_value += seconds
        return self.now_value

    def real_delay(self, virtual_seconds: float) -> float | None:
        """A manual clock never moves by itself: nothing to sleep for."""
        del virtual_seconds
        return None


@dataclass
class ScaledClock:
    """``running=False``: stands at ``start`` until :meth:`resume` (the demo starts its evening
    only once the engine has warmed up, so no simulated caller waits on a compiler)."""

    speed: float = 1.0
    start: float = field(default_factory=time.time)
    running: bool = True
    _real0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError(f"clock speed must be positive, got {self.speed}")

    def now(self) -> float:
        if not self.running:
            return self.start
        return self.start + (time.monotonic() - self._real0) * self.speed

    def resume(self) -> None:
        if not self.running:
            self._real0 = time.monotonic()
            self.running = True

    def real_delay(self, virtual_seconds: float) -> float | None:
        """Real seconds to sleep for ``virtual_seconds`` of simulated time to pass."""
        return max(virtual_seconds, 0.0) / self.speed
