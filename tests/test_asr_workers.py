"""Taps decoded on ASR workers: real ``hotline asr-worker`` subprocesses, a real mosquitto, the engine
in this process and calls from the PBX simulator.

- legs spread over two workers and their transcripts land under the right call and side, on the
  call's clock; a worker stopped (SIGTERM) mid-call finishes its utterances and the rest of its
  legs goes to the other worker: nothing lost;
- a worker killed (SIGKILL) mid-call loses at most the utterance then being spoken (counted), the
  rest of that leg is heard on the other worker, and the next call goes there; with no worker
  alive the next call is decoded in the engine itself (counted).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.app import Engine
from engine.demo import SpeechBank, conversation
from engine.pbxsim.world import CallerPlan
from engine.store import Store
from tests.mosquitto_helpers import Collector, Mosquitto
from tests.sim_engine import engine_config, evening_world
from tests.sim_engine import until as _until
from tests.test_serve import SPEECH_CACHE

HOTLINE = Path(sys.executable).with_name("hotline")
SPEED = 2.0  # simulated seconds per real second (decoding is about 0.5 s of CPU per second of speech here)
OPERATOR = ["1", "0", "2"]  # Mandarin, the operator branch (no intake step), queue


class Worker:
    """``hotline asr-worker`` as a subprocess, its log in a file."""

    def __init__(self, tmp: Path, config: Path, name: str) -> None:
        self.name = name
        self.ready = tmp / f"{name}.json"
        self.log = tmp / f"{name}.log"
        self.proc = subprocess.Popen(
            [str(HOTLINE), "--config", str(config), "asr-worker", "--name", name, "--port", "0",
             "--ready-file", str(self.ready)], stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))

    async def wait_ready(self, timeout: float = 60.0) -> dict:
        await _until(lambda: self.ready.exists() or self.proc.poll() is not None, timeout, f"worker {self.name}")
        assert self.proc.poll() is None, f"worker {self.name} exited: {self.log.read_text()}"
        return json.loads(self.ready.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def speech_turns(bank: SpeechBank, topics: list[str], gap: float) -> tuple[bytes, list[tuple[float, float]]]:
    """The caller says one intake line per topic, ``gap`` s apart; (audio, (start, end) of each)."""
    parts, spans, t = [np.zeros(4000, np.int16)], [], 0.5
    for topic in topics:
        x = bank.intake[topic]
        spans.append((t, t + x.size / 8000))
        parts += [x, np.zeros(int(gap * 8000), np.int16)]
        t += x.size / 8000 + gap
    pcm = np.concatenate(parts)
    pcm = np.concatenate([pcm, np.zeros(-pcm.size % 160, np.int16)])
    return pcm.tobytes(), spans


class Rig:
    """mosquitto, two workers, the PBX world and the engine (decode = "workers")."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bank = SpeechBank.load(SPEECH_CACHE / "demo-speech")
        self.broker = Mosquitto(tmp)
        self.workers: dict[str, Worker] = {}

    async def __aenter__(self) -> Rig:
        self.broker.start()
        config = self.tmp / "worker.toml"
        config.write_text(f"[mqtt]\nhost = \"127.0.0.1\"\nport = {self.broker.port}\n[asr]\nworkers = 1\n"
                          "[tap]\npartials = false\n", encoding="utf-8")
        self.workers = {name: Worker(self.tmp, config, name) for name in ("w1", "w2")}
        self.world, self.clock = evening_world(SPEED)
        await self.world.start()
        cfg = engine_config(self.tmp, self.world, **{
            "mqtt.host": "127.0.0.1", "mqtt.port": self.broker.port, "tap.decode": "workers", "tap.record": False,
            "tap.partials": False})
        self.engine = Engine(cfg, clock=self.clock.now, web=False, intake_partials=False)
        await self.engine.start()
        self.world.agi_port = self.engine.agi.port
        self.sessions = Collector(self.broker.port, "hotline/default/asr/sessions/#")
        await self.sessions.__aenter__()
        for worker in self.workers.values():
            await worker.wait_ready()
        await _until(lambda: self.engine.ami.connected, 10, "AMI login")
        await _until(lambda: self.engine.workers.ready(time.monotonic()) == ["w1", "w2"], 20, "both workers")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.sessions.__aexit__()
            await self.engine.stop()
            await self.world.stop()
        finally:
            for worker in self.workers.values():
                worker.stop()
            self.broker.stop()

    def session_workers(self) -> dict[str, str]:
        """AudioSocket session UUID -> the worker that opened it (what the workers said on the bus)."""
        return {str(m.topic).rsplit("/", 1)[1]: json.loads(m.payload)["worker"] for m in self.sessions.messages
                if json.loads(m.payload).get("state") == "open"}

    def tap(self, call: str, side: str):
        return next((t for t in self.engine.taps._taps.values() if t.call_id == call and t.side == side), None)

    async def settle(self) -> None:
        await _until(lambda: not self.world.busy(), 90, "every call to end")
        await _until(lambda: self.engine.taps_active == 0, 30, "taps to finish")
        await asyncio.sleep(0.3)
        await self.engine.store.flush()

    def segments(self, call: str) -> tuple[float, list]:
        """(call time of the answer, the call's transcript segments) from the store."""
        with Store.open(self.tmp / "h.sqlite", create=False, readonly=True) as store:
            rec = store.get_call(call)
            return rec.answered_at - rec.started_at, store.segments(call)


def _heard(spans: list[tuple[float, float]], answer: float, segments: list, leg: str) -> list[bool]:
    """Per span (seconds into the conversation): is there a final of ``leg`` over it, on the call's clock?"""
    mine = [s for s in segments if s.leg == leg]
    return [any(s.start < answer + b + 0.5 and s.end > answer + a - 0.5 for s in mine) for a, b in spans]


async def test_legs_spread_over_two_workers_and_a_stopping_worker_hands_its_legs_over(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        bank = rig.bank
        plans = []
        for topic in ("streetlight", "noise"):
            caller, agent, seconds = conversation(bank, topic, gap=1.5)
            plans.append(CallerPlan(number="13912345678", dtmf=OPERATOR, patience=None, talk_time=seconds + 3.0,
                                    caller_audio=caller, agent_audio=agent))
        calls = await asyncio.gather(*(rig.world.call(plan) for plan in plans))
        await _until(lambda: len(rig.session_workers()) == 4, 60, "four tapped legs")
        spread = list(rig.session_workers().values())
        assert sorted(spread) == ["w1", "w1", "w2", "w2"]  # least busy first: two legs each
        # mid-conversation, w1 is stopped: it finishes what it heard, the rest goes to w2
        await asyncio.sleep(4.0 / SPEED)
        rig.workers["w1"].proc.send_signal(signal.SIGTERM)
        assert await asyncio.get_running_loop().run_in_executor(None, rig.workers["w1"].proc.wait, 30) == 0
        await rig.settle()
        stats = rig.engine.stats
        assert stats.taps_moved == 2 and stats.taps_lost == 0 and stats.utterances_lost == 0
        assert stats.taps_remote == 6 and stats.taps_local_fallback == 0
        assert sorted(rig.session_workers().values()) == ["w1", "w1", "w2", "w2", "w2", "w2"]
        log = rig.workers["w1"].log.read_text()
        assert "Traceback" not in log and "SIGTERM received" in log and "stopped cleanly" in log
    for call, topic in zip(calls, ("streetlight", "noise"), strict=True):
        answer, segments = rig.segments(call.uniqueid)
        assert {s.leg for s in segments} == {"caller", "agent"}  # under the call it was, by side
        # every utterance of both sides is heard, where it was said on the call's clock
        turns = [("agent", bank.agent["greet"]), ("caller", bank.intake[topic]), ("agent", bank.agent["close"]),
                 ("caller", bank.caller["thanks"])]
        t, spans = 0.5, {"caller": [], "agent": []}
        for who, x in turns:
            spans[who].append((t, t + x.size / 8000))
            t += x.size / 8000 + 1.5
        for leg in ("caller", "agent"):
            assert _heard(spans[leg], answer, segments, leg) == [True, True], (leg, answer, segments)


async def test_a_killed_worker_loses_at_most_the_open_utterance_and_the_next_calls_go_elsewhere(
        tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        bank = rig.bank
        topics = ["streetlight", "pothole", "noise", "garbage", "water"]
        caller, spans = speech_turns(bank, topics, gap=3.0)
        agent = bytes(len(caller))  # the call-taker listens
        finals = Collector(rig.broker.port, "hotline/default/calls/+/transcript")
        async with finals:
            first = await rig.world.call(CallerPlan(number="13912345678", dtmf=OPERATOR, patience=None,
                                                    talk_time=len(caller) / 16000 + 3.0, caller_audio=caller,
                                                    agent_audio=agent))
            await _until(lambda: rig.tap(first.uniqueid, "caller") is not None
                         and rig.tap(first.uniqueid, "caller").connected.is_set(), 60, "the caller's tap")
            victim = rig.tap(first.uniqueid, "caller").worker
            survivor = ({"w1", "w2"} - {victim}).pop()
            assert rig.tap(first.uniqueid, "agent").worker == survivor  # the two sides on two workers

            def caller_finals() -> int:
                return sum(1 for p in finals.payloads() if p.get("kind") == "transcript_final"
                           and p.get("leg") == "caller")

            # the worker dies while the caller says the third line, the first two transcribed
            leg = rig.tap(first.uniqueid, "caller")
            await _until(lambda: caller_finals() >= 2 and len(leg.pending) == 1, 60,
                         "the first two lines' finals and the third line begun")
            rig.workers[victim].proc.send_signal(signal.SIGKILL)
            await _until(lambda: rig.engine.workers.ready(time.monotonic()) == [survivor], 5,
                         "the engine to know (the broker sends the worker's last will)")
            await rig.settle()
        stats = rig.engine.stats
        assert stats.taps_lost == 1 and stats.utterances_lost == 1  # the caller's leg, the third line
        assert stats.taps_moved == 1
        answer, segments = rig.segments(first.uniqueid)
        heard = _heard(spans, answer, segments, "caller")
        assert heard[:2] == [True, True] and heard[3:] == [True, True], (heard, answer, segments)
        assert all(answer - 0.5 <= s.start <= answer + spans[-1][1] + 1.0 for s in segments)

        # the next call goes to the survivor, both sides
        before = set(rig.session_workers())
        talk, agent_side, seconds = conversation(bank, "bus", gap=1.0)
        second = await rig.world.call(CallerPlan(number="13800000002", dtmf=OPERATOR, patience=None,
                                                 talk_time=seconds + 3.0, caller_audio=talk, agent_audio=agent_side))
        await rig.settle()
        assert [w for s, w in rig.session_workers().items() if s not in before] == [survivor, survivor]
        assert {s.leg for s in rig.segments(second.uniqueid)[1]} == {"caller", "agent"}

        # no worker alive: the next call is decoded here, and counted
        rig.workers[survivor].proc.send_signal(signal.SIGTERM)
        await _until(lambda: rig.engine.workers.names == [], 30, "the last worker to leave")
        assert rig.engine.health()["workers"]["ok"] is False
        third = await rig.world.call(CallerPlan(number="13800000003", dtmf=OPERATOR, patience=None,
                                                talk_time=seconds + 3.0, caller_audio=talk, agent_audio=agent_side))
        await rig.settle()
        assert stats.taps_local_fallback == 2 and stats.taps_lost == 1
        assert {s.leg for s in rig.segments(third.uniqueid)[1]} == {"caller", "agent"}
        assert rig.workers[victim].proc.wait(5) == -signal.SIGKILL and rig.workers[survivor].proc.wait(5) == 0
        assert rig.engine.health()["taps"]["lost"] == 1 and rig.engine.health()["taps"]["utterances_lost"] == 1


@pytest.mark.parametrize("argv, says", [
    (["asr-worker"], "hotline asr-worker: [mqtt] host is not set"),
    (["--set", "mqtt.host=127.0.0.1", "--set", "worker.timeout=0.5", "asr-worker"],
     "hotline asr-worker: [worker] timeout (0.5 s) must be longer than heartbeat (1 s)"),
    (["asr-worker", "--port", "70000"], "argument --port: expected a whole number between 0 and 65535"),
])
def test_asr_worker_refuses_a_config_it_cannot_run_with_one_line(tmp_path: Path, argv: list[str], says: str) -> None:
    (tmp_path / "hotline.toml").write_text("", encoding="utf-8")
    env = {**os.environ, "HOTLINE_CONFIG": str(tmp_path / "hotline.toml")}
    done = subprocess.run([str(HOTLINE), *argv], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr


def test_asr_worker_on_a_port_in_use_says_which(tmp_path: Path) -> None:
    import socket

    (tmp_path / "hotline.toml").write_text("[mqtt]\nhost = \"127.0.0.1\"\n", encoding="utf-8")
    env = {**os.environ, "HOTLINE_CONFIG": str(tmp_path / "hotline.toml")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(HOTLINE), "asr-worker", "--port", str(port)], capture_output=True, text=True,
                              env=env, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"hotline asr-worker: AudioSocket cannot listen on 127.0.0.1:{port} ([worker] port or --port): "
            "address already in use") in done.stderr


async def test_the_documented_acl_keeps_the_workers_transcripts_from_other_subscribers(tmp_path: Path) -> None:
    """docs/mqtt.md's ACL on a real mosquitto: a wallboard subscribed to everything gets the masked
    public transcript but not the workers' unmasked link; the engine gets that."""
    import aiomqtt

    from engine.bus.publisher import MqttPublisher
    from tests.mosquitto_helpers import MOSQUITTO, free_port

    doc = (Path(__file__).resolve().parents[1] / "docs" / "mqtt.md").read_text(encoding="utf-8")
    acl = doc.split("# /etc/mosquitto/acl\n", 1)[1].split("```", 1)[0]
    (tmp_path / "acl").write_text(acl, encoding="utf-8")
    passwd = tmp_path / "passwd"
    for i, user in enumerate(("engine", "asr-worker", "wallboard")):
        subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(passwd), user, f"{user}-pw"],
                       check=True, capture_output=True)
    port = free_port()
    root = "user root\n" if os.geteuid() == 0 else ""
    (tmp_path / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n{root}"
                                     f"password_file {passwd}\nacl_file {tmp_path / 'acl'}\n", encoding="utf-8")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "m.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    got: dict[str, list[str]] = {"engine": [], "wallboard": []}

    async def listen(user: str, ready: asyncio.Event) -> None:
        async with aiomqtt.Client("127.0.0.1", port, username=user, password=f"{user}-pw") as client:
            await client.subscribe("hotline/#", qos=1)
            ready.set()
            async for message in client.messages:
                got[user].append(message.payload.decode())

    try:
        await _until(lambda: _listening(port), 10, "mosquitto")
        ready = {u: asyncio.Event() for u in got}
        listeners = [asyncio.ensure_future(listen(u, ready[u])) for u in got]
        for event in ready.values():
            await asyncio.wait_for(event.wait(), 5)
        async with MqttPublisher("127.0.0.1", port, username="asr-worker", password="asr-worker-pw") as worker, \
                MqttPublisher("127.0.0.1", port, username="engine", password="engine-pw") as engine:
            worker.asr_session("u1", "asr_speech", {"worker": "w1", "speech": {"event": "final", "text": "13912345678"}},
                               1.0)
            engine.transcript_final("1700.1", {"leg": "caller", "text": "13912345678"}, 1.0)
            assert await worker.wait_flushed(5) and await engine.wait_flushed(5)
        await _until(lambda: len(got["engine"]) == 2 and len(got["wallboard"]) == 1, 5, "both messages")
        await asyncio.sleep(0.3)
        assert [m for m in got["wallboard"] if "13912345678" in m] == []  # masked, and the link not delivered
        assert "139****5678" in got["wallboard"][0]
        assert any("13912345678" in m for m in got["engine"])
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    finally:
        broker.terminate()
        broker.wait(5)


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
