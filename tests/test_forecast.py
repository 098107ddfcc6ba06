"""Forecast (same weekday of past weeks with a trend), backtest (MAPE, WAPE, bias, planned vs
actual SL), the store as a history source, and the chain forecast -> staff -> simulate -> backtest."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from queueing.erlang import ScenarioError
from queueing.forecast import TREND_LIMITS, error_measures, forecast_day, same_weekdays
from queueing.history import History, QueueVisit
from queueing.intervals import IntervalClock
from tests.queue_log_fixture import ZONE, day_start, queue_log_lines

CLOCK = IntervalClock(60, ZONE)
MONDAY = date(2026, 11, 2)
BASE = np.array([0] * 8 + [10, 20, 30, 40, 40, 30, 30, 40, 40, 30, 20, 10] + [0] * 4, dtype=float)


def visits_for(day: date, counts: np.ndarray, talk: float = 200.0) -> list[QueueVisit]:
    """``counts[h]`` calls in hour h of ``day``: every fifth one abandons after 30 s, the rest are
    answered after 10 s and talk ``talk`` seconds."""
    out = []
    for h, c in enumerate(counts):
        for k in range(int(round(c))):
            t = day_start(day) + h * 3600 + 60 + k
            out.append(QueueVisit("citizen", t, "abandoned", 30.0) if k % 5 == 4
                       else QueueVisit("citizen", t, "answered", 10.0, talk))
    return out


def weeks_of_mondays(growth: list[float], other_days: bool = True) -> History:
    visits = []
    for k, g in enumerate(growth):
        visits += visits_for(MONDAY + timedelta(weeks=k), BASE * g)
        if other_days:  # Tuesdays look nothing like Mondays: they must not leak in
            visits += visits_for(MONDAY + timedelta(weeks=k, days=1), BASE[::-1] * 3)
    return History(visits, CLOCK)


def test_a_linear_trend_is_extrapolated_exactly_to_the_next_monday() -> None:
    h = weeks_of_mondays([1.0, 1.1, 1.2, 1.3])
    target = MONDAY + timedelta(weeks=4)
    assert same_weekdays(h, target, 4) == [MONDAY + timedelta(weeks=k) for k in range(4)]
    f = forecast_day(h, target, weeks=4)
    np.testing.assert_allclose(f.calls, BASE * 1.4, rtol=1e-9)  # the line through 1.0..1.3 reads 1.4 next week
    assert f.trend == pytest.approx(1.4 / 1.15)
    flat = forecast_day(h, target, weeks=4, trend=False)
    np.testing.assert_allclose(flat.calls, BASE * 1.15, rtol=1e-9)  # the plain same-weekday mean
    np.testing.assert_allclose(flat.low, BASE, rtol=1e-9)
    np.testing.assert_allclose(flat.high, np.round(BASE * 1.3), rtol=1e-9)
    assert f.profile.calls_per_hour == pytest.approx(tuple(BASE * 1.4))  # hourly intervals: calls = calls/h
    assert f.profile.aht() == pytest.approx((200.0,) * 24)
    # patience, exponential MLE: about 1 in 5 abandon after 30 s, the others are answered (censored) after 10 s
    used = [v for d in f.based_on for v in h.visits(d)]
    abandons = sum(v.outcome == "abandoned" for v in used)
    assert f.profile.patience.mean == pytest.approx((30 * abandons + 10 * (len(used) - abandons)) / abandons)
    assert f.profile.patience.mean == pytest.approx(30 + 4 * 10, rel=0.05)


def test_trend_needs_three_weeks_is_held_within_limits_and_skips_missing_weeks() -> None:
    two = forecast_day(weeks_of_mondays([1.0, 2.0]), MONDAY + timedelta(weeks=2), weeks=4)
    assert two.trend == 1.0 and "no trend (needs 3+ weeks)" in two.notes[0]
    wild = forecast_day(weeks_of_mondays([1.0, 3.0, 9.0]), MONDAY + timedelta(weeks=3), weeks=3)
    assert wild.trend == TREND_LIMITS[1]
    visits = [v for v in weeks_of_mondays([1.0, 1.0, 1.0, 1.0])._days.values() for s in v for v in s]
    holiday = MONDAY + timedelta(weeks=2)
    h = History([v for v in visits if CLOCK.day(v.joined) != holiday], CLOCK)
    f = forecast_day(h, MONDAY + timedelta(weeks=4), weeks=4)
    assert holiday not in f.based_on and len(f.based_on) == 3
    with pytest.raises(ScenarioError, match="no Sunday in the 4 week"):
        forecast_day(h, MONDAY + timedelta(days=6), weeks=4)


def test_error_measures_by_hand() -> None:
    f = np.array([10.0, 10.0, 10.0, 5.0])
    a = np.array([8.0, 12.0, 10.0, 0.0])
    m = error_measures(f, a)
    assert m["mape"] == pytest.approx((2 / 8 + 2 / 12 + 0) / 3)  # intervals without calls left out
    assert m["wape"] == pytest.approx((2 + 2 + 0 + 5) / 30)
    assert m["bias"] == pytest.approx(5 / 30) and m["intervals_with_calls"] == 3


def test_backtest_of_an_exact_plan(tmp_path: Path) -> None:
    from queueing.backtest import backtest

    h = weeks_of_mondays([1.0, 1.0, 1.0, 1.0])
    f = forecast_day(h, MONDAY + timedelta(weeks=4), weeks=4)
    plan = f.profile.with_agents([max(1, int(c * 200 / 3600) + 3) for c in f.profile.calls_per_hour])
    bt = backtest(plan, h, MONDAY + timedelta(weeks=3), sl_seconds=20.0, replications=5)
    s = bt.summary
    assert s["mape"] == pytest.approx(0, abs=1e-12) and s["bias"] == pytest.approx(0, abs=1e-12)
    assert s["forecast_calls"] == pytest.approx(BASE.sum()) and s["actual_calls"] == BASE.sum()
    # 4 in 5 answered after 10 s (within 20 s), 1 in 5 abandoned
    assert s["actual_service_level"] == pytest.approx(0.8)
    busy = [r for r in bt.rows if r["actual_calls"] > 0]
    assert all(r["actual_service_level"] == pytest.approx(0.8) and r["actual_aht"] == 200.0 for r in busy)
    assert all(0 <= r["planned_service_level"] <= 1 for r in busy)
    with pytest.raises(ScenarioError, match="no agents on duty"):
        backtest(f.profile, h, MONDAY, sl_seconds=20.0)
    with pytest.raises(ScenarioError, match="no calls on"):
        backtest(plan, h, MONDAY + timedelta(days=3), sl_seconds=20.0)


def test_store_history_counts_answered_abandoned_and_left_callers(capsys, backend) -> None:
    """On either store backend: ``--db`` takes a SQLite file or a PostgreSQL URL."""
    t0 = day_start(MONDAY) + 10 * 3600
    with backend.open() as store:
        for k in range(40):
            cid = f"17643.{k}"
            t = t0 + 60 * k
            if k % 4 == 3:  # abandoned after 50 s
                store.upsert_call(cid, started_at=t - 20, queue="citizen", queue_joined_at=t,
                                  queue_abandoned_at=t + 50, wait_seconds=50.0, outcome="abandoned", ended_at=t + 50)
            else:  # answered after 10 s, talk 180 s from the agent.complete event
                store.upsert_call(cid, started_at=t - 20, queue="citizen", queue_joined_at=t, queue_answered_at=t + 10,
                                  answered_at=t + 10, wait_seconds=10.0, outcome="answered", ended_at=t + 200,
                                  caller_number="13912345678")
                store.add_event(cid, "agent.complete", t + 190, {"queue": "citizen", "agent": "1001", "talk": 180})
        store.upsert_call("17643.90", started_at=t0, queue="citizen", queue_joined_at=t0 + 5, outcome="callback",
                          ended_at=t0 + 65)  # left the queue for a callback after 60 s: censored
        store.upsert_call("17643.91", started_at=t0, queue="citizen", queue_joined_at=t0 + 5)  # still waiting
        store.upsert_call("17643.92", started_at=t0, queue="other", queue_joined_at=t0 + 5, outcome="abandoned",
                          queue_abandoned_at=t0 + 9, ended_at=t0 + 9)
        rows = store.queue_stays(queue="citizen")
    assert len(rows) == 42 and sum(r["talk"] == 180 for r in rows) == 30
    code = main(["profile", "--db", backend.target, "--queue", "citizen", "--interval-minutes", "60", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert "13912345678" not in out
    ten = data["intervals"][10]
    assert (ten["offered"], ten["answered"], ten["abandoned"]) == (41, 30, 10)
    assert ten["aht"] == pytest.approx(180.0)
    # exponential MLE: (30 x 10 + 10 x 50 + 60) s waited / 10 abandons
    assert data["patience"]["mean"] == pytest.approx((300 + 500 + 60) / 10)
    assert "1 calls still waiting or without an end are left out" in err


@pytest.fixture(scope="module")
def five_weeks(tmp_path_factory) -> Path:
    rates = [10.0] * 14 + [60.0] * 24 + [30.0] * 10
    lines, _ = queue_log_lines(MONDAY, 29, rates, seed=9, day_factor=lambda d: 1.0 + 0.05 * ((d - MONDAY).days // 7))
    path = tmp_path_factory.mktemp("fc") / "queue_log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_forecast_staff_simulate_backtest_from_a_queue_log(five_weeks: Path, capsys, tmp_path: Path) -> None:
    fc = tmp_path / "monday.csv"
    next_monday = MONDAY + timedelta(weeks=5)
    code = main(["forecast", "--queue-log", str(five_weeks), "--day", str(next_monday), "--out", str(fc),
                 "--plot", str(tmp_path / "fc.png")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "average of 4 Monday(s)" in out and "trend x" in out and fc.exists()
    assert (tmp_path / "fc.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["staff", "--profile", str(fc), "--shrinkage", "0.3", "--replications", "4", "--csv"]) == 0
    plan_csv = capsys.readouterr().out
    plan = tmp_path / "plan.csv"
    plan.write_text(plan_csv)
    rows = list(csv.DictReader(io.StringIO(plan_csv)))
    assert len(rows) == 48 and all(float(r["fte"]) == pytest.approx(int(r["agents"]) / 0.7, rel=1e-5) for r in rows)
    assert main(["simulate", "--profile", str(fc), "--roster", str(plan), "--replications", "3", "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert [r["agents"] for r in sim["intervals"]] == [int(r["agents"]) for r in rows]
    last_monday = MONDAY + timedelta(weeks=4)
    code = main(["backtest", "--queue-log", str(five_weeks), "--plan", str(fc), "--roster", str(plan),
                 "--day", str(last_monday), "--replications", "4", "--json", "--plot", str(tmp_path / "bt.png")])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    ivs = data["intervals"]
    f = np.array([r["forecast_calls"] for r in ivs])
    a = np.array([r["actual_calls"] for r in ivs])
    assert data["summary"]["mape"] == pytest.approx(np.mean(np.abs(f - a)[a > 0] / a[a > 0]))
    assert data["summary"]["bias"] == pytest.approx((f - a).sum() / a.sum())
    # the actual calls are the queue_log's ENTERQUEUE lines of that local day
    day_lines = [ln for ln in five_weeks.read_text().splitlines() if "|ENTERQUEUE|" in ln
                 and day_start(last_monday) <= int(ln.split("|")[0]) < day_start(last_monday + timedelta(days=1))]
    assert a.sum() == len(day_lines)
    assert (tmp_path / "bt.png").stat().st_size > 20_000
    assert main(["backtest", "--queue-log", str(five_weeks), "--plan", str(fc), "--roster", str(plan),
                 "--day", str(last_monday), "--replications", "4"]) == 0
    text = capsys.readouterr().out
    assert "MAPE" in text and "bias" in text and "replayed" in text


def test_forecast_of_a_week_writes_one_profile_per_day(five_weeks: Path, capsys, tmp_path: Path) -> None:
    start = MONDAY + timedelta(weeks=4, days=1)  # Tuesday: a week ahead needs no future day
    code = main(["forecast", "--queue-log", str(five_weeks), "--day", str(start), "--days", "6", "--weeks", "3",
                 "--no-trend", "--out", str(tmp_path / "w.toml"), "--csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    written = sorted(p.name for p in tmp_path.glob("w-*.toml"))
    assert written == [f"w-{start + timedelta(days=k)}.toml" for k in range(6)]
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 6 * 48 and rows[0]["date"] == str(start)
    assert not math.isnan(float(rows[20]["aht"]))


def test_forecast_errors_are_one_line(five_weeks: Path, capsys) -> None:
    assert main(["forecast", "--queue-log", str(five_weeks), "--day", "2026-13-01"]) == 2
    assert "--day '2026-13-01': expected a date YYYY-MM-DD" in capsys.readouterr().err
    assert main(["forecast", "--queue-log", str(five_weeks), "--day", "2020-01-06"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no queue calls in the queue_log between" in err
    assert main(["forecast", "--queue-log", str(five_weeks), "--day", "2026-12-07", "--interval-minutes", "20"]) == 2
    assert "interval must be one of" in capsys.readouterr().err
