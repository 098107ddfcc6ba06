"""Per-interval queue KPIs from the store, on a small hand-made store whose numbers are worked out
by hand below (Asia/Shanghai, 30-minute intervals, service level 20 s)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.store import Store
from queueing.interval_stats import classify, day_kpis
from queueing.intervals import IntervalClock, day_bounds

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 28)


def at(hh: int, mm: int, ss: int = 0, day: int = 28) -> float:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=TZ).timestamp()


def seed(store: Store) -> None:
    """Nine calls around the evening of 2026-11-28 (see the expected numbers in the tests)."""
    calls = {
        # answered after 8 s by 8001, talks 300 s
        "A": dict(queue_joined_at=at(19, 5), queue_answered_at=at(19, 5, 8), answered_at=at(19, 5, 8),
                  ended_at=at(19, 10, 8), agent="8001", outcome="answered"),
        # answered after 25 s by 8002, talks 120 s
        "B": dict(queue_joined_at=at(19, 10), queue_answered_at=at(19, 10, 25), answered_at=at(19, 10, 25),
                  ended_at=at(19, 12, 25), agent="8002", outcome="answered"),
        # hangs up after 40 s in the queue
        "C": dict(queue_joined_at=at(19, 20), queue_abandoned_at=at(19, 20, 40), wait_seconds=40.0,
                  ended_at=at(19, 20, 40), outcome="abandoned"),
        # answered after 55 s by 8001, talks 600 s across 19:30: 245 s before, 355 s after
        "D": dict(queue_joined_at=at(19, 25), queue_answered_at=at(19, 25, 55), answered_at=at(19, 25, 55),
                  ended_at=at(19, 35, 55), agent="8001", outcome="answered"),
        # queue timeout after 5 minutes
        "E": dict(queue_joined_at=at(19, 40), ended_at=at(19, 45)),
        # leaves the queue for a callback
        "F": dict(queue_joined_at=at(19, 50), queue_abandoned_at=at(19, 51), ended_at=at(19, 51, 10),
                  outcome="callback"),
        # still waiting
        "G": dict(queue_joined_at=at(19, 55)),
        # joined the day before, talks 270 s after midnight (busy time, not received)
        "H": dict(queue_joined_at=at(23, 59, day=27), queue_answered_at=at(23, 59, 30, day=27),
                  answered_at=at(23, 59, 30, day=27), ended_at=at(0, 4, 30), agent="8003", outcome="answered"),
        # served by the IVR, never queued: not a queue call
        "I": dict(ended_at=at(19, 1), outcome="self_served"),
    }
    for cid, fields in calls.items():
        q = {"queue": "citizen"} if "queue_joined_at" in fields else {}
        store.upsert_call(cid, started_at=fields.get("queue_joined_at", at(19, 0)) - 10, **q, **fields)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "h.sqlite") as s:
        seed(s)
        yield s


def kpis(store: Store, day: date = DAY, queue: str | None = None) -> dict:
    start, end = day_bounds(day, "Asia/Shanghai")
    calls = store.queue_calls(start - 4 * 3600, end, queue=queue)
    return day_kpis(calls, day, IntervalClock(30, "Asia/Shanghai"), sl_seconds=20.0)


def test_queue_calls_are_those_that_joined_in_the_range_oldest_first(store):
    assert [c.id for c in store.queue_calls(at(19, 0), at(19, 30))] == ["A", "B", "C", "D"]
    assert [c.id for c in store.queue_calls(at(19, 30), at(20, 0), queue="citizen")] == ["E", "F", "G"]
    assert store.queue_calls(at(19, 0), at(20, 0), queue="noise") == []
    assert [classify(c) for c in store.queue_calls(at(0, 0, day=27), at(0, 0, day=29))] == [
        "answered", "answered", "answered", "abandoned", "answered", "timeout", "callback", "waiting"]


def test_the_evening_intervals_by_hand(store):
    k = kpis(store)
    rows = {r["interval"]: r for r in k["intervals"]}
    assert len(k["intervals"]) == 48 and k["timezone"] == "Asia/Shanghai" and k["bands"] == [10, 20, 30, 60]
    seven = rows["19:00"]
    assert seven["start"] == at(19, 0)
    assert {key: seven[key] for key in ("received", "answered", "abandoned", "callback", "timeout", "waiting")} == {
        "received": 4, "answered": 3, "abandoned": 1, "callback": 0, "timeout": 0, "waiting": 0}
    assert seven["answered_within"] == {"10": 1, "20": 1, "30": 2, "60": 3}  # waits 8, 25, 55
    assert seven["answered_within_sl"] == 1
    assert seven["service_level_pct"] == 33.3  # 1 of 3 answered within 20 s
    assert seven["answered_rate_pct"] == 75.0  # 3 of 4
    assert seven["abandon_rate_pct"] == 25.0  # 1 of the 4 that left the queue
    assert seven["asa"] == 29.3  # (8 + 25 + 55) / 3
    assert seven["avg_abandoned_wait"] == 40.0 and seven["max_wait"] == 55.0
    assert seven["aht"] == 340.0  # (300 + 120 + 600) / 3, counted where the calls arrived
    assert seven["talk_seconds"] == 665.0  # 300 + 120 + 245 (D's talk until 19:30)
    assert seven["agents_on_calls"] == 2  # 8001 and 8002
    assert seven["occupancy_pct"] == 18.5  # 665 / (2 x 1800)
    assert seven["busy_agents"] == 0.37  # 665 / 1800

    half = rows["19:30"]
    assert (half["received"], half["timeout"], half["callback"], half["waiting"], half["answered"]) == (3, 1, 1, 1, 0)
    assert half["service_level_pct"] is None and half["asa"] is None and half["aht"] is None
    assert half["abandon_rate_pct"] == 0.0  # none of the 2 that left abandoned
    assert half["talk_seconds"] == 355.0 and half["occupancy_pct"] == 19.7  # D after 19:30, 8001 alone

    midnight = rows["00:00"]
    assert midnight["received"] == 0 and midnight["talk_seconds"] == 270.0  # H, who joined the day before
    assert midnight["occupancy_pct"] == 15.0
    assert all(r["received"] == 0 for name, r in rows.items() if name not in ("19:00", "19:30"))

    total = k["total"]
    assert (total["received"], total["answered"], total["abandoned"], total["callback"], total["timeout"],
            total["waiting"]) == (7, 3, 1, 1, 1, 1)
    assert total["service_level_pct"] == 33.3 and total["abandon_rate_pct"] == 16.7  # 1 of 6 that left
    assert total["answered_within"] == {"10": 1, "20": 1, "30": 2, "60": 3}
    assert total["talk_seconds"] == 1290.0  # 665 + 355 + 270
    assert total["occupancy_pct"] == 17.9  # 1290 / (2 x 1800 + 1800 + 1800)


def test_the_day_before_and_another_queue(store):
    before = kpis(store, date(2026, 11, 27))
    assert before["total"]["received"] == 1 and before["total"]["answered"] == 1  # H
    assert {r["interval"]: r["talk_seconds"] for r in before["intervals"] if r["talk_seconds"]} == {"23:30": 30.0}
    assert kpis(store, queue="noise")["total"]["received"] == 0


def test_daylight_saving_days_have_their_own_number_of_intervals():
    clock = IntervalClock(60, "Europe/Berlin")
    assert len(day_kpis([], date(2026, 3, 29), clock, sl_seconds=20)["intervals"]) == 23
    assert len(day_kpis([], date(2026, 10, 25), clock, sl_seconds=20)["intervals"]) == 25
