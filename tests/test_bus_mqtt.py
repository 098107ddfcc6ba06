"""The MQTT bus against a real mosquitto started by the fixture (Debian package)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from engine.bus import MqttPublisher, NullPublisher, Topics, bus_from_config
from engine.bus.payloads import build_payload
from engine.bus.publisher import OutMessage
from engine.bus.topics import segment, unsegment
from engine.config import Config
from tests.mosquitto_helpers import Collector, Mosquitto, free_port
from tests.number_forms import HIDDEN, NUMBER_FORMS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path)
    b.start()
    yield b
    b.stop()


def test_topics_escape_levels_and_wildcards():
    t = Topics("hotline", "east")
    assert t.queue("evening") == "hotline/east/queues/evening"
    assert t.agent("Local/agent1@agents/n") == "hotline/east/agents/Local%2Fagent1@agents%2Fn"
    assert t.call_transcript("1795881255.252") == "hotline/east/calls/1795881255.252/transcript"
    assert t.call_events("a+b#c") == "hotline/east/calls/a%2Bb%23c/events"
    assert t.alerts() == "hotline/east/alerts"
    for raw in ("Local/agent1@agents/n", "50%/x+#", "", "张三"):
        assert unsegment(segment(raw)) == raw


def test_payload_envelope_and_masking():
    p = build_payload("call_event", "east", 100.25, {
        "caller": "13912345678", "CallerIDName": "张三丰 市民", "queue": "q",
        "nested": {"caller_number": "13800000001"}, "text": "我的电话是13912345678谢谢", "uniqueid": "1795881255.252",
    })
    assert p["schema"] == 1 and p["kind"] == "call_event" and p["site"] == "east" and p["ts"] == 100.25
    assert p["caller"] == "139****5678" and p["nested"]["caller_number"] == "138****0001"
    assert p["CallerIDName"].startswith("张") and "三丰" not in p["CallerIDName"]
    assert "13912345678" not in json.dumps(p, ensure_ascii=False)
    assert p["uniqueid"] == "1795881255.252"  # ids are not personal data
    q = build_payload("call_event", "east", 0, {"callerid": "<unknown>", "number": "1001",
                                                 "transcript": "ID 11010519491231002X ok"})
    assert q["callerid"] == "<unknown>" and q["number"] == "1001"  # extensions stay (engine.privacy's rule)
    assert q["transcript"] == "ID 110***********002X ok"
    words = [{"word": d, "start": float(i)} for i, d in enumerate("13912345678")]
    f = build_payload("transcript_final", "east", 0, {"text": " ".join("13912345678"), "words": words})
    assert "".join(w["word"] for w in f["words"]) == "139****5678"  # one digit per word, masked as the text
    with pytest.raises(ValueError):
        build_payload("x", "s", 0, {"schema": 2})


@pytest.mark.parametrize(("said", "shown"), NUMBER_FORMS)
def test_payload_masks_every_written_form_of_a_number(said, shown):
    words = [{"word": w, "start": float(i)} for i, w in enumerate(said.split())]
    p = build_payload("transcript_final", "east", 0, {"call_id": "b8af246c-3b75-45e8-a213-450814bf1f1d",
                                                      "text": f"号码 {said}", "words": words, "caller": said})
    assert p["text"] == f"号码 {shown}" and p["caller"] == shown
    assert " ".join(w["word"] for w in p["words"]) == shown
    assert p["call_id"] == "b8af246c-3b75-45e8-a213-450814bf1f1d"  # ids stay whole
    assert not any(h in json.dumps(p, ensure_ascii=False) for h in HIDDEN)


def test_bus_is_off_unless_host_configured():
    cfg = Config()
    bus = bus_from_config(cfg)
    assert isinstance(bus, NullPublisher) and not bus.enabled
    bus.alert({"message": "x"}, 0.0)  # accepted, goes nowhere
    cfg.mqtt.host = "127.0.0.1"
    cfg.site.name = "east"
    on = bus_from_config(cfg)
    assert isinstance(on, MqttPublisher) and on.topics.base == "hotline/east"


async def test_every_kind_arrives_with_qos_retain_and_schema(broker):
    async with Collector(broker.port) as sub:
        async with MqttPublisher("127.0.0.1", broker.port, site="s1") as bus:
            bus.queue_snapshot("evening", {"offered": 3, "waiting": [{"caller": "13900000001", "wait": 4}]}, 10.0)
            bus.agent_state("Local/agent1@agents/n", {"state": "talking"}, 10.5)
            bus.call_event("1795881255.252", {"event": "CallerJoinedQueue", "caller": "13900000000"}, 11.0)
            bus.transcript_partial("1795881255.252", {"text": "路灯", "leg": "caller"}, 11.5)
            bus.transcript_final("1795881255.252", {"text": "路灯坏了", "leg": "caller"}, 12.0)
            bus.alert({"type": "surge", "queue": "evening"}, 13.0)
            assert await bus.wait_flushed(5)
            assert bus.stats.published == 6 and bus.stats.dropped == 0
        msgs = await sub.wait_for(6)
    by_kind = {json.loads(m.payload)["kind"]: m for m in msgs}
    assert set(by_kind) == {"queue_snapshot", "agent_state", "call_event", "transcript_partial", "transcript_final", "alert"}
    assert str(by_kind["queue_snapshot"].topic) == "hotline/s1/queues/evening"
    assert str(by_kind["agent_state"].topic) == "hotline/s1/agents/Local%2Fagent1@agents%2Fn"
    assert str(by_kind["call_event"].topic) == "hotline/s1/calls/1795881255.252/events"
    assert str(by_kind["transcript_partial"].topic) == "hotline/s1/calls/1795881255.252/transcript"
    assert str(by_kind["alert"].topic) == "hotline/s1/alerts"
    assert by_kind["transcript_partial"].qos == 0
    assert all(by_kind[k].qos == 1 for k in ("transcript_final", "alert", "call_event", "queue_snapshot"))
    snap = json.loads(by_kind["queue_snapshot"].payload)
    assert snap["schema"] == 1 and snap["waiting"][0]["caller"] == "139****0001"
    assert b"13900000000" not in by_kind["call_event"].payload
    assert json.loads(by_kind["transcript_final"].payload)["text"] == "路灯坏了"
    # a late subscriber gets the retained states, and only those
    async with Collector(broker.port) as late:
        got = await late.wait_for(2, timeout=2)
    assert sorted(json.loads(m.payload)["kind"] for m in got) == ["agent_state", "queue_snapshot"]
    assert all(m.retain for m in got)


async def test_buffer_bound_counts_and_logs_losses(tmp_path, caplog):
    broker = Mosquitto(tmp_path, free_port())
    bus = MqttPublisher("127.0.0.1", broker.port, site="s1", buffer_limit=5)
    with caplog.at_level(logging.WARNING, logger="engine.bus.publisher"):
        for i in range(8):  # not started and no broker: all buffered, the 3 oldest dropped
            bus.call_event("c1", {"seq": i, "caller": "13912345678"}, float(i))
    assert bus.stats.dropped == 3 and bus.stats.buffered == 5
    assert "dropping the oldest" in caplog.text and "13912345678" not in caplog.text
    broker.start()
    try:
        async with Collector(broker.port) as sub:
            await bus.start()
            assert await bus.wait_flushed(5)
            msgs = await sub.wait_for(5)
            await bus.close()
        assert [json.loads(m.payload)["seq"] for m in msgs] == [3, 4, 5, 6, 7]
    finally:
        broker.stop()


async def test_broker_restart_buffered_messages_arrive(tmp_path, caplog):
    """Stop the broker, publish while it is down, restart it on the same port: nothing lost."""
    # persistence keeps the subscriber's session, so QoS 1 messages wait for it across the restart
    broker = Mosquitto(tmp_path, persistence=True)
    broker.start()
    try:
        async with Collector(broker.port, client_id="watcher", clean=False):
            pass  # registers the persistent subscription
        bus = MqttPublisher("127.0.0.1", broker.port, site="s1", reconnect_min=0.1, reconnect_max=0.3)
        await bus.start()
        bus.call_event("c1", {"seq": 0}, 0.0)
        assert await bus.wait_flushed(5)
        with caplog.at_level(logging.WARNING, logger="engine.bus.publisher"):
            broker.stop()
            for _ in range(250):
                if not bus.stats.connected:
                    break
                await asyncio.sleep(0.02)
            assert not bus.stats.connected
            for i in range(1, 21):
                bus.call_event("c1", {"seq": i}, float(i))
            bus.alert({"type": "test", "seq": 21}, 21.0)
            await asyncio.sleep(0.3)
            assert bus.stats.buffered == 21
            broker.start()  # same port
            assert await bus.wait_flushed(10)
        assert bus.stats.connects == 2 and bus.stats.disconnects == 1 and bus.stats.dropped == 0
        assert "unreachable" in caplog.text and "connected again" in caplog.text
        async with Collector(broker.port, client_id="watcher", clean=False) as sub:
            msgs = await sub.wait_for(22, timeout=5)
        seqs = [json.loads(m.payload)["seq"] for m in msgs]
        assert seqs == list(range(22))  # in order, none lost, none doubled
        await bus.close()
    finally:
        broker.stop()


async def test_retained_state_is_republished_after_broker_loses_it(broker):
    bus = MqttPublisher("127.0.0.1", broker.port, site="s1", reconnect_min=0.1, reconnect_max=0.3)
    await bus.start()
    try:
        bus.queue_snapshot("evening", {"offered": 1}, 1.0)
        bus.queue_snapshot("evening", {"offered": 2}, 2.0)
        bus.agent_state("a1", {"state": "paused", "reason": "break"}, 2.0)
        assert await bus.wait_flushed(5)
        broker.restart()  # no persistence: the broker forgets retained messages
        for _ in range(200):
            if bus.stats.connects >= 2:
                break
            await asyncio.sleep(0.02)
        assert await bus.wait_flushed(5)
        async with Collector(broker.port) as late:
            got = await late.wait_for(2, timeout=3)
        states = {str(m.topic): json.loads(m.payload) for m in got}
        assert states["hotline/s1/queues/evening"]["offered"] == 2
        assert states["hotline/s1/agents/a1"]["reason"] == "break"
    finally:
        await bus.close()


class FakeBus:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *a, **k: self.calls.append((name, a, k))


def test_bridge_maps_ami_and_transcript_events_to_topics():
    from engine.bus.bridge import publish_event
    from engine.events.ami import AgentComplete, Newchannel, QueueCallerJoin
    from engine.events.speech import FinalTranscript, PartialTranscript, Word

    bus = FakeBus()
    assert publish_event(bus, QueueCallerJoin(queue="q", uniqueid="u1", linkedid="l1", caller_id_num="13912345678",
                                              position=1, count=1, received=5.0))
    assert not publish_event(bus, AgentComplete(queue="q", interface="PJSIP/1", hold_time=3, talk_time=9, received=6.0))
    assert publish_event(bus, PartialTranscript("l1", "caller", 0.5, "路灯"), 7.0)
    assert publish_event(bus, FinalTranscript("l1", "caller", 0.5, 1.5, "路灯坏了", (Word("路灯", 0.5, 1.0, 0.9),)), 8.0)
    assert not publish_event(bus, Newchannel(received=1.0))
    names = [c[0] for c in bus.calls]
    assert names == ["call_event", "transcript_partial", "transcript_final"]  # AgentComplete without ids: skipped
    (_, (call, data, now), _) = bus.calls[0]
    assert call == "l1" and now == 5.0 and data["event"] == "QueueCallerJoin" and data["caller"] == "13912345678"
    assert bus.calls[2][1][1]["words"][0]["word"] == "路灯"


async def test_listener_delivers_in_order_survives_a_failing_callback_and_says_when_it_is_connected(broker, caplog):
    """``engine.bus.listener``: what the engine hears its ASR workers through."""
    from engine.bus.listener import BusListener

    got: list[tuple[str, bytes]] = []

    def on_message(topic: str, payload: bytes) -> None:
        if payload == b"bad":
            raise ValueError("cannot read it")
        got.append((topic, payload))

    listener = BusListener("127.0.0.1", broker.port, ["hotline/s1/asr/#"], on_message)
    assert not listener.connected
    await listener.start()
    assert await listener.wait_subscribed(10) and listener.connected
    async with MqttPublisher("127.0.0.1", broker.port, site="s1") as bus:
        for payload in (b"one", b"bad", b"two"):
            bus.publish_raw(OutMessage("hotline/s1/asr/workers/w1", payload, 1, False))
        bus.publish_raw(OutMessage("hotline/s1/queues/q", b"not ours", 1, False))
        assert await bus.wait_flushed(5)
    for _ in range(100):
        if len(got) == 2:
            break
        await asyncio.sleep(0.05)
    await listener.close()
    assert got == [("hotline/s1/asr/workers/w1", b"one"), ("hotline/s1/asr/workers/w1", b"two")]
    assert not listener.connected
    assert any("not handled: ValueError" in r.getMessage() for r in caplog.records)
