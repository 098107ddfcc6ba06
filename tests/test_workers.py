"""The ASR workers' link without I/O: messages both ways, which worker takes the next leg, which are
gone, and what a worker's death loses (``engine.workers``, ``engine.taps._note_utterance``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from engine.bus.payloads import build_payload, encode
from engine.bus.topics import Topics
from engine.events.speech import (
    FinalTranscript,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    TranscriptionLag,
    Word,
)
from engine.taps import _note_utterance, _Tap
from engine.workers import (
    Heartbeat,
    RemoteSpeech,
    SessionClosed,
    SessionOpened,
    WorkerMessageError,
    WorkerTable,
    parse_message,
    speech_event,
    speech_fields,
)

TOPICS = Topics("hotline", "east")


def _msg(kind: str, data: dict, mask: bool = False) -> bytes:
    return encode(build_payload(kind, "east", 1.0, data, mask=mask))


def test_speech_events_cross_the_link_onto_the_calls_clock() -> None:
    """Times on a worker start at the session's first sample; the engine adds the tap's offset
    and names the call and side (the worker knows neither)."""
    final = FinalTranscript("uuid-1", "tap", 1.25, 2.5, "我的电话是13912345678",
                            (Word("我的", 1.25, 1.5, 0.9), Word("13912345678", 1.6, 2.5, 0.8)))
    events = [SpeechStarted("uuid-1", "tap", 1.25), PartialTranscript("uuid-1", "tap", 1.25, "我的"),
              SpeechEnded("uuid-1", "tap", 1.25, 2.4), final, TranscriptionLag("uuid-1", "tap", 2.5, True)]
    got = []
    for event in events:
        fields = speech_fields(event)
        payload = _msg("asr_speech", {"worker": "w1", "speech": fields})
        msg = parse_message(TOPICS.asr_session("uuid-1"), payload)
        assert isinstance(msg, RemoteSpeech) and msg.session == "uuid-1" and msg.worker == "w1"
        got.append(speech_event(msg.fields, "1795881255.252", "caller", 30.0))
    assert got[0] == SpeechStarted("1795881255.252", "caller", 31.25)
    assert got[1] == PartialTranscript("1795881255.252", "caller", 31.25, "我的")
    assert got[2] == SpeechEnded("1795881255.252", "caller", 31.25, 32.4)
    assert got[3] == FinalTranscript("1795881255.252", "caller", 31.25, 32.5, "我的电话是13912345678",
                                     (Word("我的", 31.25, 31.5, 0.9), Word("13912345678", 31.6, 32.5, 0.8)))
    assert got[4] == TranscriptionLag("1795881255.252", "caller", 2.5, True)  # an amount, not a time: not shifted


def test_the_link_carries_what_was_said_and_the_public_bus_masks_it() -> None:
    """The engine stores the worker's final as it stores its own (the page masks what it shows);
    the same payload built for the public topics masks the number."""
    fields = speech_fields(FinalTranscript("u", "tap", 0.0, 1.0, "电话13912345678"))
    assert b"13912345678" in _msg("asr_speech", {"worker": "w", "speech": fields})
    assert b"13912345678" not in _msg("asr_speech", {"worker": "w", "speech": fields}, mask=True)


def test_session_and_heartbeat_messages() -> None:
    beat = Heartbeat("w1", "10.0.0.5:9093", 0.4, 3, 4, "up")
    assert parse_message(TOPICS.asr_worker("w1"), _msg("asr_worker", beat.fields())) == beat
    topic = TOPICS.asr_session("9b7e/+#")  # escaped: the UUID is one topic level
    assert topic == "hotline/east/asr/sessions/9b7e%2F%2B%23"
    opened = parse_message(topic, _msg("asr_session", {"worker": "w1", "state": "open"}))
    assert opened == SessionOpened("9b7e/+#", "w1")
    closed = parse_message(topic, _msg("asr_session", {"worker": "w1", "state": "closed", "reason": "eof",
                                                        "finals": 4}))
    assert closed == SessionClosed("9b7e/+#", "w1", "eof", 4)
    gone = parse_message(TOPICS.asr_worker("w1"), _msg("asr_worker", {"name": "w1", "state": "gone"}))
    assert gone == Heartbeat("w1", "", state="gone")


@pytest.mark.parametrize(("topic", "payload", "says"), [
    ("hotline/east/asr/workers/w", b"\xff\xfe", "not JSON"),
    ("hotline/east/asr/workers/w", b"[1]", "expected a JSON object"),
    ("hotline/east/asr/workers/w", json.dumps({"schema": 2, "kind": "asr_worker"}).encode(), "schema 2"),
    ("hotline/east/asr/workers/w", _msg("asr_worker", {"name": "w", "target": "h:1", "state": "dead"}),
     "state 'dead' unknown"),
    ("hotline/east/asr/workers/w", _msg("asr_worker", {"name": "w", "target": "h:1", "state": "up",
                                                        "backlog": -1}), "backlog -1"),
    ("hotline/east/asr/workers/w", _msg("asr_worker", {"name": "w", "state": "up"}), "'target'"),
    ("hotline/east/asr/sessions/u", _msg("asr_speech", {"worker": "w", "speech": "x"}), "'speech' must be"),
    ("hotline/east/asr/sessions/u", _msg("asr_session", {"worker": "w", "state": "half"}), "state 'half'"),
    ("hotline/east/asr/sessions/u", _msg("asr_session", {"worker": "w", "state": "closed", "finals": -2}),
     "'finals'"),
    ("hotline/east/asr/sessions/u", _msg("alert", {"worker": "w"}), "unexpected kind 'alert'"),
])
def test_a_message_this_engine_cannot_read_says_what_is_wrong(topic: str, payload: bytes, says: str) -> None:
    with pytest.raises(WorkerMessageError, match=says):
        parse_message(topic, payload)


@pytest.mark.parametrize(("fields", "says"), [
    ({"event": "final", "start": 0, "end": "1", "text": "a"}, "'end': expected a number"),
    ({"event": "final", "start": 0, "end": 1, "text": None}, "'text': expected text"),
    ({"event": "final", "start": 0, "end": 1, "text": "a", "words": [["a", 0, 1]]}, "a word must be"),
    ({"event": "started", "start": float("nan")}, "'start': expected a number"),
    ({"event": "hiccup"}, "unknown speech event 'hiccup'"),
])
def test_a_bad_speech_event_says_what_is_wrong(fields: dict, says: str) -> None:
    with pytest.raises(WorkerMessageError, match=says):
        speech_event(fields, "call", "caller", 0.0)


def test_the_next_leg_goes_to_the_least_busy_worker_and_legs_spread() -> None:
    table = WorkerTable(timeout=3.0)
    table.heard(Heartbeat("a", "h:1", backlog=0.2, legs=2, cores=2), 0.0)
    table.heard(Heartbeat("b", "h:2", backlog=0.0, legs=0, cores=1), 0.0)
    table.heard(Heartbeat("c", "h:3", backlog=4.0, legs=0, cores=8), 0.0)
    picks = []
    for _ in range(4):  # within one heartbeat: what was just sent counts, so a burst spreads
        w = table.pick(0.5)
        picks.append(w.beat.name)
        table.assign(w.beat.name)
    assert picks == ["b", "a", "b", "a"]  # c is 4 s behind; a and b by legs per decoding thread
    table.heard(Heartbeat("a", "h:1", backlog=0.0, legs=4, cores=2, state="stopping"), 1.0)
    assert table.pick(1.0).beat.name == "b"  # stopping: finishes its legs, takes no new ones
    assert table.ready(1.0) == ["b", "c"] and table.names == ["a", "b", "c"]


def test_workers_that_say_gone_or_go_quiet_leave_the_table() -> None:
    table = WorkerTable(timeout=3.0)
    table.heard(Heartbeat("a", "h:1"), 0.0)
    table.heard(Heartbeat("b", "h:2"), 0.0)
    assert table.heard(Heartbeat("a", "", state="gone"), 1.0) == ["a"]  # its last will, or a clean stop
    assert table.heard(Heartbeat("a", "", state="gone"), 1.1) == []  # said once
    assert table.expire(2.9) == []
    assert table.pick(3.5) is None and table.ready(3.5) == []  # quiet too long: no new legs before it expires
    assert table.expire(3.5) == ["b"]
    assert table.names == []


def test_what_a_workers_death_would_lose() -> None:
    """Utterances begun and not yet settled by a final: the one being spoken, and an ended one
    still decoding; a final settles every earlier utterance, also one with no words."""
    tap = _Tap("u", "call", "caller", "PJSIP/x", 10.0)
    steps = [
        (SpeechStarted("call", "caller", 11.0), 1),
        (SpeechEnded("call", "caller", 11.0, 12.0), 1),  # decoding
        (SpeechStarted("call", "caller", 12.5), 2),  # the next one begins before the first's final
        (FinalTranscript("call", "caller", 11.0, 12.1, "하나"), 1),
        (SpeechEnded("call", "caller", 12.5, 13.0), 1),  # no words: no final will come
        (SpeechStarted("call", "caller", 14.0), 2),
        (SpeechEnded("call", "caller", 14.0, 15.0), 2),
        (FinalTranscript("call", "caller", 14.0, 15.0, "둘"), 0),
    ]
    for event, pending in steps:
        _note_utterance(tap, event)
        assert len(tap.pending) == pending, event


def test_config_refuses_workers_without_a_broker(tmp_path) -> None:
    from engine.config import load_config
    from engine.errors import ConfigError
    from engine.taps import check_tap_config

    (tmp_path / "h.toml").write_text('[tap]\ndecode = "workers"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r'decode = "workers" needs \[mqtt\] host'):
        check_tap_config(load_config(tmp_path / "h.toml"))
    with pytest.raises(ConfigError, match=r"tap\.decode: expected one of local, workers, got 'gpu'"):
        load_config(tmp_path / "h.toml", {"tap.decode": "gpu"})
    cfg = load_config(tmp_path / "h.toml", {"mqtt.host": "127.0.0.1", "worker.timeout": 1.0})
    with pytest.raises(ConfigError, match=r"\[worker\] timeout \(1 s\) must be longer than heartbeat \(1 s\)"):
        check_tap_config(cfg)



class _Feed:
    def __init__(self, calls) -> None:
        self.calls = calls

    def link(self, call_id: str, alias: str, kind: str, now: float) -> None:
        self.calls.link(call_id, alias, kind, now)


class _Ami:
    def __init__(self) -> None:
        self.originated: list[str] = []

    async def originate(self, channel: str, **kwargs) -> None:
        self.originated.append(channel)


def _taps(now: list[float]):
    """Taps with ASR workers around a real call core; the AMI only notes what it is asked."""
    import random

    from engine.app import EngineStats
    from engine.calls import CallTracker
    from engine.config import Config
    from engine.events.ami import AgentConnect
    from engine.taps import Taps

    cfg = Config()
    cfg.tap.record = False
    calls, heard, ami = CallTracker(), [], _Ami()
    tasks = []
    taps = Taps(cfg, ami=ami, audiosocket=None, pipeline=None, calls=calls, feed=_Feed(calls), stats=EngineStats(),
                spawn=lambda coro, name: tasks.append(asyncio.ensure_future(coro)), on_speech=heard.append,
                clock=lambda: now[0], rng=random.Random(1), workers=WorkerTable(3.0))
    calls.feed(AgentConnect(channel="PJSIP/trunk-1", uniqueid="1700.1", linkedid="1700.1", dest_channel="Local/a1",
                            dest_uniqueid="1700.2", received=100.0), 100.0)
    answer = AgentConnect(channel="PJSIP/trunk-1", uniqueid="1700.1", linkedid="1700.1", dest_channel="Local/a1",
                          dest_uniqueid="1700.2", received=130.0)
    return taps, ami, heard, answer


def _send(taps, topic: str, kind: str, data: dict) -> None:
    taps.on_worker_message(topic, _msg(kind, data))


async def test_a_dead_workers_legs_are_counted_and_tapped_again_on_another() -> None:
    now = [130.0]
    taps, ami, heard, answer = _taps(now)
    for name, port in (("w1", 1), ("w2", 2)):
        _send(taps, TOPICS.asr_worker(name), "asr_worker", Heartbeat(name, f"10.0.0.{port}:9093").fields())
    taps.on_agent_connect(answer, 130.0)
    await asyncio.sleep(0)
    by_side = {t.side: t for t in taps._taps.values()}
    assert {t.worker for t in by_side.values()} == {"w1", "w2"}  # the two sides on two workers
    assert sorted(ami.originated) == sorted(f"AudioSocket/{t.target}/{t.uuid}" for t in by_side.values())
    caller = by_side["caller"]
    session = TOPICS.asr_session(caller.uuid)
    _send(taps, session, "asr_session", {"worker": caller.worker, "state": "open"})
    for fields in ({"event": "started", "start": 1.0}, {"event": "ended", "start": 1.0, "end": 2.0},
                   {"event": "final", "start": 1.0, "end": 2.0, "text": "하나", "words": []},
                   {"event": "started", "start": 4.0}):
        _send(taps, session, "asr_speech", {"worker": caller.worker, "speech": fields})
    assert heard[2] == FinalTranscript("1700.1", "caller", 31.0, 32.0, "하나")  # the call's clock: answered at 30 s
    _send(taps, session, "asr_speech", {"worker": "w9", "speech": {"event": "started", "start": 5.0}})
    assert len(heard) == 4  # another worker's word about this session is not taken
    now[0] = 140.0
    _send(taps, TOPICS.asr_worker(caller.worker), "asr_worker", {"name": caller.worker, "state": "gone"})
    await asyncio.sleep(0)
    stats = taps.stats
    assert (stats.taps_lost, stats.utterances_lost, stats.taps_moved) == (1, 1, 1)
    again = next(t for t in taps._taps.values() if t.side == "caller")
    assert again.uuid != caller.uuid and again.offset == 40.0 and again.worker == by_side["agent"].worker
    assert ami.originated[-1] == f"AudioSocket/{again.target}/{again.uuid}"


async def test_finals_that_never_came_are_counted_and_a_stopping_worker_hands_over() -> None:
    now = [130.0]
    taps, ami, heard, answer = _taps(now)
    _send(taps, TOPICS.asr_worker("w1"), "asr_worker", Heartbeat("w1", "10.0.0.1:9093").fields())
    taps.on_agent_connect(answer, 130.0)
    await asyncio.sleep(0)
    assert {t.worker for t in taps._taps.values()} == {"w1"}
    _send(taps, TOPICS.asr_worker("w2"), "asr_worker", Heartbeat("w2", "10.0.0.2:9093").fields())
    _send(taps, TOPICS.asr_worker("w1"), "asr_worker", Heartbeat("w1", "10.0.0.1:9093", state="stopping").fields())
    await asyncio.sleep(0)
    legs = list(taps._taps.values())
    assert sorted(t.worker for t in legs) == ["w1", "w1", "w2", "w2"] and taps.stats.taps_moved == 2
    old = next(t for t in legs if t.worker == "w1" and t.side == "caller")
    session = TOPICS.asr_session(old.uuid)
    _send(taps, session, "asr_speech", {"worker": "w1", "speech": {"event": "final", "start": 1.0, "end": 2.0,
                                                                  "text": "둘", "words": []}})
    _send(taps, session, "asr_session", {"worker": "w1", "state": "closed", "reason": "worker stopping", "finals": 3})
    assert taps.stats.finals_missed == 2 and taps.stats.taps_lost == 0
    assert taps.stats.taps_moved == 2  # already moved when it said "stopping": not tapped a third time
    assert old.uuid not in taps._taps and len(taps._taps) == 3


async def test_no_worker_alive_decodes_here_and_counts_it() -> None:
    now = [130.0]
    taps, ami, heard, answer = _taps(now)

    class _Here:  # the engine's own AudioSocket server and speech pipeline
        target = "127.0.0.1:9092"

        def backlog(self) -> float:
            return 0.0

    taps.audiosocket = taps.pipeline = _Here()
    taps.on_agent_connect(answer, 130.0)
    await asyncio.sleep(0)
    assert taps.stats.taps_local_fallback == 2 and taps.stats.taps_remote == 0
    assert len(ami.originated) == 2 and all(ch.startswith("AudioSocket/127.0.0.1:9092/") for ch in ami.originated)
