"""Loopback: PBX simulator (virtual time) -> AMI client -> queue monitor, against ground truth.

200 calls through two queues with 10 call-takers, pauses, a late login, and an AMI disconnect in
the middle during which calls join, are answered, complete and abandon unseen. At the end the
monitor's totals must equal what the simulator really did.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from engine.asterisk.ami_client import AmiClient
from engine.events.ami import AmiConnected, AmiReconnected
from engine.pbxsim.ami_server import AmiServer
from engine.pbxsim.clock import ManualClock
from engine.pbxsim.queue_model import parse_queues
from queueing.monitor import QueueMonitor

pytestmark = pytest.mark.timeout(120)

QUEUES = {
    "defaults": {"answer_after": 1.0, "talk_min": 40.0, "talk_max": 110.0, "seed": 7},
    "queues": {
        "citizen": {"timeout": 15, "retry": 1, "wrapuptime": 3, "servicelevel": 20,
                    "members": [{"interface": f"Local/a{i}@agents/n", "name": f"Agent {i}"} for i in range(1, 7)]},
        "evening": {"timeout": 10, "retry": 1, "wrapuptime": 2, "servicelevel": 10,
                    "members": [{"interface": f"Local/b{i}@agents/n", "name": f"Agent B{i}"} for i in range(1, 5)]},
    },
}


def truth(server: AmiServer, queue: str, sl: int) -> dict[str, int]:
    recs = [r for r in server.model.records() if r.queue == queue]
    answered = [r for r in recs if r.answered_at is not None]
    abandoned = [r for r in recs if r.outcome == "abandoned"]
    return {
        "offered": len(recs),
        "answered": len(answered),
        "completed": sum(1 for r in recs if r.outcome == "completed"),
        "abandoned": len(abandoned),
        "answered_within_sl": sum(1 for r in answered if r.hold_time is not None and r.hold_time <= sl),
        "abandoned_within_sl": sum(1 for r in abandoned if r.hold_time is not None and r.hold_time <= sl),
    }


@dataclass
class Rig:
    """Simulator on a manual clock, the AMI client, and the monitor fed by a subscription made
    before connect(): the first QueueStatus reaches the monitor with AmiConnected."""

    clock: ManualClock
    server: AmiServer
    client: AmiClient
    monitor: QueueMonitor
    connected: list[AmiConnected] = field(default_factory=list)
    reconnects: list[AmiReconnected] = field(default_factory=list)

    async def wait_reconnect(self) -> None:
        for _ in range(200):
            if self.reconnects:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the AMI client did not reconnect")


async def rig(start: float, reconnect: tuple[float, float], monitor: QueueMonitor) -> Rig:
    clock = ManualClock(start)
    server = AmiServer(parse_queues(QUEUES), clock=clock)
    await server.start()
    client = AmiClient("127.0.0.1", server.port, "hotline", "hotlinepw", clock=clock.now,
                       reconnect_min=reconnect[0], reconnect_max=reconnect[1], ping_interval=3600)
    r = Rig(clock, server, client, monitor)

    def on_event(event):
        if isinstance(event, AmiConnected):
            r.connected.append(event)
        elif isinstance(event, AmiReconnected):
            r.reconnects.append(event)
        monitor.feed(event)

    client.subscribe(on_event)
    await client.connect()
    assert len(r.connected) == 1 and r.connected[0].queue_snapshot is not None
    return r


async def test_two_hundred_calls_with_pauses_and_a_disconnect_match_ground_truth():
    r = await rig(1_795_880_000.0, (0.02, 0.1), QueueMonitor(wrapup_seconds={"citizen": 3, "evening": 2}))
    clock, server, client, monitor, reconnects = r.clock, r.server, r.client, r.monitor, r.reconnects
    rng = random.Random(3)
    arrivals = sorted(rng.uniform(0, 1500) for _ in range(200))
    start = clock.now()
    added = 0
    paused_during_gap = False
    try:
        t = 0.0
        while added < 200 or t < 1500 + 400:
            # arrivals due in this second
            while added < 200 and arrivals[added] <= t:
                queue = "citizen" if added % 3 else "evening"
                server.add_caller(queue, caller_num=f"139{added:08d}", patience=rng.uniform(5, 120))
                added += 1
            if t == 100:  # a call-taker who lets the phone ring out (AgentRingNoAnswer)
                server.model.set_member_behaviour("Local/b4@agents/n", answer_after=-1)
            if t == 400:
                server.model.set_member_behaviour("Local/b4@agents/n", answer_after=1.0)
            if t == 200:
                server.pause_member("Local/a1@agents/n", True, reason="break")
                server.pause_member("Local/b2@agents/n", True, queue="evening", reason="training")
            if t == 500:
                server.pause_member("Local/a1@agents/n", False)
            if t == 650:
                await client.queue_add("evening", "Local/a6@agents/n", member_name="Agent 6", penalty=2)
            if added == 100 and not paused_during_gap:
                # the AMI connection breaks; 120 s of calls happen unseen, with pause changes
                await server.drop_connections()
                for _ in range(120):
                    t += 1
                    clock.now_value = start + t
                    while added < 200 and arrivals[added] <= t:
                        queue = "citizen" if added % 3 else "evening"
                        server.add_caller(queue, caller_num=f"139{added:08d}", patience=rng.uniform(5, 120))
                        added += 1
                    server.advance(0)
                server.pause_member("Local/a2@agents/n", True, reason="after-call work")
                paused_during_gap = True
                await r.wait_reconnect()  # the client reconnects by itself and re-reads QueueStatus
                server.pause_member("Local/a2@agents/n", False)
            t += 1
            server.advance(start + t - clock.now())
            await client.ping()  # a barrier: every event sent before the answer has been fed
    finally:
        await client.close()
        await server.stop()

    assert reconnects[0].queue_snapshot is not None
    assert monitor.gaps == 1
    for queue, sl in (("citizen", 20), ("evening", 10)):
        expected = truth(server, queue, sl)
        assert expected["completed"] == expected["answered"]  # everything finished
        v = monitor.queue_view(queue)
        got = {k: v[k] for k in expected}
        assert got == expected, queue
        c = server.model.counters(queue)
        assert (v["completed"], v["abandoned"]) == (c["completed"], c["abandoned"])
        assert v["service_level_pct"] == c["servicelevel_perf"]
        assert v["waiting"] == 0
    total = sum(truth(server, q, 0)["offered"] for q in ("citizen", "evening"))
    assert total == 200
    assert sum(monitor.queue_view(q)["abandoned"] for q in ("citizen", "evening")) > 0
    assert sum(monitor.queue_view(q)["answered_unseen"] for q in ("citizen", "evening")) > 0
    assert sum(monitor.queue_view(q)["abandoned_unseen"] for q in ("citizen", "evening")) > 0
    # agents: the late login is there, pauses were seen, and per-agent stats add up
    assert "evening" in monitor.board.agents["Local/a6@agents/n"].memberships
    a1 = monitor.board.stats.total("Local/a1@agents/n")
    assert 200 < a1.paused_seconds <= 300  # paused at 200 s (while talking: paused once the call ended) until 500 s
    assert sum(monitor.board.stats.total(i).calls for i in monitor.board.agents) <= 200
    assert monitor.board.stats.total("Local/b4@agents/n").missed_rings > 0


def tally(records, sl: int) -> dict[str, int]:
    answered = [r for r in records if r.answered_at is not None]
    abandoned = [r for r in records if r.outcome == "abandoned"]
    return {
        "offered": len(records),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "other_exits": sum(1 for r in records if r.answered_at is None and r.outcome != "abandoned"),
        "answered_within_sl": sum(1 for r in answered if r.hold_time is not None and r.hold_time <= sl),
        "abandoned_within_sl": sum(1 for r in abandoned if r.hold_time is not None and r.hold_time <= sl),
    }


async def test_asterisk_restart_in_the_middle_keeps_counts_right():
    """Asterisk restarts (state lost, counters from zero) while calls wait and talk; calls
    arrive into the new Asterisk before the monitor is back. Old and new calls are each counted
    once; those cut by the restart are other exits (waiting) or answered (talking)."""
    r = await rig(1_795_890_000.0, (0.3, 0.3), QueueMonitor())
    clock, server, client, monitor, reconnects = r.clock, r.server, r.client, r.monitor, r.reconnects
    rng = random.Random(11)
    arrivals = sorted(rng.uniform(0, 900) for _ in range(120))
    start = clock.now()
    added = 0
    old_records = None
    t = 0.0

    def arrive(until: float) -> None:
        nonlocal added
        while added < 120 and arrivals[added] <= until:
            server.add_caller("citizen" if added % 2 else "evening", caller_num=f"138{added:08d}",
                              patience=rng.uniform(5, 90))
            added += 1

    try:
        while added < 120 or t < 900 + 300:
            arrive(t)
            if added >= 60 and old_records is None:
                old_records = server.model.records()
                assert any(r.outcome in ("waiting", "ringing") for r in old_records)
                assert any(r.outcome == "talking" for r in old_records)
                await server.restart(down_for=0.1, reset=True)
                for _ in range(30):  # the new Asterisk takes calls before the monitor is back
                    t += 1
                    server.advance(start + t - clock.now())
                    arrive(t)
                await r.wait_reconnect()
            t += 1
            server.advance(start + t - clock.now())
            await client.ping()
    finally:
        await client.close()
        await server.stop()

    new_records = server.model.records()
    for queue, sl in (("citizen", 20), ("evening", 10)):
        old = tally([r for r in old_records if r.queue == queue], sl)
        new = tally([r for r in new_records if r.queue == queue], sl)
        expected = {k: old[k] + new[k] for k in old}
        v = monitor.queue_view(queue)
        assert {k: v[k] for k in expected} == expected, queue
        assert v["waiting"] == 0
    assert sum(monitor.queue_view(q)["offered"] for q in ("citizen", "evening")) == 120
    # the new Asterisk had answered calls the monitor never saw start
    assert any(m.in_call for m in reconnects[0].queue_snapshot.members)
    assert sum(monitor.queue_view(q)["other_exits"] for q in ("citizen", "evening")) > 0
