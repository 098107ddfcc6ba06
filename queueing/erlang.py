"""Erlang B, Erlang C (M/M/n) and Erlang A (Palm's M/M/n+M) in log space.

Why log space: the textbook forms ``a**n / n!`` overflow past about 170 agents and lose digits
long before; every quantity here is built from a rescaled recurrence (Erlang B) or from sums of
logarithms (the Palm queue), so the results stay accurate to a few ulps times the number of
terms summed, from 1 agent to several thousand.

Erlang A notation (Garnett, Mandelbaum and Reiman 2002; Mandelbaum and Zeltyn): arrival rate
``lam``, service rate ``mu = 1/aht``, abandonment rate ``theta = 1/patience``, ``n`` agents.
With ``x = n*mu/theta`` and ``y = lam/theta`` the states above ``n`` have weights
``t_k = prod_{i=1..k} y/(x+i)`` relative to state ``n``; ``J(x, y) = sum_k t_k`` (Kummer's
``1F1(1; x+1; y)``). The offered wait ``V`` (time until an agent would take the caller if the
caller never hung up) has density ``pi_n * n*mu * exp(-n*mu*s + y*(1 - exp(-theta*s)))`` on
``s > 0``, which gives every tail below in closed form through ``J``.

Three service-level definitions are in use and at an evening peak they differ by a factor of
two, so each has its own name:

* ``service_level``: answered within T / offered (the headline figure in this project);
* ``service_level_answered``: answered within T / answered;
* ``p_wait_le_t``: P(wait <= T) over all callers, abandoners counted with the time they waited
  before hanging up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from engine.errors import HotlineError

__all__ = [
    "CapacityError",
    "MAX_AGENTS",
    "ScenarioError",
    "UnstableQueueError",
    "QueueMetrics",
    "SL_DEFINITIONS",
    "log_erlang_b",
    "erlang_b",
    "erlang_c",
    "erlang_c_metrics",
    "erlang_a_metrics",
    "loss_metrics",
    "queue_metrics",
]

SL_DEFINITIONS = {
    "service_level": "answered within T / offered",
    "service_level_answered": "answered within T / answered",
    "p_wait_le_t": "P(wait <= T), abandoners counted with their time to hang up",
}

# Erlang A sums are cut when a term falls below exp(-_TAIL) of the largest one.
_TAIL = 45.0
# Beyond this many terms the Palm queue is numerically Erlang C (stable) or meaningless (unstable).
_MAX_TERMS = 5_000_000
# Most agents the formulas are computed for: Erlang B's recurrence takes one step per agent
# (0.06 s here), so 10**15 agents would never return. A thousand times a city hotline's floor.
MAX_AGENTS = 1_000_000


class CapacityError(HotlineError):
    """Root of the capacity-planning errors (Erlang formulas, simulator, staffing)."""


class ScenarioError(CapacityError, ValueError):
    """An input is out of range (negative rate, no agents, bad distribution, bad profile)."""


class UnstableQueueError(CapacityError, ValueError):
    """Erlang C asked for a load at or above the number of agents: the queue grows without bound."""


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state figures of one queue; times in seconds, probabilities in [0, 1].

    ``mean_wait`` is over all callers (abandoners counted until they hang up); ``asa`` over
    answered callers only. The three service levels are defined in ``SL_DEFINITIONS``.
    """

    model: str  # "erlang_c", "erlang_a" or "erlang_b" (zero patience: a loss system)
    rate: float  # calls per second
    aht: float  # mean handling time, seconds
    agents: int
    patience: float | None  # mean patience, seconds; None = infinitely patient
    sl_seconds: float
    load: float  # offered load in erlangs = rate * aht
    p_wait: float  # P(an arriving caller finds every agent busy)
    p_abandon: float
    mean_wait: float
    asa: float  # average speed of answer: mean wait of answered callers
    service_level: float
    service_level_answered: float
    p_wait_le_t: float
    occupancy: float  # rate * (1 - p_abandon) * aht / agents

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _check(rate: float, aht: float, agents: int, sl_seconds: float) -> None:
    if not (math.isfinite(rate) and rate >= 0):
        raise ScenarioError(f"arrival rate must be a finite number >= 0 calls/s, got {rate!r}")
    if not (math.isfinite(aht) and aht > 0):
        raise ScenarioError(f"AHT must be a finite number > 0 seconds, got {aht!r}")
    if int(agents) != agents or agents < 1:
        raise ScenarioError(f"agents must be a whole number >= 1, got {agents!r}")
    if agents > MAX_AGENTS:
        raise ScenarioError(f"{agents:,} agents is more than the {MAX_AGENTS:,} these formulas are computed for")
    if not (math.isfinite(sl_seconds) and sl_seconds >= 0):
        raise ScenarioError(f"service-level threshold must be >= 0 seconds, got {sl_seconds!r}")


def log_erlang_b(agents: int, load: float) -> float:
    """log of the Erlang B blocking probability with ``agents`` servers and ``load`` erlangs.

    Uses the recurrence ``1/B(k) = 1 + (k/a) / B(k-1)`` with all terms positive (no
    cancellation), rescaled whenever it nears overflow: relative error about ``agents`` ulps at
    worst, and no underflow even where B itself is below 1e-308.
    """
    if agents < 0 or int(agents) != agents:
        raise ScenarioError(f"agents must be a whole number >= 0, got {agents!r}")
    if load < 0 or not math.isfinite(load):
        raise ScenarioError(f"load must be a finite number >= 0 erlangs, got {load!r}")
    if agents == 0:
        return 0.0
    if load == 0:
        return -math.inf
    r = 1.0  # (1/B) * exp(-s)
    c = 1.0  # exp(-s)
    s = 0.0
    for k in range(1, int(agents) + 1):
        r = c + r * (k / load)
        if r > 1e250:
            s += math.log(r)
            c /= r
            r = 1.0
    return -(s + math.log(r))


def erlang_b(agents: int, load: float) -> float:
    """Erlang B: probability that a caller finds all ``agents`` busy in a loss system."""
    return math.exp(log_erlang_b(agents, load))


def erlang_c(agents: int, load: float) -> float:
    """Erlang C: probability of waiting in M/M/n; unstable loads raise UnstableQueueError."""
    if load >= agents:
        raise UnstableQueueError(
            f"offered load {load:.4g} erlangs >= {agents} agents: without abandonment the queue "
            "grows without bound (add agents, or give a patience to use Erlang A)"
        )
    lb = log_erlang_b(agents, load)
    if lb == -math.inf:
        return 0.0
    b = math.exp(lb)
    rho = load / agents
    return math.exp(lb - math.log((1.0 - rho) + rho * b))


def erlang_c_metrics(rate: float, aht: float, agents: int, sl_seconds: float = 20.0) -> QueueMetrics:
    """M/M/n with infinitely patient callers: Erlang C and its exponential wait tail."""
    _check(rate, aht, agents, sl_seconds)
    load = rate * aht
    c = erlang_c(agents, load)
    gap = agents / aht - rate  # n*mu - lambda > 0
    mean_wait = c / gap
    sl = 1.0 - c * math.exp(-gap * sl_seconds)
    return QueueMetrics(
        model="erlang_c", rate=rate, aht=aht, agents=int(agents), patience=None, sl_seconds=sl_seconds,
        load=load, p_wait=c, p_abandon=0.0, mean_wait=mean_wait, asa=mean_wait, service_level=sl,
        service_level_answered=sl, p_wait_le_t=sl, occupancy=load / agents,
    )


def loss_metrics(rate: float, aht: float, agents: int, sl_seconds: float = 20.0) -> QueueMetrics:
    """Zero patience: every caller who finds all agents busy hangs up at once (Erlang B)."""
    _check(rate, aht, agents, sl_seconds)
    load = rate * aht
    b = erlang_b(agents, load)
    return QueueMetrics(
        model="erlang_b", rate=rate, aht=aht, agents=int(agents), patience=0.0, sl_seconds=sl_seconds,
        load=load, p_wait=b, p_abandon=b, mean_wait=0.0, asa=0.0, service_level=1.0 - b,
        service_level_answered=1.0, p_wait_le_t=1.0, occupancy=load * (1.0 - b) / agents,
    )


def _log_terms(x: float, w: float) -> np.ndarray:
    """log t_k = sum_{i<=k} log(w/(x+i)) for k = 0..K, K chosen so the tail is below exp(-_TAIL)."""
    if w <= 0:
        return np.zeros(1)
    peak = max(0.0, math.floor(w - x))  # terms grow while x + i < w
    width = math.sqrt(2.0 * _TAIL * (x + peak + 1.0)) + 2.0 * _TAIL + 10.0
    # the tail past the peak also shrinks at least geometrically once x + i > e*w
    k_max = int(peak + width)
    if k_max > _MAX_TERMS:
        raise OverflowError(k_max)
    i = np.arange(1, k_max + 1, dtype=np.float64)
    logs = np.empty(k_max + 1)
    logs[0] = 0.0
    # log1p keeps full relative precision for ratios close to 1
    np.cumsum(np.log1p((w - x - i) / (x + i)), out=logs[1:])
    return logs


def _logsumexp(v: np.ndarray) -> float:
    m = float(v.max())
    return m + math.log(float(np.exp(v - m).sum()))


def _log_kummer(x: float, w: float) -> float:
    """log J(x, w) = log sum_k prod_{i=1..k} w/(x+i)."""
    return _logsumexp(_log_terms(x, w))


def erlang_a_metrics(
    rate: float, aht: float, agents: int, patience: float, sl_seconds: float = 20.0
) -> QueueMetrics:
    """M/M/n+M (Palm, "Erlang A"): exponential patience with mean ``patience`` seconds.

    Stable at any load because waiting callers hang up. ``patience == 0`` is the loss system
    (Erlang B); ``patience == inf`` is Erlang C.
    """
    _check(rate, aht, agents, sl_seconds)
    if patience is None or math.isnan(patience) or patience < 0:
        raise ScenarioError(f"patience must be a number >= 0 seconds, got {patience!r}")
    if patience == 0:
        return loss_metrics(rate, aht, agents, sl_seconds)
    if math.isinf(patience):
        return erlang_c_metrics(rate, aht, agents, sl_seconds)
    n = int(agents)
    load = rate * aht
    if rate == 0:
        return QueueMetrics(
            model="erlang_a", rate=rate, aht=aht, agents=n, patience=patience, sl_seconds=sl_seconds,
            load=0.0, p_wait=0.0, p_abandon=0.0, mean_wait=0.0, asa=0.0, service_level=1.0,
            service_level_answered=1.0, p_wait_le_t=1.0, occupancy=0.0,
        )
    theta = 1.0 / patience
    x = n / aht / theta
    y = rate / theta
    try:
        logt = _log_terms(x, y)
    except OverflowError:
        if load < n:  # patience so long against the queue's drain time that Erlang C is exact here
            m = erlang_c_metrics(rate, aht, agents, sl_seconds)
            return QueueMetrics(**{**m.as_dict(), "model": "erlang_a", "patience": patience})
        raise ScenarioError(
            f"patience {patience:g} s is too long for an overloaded queue (load {load:.4g} erlangs, "
            f"{n} agents): the queue would hold millions of callers"
        ) from None
    log_j = _logsumexp(logt)
    log_b = log_erlang_b(n, load)
    # sum_{j<n} pi_j / pi_n = 1/B - 1
    log_below = -log_b + math.log(-math.expm1(log_b)) if log_b < 0 else -math.inf
    log_pin = -float(np.logaddexp(log_below, log_j))
    q = np.exp(logt + log_pin)  # P(an arrival finds k callers waiting), k = 0..K
    k = np.arange(q.size, dtype=np.float64)
    p_wait = math.exp(log_pin + log_j)
    p_abandon = float(np.sum(q * ((k + 1.0) / (x + k + 1.0))))
    p_served = 1.0 - p_abandon
    mean_wait = p_abandon / theta  # Little's law on the queue: theta * E[Q] = rate * P(ab)
    # E[W 1{served} | k] = P(served | k) * sum_{j=0..k} 1/(theta (x+j+1))
    h = np.cumsum(1.0 / (x + k + 1.0)) / theta
    asa = float(np.sum(q * (x / (x + k + 1.0)) * h)) / p_served if p_served > 0 else math.nan
    # Tails at T through J at y*z, z = exp(-theta T)
    t = sl_seconds
    if t > 0:
        yz = y * math.exp(-theta * t)
        common = log_pin - y * math.expm1(-theta * t)  # log pi_n + y (1 - z)
        # P(served, V > T) = pi_n x/(x+1) z^(x+1) e^{y(1-z)} J(x+1, yz)
        log_sv = common + math.log(x / (x + 1.0)) - (x + 1.0) * theta * t + _log_kummer(x + 1.0, yz)
        # P(W > T) = P(V > T) e^{-theta T} = pi_n z^(x+1) e^{y(1-z)} J(x, yz)
        log_wt = common - (x + 1.0) * theta * t + _log_kummer(x, yz)
        served_late = math.exp(log_sv)
        w_gt_t = math.exp(log_wt)
    else:
        served_late = float(np.sum(q * (x / (x + k + 1.0))))  # every waiting caller is late
        w_gt_t = p_wait
    service_level = max(0.0, p_served - served_late)
    return QueueMetrics(
        model="erlang_a", rate=rate, aht=aht, agents=n, patience=patience, sl_seconds=sl_seconds,
        load=load, p_wait=p_wait, p_abandon=p_abandon, mean_wait=mean_wait, asa=asa,
        service_level=service_level,
        service_level_answered=service_level / p_served if p_served > 0 else math.nan,
        p_wait_le_t=1.0 - w_gt_t, occupancy=load * p_served / n,
    )


def queue_metrics(
    rate: float, aht: float, agents: int, patience: float | None = None, sl_seconds: float = 20.0
) -> QueueMetrics:
    """Erlang C when ``patience`` is None, Erlang A otherwise (Erlang B for zero patience)."""
    if patience is None:
        return erlang_c_metrics(rate, aht, agents, sl_seconds)
    return erlang_a_metrics(rate, aht, agents, patience, sl_seconds)
