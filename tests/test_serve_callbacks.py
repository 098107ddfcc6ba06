"""The engine's callback loop against the PBX world, in one process and without speech: a caller
takes the callback offer while the only call-taker is busy; the call back is dialled only once the
call-taker is free (not at once, which left citizens on hold again), is missed, answered on the
retry, and joins the queue under the citizen's number with hardly any wait; the store keeps both
calls, the attempts and the link between them both ways, and the MQTT bus (a real mosquitto)
carries the queue events and call-taker states with numbers masked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.app import Engine
from engine.pbxsim.world import CallerPlan
from engine.store import Store
from tests.mosquitto_helpers import Collector, Mosquitto
from tests.sim_engine import NoSpeech, engine_config, evening_world
from tests.sim_engine import until as _until


async def test_callback_missed_then_answered(tmp_path: Path) -> None:
    world, clock = evening_world(40.0, agents=1)
    await world.start()
    broker = Mosquitto(tmp_path)
    broker.start()
    cfg = engine_config(tmp_path, world, **{
        "store.path": str(tmp_path / "cb.sqlite"), "tap.enabled": False, "flows.callback_retry_seconds": 30.0,
        "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "site.name": "test"})
    engine = Engine(cfg, clock=clock.now, web=False, pipeline=NoSpeech())
    sub = Collector(broker.port)
    await sub.__aenter__()
    await engine.start()
    try:
        world.agi_port = engine.agi.port
        await _until(lambda: engine.ami.connected, 10, "AMI login")
        # the only call-taker is busy with a first caller (operator branch: no speech)
        first = await world.call(CallerPlan(number="13900000001", dtmf=["1", "0"], talk_time=200.0))
        assert first.queued
        await _until(lambda: world.model.record(first.uniqueid).answered_at is not None, 10, "the first answer")
        # the second is offered a callback (one agent, busy, ~240 s per call > 120 s) and takes it
        plan = CallerPlan(number="13900000002", dtmf=["1", "0", "1", "1"], talk_time=60.0,
                          callback_answers=(False, True))
        second = await world.call(plan)
        assert second.ivr_outcome == "callback_booked" and second.callback_ref and not second.queued
        await _until(lambda: engine.stats.callbacks_answered == 1, 20, "the answered callback")
        assert engine.stats.callbacks_originated == 2  # missed once, answered on the retry
        back = next(t for t in world.truth.values() if t.kind == "callback")
        assert back.callback_ref == second.callback_ref
        await _until(lambda: not world.busy(), 30, "both calls to end")
        req = engine.queue_info.callbacks.requests[second.callback_ref]
        first_dial = next(t for t, what in req.history if what == "dial attempt 1")
        first_end = world.model.record(first.uniqueid).ended_at
        assert first_dial >= first_end - engine.queue_info.callbacks.ring_lead  # not while the call-taker talked
        back_rec = world.model.record(back.uniqueid)
        assert back_rec.caller_num == "13900000002" and back_rec.hold_time is not None and back_rec.hold_time <= 5
        await asyncio.sleep(0.3)
        assert engine.health()["bus"]["ok"]
    finally:
        await engine.stop()
        await sub.__aexit__(None, None, None)
        await world.stop()
        broker.stop()
    payloads = sub.payloads()
    kinds = {p["kind"] for p in payloads}
    assert {"call_event", "agent_state"} <= kinds, kinds
    events = {p.get("event") for p in payloads if p["kind"] == "call_event"}
    assert {"QueueCallerJoin", "AgentConnect", "AgentComplete"} <= events
    assert all(m.topic.value.startswith("hotline/test/") for m in sub.messages)
    assert not any("13900000002" in m.payload.decode() for m in sub.messages)  # masked on the bus
    with Store.open(tmp_path / "cb.sqlite", create=False) as store:
        booking = store.get_call(second.uniqueid)
        assert booking.outcome == "callback" and booking.ivr_outcome == "callback_booked"
        kinds = [i.kind for i in store.call_timeline(second.uniqueid).items]
        assert kinds.count("callback.no_answer") == 1 and kinds.count("callback.answered") == 1
        called_back = store.get_call(back.uniqueid)
        assert called_back.outcome == "answered" and called_back.caller_number == "13900000002"
        assert called_back.wait_seconds <= 5  # not on hold again
        assert store.counts()["callbacks"] == 1
        # linked both ways: the booking's page shows its call back, the call back's its booking
        assert [(r.call_id, r.kind) for r in store.related(second.uniqueid)] == [(back.uniqueid, "callback")]
        assert [(r.call_id, r.kind) for r in store.related(back.uniqueid)] == [(booking.id, "callback_of")]


async def test_a_callback_booked_before_a_restart_is_still_dialled(tmp_path: Path) -> None:
    """The engine stops (a deploy) after a caller booked a callback and before it was due; the next
    engine on the same store restores the booking and calls the citizen back once the call-taker
    is free. (Bookings lived in memory only: the citizen was never called back.)"""
    world, clock = evening_world(40.0, agents=1)
    await world.start()
    cfg = engine_config(tmp_path, world, **{"store.path": str(tmp_path / "cb.sqlite"), "tap.enabled": False,
                                            "store.node": "node-a"})
    engine = Engine(cfg, clock=clock.now, web=False, pipeline=NoSpeech())
    await engine.start()
    try:
        world.agi_port = engine.agi.port
        await _until(lambda: engine.ami.connected, 10, "AMI login")
        first = await world.call(CallerPlan(number="13900000001", dtmf=["1", "0"], talk_time=300.0))
        await _until(lambda: world.model.record(first.uniqueid).answered_at is not None, 10, "the first answer")
        second = await world.call(CallerPlan(number="13900000002", dtmf=["1", "0", "1", "1"], talk_time=30.0))
        assert second.ivr_outcome == "callback_booked" and second.callback_ref == "CB-00001"
        await engine.store.flush()
    finally:
        await engine.stop()
    assert engine.stats.callbacks_originated == 0  # the call-taker was still busy
    with Store.open(tmp_path / "cb.sqlite", create=False) as store:
        (kept,), last = store.pending_callbacks("node-a")
        assert (kept.id, kept.call_id, kept.number, kept.status) == ("CB-00001", second.uniqueid, "13900000002", "due")

    engine = Engine(cfg, clock=clock.now, web=False, pipeline=NoSpeech())  # the restarted engine
    await engine.start()
    try:
        world.agi_port = engine.agi.port
        assert engine.pending_callbacks() == 1
        await _until(lambda: engine.stats.callbacks_answered == 1, 30, "the call back after the restart")
        back = next(t for t in world.truth.values() if t.kind == "callback")
        assert back.callback_ref == "CB-00001" and world.model.record(back.uniqueid).caller_num == "13900000002"
        assert world.model.record(first.uniqueid).ended_at is not None  # dialled once the call-taker was free
        third = await world.call(CallerPlan(number="13900000003", dtmf=["1", "0", "1", "1"], talk_time=30.0))
        assert third.callback_ref == "CB-00002"  # ids go on after the restart, never repeat
        await engine.store.flush()
    finally:
        await engine.stop()
        await world.stop()
    with Store.open(tmp_path / "cb.sqlite", create=False) as store:
        pending, last = store.pending_callbacks("node-a")
        assert [c.id for c in pending] == ["CB-00002"] and last == "CB-00002"
        kinds = [i.kind for i in store.call_timeline(second.uniqueid).items]
        assert kinds.count("callback.answered") == 1
