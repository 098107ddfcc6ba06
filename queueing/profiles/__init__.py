"""Arrival profiles and rosters for a day: TOML or CSV files, and the built-in weekday.

Why a file format of its own: planners keep the day as a table (interval start, calls per hour,
agents); the rest (AHT, patience, redials) rarely changes and sits in the TOML header or comes
from command flags.

TOML keys: ``name``, ``interval_minutes`` (15, 30 or 60 typical; 1-1440), ``start`` ("HH:MM"),
``sl_seconds``, ``service``, ``patience`` (distributions: a table ``{kind, mean, cv, values}``,
a string ``"lognormal:300:0.8"`` or a number = exponential mean; ``patience = "none"`` for
callers who never hang up), ``redial_prob``, ``redial_delay``, ``callback_threshold``,
``callback_accept``, ``queue_capacity``, ``shape`` ("steps", the default, or "smooth": arrivals
follow a curve through the interval rates), ``intervals = [["HH:MM", calls_per_hour, agents],
...]``, and optionally ``aht_by_interval`` / ``patience_by_interval`` (one mean in seconds per
interval; the distributions' shapes are scaled to them). CSV: a header
``start,calls_per_hour[,agents][,aht][,patience]`` then one row per interval (``#`` comments
allowed; a BOM, ``;`` separators and decimal commas as Excel writes them are read, see
``queueing.csvfile``); agents default to 0 (a forecast has no roster yet); everything else takes
the defaults below or command flags. Numbers are checked (finite, in range: ``_NUMBERS``) and
errors name the file, the key or row, and the value.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from engine.config import COUNT, NOT_NEGATIVE, POSITIVE, Number, read_text_file
from engine.errors import ConfigError
from queueing.csvfile import read_table
from queueing.erlang import ScenarioError
from queueing.sim.distributions import Distribution
from queueing.sim.scenario import Scenario

BUILTIN = ("weekday",)
SHAPES = ("steps", "smooth")
SUBSTEPS = 10
_NUMBERS = {  # header keys that are numbers, and the values each takes
    "interval_minutes": Number(ge=1, le=1440), "sl_seconds": NOT_NEGATIVE, "redial_prob": Number(ge=0, lt=1),
    "callback_threshold": NOT_NEGATIVE, "callback_accept": Number(ge=0, le=1), "queue_capacity": COUNT,
}
_KEYS = {
    "name", "interval_minutes", "start", "sl_seconds", "service", "patience", "redial_prob",
    "redial_delay", "callback_threshold", "callback_accept", "queue_capacity", "intervals", "shape",
    "aht_by_interval", "patience_by_interval",
}
BY_INTERVAL = {"aht_by_interval": "aht", "patience_by_interval": "patience"}  # TOML key: CSV column


def smooth_rates(rates: tuple[float, ...], substeps: int = SUBSTEPS) -> tuple[float, ...]:
    """A curve through the interval rates: linear between interval midpoints (the day wraps
    around), then scaled inside each interval so its average is exactly the interval's rate.

    Why: real arrivals change continuously; within the half hour after the evening peak more
    calls come at its start than at its end, which is what staffing by interval averages misses.
    """
    r = np.asarray(rates, dtype=np.float64)
    n = r.size
    mids = np.arange(-1, n + 1) + 0.5
    vals = np.concatenate(([r[-1]], r, [r[0]]))
    t = (np.arange(n * substeps) + 0.5) / substeps
    fine = np.interp(t, mids, vals).reshape(n, substeps)
    means = fine.mean(axis=1)
    scale = np.divide(r, means, out=np.zeros(n), where=means > 0)
    fine = fine * scale[:, None]
    fine[means <= 0] = r[means <= 0, None]
    return tuple(fine.ravel().tolist())


@dataclass(frozen=True)
class Profile:
    """A day: arrival rate and agents per interval, plus how callers behave."""

    name: str
    interval_minutes: float
    start_seconds: float
    calls_per_hour: tuple[float, ...]
    agents: tuple[int, ...]
    service: Distribution = field(default_factory=lambda: Distribution.exponential(300.0))
    patience: Distribution | None = field(default_factory=lambda: Distribution.exponential(180.0))
    sl_seconds: float = 20.0
    redial_prob: float = 0.0
    redial_delay: Distribution = field(default_factory=lambda: Distribution.exponential(600.0))
    callback_threshold: float | None = None
    callback_accept: float = 1.0
    queue_capacity: int | None = None
    shape: str = "steps"  # "steps": constant rate per interval; "smooth": a curve through the intervals
    source: str = ""
    aht_by_interval: tuple[float, ...] | None = None  # mean handling time per interval, seconds
    patience_by_interval: tuple[float, ...] | None = None  # mean patience per interval, seconds

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ScenarioError(f"{self.source or self.name}: shape must be one of {', '.join(SHAPES)}, got {self.shape!r}")

    @property
    def interval_seconds(self) -> float:
        return self.interval_minutes * 60.0

    @property
    def rates(self) -> tuple[float, ...]:
        """Calls per second per interval."""
        return tuple(c / 3600.0 for c in self.calls_per_hour)

    @property
    def arrival_rates(self) -> tuple[float, ...] | None:
        """Calls per second in SUBSTEPS steps per interval for ``shape = "smooth"``, else None."""
        if self.shape == "steps":
            return None
        return smooth_rates(self.rates)

    def aht(self) -> tuple[float, ...]:
        """Mean handling time per interval (the service mean where not given by interval)."""
        return self.aht_by_interval or (self.service.mean,) * len(self.calls_per_hour)

    def mean_patience(self) -> tuple[float | None, ...]:
        """Mean patience per interval; None where callers never hang up."""
        if self.patience is None:
            return (None,) * len(self.calls_per_hour)
        return self.patience_by_interval or (self.patience.mean,) * len(self.calls_per_hour)

    def mean_aht(self) -> float:
        """AHT over the day's calls (weighted by calls per hour)."""
        total = sum(self.calls_per_hour)
        if total <= 0:
            return self.service.mean
        return sum(c * a for c, a in zip(self.calls_per_hour, self.aht(), strict=True)) / total

    def with_behaviour(self, service: Distribution | None = None, patience: Distribution | None | str = "keep") -> Profile:
        """The profile with a flat service time and/or patience (a command's ``--aht``,
        ``--patience``): the per-interval means give way to the one given."""
        out = self
        if service is not None:
            out = replace(out, service=service, aht_by_interval=None)
        if patience != "keep":
            out = replace(out, patience=patience, patience_by_interval=None)  # type: ignore[arg-type]
        return out

    def labels(self) -> list[str]:
        out = []
        for i in range(len(self.agents)):
            t = int(round(self.start_seconds + i * self.interval_seconds)) // 60
            out.append(f"{(t // 60) % 24:02d}:{t % 60:02d}")
        return out

    def with_agents(self, agents: tuple[int, ...] | list[int]) -> Profile:
        return replace(self, agents=tuple(int(a) for a in agents))

    def scenario(self, **overrides: object) -> Scenario:
        kw: dict[str, object] = dict(
            rates=self.rates, agents=self.agents, interval_seconds=self.interval_seconds,
            service=self.service, patience=self.patience, sl_seconds=self.sl_seconds,
            redial_prob=self.redial_prob, redial_delay=self.redial_delay,
            callback_threshold=self.callback_threshold, callback_accept=self.callback_accept,
            queue_capacity=self.queue_capacity, start_seconds=self.start_seconds, name=self.name,
            arrival_rates=self.arrival_rates, aht_by_interval=self.aht_by_interval,
            patience_by_interval=self.patience_by_interval if self.patience is not None else None,
        )
        kw.update(overrides)
        return Scenario(**kw)


def clock_seconds(text: object, where: str) -> float:
    """Seconds after midnight of an ``HH:MM`` start (24:00 allowed); ``where`` names it in errors."""
    try:
        hh, mm = str(text).strip().split(":")
        h, m = int(hh), int(mm)
        if not (0 <= h <= 24 and 0 <= m < 60):
            raise ValueError
    except ValueError:
        raise ScenarioError(f"{where}: time must be HH:MM, got {text!r}") from None
    return h * 3600.0 + m * 60.0


def read_number(value: object, rule: Number, where: str) -> float:
    """``value`` as a float that ``rule`` allows (numbers or numeric text), else a ScenarioError naming ``where``.
    Shared by the files the capacity commands read (profiles here, sweep grids in ``queueing.sim.grid``)."""
    try:
        x = math.nan if isinstance(value, bool) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    problem = rule.problem(x)
    if problem:
        raise ScenarioError(f"{where}: {problem}, got {value!r}")
    return x


def _rows(rows: list[tuple[object, object, object]], where: str) -> tuple[float, tuple[float, ...], tuple[int, ...], float]:
    """Check rows are consecutive and equally spaced; return (start, calls/h, agents, step minutes)."""
    if not rows:
        raise ScenarioError(f"{where}: no intervals")
    starts, calls, agents = [], [], []
    for i, (s, c, a) in enumerate(rows):
        here = f"{where}, interval {i + 1}"
        starts.append(clock_seconds(s, here))
        calls.append(read_number(c, NOT_NEGATIVE, f"{here}: calls per hour"))
        agents.append(int(read_number(a, COUNT, f"{here}: agents")))
    if len(starts) > 1:
        step = (starts[1] - starts[0]) % 86400.0
        for i in range(1, len(starts)):
            if (starts[i] - starts[i - 1]) % 86400.0 != step or step == 0:
                raise ScenarioError(
                    f"{where}, interval {i + 1}: starts must be equally spaced "
                    f"({rows[i - 1][0]} then {rows[i][0]})"
                )
    else:
        step = 1800.0
    return starts[0], tuple(calls), tuple(agents), step / 60.0


def read_distribution(value: object, where: str) -> Distribution:
    """``Distribution.parse(value)``, its error naming ``where`` (the file and key)."""
    try:
        return Distribution.parse(value)  # type: ignore[arg-type]
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _by_interval(values: object, count: int, where: str) -> tuple[float, ...]:
    if not isinstance(values, list) or len(values) != count:
        raise ScenarioError(f"{where}: must be a list of {count} numbers, one per interval")
    return tuple(read_number(v, POSITIVE, f"{where}, interval {i + 1}") for i, v in enumerate(values))


def parse_toml(text: str, source: str = "<toml>") -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise ScenarioError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    rows = data.get("intervals")
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 3 for r in rows):
        raise ScenarioError(f"{source}: 'intervals' must be a list of [\"HH:MM\", calls_per_hour, agents]")
    start, calls, agents, step = _rows([tuple(r) for r in rows], source)
    num = {k: read_number(data[k], rule, f"{source}: {k}") for k, rule in _NUMBERS.items() if k in data}
    minutes = num.get("interval_minutes", step)
    if len(rows) > 1 and abs(minutes - step) > 1e-9:
        raise ScenarioError(f"{source}: interval_minutes = {minutes:g} but the rows are {step:g} minutes apart")
    if "start" in data and clock_seconds(data["start"], f"{source}: start") != start:
        raise ScenarioError(f"{source}: 'start' = {data['start']} but the first interval starts at another time")
    patience = data.get("patience", 180.0)
    kw: dict[str, object] = {k: v for k, v in num.items() if k != "interval_minutes"}
    if "queue_capacity" in num:
        kw["queue_capacity"] = int(num["queue_capacity"])
    if "shape" in data:
        kw["shape"] = str(data["shape"])
    if "redial_delay" in data:
        kw["redial_delay"] = read_distribution(data["redial_delay"], f"{source}: redial_delay")
    for key in BY_INTERVAL:
        if key in data:
            kw[key] = _by_interval(data[key], len(rows), f"{source}: {key}")
    profile = Profile(
        name=str(data.get("name", Path(source).stem)), interval_minutes=minutes, start_seconds=start,
        calls_per_hour=calls, agents=agents,
        service=read_distribution(data.get("service", 300.0), f"{source}: service"),
        patience=None if patience == "none" else read_distribution(patience, f"{source}: patience"),
        source=source, **kw,  # type: ignore[arg-type]
    )
    profile.scenario()  # validate the rest now, naming the file
    return profile


def parse_csv(text: str, source: str = "<csv>", **defaults: object) -> Profile:
    table = read_table(text, source, required=("start", "calls_per_hour"))
    n = len(table.rows)
    cell = table.text_number  # the text, decimal commas made points; read_number names row and value if bad
    rows = [(r["start"], cell(i, "calls_per_hour"), cell(i, "agents") if "agents" in table.columns else 0)
            for i, r in enumerate(table.rows)]
    start, calls, agents, step = _rows(rows, source)
    kw: dict[str, object] = dict(defaults)
    for key, column in BY_INTERVAL.items():
        if column in table.columns:
            kw[key] = tuple(read_number(cell(i, column), POSITIVE, f"{table.where(i)}: {column}") for i in range(n))
    profile = Profile(name=Path(source).stem, interval_minutes=step, start_seconds=start,
                      calls_per_hour=calls, agents=agents, source=source, **kw)  # type: ignore[arg-type]
    profile.scenario()
    return profile


def builtin_profile(name: str = "weekday") -> Profile:
    if name not in BUILTIN:
        raise ScenarioError(f"no built-in profile {name!r}; built-in: {', '.join(BUILTIN)}")
    text = resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse_toml(text, f"built-in:{name}")


def load_profile(path: str | Path) -> Profile:
    """A TOML or CSV file, or the name of a built-in profile (``weekday``)."""
    p = Path(path)
    if not p.exists():
        name = str(path).removeprefix("built-in:").removeprefix("builtin:")
        if name in BUILTIN:
            return builtin_profile(name)
        raise ScenarioError(f"profile {str(path)!r} not found (a .toml or .csv file, or built-in: weekday)")
    try:
        text = read_text_file(p, "profile")
    except ConfigError as exc:  # a folder, unreadable, not UTF-8
        raise ScenarioError(str(exc)) from None
    if p.suffix.lower() == ".csv":
        return parse_csv(text, str(p))
    return parse_toml(text, str(p))
