"""Caller patience from queue history, counting the callers who were answered before they hung up.

Why not the mean time to abandon: a caller answered after 40 s would have held on for at least
40 s, so patience is *censored* by the answer. Averaging only the abandoners' waits keeps the
impatient ones and drops everyone who would have waited longer: on a well-staffed queue it
understates patience several times over (``tests/test_queue_log.py`` shows it).

The estimate used for planning is the exponential maximum-likelihood estimate with right
censoring: every caller contributes the time it waited (abandoners until they hung up, answered
callers until answered, callers the queue timed out or who left another way until they left),
and ``mean patience = total time waited by all callers / number of abandons``. It is exponential
because Erlang A and the simulator's default take an exponential patience; Mandelbaum and
Zeltyn's "P(abandon) / E[wait]" estimator for call centres is the same number. The Kaplan-Meier
curve (the nonparametric survival of patience under the same censoring) is given to check the
exponential fit: ``check_points`` puts both side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PatienceEstimate:
    """Exponential MLE under right censoring: ``mean`` seconds (inf with no abandon seen)."""

    mean: float
    abandons: int
    callers: int
    exposure: float  # seconds waited by all callers

    @property
    def std_error(self) -> float:
        """Asymptotic standard error of the mean (mean / sqrt(abandons))."""
        return self.mean / math.sqrt(self.abandons) if self.abandons else math.inf


def exponential_patience(waits: Sequence[float], abandoned: Sequence[bool]) -> PatienceEstimate:
    """``waits[i]``: seconds caller i waited; ``abandoned[i]``: True if it hung up then (an
    event), False if it was answered or left for another reason then (censored)."""
    w = np.asarray(waits, dtype=np.float64)
    a = np.asarray(abandoned, dtype=bool)
    exposure = float(w.sum())
    k = int(a.sum())
    return PatienceEstimate(exposure / k if k else math.inf, k, int(w.size), exposure)


def kaplan_meier(waits: Sequence[float], abandoned: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(times, survival): P(patience > t) just after each distinct abandon time. A caller
    answered at the same second another abandons still counts as at risk then."""
    w = np.asarray(waits, dtype=np.float64)
    a = np.asarray(abandoned, dtype=bool)
    times, events = np.unique(w[a], return_counts=True)
    at_risk = w.size - np.searchsorted(np.sort(w), times, side="left")  # callers with waits >= t
    survival = np.cumprod(1.0 - events / at_risk)
    return times, survival


def survival_at(times: np.ndarray, survival: np.ndarray, t: float) -> float:
    """The Kaplan-Meier step function at ``t``."""
    i = int(np.searchsorted(times, t, side="right"))
    return 1.0 if i == 0 else float(survival[i - 1])


def check_points(waits: Sequence[float], abandoned: Sequence[bool], estimate: PatienceEstimate,
                 at: Sequence[float] = (30.0, 60.0, 120.0)) -> list[tuple[float, float, float]]:
    """(t, Kaplan-Meier P(patience > t), exponential P(patience > t)) at a few times, to see
    whether the exponential fits; times beyond the longest wait observed are left out."""
    times, surv = kaplan_meier(waits, abandoned)
    longest = max(waits, default=0.0)
    out = []
    for t in at:
        if t <= longest:
            expo = math.exp(-t / estimate.mean) if math.isfinite(estimate.mean) else 1.0
            out.append((t, survival_at(times, surv, t), expo))
    return out
