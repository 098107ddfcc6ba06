"""``hotline serve`` as a subprocess against the PBX simulator: start, health, one call through the
default flow (intake speech over AudioSocket, queue, call-taker), a ChanSpy tap of both sides, and a
clean stop on SIGTERM with the transcripts stored."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest

from engine.demo import SpeechBank, conversation, sim_queues
from engine.pbxsim.clock import ScaledClock
from engine.pbxsim.world import CallerPlan, PbxWorld
from engine.store import Store
from ivr_flows.dryrun import lead_in_prompts
from ivr_flows.loader import load_flows
from tests.sim_engine import SECRET, engine_config, intake_turn

HOTLINE = Path(sys.executable).with_name("hotline")
SPEECH_CACHE = Path(tempfile.gettempdir()) / "hotline-test-speech"


async def _wait_for(predicate, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


async def _health(port: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
        return resp.status, await resp.json()


def open_around_the_clock(tmp_path: Path) -> Path:
    """serve runs on the real clock: the default flow, open whenever the test runs."""
    shipped = Path(load_flows.__code__.co_filename).parent / "flows" / "hotline.yaml"
    text = shipped.read_text(encoding="utf-8").replace('mon-sun: "08:00-22:00"', 'mon-sun: "00:00-24:00"')
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith(("holidays:", "special:", "2026-")))
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hotline.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "flows"


@pytest.fixture
def bank() -> SpeechBank:
    return SpeechBank.load(SPEECH_CACHE / "demo-speech")


async def test_serve_handles_a_call_and_stops_on_sigterm(tmp_path: Path, bank: SpeechBank) -> None:
    flow = load_flows()["hotline"]
    clock = ScaledClock(speed=5.0)
    world = PbxWorld(sim_queues(2, 20), clock=clock, secret="s3cret", lead_ins=dict.fromkeys(lead_in_prompts(flow), ""))
    await world.start()
    db = tmp_path / "serve.sqlite"
    flows = open_around_the_clock(tmp_path)
    config = tmp_path / "hotline.toml"
    config.write_text(f"""
[ami]
port = {world.ami_port}
reconnect_min = 0.2
[agi]
port = 0
[audiosocket]
port = 0
[store]
path = "{db}"
audio_dir = "{tmp_path / 'audio'}"
[web]
port = 0
[flows]
paths = ["{flows}"]
callback_retry_seconds = 5.0
""", encoding="utf-8")
    ready = tmp_path / "ready.json"
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "HOTLINE_AMI_SECRET": "s3cret", "HOTLINE_WEB_TOKEN": "test-token-123"}
    env.pop("HOTLINE_CONFIG", None)
    with open(log_path, "wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            str(HOTLINE), "--config", str(config), "serve", "--ready-file", str(ready), "--log-format", "json",
            env=env, stdout=log_file, stderr=log_file, cwd=tmp_path)
    try:
        async def is_ready():
            assert proc.returncode is None, log_path.read_text()
            return ready.exists()

        await _wait_for(is_ready, 90, "hotline serve to listen")
        ports = json.loads(ready.read_text())

        async def ami_up():
            status, body = await _health(ports["web"])
            return (status, body) if body["components"]["ami"]["ok"] else None

        status, body = await _wait_for(ami_up, 20, "AMI login")
        assert status == 200 and body["status"] == "ok"
        assert set(body["components"]) >= {"ami", "agi", "audiosocket", "asr", "store", "bus", "taps"}

        # one citizen: Mandarin, complaint, speaks at the intake step, declines a callback offer
        caller_pcm, agent_pcm, seconds = conversation(bank, "streetlight")
        plan = CallerPlan(number="13912345678", name="张三", dtmf=["1", "2", "2"],
                          intake_audio=intake_turn(bank, "streetlight"),
                          patience=None, talk_time=seconds + 15.0, caller_audio=caller_pcm, agent_audio=agent_pcm)
        world.agi_port = ports["agi"]
        truth = await world.call(plan)
        assert truth.queued and truth.intake and truth.ivr_outcome == "queued"

        async def call_over():
            return not world.busy()

        await _wait_for(call_over, 40, "the call to end")
        assert sorted(truth.tapped) == ["agent", "caller"]
        await asyncio.sleep(0.5)

        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await world.stop()
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    text = log_path.read_text(encoding="utf-8")
    assert rc == 0, text[-3000:]
    assert any(line["msg"] == "hotline serve stopped cleanly" for line in lines)
    assert "13912345678" not in text  # the caller's number never reaches the log
    with Store.open(db, create=False) as store:
        rec = store.get_call(truth.uniqueid)
        assert rec is not None and rec.outcome == "answered" and rec.ivr_outcome == "queued"
        assert rec.agent == world.model.record(truth.uniqueid).member_name
        segments = store.segments(truth.uniqueid)
        legs = {s.leg for s in segments}
        assert legs == {"caller", "agent"}, segments
        # the intake (before the answer) and the tapped conversation (after it) are both there
        answered = rec.answered_at - rec.started_at
        caller = [s for s in segments if s.leg == "caller"]
        assert min(s.start for s in caller) < answered <= max(s.start for s in caller) + 1.0


async def test_stop_mid_conversation_keeps_the_open_utterances(tmp_path: Path, bank: SpeechBank) -> None:
    """Stopping (what SIGTERM does) while both sides are being tapped: the utterances in progress
    are finished, decoded and stored before the store closes."""
    from engine.app import Engine

    flow = load_flows()["hotline"]
    clock = ScaledClock(speed=2.0)
    world = PbxWorld(sim_queues(1, 20), clock=clock, secret=SECRET, lead_ins=dict.fromkeys(lead_in_prompts(flow), ""))
    await world.start()
    cfg = engine_config(tmp_path, world, **{"store.path": str(tmp_path / "stop.sqlite"),
                                            "flows.paths": str(open_around_the_clock(tmp_path))})
    engine = Engine(cfg, web=False)  # real clock, real speech pipeline
    await engine.start()
    try:
        world.agi_port = engine.agi.port
        await _wait_for(lambda: _async(engine.ami.connected), 10, "AMI login")
        caller_pcm, agent_pcm, seconds = conversation(bank, "pothole")
        # operator branch (no intake); the call lasts far longer than this test
        plan = CallerPlan(number="13900000009", dtmf=["1", "0", "2"], talk_time=600.0,
                          caller_audio=caller_pcm, agent_audio=agent_pcm)
        truth = await world.call(plan)
        assert truth.queued
        await _wait_for(lambda: _async(engine.taps_active == 2), 20, "both taps")
        # stop while the caller is still describing the pothole (after the greeting, mid-request)
        greet = bank.agent["greet"].size / 8000 + 0.5 + 0.7
        await asyncio.sleep((greet + 2.5) / clock.speed)
    finally:
        await engine.stop()
        await world.stop()
    with Store.open(tmp_path / "stop.sqlite", create=False) as store:
        legs = {s.leg for s in store.segments(truth.uniqueid)}
    assert legs == {"caller", "agent"}  # the greeting (ended) and the request (cut off by the stop)


async def _async(value):
    return value
