"""The live wallboard: today's KPIs per queue with traffic lights, and alerts with a lifecycle.

What a supervisor's wall screen shows (QueueMetrics' and Wazo's wallboards): per queue the
callers waiting and the longest wait now, today's service level, abandon rate, ASA and AHT,
the call-takers' occupancy and how many are in each state. Each rated KPI gets a light from the
``[wallboard]`` thresholds: ``ok`` (green), ``warn`` (amber), ``alarm`` (red). A KPI in red
raises an alert; the surge detector's alerts come in too. An alert is ``raised``, then
``acknowledged`` by a supervisor, then ``resolved`` once its KPI has been out of red for
``alert_clear_seconds`` (a surge: once its interval is over); a KPI that goes red again after
that raises a new alert.

Read from a :class:`queueing.monitor.QueueMonitor`; time is passed in (``now``), the clock only
supplies the default for the web page, which does not know the engine's clock.

Definitions: ``service_level_pct``, ``abandon_rate_pct``, ``asa`` and ``aht`` are today's (the
site's local day), as the monitor's day table has them; AHT is the mean talk time plus the mean
wrap-up per call of the queue's call-takers today (a call-taker in several queues counts in each).
``occupancy_pct`` is now: call-takers on a call or in wrap-up over those staffed (available,
ringing, on a call or in wrap-up). Rates are rated once the day has ``min_calls`` calls answered
or lost, so the first call of the morning does not turn the board red.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.config import WallboardConfig
from engine.errors import ConfigError
from queueing.monitor import QueueMonitor
from queueing.surge import SurgeDetected

OK, WARN, ALARM = "ok", "warn", "alarm"
RAISED, ACKNOWLEDGED, RESOLVED = "raised", "acknowledged", "resolved"


@dataclass(frozen=True)
class Rule:
    """One rated KPI: amber past ``warn``, red past ``alarm`` (above them, or below when
    ``low_is_bad``); a level of 0 is off."""

    kpi: str
    label: str
    warn: float
    alarm: float
    low_is_bad: bool = False
    is_rate: bool = False  # rated only once the day has ``min_calls`` calls

    def rate(self, value: float | None) -> str | None:
        if value is None:
            return None

        def past(level: float) -> bool:
            return level > 0 and (value < level if self.low_is_bad else value > level)

        return ALARM if past(self.alarm) else WARN if past(self.warn) else OK


def rules_from_config(c: WallboardConfig) -> tuple[Rule, ...]:
    """The rated KPIs; levels in the wrong order (amber past red) are a ConfigError."""
    rules = (
        Rule("service_level_pct", "service level", c.sl_warn_pct, c.sl_alarm_pct, low_is_bad=True, is_rate=True),
        Rule("abandon_rate_pct", "abandon rate", c.abandon_warn_pct, c.abandon_alarm_pct, is_rate=True),
        Rule("asa", "ASA", c.asa_warn_seconds, c.asa_alarm_seconds, is_rate=True),
        Rule("longest_wait", "longest wait", c.wait_warn_seconds, c.wait_alarm_seconds),
        Rule("waiting", "callers waiting", c.waiting_warn, c.waiting_alarm),
        Rule("occupancy_pct", "occupancy", c.occupancy_warn_pct, c.occupancy_alarm_pct),
    )
    for r in rules:
        if r.warn < 0 or r.alarm < 0:
            raise ConfigError(f"[wallboard] {r.label}: levels must be >= 0 (0 = off), got {r.warn:g} and {r.alarm:g}")
        if r.warn > 0 and r.alarm > 0 and (r.warn < r.alarm if r.low_is_bad else r.warn > r.alarm):
            word = "above" if r.low_is_bad else "below"
            raise ConfigError(f"[wallboard] {r.label}: the warn level ({r.warn:g}) must be {word} the alarm "
                              f"level ({r.alarm:g})")
    if c.refresh_seconds <= 0 or c.alert_clear_seconds < 0 or c.min_calls < 0 or c.alerts_kept < 0:
        raise ConfigError("[wallboard] refresh_seconds must be > 0; alert_clear_seconds, min_calls and "
                          "alerts_kept >= 0")
    return rules


@dataclass
class Alert:
    id: int
    kind: str  # threshold | surge
    queue: str
    kpi: str
    message: str
    value: float
    threshold: float
    raised_at: float
    state: str = RAISED
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    last_seen: float = 0.0  # last time the condition held (threshold alerts)
    ends_at: float | None = None  # surge alerts: when their interval is over
    key: tuple[Any, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for private in ("key", "last_seen", "ends_at"):
            d.pop(private)
        return d


class AlertBoard:
    """Alerts by condition key; ``update`` raises and resolves, ``acknowledge`` is the supervisor's."""

    def __init__(self, *, clear_seconds: float = 60.0, kept: int = 100) -> None:
        self.clear_seconds = clear_seconds
        self.kept = kept
        self._next_id = 1
        self._active: dict[tuple[Any, ...], Alert] = {}
        self._resolved: list[Alert] = []  # newest last

    def _raise(self, key: tuple[Any, ...], **fields: Any) -> Alert:
        alert = Alert(self._next_id, key=key, **fields)
        self._next_id += 1
        self._active[key] = alert
        return alert

    def update(self, breaches: dict[tuple[Any, ...], dict[str, Any]], surges: list[SurgeDetected],
               interval_seconds: float, now: float) -> None:
        """``breaches``: condition key -> alert fields for every KPI in red now; ``surges``: those
        detected since the last update (the detector reports each queue and interval once)."""
        for key, f in breaches.items():
            alert = self._active.get(key)
            if alert is None:
                alert = self._raise(key, kind="threshold", raised_at=now, **f)
            alert.value = f["value"]
            alert.message = f["message"]
            alert.last_seen = now
        for s in surges:
            self._raise(("surge", s.queue, s.interval_start), kind="surge", queue=s.queue, kpi="offered",
                        value=s.offered, threshold=round(s.threshold, 1), raised_at=s.at,
                        message=f"surge: {s.offered} calls offered in the interval from {s.interval_label[11:16]} "
                                f"(usually {s.baseline_median:g})",
                        ends_at=s.interval_start + interval_seconds)
        for key, alert in list(self._active.items()):
            over = (now >= alert.ends_at if alert.ends_at is not None
                    else key not in breaches and now - alert.last_seen >= self.clear_seconds)
            if over:
                alert.state, alert.resolved_at = RESOLVED, now
                del self._active[key]
                self._resolved.append(alert)
        del self._resolved[:max(0, len(self._resolved) - self.kept)]

    def acknowledge(self, alert_id: int, now: float) -> Alert | None:
        """The supervisor has seen it; a resolved alert stays resolved. None: no such alert."""
        for alert in (*self._active.values(), *self._resolved):
            if alert.id == alert_id:
                if alert.state == RAISED:
                    alert.state, alert.acknowledged_at = ACKNOWLEDGED, now
                return alert
        return None

    def alerts(self) -> list[Alert]:
        """Open alerts (raised first, then acknowledged, newest first), then resolved ones, newest first."""
        active = sorted(self._active.values(), key=lambda a: (a.state != RAISED, -a.raised_at, -a.id))
        return active + self._resolved[::-1]


class Wallboard:
    """Per-queue KPIs with lights, and the alert list, from a live ``QueueMonitor``."""

    def __init__(self, monitor: QueueMonitor, config: WallboardConfig, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.monitor = monitor
        self.config = config
        self.rules = rules_from_config(config)
        self.board = AlertBoard(clear_seconds=config.alert_clear_seconds, kept=config.alerts_kept)
        self.clock = clock
        self._surges_read = 0

    def queue_row(self, name: str, now: float) -> dict[str, Any]:
        m = self.monitor
        view = m.queue_view(name, now)
        today = m.clock.day(now)
        day = next((d for d in m.day_views(name) if d["day"] == today.isoformat()), None) or {}
        agents = view["agents"]
        busy = agents.get("talking", 0) + agents.get("wrap_up", 0)
        staffed = busy + agents.get("available", 0) + agents.get("ringing", 0)
        wrap = calls = 0.0
        for agent in m.board.in_queue(name):
            for start, cell in m.board.stats.table.get(agent.interface, {}).items():
                if m.clock.day(start) == today:
                    wrap += cell.wrap_up_seconds
                    calls += cell.calls
        talk = day.get("avg_talk")
        abandon = day.get("abandon_rate")
        row = {
            "queue": name,
            "waiting": view["waiting"],
            "longest_wait": view["longest_wait"],
            "offered": day.get("offered", 0),
            "answered": day.get("answered", 0),
            "abandoned": day.get("abandoned", 0),
            "other_exits": day.get("other_exits", 0),
            "service_level_pct": day.get("service_level_pct"),
            "sl_seconds": view["sl_seconds"],
            "abandon_rate_pct": None if abandon is None else round(100.0 * abandon, 1),
            "asa": day.get("asa"),
            "aht": None if talk is None else round(talk + (wrap / calls if calls else 0.0), 1),
            "occupancy_pct": round(100.0 * busy / staffed, 1) if staffed else None,
            "agents": agents,
        }
        left = row["answered"] + row["abandoned"] + row["other_exits"]  # calls that left the queue today
        row["status"] = {r.kpi: (None if r.is_rate and left < self.config.min_calls else r.rate(row[r.kpi]))
                         for r in self.rules}
        return row

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """The wallboard now; also raises and resolves alerts (so it is what the page polls)."""
        t = self.clock() if now is None else now
        rows = [self.queue_row(name, t) for name in self.monitor.queue_names()]
        breaches: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            for rule in self.rules:
                if row["status"][rule.kpi] == ALARM:
                    breaches[("threshold", row["queue"], rule.kpi)] = {
                        "queue": row["queue"], "kpi": rule.kpi, "value": row[rule.kpi], "threshold": rule.alarm,
                        "message": f"{rule.label} {row[rule.kpi]:g} is {'below' if rule.low_is_bad else 'above'} "
                                   f"{rule.alarm:g}"}
        surges = self.monitor.alerts[self._surges_read:]
        self._surges_read = len(self.monitor.alerts)
        self.board.update(breaches, surges, self.monitor.clock.seconds, t)
        return {
            "live": True,
            "at": t,
            "refresh_seconds": self.config.refresh_seconds,
            "thresholds": {r.kpi: {"label": r.label, "warn": r.warn, "alarm": r.alarm, "low_is_bad": r.low_is_bad}
                           for r in self.rules},
            "min_calls": self.config.min_calls,
            "queues": rows,
            "alerts": [a.as_dict() for a in self.board.alerts()],
        }

    def acknowledge(self, alert_id: int, now: float | None = None) -> dict[str, Any] | None:
        alert = self.board.acknowledge(alert_id, self.clock() if now is None else now)
        return None if alert is None else alert.as_dict()
