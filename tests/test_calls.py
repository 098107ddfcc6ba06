"""The call core (engine.calls): identity, start and end of calls, on real recordings and by rule."""

from __future__ import annotations

from engine.calls import CallEnded, CallLinked, CallStarted, CallTracker
from engine.commands.monitor import events_from_recording
from engine.events.ami import ChannelEvent, Hangup, Newchannel, Newstate


def _replay(path, tracker: CallTracker) -> list:
    facts = []
    for e in events_from_recording(path.read_bytes()):
        if isinstance(e, ChannelEvent) and e.channel.startswith("AudioSocket/"):
            continue  # the engine's own tap legs are not calls (the engine filters them the same way)
        facts += tracker.feed(e, getattr(e, "received", 0.0))
    return facts


def test_local_channel_calls_start_link_and_end_as_recorded(asterisk_fixtures):
    """ami_ivr_queue_local.txt: 4 calls on Local pairs; ;2 runs the IVR and the queue, so its
    Uniqueid differs from the Linkedid. Every id resolves to the Linkedid and every call ends."""
    tracker = CallTracker()
    facts = _replay(asterisk_fixtures / "ami_ivr_queue_local.txt", tracker)
    started = [f.call_id for f in facts if isinstance(f, CallStarted)]
    ended = [f.call_id for f in facts if isinstance(f, CallEnded)]
    assert started == ["1796448575.0", "1796448581.2", "1796448587.4", "1796448593.6"]
    assert sorted(ended) == sorted(started)
    assert tracker.live_calls == []
    # the IVR/queue channel (;2) and the call-takers' channels belong to the call
    assert tracker.resolve("1796448581.3") == "1796448581.2"
    assert tracker.resolve("1796448617.8") == "1796448581.2"  # Local/agent1@agents-00000004;1
    assert tracker.resolve("1796448637.17") == "1796448575.0"
    links = {f.alias: f.call_id for f in facts if isinstance(f, CallLinked)}
    assert links["1796448593.7"] == "1796448593.6"
    # the call that hung up in the IVR ended at its first channel's hang-up, with Asterisk's cause
    ivr_end = next(f for f in facts if isinstance(f, CallEnded) and f.call_id == "1796448587.4")
    assert ivr_end.reason == "Normal Clearing"


def test_every_call_of_the_queue_day_ends(asterisk_fixtures):
    tracker = CallTracker()
    facts = _replay(asterisk_fixtures / "ami_queue_day.txt", tracker)
    started = {f.call_id for f in facts if isinstance(f, CallStarted)}
    assert len(started) >= 24
    assert tracker.live_calls == []
    assert {f.call_id for f in facts if isinstance(f, CallEnded)} == started


def _ch(cls, uid: str, linked: str, at: float, channel: str = "Local/s@x-1;1", **kw):
    return cls(uniqueid=uid, linkedid=linked, channel=channel, received=at, **kw)


def test_call_time_is_counted_from_the_first_channel():
    t = CallTracker()
    t.feed(_ch(Newchannel, "10.0", "10.0", 100.0), 100.0)
    t.feed(_ch(Newchannel, "10.1", "10.0", 100.5, "Local/s@x-1;2"), 100.5)
    assert t.call_time("10.1", 130.0) == 30.0
    assert t.call_time("unknown", 130.0) == 0.0
    assert t.started_at("10.0") == 100.0


def test_ivr_channel_hanging_up_first_does_not_end_the_call():
    t = CallTracker()
    t.feed(_ch(Newchannel, "10.0", "10.0", 1.0), 1.0)
    t.feed(_ch(Newchannel, "10.1", "10.0", 1.0, "Local/s@x-1;2"), 1.0)
    assert t.feed(_ch(Hangup, "10.1", "10.0", 5.0, "Local/s@x-1;2"), 5.0) == []
    assert t.is_live("10.0")
    assert t.feed(_ch(Hangup, "10.0", "10.0", 6.0), 6.0) == [CallEnded("10.0", 6.0, "hangup")]


def test_a_call_first_seen_mid_way_ends_with_its_last_channel():
    """The engine started while the citizen's channel was already up: only ;2 is ever seen."""
    t = CallTracker()
    t.feed(_ch(Newstate, "10.1", "10.0", 50.0, "Local/s@x-1;2"), 50.0)
    assert t.is_live("10.0")
    assert t.feed(_ch(Hangup, "10.1", "10.0", 60.0, "Local/s@x-1;2"), 60.0) == [CallEnded("10.0", 60.0, "hangup")]


def test_fastagi_hang_up_ends_a_call_no_ami_event_told_of():
    t = CallTracker()
    assert t.agi_started("20.1", "20.0", "Local/s@x-2;2", 10.0) == [
        CallStarted("20.0", 10.0), CallLinked("20.0", "20.1", "uniqueid")]
    assert t.agi_ended("20.1", hung_up=False, now=12.0) == []  # back to the dialplan: Queue() next
    assert t.is_live("20.0")
    assert t.agi_ended("20.1", hung_up=True, now=15.0) == [CallEnded("20.0", 15.0, "ivr hang-up")]


def test_audiosocket_uuid_resolves_until_the_ended_call_expires():
    t = CallTracker(keep_ended=120.0)
    t.feed(_ch(Newchannel, "30.0", "30.0", 0.0), 0.0)
    assert t.link("30.0", "uuid-a", "audiosocket", 5.0) == [CallLinked("30.0", "uuid-a", "audiosocket")]
    t.feed(_ch(Hangup, "30.0", "30.0", 10.0), 10.0)
    assert t.resolve("uuid-a") == "30.0"  # a late final of the tap still finds its call
    assert t.feed(_ch(Newstate, "30.0", "30.0", 11.0), 11.0) == []  # a late event does not revive it
    assert t.expire(100.0) == 0
    assert t.expire(130.0) == 1
    assert t.resolve("uuid-a") == "uuid-a" and len(t) == 0


def test_reconcile_ends_calls_whose_channels_are_gone():
    t = CallTracker()
    t.feed(_ch(Newchannel, "40.0", "40.0", 0.0), 0.0)
    t.feed(_ch(Newchannel, "40.1", "40.0", 0.0, "Local/s@x-4;2"), 0.0)
    t.feed(_ch(Newchannel, "41.0", "41.0", 1.0, "Local/s@x-5;1"), 1.0)
    facts = t.reconcile(["40.1"], 50.0)  # Asterisk still lists call 40's ;2 only
    assert facts == [CallEnded("41.0", 50.0, "gone after reconnect")]
    assert t.live_calls == ["40.0"]


def test_reconcile_leaves_calls_that_began_after_the_list_was_asked_for():
    t = CallTracker()
    t.feed(_ch(Newchannel, "50.0", "50.0", 10.0), 10.0)
    t.feed(_ch(Newchannel, "51.0", "51.0", 20.0, "Local/s@x-6;1"), 20.0)  # came up after the question at 15
    assert t.reconcile([], 21.0, asked_at=15.0) == [CallEnded("50.0", 21.0, "gone after reconnect")]
    assert t.live_calls == ["51.0"]
