"""Arrival rates with units, and the current roster (agents on duty per interval) from a file.

Why units on rates: ``hotline erlang``/``simulate`` take calls per second, planners count calls
per half hour, and a rate read in the wrong unit is off by a factor of 1,800 without any error.
So ``hotline staff --rate`` wants the unit written out: ``100/30min``, ``200/h``, ``0.05/s``.

Why a roster holds until the next row: shift schedules are written as changes ("from 08:00, 40
agents"), often hourly while the forecast is per half hour.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from engine.config import COUNT, read_text_file
from engine.errors import ConfigError
from queueing.csvfile import read_table
from queueing.erlang import ScenarioError
from queueing.profiles import clock_seconds, load_profile

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hr": 3600.0,
          "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_RATE = re.compile(r"^\s*([0-9.eE+-]+)\s*/\s*([0-9.]*)\s*([a-z]+?)s?\s*$")


def parse_rate(text: str, interval_minutes: float) -> float:
    """Calls per second from ``"100/30min"``, ``"200/h"``, ``"0.05/s"``, ``"3/min"`` or
    ``"100/interval"`` (the reporting interval of ``interval_minutes``)."""
    m = _RATE.match(text.lower())
    if not m:
        raise ScenarioError(f"rate {text!r}: give calls with a unit, e.g. 100/30min, 200/h, 0.05/s or 100/interval")
    count_text, mult_text, unit = m.groups()
    try:
        count = float(count_text)
        mult = float(mult_text) if mult_text else 1.0
    except ValueError:
        raise ScenarioError(f"rate {text!r}: not a number of calls") from None
    if unit == "interval":
        seconds = interval_minutes * 60.0
    elif unit in _UNITS:
        seconds = _UNITS[unit]
    else:
        raise ScenarioError(f"rate {text!r}: unknown unit {unit!r}; use s, min, h, day or interval")
    per = mult * seconds
    if not (math.isfinite(count) and count >= 0 and math.isfinite(per) and per > 0):
        raise ScenarioError(f"rate {text!r}: expected calls >= 0 per a period > 0")
    return count / per


def describe_rate(rate: float, interval_minutes: float) -> str:
    """``0.0556 calls/s = 200 calls/h = 100 per 30 min``."""
    return (f"{rate * 3600:.4g} calls/h = {rate * interval_minutes * 60:.4g} per {interval_minutes:g} min "
            f"({rate:.4g} calls/s)")


def roster_for(rows: list[tuple[str, int]], labels: list[str], source: str) -> list[int]:
    """Agents on duty at each of ``labels`` (HH:MM): the value of the last roster row starting at
    or before it (the day wraps: before the first row, the last row's value holds)."""
    if not rows:
        raise ScenarioError(f"{source}: the roster has no rows")

    def minute(label: str, where: str) -> int:
        return int(clock_seconds(label, where) // 60) % 1440

    points = sorted((minute(s, f"{source}, row {i + 1}"), a) for i, (s, a) in enumerate(rows))
    out = []
    for lab in labels:
        t = minute(lab, "profile")
        held = [a for m, a in points if m <= t]
        out.append(held[-1] if held else points[-1][1])
    return out


def load_roster(path: str | Path, labels: list[str]) -> list[int]:
    """Agents on duty per interval of ``labels`` from a CSV (``start,agents``; a profile CSV or
    ``hotline staff --csv`` output qualifies) or a TOML profile (its ``agents``)."""
    p = Path(path)
    if p.suffix.lower() == ".toml":
        prof = load_profile(p)
        return roster_for(list(zip(prof.labels(), prof.agents, strict=True)), labels, str(p))
    try:
        text = read_text_file(p, "roster")
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None
    table = read_table(text, str(p), required=("start", "agents"))
    rows = []
    for i, r in enumerate(table.rows):
        a = table.number(i, "agents")
        problem = COUNT.problem(a)
        if problem:
            raise ScenarioError(f"{table.where(i)}: agents: {problem}, got {r['agents']!r}")
        rows.append((r["start"], int(a)))
    return roster_for(rows, labels, str(p))
