"""The whole engine in one process against the PBX world, with calls arriving both ways a real
Asterisk gives them: on Local channel pairs (the README's ``hotline-in`` dialplan; FastAGI and
Queue() on ``;2``, so the IVR channel's Uniqueid is not the call's Linkedid) and on one channel.

Whatever the channels, every call is one record under its Linkedid, its intake transcript and
taps land on it, and once the callers are gone no call is left live: not on the live page, not in
/healthz, not in the call core (the defect: calls whose IVR ran on ``;2`` stayed live forever)."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from engine.app import Engine
from engine.demo import SpeechBank, conversation
from engine.pbxsim.world import CallerPlan
from engine.store import Store
from tests.sim_engine import NoSpeech, engine_config, evening_world, intake_turn
from tests.sim_engine import until as _until
from tests.test_serve import SPEECH_CACHE


@pytest.mark.parametrize("channels", ["local", "direct"])
async def test_calls_end_and_join_up_whatever_the_channels(tmp_path: Path, channels: str) -> None:
    bank = SpeechBank.load(SPEECH_CACHE / "demo-speech")
    world, clock = evening_world(10.0, channels=channels)
    await world.start()
    cfg = engine_config(tmp_path, world, **{"store.audio_dir": str(tmp_path / "a"), "web.port": 0,
                                            "web.token": "t0ken-for-tests"})
    engine = Engine(cfg, clock=clock.now, web=True, intake_partials=False)
    await engine.start()
    caller_pcm, agent_pcm, seconds = conversation(bank, "streetlight")
    intake = intake_turn(bank, "streetlight")
    plans = [
        # Mandarin, complaint, speaks at the intake step, queued, answered and tapped
        CallerPlan(number="13912345678", name="张三", dtmf=["1", "2", "2"], intake_audio=intake, patience=None,
                   talk_time=seconds + 5.0, caller_audio=caller_pcm, agent_audio=agent_pcm),
        # operator branch, answered
        CallerPlan(number="13800000002", dtmf=["1", "0", "2"], patience=None, talk_time=20.0),
        # hangs up during the menu
        CallerPlan(number="13800000003", dtmf=["1"], hangup_at=3),
    ]
    try:
        world.agi_port = engine.agi.port
        await _until(lambda: engine.ami.connected, 10, "AMI login")
        truths = []
        for plan in plans:
            truths.append(await world.call(plan))
            await asyncio.sleep(0.2)
        await _until(lambda: not world.busy(), 60, "every call to end")
        await _until(lambda: engine.taps_active == 0 and engine.pipeline.backlog() < 0.05, 30, "taps to finish")
        await asyncio.sleep(0.3)
        assert [t.ivr_outcome for t in truths] == ["queued", "queued", "abandoned_in_ivr"]
        if channels == "local":
            assert all(t.agi_uniqueid != t.uniqueid for t in truths)  # the IVR ran on ;2
        assert engine.calls.live_calls == []
        assert engine.hub.live_calls == 0 and engine.hub.snapshot() == []
        assert engine.health()["taps"]["active_legs"] == 0
        await engine.store.flush()
    finally:
        await engine.stop()
        await world.stop()
    with Store.open(tmp_path / "h.sqlite", create=False) as store:
        assert store.counts()["calls"] == len(truths)  # one record per call, not one per channel
        for t in truths:
            rec = store.get_call(t.uniqueid)
            assert rec is not None and rec.id == t.uniqueid and rec.ended_at is not None
            assert rec.caller_number == t.plan.number and rec.ivr_flow == "hotline"
            assert store.get_call(t.agi_uniqueid).id == t.uniqueid  # the IVR channel is an alias of the call
        spoken = store.segments(truths[0].uniqueid)
        assert {s.leg for s in spoken} == {"caller", "agent"}  # intake and both tapped sides, on the call
        rec = store.get_call(truths[0].uniqueid)
        intake_end = min(s.start for s in spoken if s.leg == "agent")
        assert intake_end >= rec.answered_at - rec.started_at - 1.0  # taps sit after the answer on the call's clock
        assert rec.language == "zh"  # chosen in the IVR (1 = Mandarin): the call list filters on it
        # the tapped legs are recorded: one WAV per side, linked to the call, starting at the answer
        recorded = store.audio(truths[0].uniqueid)
        assert sorted(a.leg for a in recorded) == ["agent", "caller"]
        for a in recorded:
            assert a.offset == pytest.approx(rec.answered_at - rec.started_at, abs=1.0)
            with wave.open(str(tmp_path / "a" / a.path)) as w:
                assert w.getframerate() == 8000 and w.getnframes() >= 8000 * (seconds - 1.0)
        assert store.audio(truths[2].uniqueid) == []  # hung up in the menu: never answered, never tapped


async def test_a_call_that_ends_while_ami_is_down_ends_after_the_reconnect(tmp_path: Path) -> None:
    """Its hang-up is lost with the connection; after the reconnect the engine asks Asterisk which
    channels are up (CoreShowChannels) and ends the calls that are not: nothing stays live forever."""
    world, clock = evening_world(10.0)
    await world.start()
    cfg = engine_config(tmp_path, world, **{"tap.enabled": False})
    engine = Engine(cfg, clock=clock.now, web=False, pipeline=NoSpeech())
    await engine.start()
    try:
        world.agi_port = engine.agi.port
        await _until(lambda: engine.ami.connected, 10, "AMI login")
        stays = await world.call(CallerPlan(number="13800000001", dtmf=["1", "0", "2"], talk_time=600.0))
        goes = await world.call(CallerPlan(number="13800000002", dtmf=["1", "0", "2"], talk_time=25.0))
        await _until(lambda: world.model.record(goes.uniqueid).answered_at is not None, 10, "the answer")
        assert sorted(engine.calls.live_calls) == sorted([stays.uniqueid, goes.uniqueid])
        await world.server.restart(down_for=3.5, graceful=False)  # 35 simulated s: the second call ends meanwhile
        assert world.model.record(goes.uniqueid).outcome == "completed"
        await _until(lambda: engine.calls.live_calls == [stays.uniqueid], 10, "the lost hang-up to be found")
        assert engine.hub.live_calls == 1
    finally:
        await engine.stop()
        await world.stop()
    with Store.open(tmp_path / "h.sqlite", create=False) as store:
        assert store.get_call(goes.uniqueid).ended_at is not None
        reasons = [i.data.get("reason") for i in store.call_timeline(goes.uniqueid).items if i.kind == "call.hangup"]
        assert reasons == ["gone after reconnect"]
