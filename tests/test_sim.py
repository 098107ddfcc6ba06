"""Simulator mechanics: reproducibility, compiled vs pure-Python kernel, features, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from queueing.erlang import ScenarioError
from queueing.sim import Distribution, Scenario, simulate, waits_from_state
from queueing.sim.kernel import ABANDONED, ANSWERED, BUSY, CALLBACK, UNSERVED
from queueing.sim.runner import draw_arrivals, run_replication


def busy_day(**kw) -> Scenario:
    base = dict(
        rates=(0.05, 0.2, 0.35, 0.1), agents=(10, 30, 25, 12), interval_seconds=1800.0,
        service=Distribution.lognormal(150.0, 0.8), patience=Distribution.gamma(90.0, 0.7),
        redial_prob=0.4, redial_delay=Distribution.exponential(120.0),
        callback_threshold=30.0, callback_accept=0.5, queue_capacity=8,
    )
    base.update(kw)
    return Scenario(**base)


def test_jitted_kernel_equals_python_kernel_for_the_same_seed() -> None:
    sc = busy_day()
    a = run_replication(sc, np.random.default_rng(7), jit=True, keep_records=True)
    b = run_replication(sc, np.random.default_rng(7), jit=False, keep_records=True)
    assert a.calls == b.calls > 500
    for k in a.records:
        np.testing.assert_array_equal(a.records[k], b.records[k])
    np.testing.assert_array_equal(a.talk_seconds, b.talk_seconds)
    np.testing.assert_array_equal(a.sums, b.sums)
    outcomes = set(a.records["outcome"].tolist())
    assert {ANSWERED, ABANDONED, BUSY, CALLBACK} <= outcomes  # every feature was exercised
    assert a.records["redial"].sum() > 0


def test_jit_equals_python_across_many_buffer_refills(monkeypatch) -> None:
    """Small chunks force many buffer refills mid-run; both kernels still agree."""
    import queueing.sim.runner as runner

    monkeypatch.setattr(runner, "CHUNK", 64)
    sc = busy_day()
    a = run_replication(sc, np.random.default_rng(11), jit=True, keep_records=True)
    b = run_replication(sc, np.random.default_rng(11), jit=False, keep_records=True)
    assert a.calls == b.calls > 20 * 64
    for k in a.records:
        np.testing.assert_array_equal(a.records[k], b.records[k])
    np.testing.assert_array_equal(a.sums, b.sums)
    np.testing.assert_array_equal(a.interval_quantiles, b.interval_quantiles)


def test_winner_tree_holds_each_pair_s_minimum_the_left_one_on_a_tie() -> None:
    from queueing.sim.kernel import winner_tree

    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 5, 75, 1025):
        for values in (np.zeros(n), rng.integers(0, 4, n).astype(np.float64), rng.random(n)):
            tv, ti = winner_tree(values)
            size = tv.size // 2
            assert size >= n and size & (size - 1) == 0 and (n == 1 or size < 2 * n)
            np.testing.assert_array_equal(tv[size:size + n], values)
            assert np.all(tv[size + n:] == np.inf) and ti[size:].tolist() == list(range(size))
            for pos in range(1, size):
                win = 2 * pos if tv[2 * pos] <= tv[2 * pos + 1] else 2 * pos + 1
                assert tv[pos] == tv[win] and ti[pos] == ti[win]
            assert ti[1] == int(np.argmin(values))  # the first of the smallest


def test_interval_percentiles_match_numpy_on_the_records() -> None:
    sc = busy_day()
    rep = run_replication(sc, np.random.default_rng(3), keep_records=True)
    rec = rep.records
    line = (rec["outcome"] == ANSWERED) | (rec["outcome"] == ABANDONED)
    k = np.minimum((rec["arrival"] / sc.interval_seconds).astype(int), sc.intervals - 1)
    for i in range(sc.intervals):
        w = rec["wait"][line & (k == i)]
        np.testing.assert_allclose(rep.interval_quantiles[i], np.percentile(w, (50, 90, 95)), rtol=1e-12)
        assert rep.sums[i, 13] == w.max()


def test_same_seed_same_result_other_seed_other_result() -> None:
    sc = busy_day()
    r1 = simulate(sc, seed=3, replications=3)
    r2 = simulate(sc, seed=3, replications=3)
    r3 = simulate(sc, seed=4, replications=3)
    assert r1.rows == r2.rows
    assert r1.rows != r3.rows


def test_counts_add_up_and_records_are_flat() -> None:
    r = simulate(busy_day(), seed=1, replications=4)
    assert len(r.rows) == 4 * 4 and r.ci_method == "replications"
    for row in r.rows:
        assert row["offered"] == row["answered"] + row["abandoned"] + row["busy"] + row["callbacks"] + row["unserved"]
        assert all(isinstance(v, int | float) for v in row.values())
    s = r.summary
    assert 0 < s["service_level"] < s["service_level_answered"] <= 1
    assert s["redials"] > 0 and s["busy"] > 0 and s["callbacks"] > 0
    assert s["wait_p50"] <= s["wait_p90"] <= s["wait_p95"] <= s["wait_max"]
    assert s["service_level_ci95"] > 0


def test_arrivals_follow_the_piecewise_rate_including_empty_intervals() -> None:
    rng = np.random.default_rng(0)
    rates = np.array([1.0, 0.0, 3.0])
    t = draw_arrivals(rng, rates, 1000.0)
    counts = np.histogram(t, bins=[0, 1000, 2000, 3000])[0]
    assert counts[1] == 0
    assert abs(counts[0] - 1000) < 5 * math.sqrt(1000) and abs(counts[2] - 3000) < 5 * math.sqrt(3000)
    assert np.all(np.diff(t) >= 0)


def test_agents_finish_their_call_when_the_shift_ends() -> None:
    """One agent until t=100 then none; deterministic 250 s calls: the first call runs on past the
    shift end, later callers are never answered (no agent comes back, nobody hangs up)."""
    sc = Scenario(rates=(0.05, 0.0), agents=(1, 0), interval_seconds=100.0,
                  service=Distribution.deterministic(250.0), patience=None)
    rep = run_replication(sc, np.random.default_rng(5), keep_records=True)
    rec = rep.records
    assert rep.calls >= 2
    assert (rec["outcome"] == ANSWERED).sum() == 1 and rec["wait"][0] == 0.0
    assert np.all(rec["outcome"][1:] == UNSERVED)
    a1 = rec["arrival"][0]
    assert rep.talk_seconds[0] == pytest.approx(100.0 - a1)
    assert rep.talk_seconds.sum() == pytest.approx(250.0)


def test_roster_with_a_gap_serves_waiting_callers_when_agents_return() -> None:
    sc = Scenario(rates=(0.05, 0.05, 0.0), agents=(0, 0, 5), interval_seconds=600.0,
                  service=Distribution.exponential(60.0), patience=None)
    rep = run_replication(sc, np.random.default_rng(1), keep_records=True)
    rec = rep.records
    assert rep.calls > 20
    start = rec["arrival"] + rec["wait"]
    assert np.all(start >= 1200.0 - 1e-9)  # nobody answered before the agents come on duty


def test_queue_capacity_zero_is_a_loss_system() -> None:
    r = simulate(Scenario.stationary(rate=0.1, service=100.0, agents=12, hours=200, queue_capacity=0), seed=2)
    assert r.summary["abandoned"] == 0 and r.summary["busy"] > 0
    assert r.summary["mean_wait"] == 0.0


def test_validation_names_what_is_wrong() -> None:
    with pytest.raises(ScenarioError, match="rate"):
        Scenario(rates=(-1.0,), agents=(1,))
    with pytest.raises(ScenarioError, match="one arrival rate and one agent count"):
        Scenario(rates=(1.0, 2.0), agents=(1,))
    with pytest.raises(ScenarioError, match="redial"):
        Scenario(rates=(1.0,), agents=(1,), redial_prob=1.0)
    with pytest.raises(ScenarioError, match="unknown distribution"):
        Distribution.parse("weibull:3")
    with pytest.raises(ScenarioError, match="replications"):
        simulate(Scenario(rates=(0.1,), agents=(1,)), replications=0)
    assert Distribution.parse("lognormal:180:0.8") == Distribution.lognormal(180, 0.8)
    assert Distribution.parse("empirical:1,2,3").mean == 2.0


def test_situation_waits_match_the_erlang_c_tail_shape() -> None:
    """n busy agents, q waiting, exponential AHT, no abandonment: the wait is Gamma(q+1, n/AHT)."""
    w = waits_from_state(agents=10, queued=4, aht=200.0, replications=20_000, seed=1)
    assert w.mean == pytest.approx(5 * 200.0 / 10, abs=4 * w.std_error)
    assert w.ahead_served == 4.0
    idle = waits_from_state(agents=3, queued=0, aht=100.0, busy=2, replications=100)
    assert idle.mean == 0.0
    impatient = waits_from_state(agents=2, queued=20, aht=100.0, patience=10.0, replications=2000)
    assert impatient.ahead_served < 20 and impatient.mean < 11 * 100.0 / 2


@pytest.mark.parametrize(("scenario", "replications", "biggest"), [
    (Scenario.stationary(0.001, 100.0, 100_000, hours=1.0, batches=200), 1, "roster"),  # many agents, few calls
    (Scenario.stationary(50.0, 100.0, 1, 30.0, hours=100.0), 1, "waits"),  # everyone waits, batch means
    (Scenario(rates=(50.0,) * 4, agents=(1,) * 4, interval_seconds=7200.0, patience=Distribution.exponential(30.0)),
     2, "waits"),  # everyone waits, whole-run percentiles
    (Scenario(rates=(0.0001,) * 48, agents=(1,) * 48), 600, "results"),  # many replications
])
def test_memory_estimate_bounds_what_a_run_really_takes(scenario: Scenario, replications: int, biggest: str) -> None:
    """The estimate the memory check relies on is an upper bound of the measured peak, and not a
    wild one (numpy's arrays are traced by tracemalloc)."""
    import tracemalloc

    from queueing.sim.memory import BUFFERS, memory_needed

    simulate(Scenario(rates=(0.1,), agents=(2,)), seed=1)  # compiled kernel loaded before measuring
    parts = memory_needed(scenario, replications)
    tracemalloc.start()
    try:
        simulate(scenario, seed=1, replications=replications)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert max(parts, key=lambda k: parts[k]) == biggest
    estimate = sum(parts.values()) - BUFFERS  # the fixed allowance is for what tracemalloc does not see
    assert peak <= sum(parts.values()) and estimate <= 4 * peak, (peak, parts)


def test_a_run_beyond_the_available_memory_is_refused_before_allocating(monkeypatch) -> None:
    import tracemalloc

    import queueing.sim.memory

    monkeypatch.setattr(queueing.sim.memory, "available_memory", lambda: 500_000_000)
    big = Scenario.stationary(0.001, 100.0, 3_000_000, hours=1.0)
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError, match=r"this simulation would need about 0\.9 GB of memory, more than "
                           r"the 0\.5 GB available \(mostly for 3,000,000 agents x 21 intervals\)"):
            simulate(big)
        assert tracemalloc.get_traced_memory()[1] < 10_000_000
    finally:
        tracemalloc.stop()


def test_aht_and_patience_by_interval_scale_the_draws_in_both_kernels() -> None:
    sc = busy_day(aht_by_interval=(300.0, 150.0, 75.0, 150.0), patience_by_interval=(30.0, 90.0, 180.0, 90.0))
    a = run_replication(sc, np.random.default_rng(5), jit=True, keep_records=True)
    b = run_replication(sc, np.random.default_rng(5), jit=False, keep_records=True)
    np.testing.assert_array_equal(a.sums, b.sums)
    np.testing.assert_array_equal(a.talk_seconds, b.talk_seconds)
    plain = run_replication(busy_day(), np.random.default_rng(5), keep_records=True)
    ones = run_replication(busy_day(aht_by_interval=(150.0,) * 4, patience_by_interval=(90.0,) * 4),
                           np.random.default_rng(5), keep_records=True)
    np.testing.assert_array_equal(plain.sums, ones.sums)  # the distribution's own means: the same run
    assert a.talk_seconds[0] > plain.talk_seconds[0]  # twice the AHT in the first interval
    with pytest.raises(ScenarioError, match="aht_by_interval: need one value per interval"):
        busy_day(aht_by_interval=(100.0,))
    with pytest.raises(ScenarioError, match="patience_by_interval needs a patience"):
        busy_day(patience=None, patience_by_interval=(1.0,) * 4)


def test_aht_by_interval_agrees_with_erlang_a_at_that_aht() -> None:
    from queueing.erlang import queue_metrics

    sc = Scenario.stationary(0.1, Distribution.exponential(100.0), 25, Distribution.exponential(120.0), hours=400,
                             aht_by_interval=(200.0,) * 21, patience_by_interval=(60.0,) * 21)
    res = simulate(sc, seed=2)
    m = queue_metrics(0.1, 200.0, 25, 60.0, 20.0)
    for key in ("service_level", "p_abandon", "occupancy"):
        assert abs(res.summary[key] - getattr(m, key)) < 4 * res.summary[key + "_ci95"] / 1.96 + 1e-3, key
