"""Erlang B/C/A against two other routes: 60-digit mpmath closed forms, and the truncated
birth-death chain solved numerically (sparse linear solve, matrix exponential for the tails)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from queueing.erlang import (
    ScenarioError,
    UnstableQueueError,
    erlang_a_metrics,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
    log_erlang_b,
    queue_metrics,
)

mpmath.mp.dps = 60


def mp_log_erlang_b(n: int, a: float) -> mpmath.mpf:
    a = mpmath.mpf(a)
    terms = [k * mpmath.log(a) - mpmath.loggamma(k + 1) for k in range(n + 1)]
    top = max(terms)
    total = mpmath.fsum(mpmath.exp(t - top) for t in terms)
    return terms[-1] - top - mpmath.log(total)


@pytest.mark.parametrize(
    "n,a",
    [(1, 0.5), (1, 50.0), (10, 7.3), (100, 95.0), (170, 150.0), (171, 160.0), (1000, 980.0),
     (3000, 2900.0), (5000, 5100.0), (2000, 10.0), (50, 2000.0)],
)
def test_erlang_b_matches_60_digit_reference(n: int, a: float) -> None:
    ref = mp_log_erlang_b(n, a)
    got = log_erlang_b(n, a)
    # relative error of B itself, also where B underflows double (compare logs absolutely)
    assert abs(got - float(ref)) <= 5e-13 * max(1.0, abs(float(ref)))
    if float(ref) > -700:
        assert erlang_b(n, a) == pytest.approx(float(mpmath.exp(ref)), rel=1e-12)


@pytest.mark.parametrize("n,a", [(1, 0.9), (10, 8.0), (300, 290.0), (1500, 1450.0), (4000, 3990.0)])
def test_erlang_c_matches_60_digit_reference(n: int, a: float) -> None:
    b = mpmath.exp(mp_log_erlang_b(n, a))
    rho = mpmath.mpf(a) / n
    ref = b / (1 - rho * (1 - b))
    assert erlang_c(n, a) == pytest.approx(float(ref), rel=1e-12)


@pytest.mark.parametrize(
    "n,rate,aht,patience",
    [(1, 1 / 200, 180.0, 60.0), (10, 0.05, 180.0, 120.0), (100, 0.6, 180.0, 90.0),
     (1500, 1800 / 300, 300.0, 200.0), (3000, 3000 / 300, 300.0, 600.0)],
)
def test_erlang_a_matches_kummer_closed_form(n: int, rate: float, aht: float, patience: float) -> None:
    """P_wait and P_abandon from mpmath's 1F1 (Mandelbaum and Zeltyn's closed forms)."""
    mu, theta = 1 / mpmath.mpf(aht), 1 / mpmath.mpf(patience)
    lam = mpmath.mpf(rate)
    x, y = n * mu / theta, lam / theta
    j = mpmath.hyp1f1(1, x + 1, y)
    b = mpmath.exp(mp_log_erlang_b(n, float(lam / mu)))
    pi_n = 1 / (1 / b - 1 + j)
    p_wait = pi_n * j
    rho = lam / (n * mu)
    p_ab = pi_n * (j * (1 - 1 / rho) + 1 / rho)
    m = erlang_a_metrics(rate, aht, n, patience)
    assert m.p_wait == pytest.approx(float(p_wait), rel=1e-11)
    assert m.p_abandon == pytest.approx(float(p_ab), rel=1e-10)


def chain(n: int, lam: float, mu: float, theta: float, extra: int) -> np.ndarray:
    """Stationary distribution of the truncated birth-death chain by a sparse linear solve."""
    size = n + extra + 1
    j = np.arange(size, dtype=float)
    death = np.minimum(j, n) * mu + np.maximum(j - n, 0) * theta
    birth = np.full(size, lam)
    birth[-1] = 0.0
    diag = -(birth + death)
    q = scipy.sparse.diags([birth[:-1], diag, death[1:]], [1, 0, -1], format="lil")
    a = q.T.tolil()
    a[0, :] = 1.0  # replace one balance equation by normalisation
    rhs = np.zeros(size)
    rhs[0] = 1.0
    return scipy.sparse.linalg.spsolve(a.tocsc(), rhs)


def position_chain_tails(n: int, mu: float, theta: float, k_max: int, t: float):
    """For a caller with k ahead: P(served), E[W 1{served}], P(served by t), P(left by t).

    Transient states are the number ahead (0..k_max); absorbing: served, abandoned.
    """
    size = k_max + 1
    g = np.zeros((size + 2, size + 2))
    for k in range(size):
        forward = n * mu + k * theta  # someone ahead leaves (served or hangs up)
        target = k - 1 if k > 0 else size  # size = served
        g[k, target] += forward
        g[k, size + 1] += theta  # own abandonment
        g[k, k] = -(forward + theta)
    tm = g[:size, :size]
    r_served = g[:size, size]
    fund = np.linalg.inv(-tm)
    p_served = fund @ r_served
    m_served = fund @ p_served
    e = scipy.linalg.expm(g * t)
    return p_served, m_served, e[:size, size], e[:size, size] + e[:size, size + 1]


@pytest.mark.parametrize(
    "n,rate,aht,patience,sl",
    [(1, 1 / 150, 180.0, 60.0, 20.0), (5, 0.04, 150.0, 100.0, 15.0), (50, 0.35, 150.0, 120.0, 20.0),
     (50, 0.5, 150.0, 60.0, 30.0), (200, 1.5, 120.0, 180.0, 10.0)],
)
def test_erlang_a_matches_birth_death_chain(n, rate, aht, patience, sl) -> None:
    mu, theta = 1 / aht, 1 / patience
    extra = 400
    pi = chain(n, rate, mu, theta, extra)
    waiting = pi[n:]  # PASTA: arrival sees k = 0.. callers waiting
    k = np.arange(waiting.size)
    p_served_k, m_served_k, served_by_t, left_by_t = position_chain_tails(n, mu, theta, extra, sl)
    p_wait = waiting.sum()
    p_ab = float(np.sum(waiting * (1 - p_served_k)))
    mean_wait = float(np.sum(waiting * k)) * theta / rate / theta  # Little: E[Q] / lambda
    asa = float(np.sum(waiting * m_served_k)) / (1 - p_ab)
    sl_offered = (1 - p_wait) + float(np.sum(waiting * served_by_t))
    p_le_t = (1 - p_wait) + float(np.sum(waiting * left_by_t))
    m = erlang_a_metrics(rate, aht, n, patience, sl)
    assert m.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert m.p_abandon == pytest.approx(p_ab, rel=1e-9)
    assert m.mean_wait == pytest.approx(mean_wait, rel=1e-9)
    assert m.asa == pytest.approx(asa, rel=1e-9)
    assert m.service_level == pytest.approx(sl_offered, rel=1e-9)
    assert m.p_wait_le_t == pytest.approx(p_le_t, rel=1e-9)
    assert m.service_level_answered == pytest.approx(sl_offered / (1 - p_ab), rel=1e-9)
    assert m.occupancy == pytest.approx(rate * aht * (1 - p_ab) / n, rel=1e-12)
    # the three definitions differ and are ordered: SL over offered is the strictest
    assert m.service_level < m.service_level_answered
    assert m.service_level < m.p_wait_le_t


@pytest.mark.parametrize("n,load", [(1, 0.7), (30, 27.0), (600, 590.0), (3000, 2950.0)])
def test_erlang_c_matches_chain(n: int, load: float) -> None:
    aht = 200.0
    rate = load / aht
    pi = chain(n, rate, 1 / aht, 0.0, extra=int(60 / (1 - load / n)) + 200)
    m = erlang_c_metrics(rate, aht, n, 20.0)
    assert m.p_wait == pytest.approx(pi[n:].sum(), rel=1e-8)
    mean_q = float(np.sum(pi[n:] * np.arange(pi.size - n)))
    assert m.mean_wait == pytest.approx(mean_q / rate, rel=1e-8)


@pytest.mark.parametrize("n,load", [(1, 0.8), (100, 92.0), (2500, 2480.0)])
def test_very_patient_erlang_a_tends_to_erlang_c(n: int, load: float) -> None:
    aht = 180.0
    c = erlang_c_metrics(load / aht, aht, n, 20.0)
    errors = []
    for factor in (1e2, 1e3, 1e4):
        a = erlang_a_metrics(load / aht, aht, n, patience=factor * aht, sl_seconds=20.0)
        errors.append(abs(a.asa - c.asa) / c.asa)
        assert a.p_wait == pytest.approx(c.p_wait, rel=30 / factor)
        assert a.service_level == pytest.approx(c.service_level, rel=30 / factor)
    assert errors[0] > errors[1] > errors[2]  # converges as patience grows
    assert errors[2] < 1e-2


def test_zero_patience_is_erlang_b_and_infinite_patience_is_erlang_c() -> None:
    m = erlang_a_metrics(0.1, 100.0, 12, 0.0)
    assert m.model == "erlang_b"
    assert m.p_abandon == pytest.approx(erlang_b(12, 10.0), rel=1e-14)
    assert queue_metrics(0.1, 100.0, 12, math.inf) == queue_metrics(0.1, 100.0, 12, None)


def test_overloaded_erlang_a_is_stable_and_balanced() -> None:
    m = erlang_a_metrics(rate=1500 * 1.2 / 300, aht=300.0, agents=1500, patience=120.0)
    # flow balance: served work = agents' busy fraction; about 1/6 of callers must hang up
    assert m.occupancy < 1.0
    assert m.p_abandon == pytest.approx(1 - 1 / 1.2, abs=0.01)
    assert m.mean_wait == pytest.approx(m.p_abandon * 120.0, rel=1e-12)


def test_unstable_erlang_c_is_an_error_not_a_number() -> None:
    with pytest.raises(UnstableQueueError, match="load"):
        erlang_c_metrics(rate=1.0, aht=10.0, agents=10)
    with pytest.raises(ScenarioError):
        erlang_c_metrics(rate=-1.0, aht=10.0, agents=10)
    with pytest.raises(ScenarioError):
        erlang_a_metrics(rate=1.0, aht=10.0, agents=0, patience=5.0)
