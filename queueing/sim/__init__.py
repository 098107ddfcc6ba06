"""Numba queue simulator for capacity planning: FCFS multi-server queue with abandonment,
time-varying arrivals and rosters, redials, callbacks and a finite queue.

Use ``Scenario`` (or ``Scenario.stationary``) and ``simulate``; ``waits_from_state`` measures the
wait of a caller joining a given live situation. See docs/capacity.md.
"""

from queueing.sim.distributions import Distribution
from queueing.sim.runner import METRICS, SimResult, simulate
from queueing.sim.scenario import Scenario
from queueing.sim.situation import SituationWaits, waits_from_state

__all__ = ["Distribution", "METRICS", "Scenario", "SimResult", "SituationWaits", "simulate", "waits_from_state"]
