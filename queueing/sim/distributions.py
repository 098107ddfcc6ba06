"""Service-time and patience distributions, parameterised by mean and coefficient of variation.

Why mean and CV: planners know the average handling time and roughly how spread it is; the
shape parameters of lognormal and gamma follow from those two numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from queueing.erlang import ScenarioError

KINDS = ("exponential", "lognormal", "gamma", "deterministic", "empirical")


@dataclass(frozen=True)
class Distribution:
    """A positive random duration in seconds. ``values`` only for ``empirical``."""

    kind: str
    mean: float
    cv: float = 1.0
    values: tuple[float, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ScenarioError(f"unknown distribution {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.kind == "empirical":
            if not self.values or any(not math.isfinite(v) or v < 0 for v in self.values):
                raise ScenarioError("an empirical distribution needs a non-empty list of durations >= 0")
            object.__setattr__(self, "mean", float(np.mean(self.values)))
            object.__setattr__(self, "cv", float(np.std(self.values) / self.mean) if self.mean > 0 else 0.0)
            return
        if not (math.isfinite(self.mean) and self.mean >= 0):
            raise ScenarioError(f"{self.kind} mean must be a finite number >= 0 seconds, got {self.mean!r}")
        if self.kind == "exponential":
            object.__setattr__(self, "cv", 1.0)
        elif self.kind == "deterministic":
            object.__setattr__(self, "cv", 0.0)
        elif not (math.isfinite(self.cv) and self.cv > 0):
            raise ScenarioError(f"{self.kind} needs a coefficient of variation > 0, got {self.cv!r}")

    @classmethod
    def exponential(cls, mean: float) -> Distribution:
        return cls("exponential", float(mean))

    @classmethod
    def deterministic(cls, value: float) -> Distribution:
        return cls("deterministic", float(value), 0.0)

    @classmethod
    def lognormal(cls, mean: float, cv: float) -> Distribution:
        return cls("lognormal", float(mean), float(cv))

    @classmethod
    def gamma(cls, mean: float, cv: float) -> Distribution:
        return cls("gamma", float(mean), float(cv))

    @classmethod
    def empirical(cls, values: Sequence[float]) -> Distribution:
        return cls("empirical", 0.0, 0.0, tuple(float(v) for v in values))

    @classmethod
    def parse(cls, spec: str | dict | float | int) -> Distribution:
        """``"exponential:180"``, ``"lognormal:180:0.8"``, ``"gamma:180:0.5"``,
        ``"deterministic:180"``, ``"empirical:120,150,300"``, a bare number (exponential mean),
        or a table ``{kind=..., mean=..., cv=..., values=[...]}``."""
        if isinstance(spec, bool):
            raise ScenarioError(f"not a distribution: {spec!r}")
        if isinstance(spec, int | float):
            return cls.exponential(float(spec))
        if isinstance(spec, dict):
            unknown = set(spec) - {"kind", "mean", "cv", "values"}
            if unknown or "kind" not in spec:
                raise ScenarioError(f"distribution table needs 'kind' and knows mean/cv/values, got {spec!r}")
            if spec["kind"] == "empirical":
                return cls.empirical(spec.get("values", ()))
            return cls(str(spec["kind"]), float(spec.get("mean", math.nan)), float(spec.get("cv", 1.0)))
        parts = str(spec).strip().split(":")
        try:
            if len(parts) == 1:
                return cls.exponential(float(parts[0]))
            kind = parts[0].strip().lower()
            if kind == "empirical":
                return cls.empirical([float(v) for v in parts[1].split(",") if v.strip()])
            mean = float(parts[1])
            cv = float(parts[2]) if len(parts) > 2 else 1.0
        except ValueError:
            raise ScenarioError(f"cannot read distribution {spec!r} (e.g. lognormal:180:0.8)") from None
        return cls(kind, mean, cv)

    def spec(self) -> str:
        """The short form ``parse`` reads back, exactly: ``"300"`` (exponential mean), ``"lognormal:300:0.8"``
        (profiles and sweep records are written with it)."""
        def num(x: float) -> str:
            short = f"{x:g}"
            return short if float(short) == x else repr(x)

        if self.kind == "exponential":
            return num(self.mean)
        if self.kind == "deterministic":
            return f"deterministic:{num(self.mean)}"
        if self.kind == "empirical":
            return "empirical:" + ",".join(num(v) for v in self.values)
        return f"{self.kind}:{num(self.mean)}:{num(self.cv)}"

    def describe(self) -> str:
        if self.kind in ("exponential", "deterministic"):
            return f"{self.kind}(mean {self.mean:g} s)"
        if self.kind == "empirical":
            return f"empirical({len(self.values)} values, mean {self.mean:g} s)"
        return f"{self.kind}(mean {self.mean:g} s, cv {self.cv:g})"

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.kind == "exponential":
            return rng.standard_exponential(size) * self.mean
        if self.kind == "deterministic":
            return np.full(size, self.mean)
        if self.kind == "lognormal":
            s2 = math.log1p(self.cv**2)
            return rng.lognormal(math.log(self.mean) - s2 / 2, math.sqrt(s2), size)
        if self.kind == "gamma":
            shape = 1.0 / self.cv**2
            return rng.gamma(shape, self.mean / shape, size)
        return rng.choice(np.asarray(self.values, dtype=np.float64), size)
