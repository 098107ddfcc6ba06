"""The simulator against Erlang C and Erlang A, 1 to 1,500 agents, with batch-means CIs.

Each scenario runs a few million calls in one stationary run cut into 20 batches after a
warm-up batch; a figure agrees when it lies within 3.5 standard errors of the formula (the 95 %
half-width is about 2.1 SE), and the test also demands the CI be tight, so it has power.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from queueing.erlang import erlang_b, queue_metrics
from queueing.sim import Distribution, Scenario, simulate
from queueing.sim.runner import t975

KEYS = ("p_wait", "p_abandon", "mean_wait", "asa", "service_level", "service_level_answered",
        "p_wait_le_t", "occupancy")

# (agents, load/agents, aht, patience or None, SL threshold T, calls)
SCENARIOS = [
    pytest.param(1, 0.7, 200.0, None, 100.0, 3_000_000, id="1-agent-erlang-c"),
    pytest.param(1, 1.6, 200.0, 150.0, 60.0, 3_000_000, id="1-agent-overloaded-erlang-a"),
    pytest.param(10, 0.85, 180.0, None, 20.0, 4_000_000, id="10-agents-erlang-c"),
    pytest.param(50, 0.95, 240.0, 400.0, 20.0, 4_000_000, id="50-agents-erlang-a"),
    pytest.param(200, 1.2, 300.0, 180.0, 30.0, 4_000_000, id="200-agents-overloaded-erlang-a"),
    pytest.param(500, 0.97, 300.0, None, 5.0, 8_000_000, id="500-agents-erlang-c"),
    pytest.param(1500, 1.03, 300.0, 120.0, 10.0, 6_000_000, id="1500-agents-overloaded-erlang-a"),
]


@pytest.mark.parametrize("agents,rho,aht,patience,sl,calls", SCENARIOS)
def test_simulator_agrees_with_erlang(agents, rho, aht, patience, sl, calls) -> None:
    rate = rho * agents / aht
    theory = queue_metrics(rate, aht, agents, patience, sl).as_dict()
    sc = Scenario.stationary(rate, aht, agents, patience, hours=calls / rate / 3600.0, batches=20, sl_seconds=sl)
    res = simulate(sc, seed=agents)
    assert res.ci_method == "batch means"
    s = res.summary
    t = t975(19)
    for key in KEYS:
        if patience is None and key == "p_abandon":
            assert s[key] == 0.0
            continue
        half = s[f"{key}_ci95"]
        assert half > 0, key
        se = half / t
        z = (s[key] - theory[key]) / se
        assert abs(z) < 3.5, f"{key}: simulated {s[key]:.6g} ± {half:.3g}, theory {theory[key]:.6g} (z={z:.2f})"
    # enough calls that the comparison means something
    assert s["service_level_ci95"] < 0.02 and s["occupancy_ci95"] < 0.01
    if rho > 1:  # overloaded, held stable by abandonment: about (1 - 1/rho) must hang up
        assert s["p_abandon"] > 0.5 * (1 - 1 / rho) and s["occupancy"] < 1.0


def test_zero_patience_every_waiting_caller_abandons() -> None:
    rate, aht, n = 0.1, 100.0, 12
    sc = Scenario.stationary(rate, aht, n, Distribution.deterministic(0.0), hours=1_000_000 / rate / 3600)
    res = simulate(sc, seed=5)
    s = res.summary
    assert s["p_wait"] == 0.0 and s["mean_wait"] == 0.0 and s["asa"] == 0.0  # nobody waits
    assert s["answered"] + s["abandoned"] == s["offered"]
    # those who found every agent busy all hung up: the loss system, Erlang B
    b = erlang_b(n, rate * aht)
    assert abs(s["p_abandon"] - b) < 3.5 * s["p_abandon_ci95"] / t975(19)


def test_more_agents_never_raise_waits_in_expectation() -> None:
    rate, aht, patience = 12 / 180, 180.0, 200.0
    waits, asas, aband = [], [], []
    for n in range(9, 16):
        res = simulate(Scenario.stationary(rate, aht, n, patience, hours=150_000 / rate / 3600), seed=11)
        waits.append((res.summary["mean_wait"], res.summary["mean_wait_ci95"]))
        asas.append(res.summary["asa"])
        aband.append(res.summary["p_abandon"])
    for (w0, h0), (w1, h1) in zip(waits, waits[1:], strict=False):
        assert w1 <= w0 + math.hypot(h0, h1)  # never significantly higher with one more agent
    assert waits[-1][0] < 0.2 * waits[0][0]
    assert np.all(np.diff(asas) < 0) and np.all(np.diff(aband) < 0)


def test_more_agents_on_a_day_lower_every_busy_interval() -> None:
    from queueing.profiles import builtin_profile

    p = builtin_profile()
    base = simulate(p.scenario(), seed=3, replications=8)
    more = simulate(p.with_agents([a + 5 for a in p.agents]).scenario(), seed=3, replications=8)
    assert more.summary["mean_wait"] < base.summary["mean_wait"]
    for b, m in zip(base.intervals, more.intervals, strict=True):
        assert m["mean_wait"] <= b["mean_wait"] + math.hypot(b["mean_wait_ci95"], m["mean_wait_ci95"])
