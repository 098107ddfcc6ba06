"""The wait estimate against the queue simulator's measured waits for the same situation."""

from __future__ import annotations

import math

import pytest

from queueing.estimate import HandleTimes, QueueSituation, asterisk_announcement, estimate_wait
from queueing.sim import waits_from_state

# (agents staffed, idle, position, AHT s, mean patience s or None)
SITUATIONS = [
    (3, 0, 1, 300.0, None),
    (3, 0, 5, 300.0, None),
    (10, 2, 15, 240.0, None),
    (1, 0, 3, 60.0, None),
    (5, 0, 8, 300.0, 120.0),
    (40, 0, 60, 280.0, 180.0),  # an evening peak
]


@pytest.mark.parametrize("staffed,idle,position,aht,patience", SITUATIONS)
def test_estimate_matches_simulated_waits(staffed, idle, position, aht, patience) -> None:
    est = estimate_wait(QueueSituation(position, staffed, idle, aht, patience))
    sim = waits_from_state(staffed, position - 1, aht, busy=staffed - idle, patience=patience,
                           replications=20_000, seed=7)
    assert est.mean == pytest.approx(sim.mean, abs=4 * sim.std_error + 0.01 * sim.mean)
    assert est.upper == pytest.approx(sim.quantile(0.8), rel=0.06)


def test_idle_agents_mean_no_wait_and_no_agents_mean_unknown() -> None:
    assert estimate_wait(QueueSituation(2, 4, 2, 200.0)).mean == 0.0
    unknown = estimate_wait(QueueSituation(1, 0, 0, 200.0))
    assert unknown.mean is None and unknown.basis == "no agent staffed"
    with pytest.raises(ValueError):
        estimate_wait(QueueSituation(0, 1, 0, 200.0))


def test_asterisk_style_announcement_is_far_off_at_a_peak() -> None:
    # 60th in line with 40 agents at AHT 280 s: the estimate follows the simulator, while a
    # running average of earlier holds (say 85 s, the field's mean) says nothing about it
    sim = waits_from_state(40, 59, 280.0, replications=5000, seed=3)
    est = estimate_wait(QueueSituation(60, 40, 0, 280.0)).mean
    assert abs(est - sim.mean) < 0.05 * sim.mean
    assert abs(asterisk_announcement(85.0) - sim.mean) > 4 * abs(est - sim.mean)


def test_handle_times_window_prior_and_age() -> None:
    ht = HandleTimes(prior=240.0, window=4, max_age=3600.0, prior_weight=2.0)
    assert ht.mean("q", 0.0) == 240.0
    for i, v in enumerate([100.0, 100.0]):
        ht.add("q", v, float(i))
    assert ht.mean("q", 10.0) == pytest.approx((200.0 + 480.0) / 4)
    for i in range(10):
        ht.add("q", 60.0, 100.0 + i)
    assert ht.count("q", 200.0) == 4  # window keeps the last four
    assert ht.mean("q", 200.0) == pytest.approx((240.0 + 480.0) / 6)
    assert ht.mean("q", 100.0 + 3600.0 + 20) == 240.0  # all too old: the prior again
    ht.add("q", math.nan, 0.0)
    assert ht.count("q", 200.0) == 4
