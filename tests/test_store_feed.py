"""StoreFeed: recorded AMI streams, IVR run records and speech events become joined call records
(on both store backends: SQLite and PostgreSQL, the ``backend`` fixture)."""

from __future__ import annotations

import collections

from engine.asterisk.ami_codec import AmiCodec, AmiMessage
from engine.events.ami import event_from_message
from engine.events.speech import FinalTranscript, PartialTranscript, Word
from engine.store import AsyncStore
from engine.store.feed import StoreFeed
from engine.web import LiveHub
from ivr_flows.record import Input, RunRecord, Visit
from tests.fixture_files import ami_server_bytes


def events(path):
    """The recording's AMI events, typed, with the message index as the clock."""
    codec = AmiCodec(group_lists=False)
    codec.feed(ami_server_bytes(path))
    msgs = [i for i in list(codec.items()) + codec.close() if isinstance(i, AmiMessage)]
    return [e for i, m in enumerate(msgs) if (e := event_from_message(m, now=float(i))) is not None]


def _fed(store, path, times=1):
    feed = StoreFeed(store)
    evs = events(path)
    for _ in range(times):
        for e in evs:
            feed.handle(e)
    return store


def test_queue_day_recording_gives_one_record_per_caller(asterisk_fixtures, backend):
    store = _fed(backend.open(), asterisk_fixtures / "ami_queue_day.txt")
    calls = store.list_calls(limit=100)
    assert len(calls) == 24
    assert collections.Counter(c.outcome for c in calls) == {"answered": 22, "abandoned": 2}  # Completed 22, Abandoned 2
    assert all(c.queue == "evening" and not c.live for c in calls)
    plan = (asterisk_fixtures / "ami_queue_day_plan.txt").read_text().split()
    assert sorted(c.caller_number for c in calls) == sorted(plan[1::3])
    answered = [c for c in calls if c.outcome == "answered"]
    assert all(c.agent and c.agent.startswith("Agent ") for c in answered)
    # waits are Asterisk's HoldTime, as the recording has them
    raw = (asterisk_fixtures / "ami_queue_day.txt").read_text()
    holds = sorted(int(b.split("HoldTime: ")[1].split()[0]) for b in raw.split("\n\n") if b.startswith("Event: AgentConnect"))
    assert sorted(int(c.wait_seconds) for c in answered) == holds
    tl = store.call_timeline(answered[0].id)
    kinds = [i.kind for i in tl.items]
    assert kinds[0] == "call.start" and {"queue.join", "agent.ring", "agent.connect", "agent.complete", "call.hangup"} <= set(kinds)


def test_feeding_twice_changes_nothing(asterisk_fixtures):
    from engine.store import Store

    once = _fed(Store.open(":memory:"), asterisk_fixtures / "ami_session.txt")
    twice = _fed(Store.open(":memory:"), asterisk_fixtures / "ami_session.txt", times=2)
    assert [c.to_dict() | {"updated_at": 0} for c in once.list_calls()] == [
        c.to_dict() | {"updated_at": 0} for c in twice.list_calls()
    ]
    for c in once.list_calls():
        assert len(once.call_timeline(c.id).items) == len(twice.call_timeline(c.id).items)
    outcomes = sorted(str(c.outcome) for c in once.list_calls())
    assert outcomes == ["None", "abandoned", "answered"]


def test_chinese_caller_name_and_number(asterisk_fixtures, backend):
    store = _fed(backend.open(), asterisk_fixtures / "ami_chinese_callerid.txt")
    (call,) = store.list_calls()
    assert (call.caller_number, call.caller_name, call.queue, call.agent) == ("13912345678", "张三丰 市民", "citizen", "Agent One")


async def test_ivr_run_speech_and_live_page_from_one_feed(backend):
    astore = AsyncStore(backend.open())
    hub = LiveHub(clock=lambda: 0.0)
    sub = hub.subscribe()
    feed = StoreFeed(astore, hub)
    run = RunRecord(
        flow="hotline_main", uniqueid="100.2", linkedid="100.1", channel="SIP/trunk-0001", caller="139****5678",
        started=100.0, ended=114.0, outcome="queued", end_node="to_queue", language="zh",
        path=(Visit("welcome", "play", 100.4, 105.8, "done"), Visit("main_menu", "menu", 105.8, 109.2, "choice 2"),
              Visit("intake", "listen", 109.2, 114.0, "speech")),
        inputs=(Input("main_menu", "digits", "2", 108.9), Input("intake", "transcript", "我要报修路灯", 113.4)),
        queue="citizen",
    )
    feed.handle(run)
    feed.link("100.1", "uuid-7", "audiosocket", 110.0)
    feed.handle(PartialTranscript("uuid-7", "caller", 20.0, "路灯"))
    feed.handle(FinalTranscript("uuid-7", "caller", 20.0, 22.5, "路灯坏了", (Word("路灯", 20.0, 20.6, 0.9),)))
    feed.handle(object())  # unknown things are ignored
    await astore.flush()
    call = await astore.get_call("100.2")
    assert call.id == "100.1" and call.ivr_path == ("welcome", "main_menu", "intake")
    assert call.ivr_outcome == "queued" and call.queue == "citizen" and call.started_at == 100.0
    assert call.language == "zh"  # the call list filters on it
    assert call.caller_number is None  # the run record's caller is masked: never stored as the number
    tl = await astore.call_timeline("100.1")
    assert [(i.t, i.kind) for i in tl.items][:5] == [(0.0, "call.start"), (0.4, "ivr.node"), (5.8, "ivr.node"), (8.9, "ivr.input"), (9.2, "ivr.node")]
    assert [i.text for i in tl.items if i.kind == "speech"] == ["路灯坏了"]
    assert [h.segment.text for h in await astore.search("路灯")] == ["路灯坏了"]
    msgs = []
    while sub.queue:
        msgs.append(sub.queue.popleft())
    assert [(m["type"], m["call_id"]) for m in msgs] == [
        ("call.start", "100.1"), ("call.update", "100.1"), ("partial", "100.1"), ("final", "100.1")]
    assert [c["call_id"] for c in hub.snapshot()] == ["100.1"]  # one live call, under its canonical id
    assert astore.failed_writes == 0
    await astore.close()


def test_a_calls_aliases_resolve_until_it_ended_and_expired(asterisk_fixtures):
    from engine.store import Store

    feed = StoreFeed(Store.open(":memory:"))
    evs = events(asterisk_fixtures / "ami_queue_day.txt")
    first = next(i for i, e in enumerate(evs) if type(e).__name__ == "Newchannel")
    call = evs[first].linkedid or evs[first].uniqueid
    for e in evs[: first + 1]:
        feed.handle(e)
    feed.link(call, "uuid-tap-1", "audiosocket", evs[first].received)
    assert feed.calls.resolve("uuid-tap-1") == call
    for e in evs[first + 1 :]:
        feed.handle(e)
    assert feed.calls.live_calls == []  # every caller hung up
    assert feed.calls.resolve("uuid-tap-1") == call  # a late final still finds its call
    feed.calls.expire(evs[-1].received + 3600)
    assert feed.calls.resolve("uuid-tap-1") == "uuid-tap-1" and len(feed.calls) == 0  # nothing kept
