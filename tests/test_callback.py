"""Callbacks keep the caller's place, are originated when the caller would reach an agent,
retry on no answer, and count in later callers' positions."""

from __future__ import annotations

import pytest

from ivr_flows import protocol as p
from ivr_flows.callback import CallbackManager, LiveQueueInfo, QueueState


def test_callback_is_due_when_everyone_ahead_has_left() -> None:
    m = CallbackManager()
    for i in range(3):
        m.caller_joined("citizen", f"u{i}", 0.0)
    req = m.book("citizen", "13912345678", 0, 10.0, linkedid="L1")
    assert req.ahead == {"u0", "u1", "u2"} and m.position(req.id) == 4
    m.caller_joined("citizen", "late", 11.0)  # joined after the booking: behind it
    assert m.tick(12.0) == []
    m.caller_left("citizen", "u0", 20.0)
    m.caller_left("citizen", "u2", 30.0)  # abandoned: also no longer ahead
    assert m.tick(31.0) == []
    m.caller_left("citizen", "u1", 40.0)
    (orig,) = m.tick(41.0)
    assert req.due_at == 40.0 and req.status == "dialing" and req.attempts == 1
    assert orig.channel == "Local/13912345678@hotline-callback-out"
    kw = orig.kwargs()  # what engine/app passes to AmiClient.originate
    assert kw["context"] == "hotline-callback" and kw["exten"] == "s" and kw["priority"] == 1
    assert kw["variables"]["HOTLINE_CALLBACK"] == req.id and kw["variables"]["QUEUE_PRIO"] == "10"
    assert "13912345678" not in repr(orig) and "13912345678" not in repr(req)
    assert m.tick(42.0) == []  # originated once


def test_no_answer_is_retried_then_given_up() -> None:
    m = CallbackManager(max_attempts=3, retry_delay=60.0)
    req = m.book("citizen", "5551234", 0, 0.0)
    assert len(m.tick(0.0)) == 1
    m.originate_result(req.id, answered=False, now=30.0)
    assert req.status == "retry" and m.pending("citizen") == 1
    assert m.tick(60.0) == [] and len(m.tick(90.0)) == 1
    m.originate_result(req.id, answered=False, now=120.0)
    assert len(m.tick(180.0)) == 1 and req.attempts == 3
    m.originate_result(req.id, answered=False, now=200.0)
    assert req.status == "failed" and m.pending("citizen") == 0 and m.tick(1000.0) == []


def test_pending_callbacks_count_in_later_positions_and_chain() -> None:
    m = CallbackManager()
    m.caller_joined("citizen", "u1", 0.0)
    first = m.book("citizen", "13900000001", 0, 1.0)
    second = m.book("citizen", "13900000002", 0, 2.0)
    assert second.ahead == {"u1", first.id}
    info = LiveQueueInfo(m)
    info.agents["citizen"] = QueueState(staffed=2, available=0)
    q = info.query("citizen", 0, 3.0)
    assert q.position == 4  # u1 + two pending callbacks + me
    m.caller_left("citizen", "u1", 5.0)
    assert [o.callback_id for o in m.tick(5.0)] == [first.id]
    m.originate_result(first.id, answered=True, now=20.0)
    assert second.status == "due" and [o.callback_id for o in m.tick(21.0)] == [second.id]
    assert info.query("citizen", 0, 22.0).position == 2  # second still dialing


def test_live_queue_info_uses_handle_times_and_priorities() -> None:
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=2, available=0)
    for i in range(50):
        info.handle_times.add("citizen", 120.0, float(i))
    info.callbacks.caller_joined("citizen", "a", 0.0, priority=0)
    info.callbacks.caller_joined("citizen", "b", 0.0, priority=2)
    low = info.query("citizen", 0, 60.0)
    high = info.query("citizen", 2, 60.0)
    assert (low.position, high.position) == (3, 2)
    aht = info.handle_times.mean("citizen", 60.0)
    assert low.wait == pytest.approx(3 * aht / 2) and high.wait == pytest.approx(2 * aht / 2)
    assert info.query("nobody", 0, 60.0) == p.QueueInfo(position=1, wait=None, agents_available=0)
    ref = info.book("citizen", "13912345678", 0, 61.0)
    assert info.callbacks.requests[ref].ahead == {"a", "b"}


def test_bad_number_rejected() -> None:
    with pytest.raises(ValueError):
        CallbackManager().book("q", "12ab", 0, 0.0)


def test_fed_with_the_recorded_queue_day(asterisk_fixtures) -> None:
    from engine.asterisk.ami_codec import AmiCodec, AmiMessage
    from engine.events.ami import event_from_message
    from tests.fixture_files import ami_server_bytes

    codec = AmiCodec(group_lists=False)
    codec.feed(ami_server_bytes(asterisk_fixtures / "ami_queue_day.txt"))
    msgs = [m for m in list(codec.items()) + codec.close() if isinstance(m, AmiMessage)]
    info = LiveQueueInfo(wrapup_seconds=1.0)
    booked = None
    for i, msg in enumerate(msgs):
        ev = event_from_message(msg, float(i))
        if ev is None:
            continue
        due = info.feed(ev, float(i))
        if booked is None and info.callbacks.waiting("evening") >= 3:
            booked = info.book("evening", "13912345678", 0, float(i))  # a caller takes a callback now
            assert info.callbacks.position(booked) == 4
        if due:
            assert [d.callback_id for d in due] == [booked]
            assert info.callbacks.waiting("evening") >= 0
    assert booked is not None and info.callbacks.requests[booked].status == "dialing"
    assert info.callbacks.waiting("evening") == 0
    assert info.handle_times.count("evening", float(len(msgs))) == 22  # Completed 22
    # talk 4-9 s plus 1 s wrap-up, pulled a little toward the 240 s prior
    assert 5.0 < info.handle_times.mean("evening", float(len(msgs))) < 60.0


def test_queue_state_from_agent_counts() -> None:
    counts = {"available": 2, "ringing": 1, "talking": 3, "wrap_up": 1, "paused": 2, "unavailable": 1,
              "logged_in": 10}
    assert QueueState.from_counts(counts) == QueueState(staffed=7, available=2)
