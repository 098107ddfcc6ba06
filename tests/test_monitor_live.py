"""``hotline monitor`` live against the PBX simulator, and its MQTT output against mosquitto."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest

from engine.cli import main
from engine.commands.monitor import run_live
from engine.config import Config
from engine.pbxsim.ami_server import AmiServer
from engine.pbxsim.clock import ManualClock
from queueing.monitor import QueueMonitor
from tests.mosquitto_helpers import Collector, Mosquitto

pytestmark = pytest.mark.timeout(60)


def test_monitor_once_json_against_the_simulator(monkeypatch, capsys):
    clock = ManualClock()
    server = AmiServer(clock=clock)
    for interface in ("Local/agent1@agents/n", "Local/agent2@agents/n", "Local/agent3@agents/n"):
        server.pause_member(interface, True, queue="citizen", reason="meeting")
    server.add_caller("citizen", caller_num="13912345678", caller_name="张三丰")
    clock.advance(7)

    async def run_once():
        await server.start()
        try:
            return await asyncio.to_thread(main, [
                "monitor", "--ami", f"127.0.0.1:{server.port}", "--user", "hotline", "--secret-env", "SIM_SECRET",
                "--once", "--json", "--queue", "citizen"])
        finally:
            await server.stop()

    monkeypatch.setenv("SIM_SECRET", "hotlinepw")
    assert asyncio.run(run_once()) == 0
    out = capsys.readouterr().out
    (v,) = json.loads(out)
    assert (v["queue"], v["waiting"], v["offered"], v["sl_seconds"]) == ("citizen", 1, 1, 20)
    assert v["longest_wait"] >= 7 and v["agents"]["paused"] == 3 and v["agents"]["logged_in"] == 3
    assert "13912345678" not in out and v["callers"][0]["caller"].startswith("139")


def test_monitor_wrong_secret_is_one_line(monkeypatch, capsys):
    async def go():
        async with AmiServer(clock=ManualClock()) as server:
            return await asyncio.to_thread(main, ["monitor", "--ami", f"127.0.0.1:{server.port}",
                                                  "--secret-env", "BAD_SECRET", "--once"])

    monkeypatch.setenv("BAD_SECRET", "wrong")
    assert asyncio.run(go()) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "wrong" not in err


async def test_live_monitor_publishes_snapshots_agent_states_to_mqtt(tmp_path, monkeypatch, capsys):
    broker = Mosquitto(tmp_path)
    broker.start()
    clock = ManualClock()
    server = AmiServer(clock=clock)
    await server.start()
    cfg = Config()
    cfg.mqtt.host, cfg.mqtt.port, cfg.site.name = "127.0.0.1", broker.port, "east"
    monkeypatch.setenv("SIM_SECRET", "hotlinepw")
    args = argparse.Namespace(ami=f"127.0.0.1:{server.port}", user="hotline", secret_env="SIM_SECRET", json=True,
                              once=False, refresh=0.05, intervals=False, queue=None, sl=None, interval=None,
                              wrapup=0.0)
    try:
        async with Collector(broker.port, "hotline/east/#") as sub:
            monitor = QueueMonitor()
            task = asyncio.create_task(run_live(args, cfg, monitor))
            for _ in range(200):  # connected and the first QueueStatus applied
                if monitor.queues:
                    break
                await asyncio.sleep(0.02)
            server.add_caller("citizen", caller_num="13912345678")
            server.pause_member("Local/agent3@agents/n", True, queue="citizen", reason="break")
            server.advance(2)  # rung and answered

            def latest(kind, topic_end):
                found = [json.loads(m.payload) for m in sub.messages
                         if str(m.topic).endswith(topic_end) and json.loads(m.payload)["kind"] == kind]
                return found[-1] if found else None

            for _ in range(100):
                snap = latest("queue_snapshot", "/queues/citizen")
                paused = latest("agent_state", "/agents/Local%2Fagent3@agents%2Fn")
                if snap and snap["answered"] == 1 and paused and paused["state"] == "paused":
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            assert await task == 130
        assert snap["schema"] == 1 and snap["site"] == "east" and snap["offered"] == 1 and snap["answered"] == 1
        assert paused["reason"] == "break"
        joins = [json.loads(m.payload) for m in sub.messages if str(m.topic).endswith("/events")]
        assert any(j["event"] == "QueueCallerJoin" and j["caller"] == "139****5678" for j in joins)
        assert any(j["event"] == "AgentConnect" and j["queue"] == "citizen" for j in joins)
        assert not any(b"13912345678" in m.payload for m in sub.messages)
        assert json.loads(capsys.readouterr().out.splitlines()[-1])[0]["queue"] in ("citizen", "evening")
    finally:
        await server.stop()
        broker.stop()
