"""Loopback: PBX simulator -> AMI client -> StoreFeed -> AsyncStore; the records match ground truth."""

from __future__ import annotations

import random

import pytest

from engine.asterisk.ami_client import AmiClient
from engine.pbxsim.ami_server import AmiServer
from engine.pbxsim.clock import ManualClock
from engine.pbxsim.queue_model import parse_queues
from engine.store import AsyncStore
from engine.store.feed import StoreFeed
from engine.web import LiveHub

pytestmark = pytest.mark.timeout(60)

QUEUES = {
    "defaults": {"answer_after": 1.0, "talk_min": 20.0, "talk_max": 60.0, "seed": 5},
    "queues": {
        "citizen": {"timeout": 15, "retry": 1, "wrapuptime": 2, "servicelevel": 20,
                    "members": [{"interface": f"Local/a{i}@agents/n", "name": f"Agent {i}"} for i in range(1, 4)]},
    },
}


async def test_every_simulated_call_has_a_matching_record(tmp_path):
    clock = ManualClock(1_795_880_000.0)
    server = AmiServer(parse_queues(QUEUES), clock=clock)
    await server.start()
    client = AmiClient("127.0.0.1", server.port, "hotline", "hotlinepw", clock=clock.now, ping_interval=3600)
    astore = await AsyncStore.open(tmp_path / "h.sqlite")
    hub = LiveHub(clock=clock.now)
    feed = StoreFeed(astore, hub)
    await client.connect()
    client.subscribe(feed.handle)
    rng = random.Random(1)
    arrivals = sorted(rng.uniform(0, 300) for _ in range(40))
    start, t, added = clock.now(), 0, 0
    try:
        while added < 40 or t < 300 + 200:
            while added < 40 and arrivals[added] <= t:
                server.add_caller("citizen", caller_num=f"1391234{added:04d}", caller_name=f"市民{added}",
                                  patience=rng.uniform(5, 60))
                added += 1
            t += 1
            server.advance(start + t - clock.now())
            await client.ping()  # every event sent before the answer has been handled
    finally:
        await client.close()
        await server.stop()
    await astore.flush()
    truth = {r.uniqueid: r for r in server.model.records()}
    calls = await astore.list_calls(limit=1000)
    assert astore.failed_writes == 0
    assert len(calls) == len(truth) == 40
    by_id = {c.id: c for c in calls}
    assert set(by_id) == set(truth)
    for uid, r in truth.items():
        c = by_id[uid]
        assert c.caller_number == r.caller_num and c.queue == "citizen"
        assert not c.live and c.ended_at is not None
        if r.answered_at is not None:
            assert (c.outcome, c.agent, c.wait_seconds) == ("answered", r.member_name, float(r.hold_time))
        else:
            assert r.outcome == "abandoned"
            assert (c.outcome, c.wait_seconds) == ("abandoned", float(r.hold_time))
    outcomes = [c.outcome for c in calls]
    assert outcomes.count("answered") > 0 and outcomes.count("abandoned") > 0
    tl = await astore.call_timeline(next(c.id for c in calls if c.outcome == "answered"))
    assert {"call.start", "queue.join", "agent.connect", "call.hangup"} <= {i.kind for i in tl.items}
    assert hub.snapshot() == []  # every call ended on the live page too
    await astore.close()
