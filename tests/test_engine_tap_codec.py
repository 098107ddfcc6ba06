"""A 16 kHz tap end to end: ``[tap] codec = "slin16"`` makes the engine dial
``AudioSocket/host:port/uuid/c(slin16)``; the PBX simulator streams that tap as chan_audiosocket
would (kind 0x12, 640-byte frames), while the IVR's ``EXEC AudioSocket`` stays 8 kHz on the same
server; both sides of the conversation are transcribed onto the call, by either speech backend (Vosk, or
sherpa-onnx with the tiny transducer of tests/sherpa_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.app import Engine
from engine.demo import SpeechBank, conversation
from engine.pbxsim.world import CallerPlan, _tap_rate
from engine.store import Store
from tests.sherpa_helpers import build_tiny_transducer
from tests.sim_engine import engine_config, evening_world, intake_turn
from tests.sim_engine import until as _until
from tests.test_serve import SPEECH_CACHE


def test_the_simulator_reads_the_tap_channels_codec_as_chan_audiosocket() -> None:
    assert [_tap_rate(o) for o in ("", "c(slin)", "c(slin16)", "c(slin44)")] == [8000, 8000, 16000, 44100]
    assert _tap_rate("c(ulaw)") is None and _tap_rate("x(slin16)") is None and _tap_rate("c(nope)") is None


@pytest.mark.parametrize("backend", ["vosk", "sherpa-onnx"])
async def test_a_slin16_tap_through_the_simulator_into_the_engine(tmp_path: Path, backend: str) -> None:
    bank = SpeechBank.load(SPEECH_CACHE / "demo-speech")
    world, clock = evening_world(10.0)
    await world.start()
    asr = ""
    if backend == "sherpa-onnx":
        asr = f'[asr]\nbackend = "sherpa-onnx"\nmodel = "{build_tiny_transducer(tmp_path / "tiny")}"\n'
    cfg = engine_config(tmp_path, world, '[tap]\ncodec = "slin16"\n' + asr, **{"store.audio_dir": str(tmp_path / "a")})
    engine = Engine(cfg, clock=clock.now, web=False, intake_partials=False)
    await engine.start()
    sessions = []
    handler = engine.audiosocket.on_session

    async def seen(session) -> None:  # every session the engine's AudioSocket server runs
        sessions.append(session)
        await handler(session)

    engine.audiosocket.on_session = seen
    caller_pcm, agent_pcm, seconds = conversation(bank, "streetlight")
    plan = CallerPlan(number="13912345678", name="张三", dtmf=["1", "2", "2"],
                      intake_audio=intake_turn(bank, "streetlight"),
                      talk_time=seconds + 5.0, caller_audio=caller_pcm, agent_audio=agent_pcm)
    try:
        world.agi_port = engine.agi.port
        await _until(lambda: engine.ami.connected, 10, "AMI login")
        truth = await world.call(plan)
        await _until(lambda: not world.busy(), 60, "the call to end")
        await _until(lambda: engine.taps_active == 0 and engine.pipeline.backlog() < 0.05, 30, "taps to finish")
        await engine.store.flush()
    finally:
        await engine.stop()
        await world.stop()
    assert truth.ivr_outcome == "queued" and sorted(truth.tapped) == ["agent", "caller"]
    assert truth.tap_rates == [16000, 16000]  # the Originate carried c(slin16)
    assert len(sessions) == 3  # the intake step's, then one per tapped side
    intake_session, *taps = sessions
    assert intake_session.in_rate == 8000 and intake_session.stats.rate_changes == 0  # AudioSocket(): slin
    for tap in taps:
        s = tap.stats
        assert tap.in_rate == tap.rate == 16000 and s.rate_changes == 0
        assert s.frames_in > 100 and 640 * (s.frames_in - 1) < s.bytes_in <= 640 * s.frames_in  # 20 ms frames
    with Store.open(tmp_path / "h.sqlite", create=False) as store:
        spoken = store.segments(truth.uniqueid)
        rec = store.get_call(truth.uniqueid)
    tapped = [s for s in spoken if s.start >= rec.answered_at - rec.started_at - 1.0]
    assert {s.leg for s in tapped} == {"caller", "agent"} and all(s.text for s in tapped)
    if backend == "sherpa-onnx":  # the tiny model writes only these two tokens: its text reached the store
        assert set("".join(s.text for s in tapped)) <= {"低", "高", " "}
