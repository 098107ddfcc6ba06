"""The live wallboard (queueing.wallboard): today's KPIs per queue with traffic lights from
[wallboard], and alerts raised -> acknowledged -> resolved, from threshold breaches and surges."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from engine.commands.monitor import replay
from engine.config import WallboardConfig, load_config
from engine.errors import ConfigError
from engine.events.ami import AgentComplete, AgentConnect, QueueCallerJoin, QueueCallerLeave, QueueMemberAdded
from queueing.monitor import QueueMonitor
from queueing.surge import SurgeDetector
from queueing.wallboard import (
    ACKNOWLEDGED,
    ALARM,
    OK,
    RAISED,
    RESOLVED,
    WARN,
    Rule,
    Wallboard,
    rules_from_config,
)

T = 1795863600.0  # 2026-11-28 19:00 Beijing time
Q = "citizen"


def join(uid: str, t: float) -> QueueCallerJoin:
    return QueueCallerJoin(queue=Q, uniqueid=uid, caller_id_num="13900000001", position=1, count=1, received=t)


def connect(uid: str, iface: str, hold: int, t: float) -> list:
    return [QueueCallerLeave(queue=Q, uniqueid=uid, received=t),
            AgentConnect(queue=Q, uniqueid=uid, interface=iface, member_name=iface, hold_time=hold, received=t)]


def test_rules_rate_both_ways_and_a_zero_level_is_off():
    low = Rule("service_level_pct", "service level", 80, 60, low_is_bad=True)
    assert [low.rate(v) for v in (None, 95, 80, 79.9, 60, 59.9)] == [None, OK, OK, WARN, WARN, ALARM]
    high = Rule("waiting", "callers waiting", 5, 15)
    assert [high.rate(v) for v in (0, 5, 6, 15, 16)] == [OK, OK, WARN, WARN, ALARM]
    assert Rule("waiting", "callers waiting", 0, 15).rate(14) == OK
    assert Rule("waiting", "callers waiting", 0, 0).rate(1000) == OK


def test_levels_in_the_wrong_order_are_a_config_error():
    with pytest.raises(ConfigError, match=r"service level: the warn level \(50\) must be above the alarm level \(60\)"):
        rules_from_config(WallboardConfig(sl_warn_pct=50))
    with pytest.raises(ConfigError, match=r"callers waiting: the warn level \(20\) must be below the alarm level"):
        rules_from_config(WallboardConfig(waiting_warn=20))
    with pytest.raises(ConfigError, match="levels must be >= 0"):
        rules_from_config(WallboardConfig(asa_alarm_seconds=-1))
    assert len(rules_from_config(WallboardConfig(waiting_warn=0, waiting_alarm=0))) == 6  # both off: fine


def test_the_example_config_has_the_documented_defaults():
    from tests.test_config import ROOT

    assert load_config(ROOT / "hotline.toml.example").wallboard == WallboardConfig()


def test_the_recorded_queue_day_on_the_wallboard(asterisk_fixtures):
    """ami_queue_day.txt: 24 offered, 22 answered, 2 abandoned, SL 77.3 % (5 s), ASA 4.5 s."""
    m = QueueMonitor()
    end = replay(asterisk_fixtures / "ami_queue_day.txt", m)
    board = Wallboard(m, WallboardConfig(sl_warn_pct=80, sl_alarm_pct=78), clock=lambda: end)
    snap = board.snapshot()
    (row,) = snap["queues"]
    assert (row["queue"], row["offered"], row["answered"], row["abandoned"]) == ("evening", 24, 22, 2)
    assert row["service_level_pct"] == 77.3 and row["sl_seconds"] == 5
    assert row["abandon_rate_pct"] == 8.3  # 2 of the 24 that left the queue
    assert row["asa"] == pytest.approx(99 / 22, abs=0.01)
    assert row["waiting"] == 0 and row["longest_wait"] == 0
    assert row["agents"]["logged_in"] == 3 and row["occupancy_pct"] == 0.0  # all three free at the end
    talk = 5 + 5 + 4 + 8 + 2 + 5 + 2 + 5 + 7 + 10 + 7 + 0 + 6 + 1 + 5 + 9 + 10 + 8 + 9 + 8 + 4 + 9
    assert row["aht"] == round(talk / 22, 1)  # no wrap-up configured: talk time only
    assert row["status"] == {"service_level_pct": ALARM, "abandon_rate_pct": WARN, "asa": OK, "longest_wait": OK,
                             "waiting": OK, "occupancy_pct": OK}
    (alert,) = snap["alerts"]
    assert (alert["kind"], alert["queue"], alert["kpi"], alert["state"]) == ("threshold", "evening",
                                                                              "service_level_pct", RAISED)
    assert alert["message"] == "service level 77.3 is below 78" and alert["threshold"] == 78
    assert Wallboard(m, WallboardConfig(min_calls=25), clock=lambda: end).snapshot()["queues"][0]["status"][
        "service_level_pct"] is None  # 24 calls: too few to rate a rate


def test_alert_lifecycle_raised_acknowledged_resolved_and_raised_again():
    m = QueueMonitor(timezone="Asia/Shanghai")
    cfg = WallboardConfig(waiting_warn=1, waiting_alarm=2, alert_clear_seconds=60, occupancy_warn_pct=0,
                          occupancy_alarm_pct=0)  # only the waiting callers raise alerts here
    board = Wallboard(m, cfg, clock=lambda: T)
    m.feed(QueueMemberAdded(queue=Q, interface="PJSIP/8001", member_name="8001", status=1, received=T))
    for i in range(3):
        m.feed(join(f"c{i}", T + i))
    snap = board.snapshot(T + 10)
    assert snap["queues"][0]["waiting"] == 3 and snap["queues"][0]["status"]["waiting"] == ALARM
    assert snap["queues"][0]["longest_wait"] == 10.0
    (alert,) = snap["alerts"]
    assert alert["state"] == RAISED and alert["raised_at"] == T + 10 and alert["message"] == "callers waiting 3 is above 2"

    acked = board.acknowledge(alert["id"], T + 20)
    assert acked["state"] == ACKNOWLEDGED and acked["acknowledged_at"] == T + 20
    assert board.acknowledge(alert["id"], T + 25)["acknowledged_at"] == T + 20  # twice: still the first time
    assert board.acknowledge(999, T + 25) is None

    for e in connect("c0", "PJSIP/8001", 30, T + 30):  # one answered: 2 waiting, amber
        m.feed(e)
    assert board.snapshot(T + 31)["alerts"][0]["state"] == ACKNOWLEDGED  # out of red, not yet for 60 s
    snap = board.snapshot(T + 95)
    assert [(a["id"], a["state"], a["resolved_at"]) for a in snap["alerts"]] == [(alert["id"], RESOLVED, T + 95)]
    assert board.acknowledge(alert["id"], T + 96)["state"] == RESOLVED  # stays resolved

    m.feed(join("c9", T + 100))  # red again: a new alert, listed before the resolved one
    snap = board.snapshot(T + 101)
    assert [(a["id"], a["state"]) for a in snap["alerts"]] == [(alert["id"] + 1, RAISED), (alert["id"], RESOLVED)]
    assert snap["queues"][0]["occupancy_pct"] == 100.0  # the one call-taker is on a call


def test_surge_alerts_come_in_and_resolve_when_their_interval_is_over():
    det = SurgeDetector(k=3, min_excess=2, min_days=3)
    for d in range(5):
        det.add_day(Q, date(2026, 11, 20 + d), {38: 2}, 48)  # usually 2 calls at 19:00-19:30
    m = QueueMonitor(surge=det, interval_minutes=30)
    board = Wallboard(m, dataclasses.replace(WallboardConfig(), waiting_alarm=0, waiting_warn=0,
                                             wait_alarm_seconds=0, wait_warn_seconds=0), clock=lambda: T)
    for i in range(6):
        m.feed(join(f"s{i}", T + 60 * i))
    snap = board.snapshot(T + 400)
    (alert,) = snap["alerts"]
    assert (alert["kind"], alert["kpi"], alert["value"], alert["state"]) == ("surge", "offered", 5, RAISED)
    assert alert["message"] == "surge: 5 calls offered in the interval from 19:00 (usually 2)"
    assert board.snapshot(T + 1799)["alerts"][0]["state"] == RAISED
    assert board.snapshot(T + 1800)["alerts"][0]["state"] == RESOLVED
    assert len(board.snapshot(T + 1900)["alerts"]) == 1  # never raised twice


def test_aht_adds_the_wrap_up_of_the_queues_call_takers():
    m = QueueMonitor(wrapup_seconds=20)
    m.feed(QueueMemberAdded(queue=Q, interface="PJSIP/8001", member_name="8001", status=1, received=T))
    m.feed(join("a", T))
    for e in connect("a", "PJSIP/8001", 5, T + 5):
        m.feed(e)
    m.feed(AgentComplete(queue=Q, uniqueid="a", interface="PJSIP/8001", member_name="8001", hold_time=5,
                         talk_time=100, reason="agent", received=T + 105))
    row = Wallboard(m, WallboardConfig()).snapshot(T + 110)["queues"][0]
    assert row["agents"]["wrap_up"] == 1 and row["occupancy_pct"] == 100.0
    m.feed(join("b", T + 200))  # wrap-up (20 s) ended at T + 125; any event settles it
    row = Wallboard(m, WallboardConfig()).snapshot(T + 200)["queues"][0]
    assert row["aht"] == 120.0  # 100 s talk + 20 s wrap-up
    assert row["occupancy_pct"] == 0.0
