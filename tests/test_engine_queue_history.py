"""What the engine's queue monitor reads back from the call store at start. Today's calls that had
ended: the wallboard's "today" survives a restart (it restarted from zero). The surge baseline:
after a restart the detector knows the past days at once (it used to start blank and alert only
after 3 days of running), and each day that ends is read back whole, not as the part the engine
happened to watch."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from pathlib import Path

import pytest

from engine.app import Engine
from engine.pbxsim.world import CallerPlan
from engine.queue_history import RETRY_SECONDS, SurgeBaseline
from engine.store import AsyncStore, Store
from queueing.history import QueueVisit
from queueing.intervals import IntervalClock, day_bounds
from queueing.monitor import QueueMonitor
from queueing.surge import SurgeDetected, SurgeDetector
from tests.sim_engine import NoSpeech, engine_config, evening_world, until

CLOCK = IntervalClock(30, "Asia/Shanghai")
DAY = date(2026, 11, 28)
EVENING = day_bounds(DAY, "Asia/Shanghai")[0] + 19 * 3600  # 19:00 local
SLOT = CLOCK.slot(EVENING)


def seed(path: Path, days: dict[int, int], *, queue: str = "citizen", at: float = EVENING + 600) -> None:
    """``days``: days before ``DAY`` -> calls that joined ``queue`` at 19:10 that day."""
    with Store.open(path) as s:
        for back, n in days.items():
            for i in range(n):
                t = at - back * 86400 + i
                s.upsert_call(f"{queue}-{back}-{i}", started_at=t - 30, queue=queue, queue_joined_at=t)


async def test_the_baseline_is_read_from_the_store_then_day_by_day(tmp_path):
    seed(tmp_path / "h.sqlite", {1: 9, 2: 10, 3: 11, 5: 10, 40: 99})  # day 4 closed; day 40 too old
    seed(tmp_path / "h.sqlite", {1: 3}, queue="new")  # a queue that opened yesterday
    store = await AsyncStore.open(tmp_path / "h.sqlite")
    try:
        surges = SurgeBaseline(store, SurgeDetector(), CLOCK)
        now = EVENING + 5
        assert surges.due(now)
        days = await surges.update(now)
        assert days == [DAY - timedelta(days=b) for b in (5, 3, 2, 1)]
        base = surges.detector.baseline("citizen", SLOT)
        assert base is not None and base.median == 10 and base.days == 4
        assert surges.detector.baseline("new", SLOT) is None  # one day of it, not five with four zeros
        assert surges.detector.baseline("citizen", SLOT + 1).median == 0  # quiet slots of those days count
        assert not surges.due(now + 3600)
        # today's calls are not read (a partial day would stand for the whole day)
        await store.upsert_call("today-1", started_at=EVENING + 100, queue="citizen", queue_joined_at=EVENING + 110)
        midnight = day_bounds(DAY + timedelta(days=1), "Asia/Shanghai")[0]
        assert surges.due(midnight)
        assert await surges.update(midnight + 1) == [DAY]  # the day that ended, read whole
        assert surges.detector.baseline("citizen", SLOT).days == 5
        assert await surges.update(midnight + 2) == []  # nothing new
    finally:
        await store.close()


class _Down:
    async def queue_joins(self, **_: object) -> list[tuple[str, float]]:
        raise ConnectionError("store unreachable")


async def test_a_store_that_cannot_be_read_is_retried_not_raised(caplog):
    surges = SurgeBaseline(_Down(), SurgeDetector(), CLOCK)
    with caplog.at_level(logging.WARNING, logger="engine.queue_history"):
        assert await surges.update(EVENING) == []
    assert "ConnectionError" in caplog.text and "store unreachable" not in caplog.text
    assert not surges.due(EVENING + RETRY_SECONDS - 1) and surges.due(EVENING + RETRY_SECONDS)
    assert surges.learnt is None


def test_a_surge_alerts_once_per_interval_and_again_in_the_next():
    det = SurgeDetector(k=3, min_excess=2, min_days=3)
    det.learn([("q", EVENING - d * 86400 + s * 1800) for d in (1, 2, 3) for s in (0, 1)], CLOCK)
    fired = [det.check("q", CLOCK.slot(EVENING + s * 1800), EVENING + s * 1800, "x", n, EVENING)
             for s in (0, 1) for n in (3, 4, 5)]
    assert [f is not None for f in fired] == [False, True, False, False, True, False]
    assert det.check("q", SLOT, EVENING, "x", 9, EVENING) is None  # an interval already past


def test_ended_stays_are_booked_into_today_once():
    m = QueueMonitor(timezone="Asia/Shanghai")
    visits = [QueueVisit("citizen", EVENING - 1800, "answered", 10.4, 100.0),
              QueueVisit("citizen", EVENING - 1700, "answered", 30.0, None),
              QueueVisit("citizen", EVENING - 1600, "abandoned", 40.0), QueueVisit("citizen", EVENING - 1500, "left", 5.0)]
    assert m.book_ended(visits) == 4
    (today,) = m.day_views("citizen")
    assert (today["offered"], today["answered"], today["abandoned"], today["other_exits"]) == (4, 2, 1, 1)
    assert today["answered_within_sl"] == 1 and today["asa"] == 20.0 and today["avg_talk"] == 100.0
    assert [v["offered"] for v in m.interval_views("citizen")] == [4]  # 18:30-19:00
    assert QueueMonitor(queues=["other"]).book_ended(visits) == 0  # a monitor of other queues


def seed_today(path: Path, t: float) -> None:
    """Three stays that ended before ``t`` (answered, abandoned, timed out) and one still waiting."""
    with Store.open(path) as s:
        s.upsert_call("t-1", started_at=t - 900, queue="citizen", queue_joined_at=t - 890, queue_answered_at=t - 878,
                      answered_at=t - 878, wait_seconds=12.0, outcome="answered", ended_at=t - 700)
        s.upsert_call("t-2", started_at=t - 800, queue="citizen", queue_joined_at=t - 790, queue_abandoned_at=t - 740,
                      wait_seconds=50.0, outcome="abandoned", ended_at=t - 740)
        s.upsert_call("t-3", started_at=t - 600, queue="citizen", queue_joined_at=t - 590, ended_at=t - 500)
        s.upsert_call("t-4", started_at=t - 60, queue="citizen", queue_joined_at=t - 50)


@pytest.mark.timeout(90)
async def test_the_engine_reads_today_back_and_alerts_a_surge_on_its_first_evening(tmp_path, caplog):
    """Four evenings of 1 call at 19:10 in the store; the engine starts at 19:00 and 7 callers join
    the queue: the 7th is above median + 5, so a surge is logged and on the wallboard's list. The
    day's three ended calls before the start are on the monitor's "today" beside the 7."""
    world, clock = evening_world(10.0)
    start = clock.now()
    seed(tmp_path / "h.sqlite", dict.fromkeys(range(1, 5), 1), at=start + 600)
    seed_today(tmp_path / "h.sqlite", start)
    await world.start()
    engine = Engine(engine_config(tmp_path, world), clock=clock.now, pipeline=NoSpeech(), web=False)
    try:
        with caplog.at_level(logging.INFO):
            await engine.start()
            assert engine.surges.learnt == CLOCK.day(start) - timedelta(days=1)
            world.agi_port = engine.agi.port
            await until(lambda: engine.ami.connected, 10, "AMI login")
            plans = [CallerPlan(number=f"1380000{i:04d}", dtmf=["1", "0", "2"], patience=None, talk_time=30.0)
                     for i in range(7)]
            truths = await asyncio.gather(*(world.call(p) for p in plans))
            assert all(t.queued for t in truths)
            await until(lambda: engine.monitor.alerts, 10, "the surge alert")
        (alert,) = engine.monitor.alerts
        assert isinstance(alert, SurgeDetected)
        assert (alert.queue, alert.offered, alert.baseline_median, alert.days_in_baseline) == ("citizen", 7, 1, 4)
        assert "surge in citizen: 7 calls" in caplog.text
        assert "3 of today's calls read back" in caplog.text
        (today,) = engine.monitor.day_views("citizen")
        assert (today["offered"], today["answered"], today["abandoned"], today["other_exits"]) == (10, 1, 1, 1)
    finally:
        await engine.stop()
        await world.stop()
