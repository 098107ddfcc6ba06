"""What a sweep runs: a base day, the grid of changes to it, which intervals, how many replications.

Why a file of its own: a planner asks "what if 10 % more calls, 5 more agents, callers less
patient?" for many combinations at once; the grid is data (a TOML file), checked whole before
anything runs, with errors that name the file, the key and the value.

File format (``hotline sweep FILE.toml``)::

    name = "evening what-ifs"
    profile = "weekday"          # a profile file (.toml/.csv, relative to this file) or a built-in
    report = ["18:00", "19:30"]  # intervals to report (default: all)
    replications = 2000          # per scenario
    seed = 1
    split = "day"                # a replication is the day ("day", the default) or one interval ("interval")
    lead_in = 2                  # intervals simulated, not reported, before the day or each interval
    # batch = 2000               # replications per task (default: from the estimated cost)

    [grid]                       # every combination of these is one scenario
    rate_multiplier = [1.0, 1.1]
    agents_delta = [0, 5]
    patience = [180, 300]        # exponential mean, a distribution ("gamma:240:0.5") or "none"

A grid key with one value may be given bare (``aht = 280``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from engine.config import COUNT, NOT_NEGATIVE, POSITIVE, Number, read_toml
from engine.errors import ConfigError
from queueing.erlang import ScenarioError
from queueing.profiles import load_profile, read_distribution, read_number
from queueing.sim.distributions import Distribution
from queueing.sim.scenario import Scenario

_TOP = {"name", "profile", "report", "replications", "seed", "split", "lead_in", "batch", "grid"}
SPLITS = ("day", "interval")


def _agents(s: Scenario, v: int) -> dict[str, object]:
    return {"agents": (int(v),) * s.intervals}


def _agents_delta(s: Scenario, v: int) -> dict[str, object]:
    return {"agents": tuple(max(0, a + int(v)) for a in s.agents)}


def _rate_multiplier(s: Scenario, v: float) -> dict[str, object]:
    fine = None if s.arrival_rates is None else tuple(r * v for r in s.arrival_rates)
    return {"rates": tuple(r * v for r in s.rates), "arrival_rates": fine}


def _aht(s: Scenario, v: float) -> dict[str, object]:
    """The base service distribution's shape (kind and CV) with another mean, for every interval."""
    d = s.service
    if d.kind == "empirical":
        return _service(s, Distribution.empirical([x * v / d.mean for x in d.values]))
    return _service(s, Distribution(d.kind, float(v), d.cv))


def _service(s: Scenario, v: Distribution) -> dict[str, object]:
    """Every interval's service time: the base's means by interval give way (as to ``--service``)."""
    return {"service": v, "aht_by_interval": None}


def _patience(s: Scenario, v: Distribution | None) -> dict[str, object]:
    """Every interval's patience: the base's means by interval give way (as to ``--patience``)."""
    return {"patience": v, "patience_by_interval": None}


@dataclass(frozen=True)
class Axis:
    """One grid key: how its values are read (checked, naming where), what they change in a scenario."""

    read: Callable[[object, str], object]
    apply: Callable[[Scenario, object], dict[str, object]]


def _num(rule: Number) -> Callable[[object, str], object]:
    def read(value: object, where: str) -> object:
        x = read_number(value, rule, where)
        return int(x) if rule.kind is int else x
    return read


def _or_none(read: Callable[[object, str], object]) -> Callable[[object, str], object]:
    return lambda value, where: None if value == "none" else read(value, where)


AXES: dict[str, Axis] = {
    "agents": Axis(_num(COUNT), _agents),  # every interval
    "agents_delta": Axis(_num(Number(int)), _agents_delta),  # added to every interval, never below 0
    "rate_multiplier": Axis(_num(NOT_NEGATIVE), _rate_multiplier),
    "aht": Axis(_num(POSITIVE), _aht),  # the base distribution's shape, another mean
    "service": Axis(read_distribution, _service),
    "patience": Axis(_or_none(read_distribution), _patience),  # "none": never hang up
    "sl_seconds": Axis(_num(NOT_NEGATIVE), lambda s, v: {"sl_seconds": v}),
    "redial_prob": Axis(_num(Number(ge=0, lt=1)), lambda s, v: {"redial_prob": v}),
    "callback_threshold": Axis(_or_none(_num(NOT_NEGATIVE)), lambda s, v: {"callback_threshold": v}),
    "callback_accept": Axis(_num(Number(ge=0, le=1)), lambda s, v: {"callback_accept": v}),
    "queue_capacity": Axis(_or_none(_num(COUNT)), lambda s, v: {"queue_capacity": v}),  # "none": unlimited
}
# Keys that set the same thing: a grid may vary one of each pair, not both.
_EXCLUSIVE = (("agents", "agents_delta"), ("aht", "service"))


def shown(value: object) -> object:
    """A grid value as a sweep file gives it (records, messages): ``"gamma:240:0.5"``, ``"none"``."""
    if value is None:
        return "none"
    return value.spec() if isinstance(value, Distribution) else value


@dataclass(frozen=True)
class Case:
    """One scenario of the grid: its position, the grid values that make it, the scenario."""

    index: int
    params: dict[str, object]
    scenario: Scenario


@dataclass(frozen=True)
class Sweep:
    """A base scenario, grid axes (key -> values, in file order) and the run's sizes.

    ``split``: what one replication simulates. "day": the day up to the last reported interval
    (exact: the queue, redials and callbacks carry over as in ``simulate``); "interval": each
    reported interval on its own after ``lead_in`` intervals (an approximation that lets one
    scenario's intervals run on different workers, and costs less when few are reported).
    ``lead_in``: intervals simulated and not reported before the day or the interval; before the
    day's first interval, that interval's rate, roster, AHT and patience hold (so a one-interval
    profile is a stationary queue warmed up for ``lead_in`` intervals).
    """

    base: Scenario
    labels: tuple[str, ...]  # one per interval of the base
    axes: tuple[tuple[str, tuple[object, ...]], ...] = ()
    report: tuple[int, ...] = ()  # interval indices to report; () = all
    replications: int = 1000
    seed: int = 0
    split: str = "day"
    lead_in: int = 2
    batch: int | None = None  # replications per task; None: from the estimated cost
    name: str = ""
    source: str = "<sweep>"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ScenarioError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        for name, least in (("replications", 1), ("seed", 0), ("lead_in", 0), ("batch", 1)):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or int(v) != v or v < least):
                raise ScenarioError(f"{name} must be a whole number >= {least}, got {v!r}")
        if any(not 0 <= i < self.base.intervals for i in self.report):
            raise ScenarioError(f"report: interval indices must be in 0..{self.base.intervals - 1}, got {self.report!r}")

    @property
    def intervals(self) -> tuple[int, ...]:
        return self.report or tuple(range(self.base.intervals))

    @property
    def size(self) -> int:
        """Scenarios in the grid (without building them)."""
        return math.prod(len(v) for _, v in self.axes)

    def cases(self) -> Iterator[Case]:
        """Every combination, the last axis varying fastest; each scenario checked as it is built."""
        keys = [k for k, _ in self.axes]
        for index, values in enumerate(itertools.product(*(v for _, v in self.axes))):
            params = dict(zip(keys, values, strict=True))
            yield Case(index, params, self.apply(params))

    def apply(self, params: dict[str, object]) -> Scenario:
        changes: dict[str, object] = {}
        for key, value in params.items():
            changes.update(AXES[key].apply(self.base, value))
        try:
            return replace(self.base, **changes)
        except ScenarioError as exc:
            what = ", ".join(f"{k} = {shown(v)!r}" for k, v in params.items())
            raise ScenarioError(f"{self.source}: grid scenario {what}: {exc}") from None


def parse_sweep(data: dict[str, object], source: str = "<sweep>", folder: Path | None = None) -> Sweep:
    """A Sweep from a parsed TOML table; ScenarioError naming the file and key when wrong."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ScenarioError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_TOP))})")
    if "profile" not in data:
        raise ScenarioError(f"{source}: 'profile' is missing (a profile file, or built-in: weekday)")
    name = data["profile"]
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{source}: profile must be a file name or 'weekday', got {name!r}")
    near = folder / name if folder is not None else None
    try:
        profile = load_profile(near if near is not None and near.exists() else name)
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: profile: {exc}") from None
    base = profile.scenario()
    labels = tuple(profile.labels())
    sizes = {k: int(read_number(data[k], rule, f"{source}: {k}"))
             for k, rule in (("replications", Number(int, ge=2)), ("seed", COUNT), ("lead_in", COUNT),
                             ("batch", Number(int, ge=1))) if k in data}
    split = data.get("split", "day")
    if split not in SPLITS:
        raise ScenarioError(f"{source}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    report: list[int] = []
    wanted = data.get("report", [])
    if not isinstance(wanted, list):
        raise ScenarioError(f"{source}: report must be a list of interval starts like [\"18:00\"], got {wanted!r}")
    for label in wanted:
        if label not in labels:
            raise ScenarioError(f"{source}: report: no interval starts at {label!r} in the profile "
                                f"({labels[0]} to {labels[-1]})")
        report.append(labels.index(label))
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise ScenarioError(f"{source}: grid must be a table of key = [values]")
    axes = []
    for key, raw in grid.items():
        if key not in AXES:
            raise ScenarioError(f"{source}: unknown grid key {key!r} (known: {', '.join(AXES)})")
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise ScenarioError(f"{source}: grid.{key} has no values")
        axes.append((key, tuple(AXES[key].read(v, f"{source}: grid.{key}") for v in values)))
    for a, b in _EXCLUSIVE:
        if a in grid and b in grid:
            raise ScenarioError(f"{source}: grid.{a} and grid.{b} both set the same thing; keep one")
    sweep = Sweep(base=base, labels=labels, axes=tuple(axes), report=tuple(sorted(set(report))), split=split,
                  name=str(data.get("name", "") or profile.name), source=source, **sizes)
    for key, values in sweep.axes:  # each value on the base now, not when the run reaches it
        for v in values:
            sweep.apply({key: v})
    return sweep


def load_sweep(path: str | Path) -> Sweep:
    """A sweep file; a profile named in it is looked up next to it first."""
    p = Path(path)
    try:
        data = read_toml(p, "sweep file")
    except ConfigError as exc:  # missing, a folder, not UTF-8, not TOML
        raise ScenarioError(str(exc)) from None
    return parse_sweep(data, str(p), p.parent)
