"""AMI events from every recording become the project's dataclasses, with real content checked."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.asterisk.ami_codec import AmiCodec, AmiListResponse, AmiMessage
from engine.events.ami import (
    AgentComplete,
    AgentConnect,
    AmiEvent,
    DTMFEnd,
    Hangup,
    OtherAmiEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueParams,
    QueueSummary,
    VarSet,
    event_from_headers,
    event_from_message,
)
from engine.privacy import mask_number
from tests.fixture_files import ami_server_bytes

RECORDINGS = ["ami_session.txt", "ami_queue_day.txt", "ami_chinese_callerid.txt", "ami_spy.txt", "ami_failed_login.txt"]


def messages(path) -> list[AmiMessage]:
    codec = AmiCodec(group_lists=False)
    codec.feed(ami_server_bytes(path))
    items = list(codec.items()) + codec.close()
    return [i for i in items if isinstance(i, AmiMessage)]


def events(path) -> list[AmiEvent]:
    out = []
    for i, msg in enumerate(messages(path)):
        ev = event_from_message(msg, now=float(i))
        if ev is not None:
            out.append(ev)
    return out


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_event_of_every_recording_is_typed_or_kept(asterisk_fixtures, name):
    msgs = messages(asterisk_fixtures / name)
    evs = events(asterisk_fixtures / name)
    assert len(evs) == sum(1 for m in msgs if m.is_event)
    assert not [e for e in evs if isinstance(e, OtherAmiEvent) and e.error]
    for ev in evs:
        assert ev.raw and ev.raw[0][0] == "Event"
        assert ev.name == ev.header("event")


def counts(path) -> Counter:
    return Counter(type(e).__name__ for e in events(path) if not isinstance(e, OtherAmiEvent))


def test_counts_by_type(asterisk_fixtures):
    session = counts(asterisk_fixtures / "ami_session.txt")
    assert session["QueueCallerJoin"] == 2 and session["QueueCallerLeave"] == 2
    assert session["QueueCallerAbandon"] == 1 and session["AgentConnect"] == 1 and session["AgentComplete"] == 1
    assert session["Newchannel"] == 8 and session["Hangup"] == 8 and session["VarSet"] == 37
    assert session["DTMFEnd"] == 1 and session["QueueMemberPause"] == 2
    assert session["QueueMemberAdded"] == 1 and session["QueueMemberRemoved"] == 1
    assert session["QueueParams"] == 2 and session["QueueMember"] == 2 and session["QueueEntry"] == 1
    day = counts(asterisk_fixtures / "ami_queue_day.txt")
    assert day["QueueCallerJoin"] == 24 and day["QueueCallerLeave"] == 24
    assert day["AgentCalled"] == 22 and day["AgentConnect"] == 22 and day["AgentComplete"] == 22
    assert day["QueueCallerAbandon"] == 2 and day["Hangup"] == 92 and day["QueueMemberStatus"] == 44
    assert counts(asterisk_fixtures / "ami_spy.txt")["Hangup"] == 3
    assert counts(asterisk_fixtures / "ami_chinese_callerid.txt")["AgentComplete"] == 1
    assert counts(asterisk_fixtures / "ami_failed_login.txt") == Counter()


def test_the_abandon_in_the_session(asterisk_fixtures):
    evs = events(asterisk_fixtures / "ami_session.txt")
    (abandon,) = [e for e in evs if isinstance(e, QueueCallerAbandon)]
    assert abandon.queue == "citizen" and abandon.hold_time == 4
    assert abandon.position == 1 and abandon.original_position == 1
    assert abandon.uniqueid == "1795881221.241" and abandon.caller_id_num == "13800000003"
    assert abandon.caller_id_name == "Citizen C"
    after = next(e for e in evs[evs.index(abandon):] if not isinstance(e, OtherAmiEvent | QueueCallerAbandon))
    assert isinstance(after, QueueCallerLeave) and after.uniqueid == abandon.uniqueid and after.count == 0
    # the caller was waiting because the only member had been paused for a break
    pauses = [e for e in evs if isinstance(e, QueueMemberPause)]
    assert [p.paused for p in pauses] == [True, False]
    assert pauses[0].paused_reason == "break" and pauses[0].member_name == "Agent One"
    assert evs.index(pauses[0]) < evs.index(abandon) < evs.index(pauses[1])
    (entry,) = [e for e in evs if isinstance(e, QueueEntry)]
    assert entry.uniqueid == abandon.uniqueid and entry.wait == 1 and entry.position == 1


def test_answered_call_in_the_session(asterisk_fixtures):
    evs = events(asterisk_fixtures / "ami_session.txt")
    (connect,) = [e for e in evs if isinstance(e, AgentConnect)]
    (complete,) = [e for e in evs if isinstance(e, AgentComplete)]
    assert connect.uniqueid == complete.uniqueid == "1795881200.235"
    assert connect.interface == "Local/agent1@agents/n" and connect.member_name == "Agent One"
    assert connect.hold_time == 0 and connect.ring_time == 0 and connect.dest_uniqueid == "1795881206.237"
    assert complete.talk_time == 3 and complete.reason == "agent"
    (dtmf,) = [e for e in evs if isinstance(e, DTMFEnd)]
    assert dtmf.digit == "2" and dtmf.duration_ms == 100 and dtmf.direction == "Received"
    join = next(e for e in evs if isinstance(e, QueueCallerJoin))
    assert (join.queue, join.position, join.count) == ("citizen", 1, 1)
    added = next(e for e in evs if isinstance(e, QueueMemberAdded))
    assert added.membership == "dynamic" and added.penalty == 1 and added.status == 4 and added.ringinuse
    hangups = [e for e in evs if isinstance(e, Hangup)]
    assert all(h.cause == 16 and h.cause_txt == "Normal Clearing" for h in hangups)
    assert any(isinstance(e, VarSet) and e.variable for e in evs)


def test_queue_day_counters_and_their_semantics(asterisk_fixtures):
    evs = events(asterisk_fixtures / "ami_queue_day.txt")
    (params,) = [e for e in evs if isinstance(e, QueueParams)]
    assert params.queue == "evening" and params.completed == 22 and params.abandoned == 2
    assert params.holdtime == 8 and params.talktime == 6 and params.service_level == 5
    assert params.service_level_perf == pytest.approx(77.3) and params.service_level_perf2 == pytest.approx(75.0)
    # Holdtime/TalkTime are running averages (3/4 old + 1/4 new, integer), not means
    hold = talk = 0
    holds = [e.hold_time for e in evs if isinstance(e, AgentConnect)]
    talks = [e.talk_time for e in evs if isinstance(e, AgentComplete)]
    for h in holds:
        hold = (3 * hold + h) >> 2
    for t in talks:
        talk = (3 * talk + t) >> 2
    assert (hold, talk) == (params.holdtime, params.talktime)
    assert round(sum(holds) / len(holds)) != params.holdtime  # the mean would be wrong
    in_sl = sum(1 for h in holds if h <= params.service_level)
    abandons = [e for e in evs if isinstance(e, QueueCallerAbandon)]
    ab_in_sl = sum(1 for a in abandons if a.hold_time <= params.service_level)
    assert round(100 * in_sl / len(holds), 1) == params.service_level_perf
    assert round(100 * (in_sl + ab_in_sl) / (len(holds) + len(abandons)), 1) == params.service_level_perf2
    members = [e for e in evs if isinstance(e, QueueMember)]
    assert sum(m.calls_taken for m in members) == 22
    (summary,) = [e for e in evs if isinstance(e, QueueSummary)]
    assert (summary.logged_in, summary.available, summary.hold_time, summary.talk_time) == (3, 3, 8, 6)


def test_queue_day_against_the_plan(asterisk_fixtures):
    """Every planned caller joined; the two who abandoned waited no longer than their patience."""
    plan = {}
    for line in (asterisk_fixtures / "ami_queue_day_plan.txt").read_text().split("\n"):
        if line.strip():
            _, number, patience = line.split()
            plan[number] = int(patience)
    evs = events(asterisk_fixtures / "ami_queue_day.txt")
    joined = {e.caller_id_num for e in evs if isinstance(e, QueueCallerJoin)}
    assert joined == set(plan)
    for ab in (e for e in evs if isinstance(e, QueueCallerAbandon)):
        # whole seconds of time() on both ends: up to one second more than the patience
        assert ab.hold_time <= plan[ab.caller_id_num] + 1


def test_short_agent_complete_form(asterisk_fixtures):
    """After the caller's channel is gone AgentComplete carries no channel snapshot."""
    evs = [e for e in events(asterisk_fixtures / "ami_queue_day.txt") if isinstance(e, AgentComplete)]
    short = [e for e in evs if not e.channel]
    assert short, "the recording holds the short form"
    assert all(e.queue == "evening" and e.interface and e.talk_time >= 0 for e in short)


def test_chinese_caller_name(asterisk_fixtures):
    evs = events(asterisk_fixtures / "ami_chinese_callerid.txt")
    join = next(e for e in evs if isinstance(e, QueueCallerJoin))
    assert join.caller_id_name == "张三丰 市民" and join.caller_id_num == "13912345678"
    connect = next(e for e in evs if isinstance(e, AgentConnect))
    assert connect.dest_caller_id_name == "张三丰 市民"


def test_list_items_are_typed(asterisk_fixtures):
    codec = AmiCodec()
    codec.feed(ami_server_bytes(asterisk_fixtures / "ami_queue_day.txt"))
    lists = [i for i in list(codec.items()) + codec.close() if isinstance(i, AmiListResponse)]
    final = next(lst for lst in lists if lst.action_id == "final-status")
    typed = [event_from_message(e, 0.0) for e in final.events]
    assert [type(t).__name__ for t in typed] == ["QueueParams", "QueueMember", "QueueMember", "QueueMember"]


def test_unknown_event_bad_number_and_responses():
    other = event_from_message(AmiMessage((("Event", "BridgeEnter"), ("BridgeUniqueid", "x"))), 5.0)
    assert isinstance(other, OtherAmiEvent) and other.name == "BridgeEnter" and other.received == 5.0
    bad = event_from_message(AmiMessage((("Event", "QueueCallerJoin"), ("Position", "first"))), 1.0)
    assert isinstance(bad, OtherAmiEvent) and "Position" in bad.error
    assert event_from_message(AmiMessage((("Response", "Success"),)), 1.0) is None
    lower = event_from_message(AmiMessage((("event", "hangup"), ("cause", "17"), ("callerIDnum", "<unknown>"))), 1.0)
    assert isinstance(lower, Hangup) and lower.cause == 17 and lower.caller_id_num == ""
    assert lower.header("CallerIDNum") == "<unknown>"


def test_plain_headers_give_what_an_amimessage_gives(asterisk_fixtures):
    """event_from_message reuses an AmiMessage's own tuple and index; any other headers are
    copied and indexed: both must give the same event (first of repeated headers wins)."""
    class Plain:
        def __init__(self, headers):
            self.headers = list(headers)

    msgs = messages(asterisk_fixtures / "ami_session.txt")
    msgs.append(AmiMessage((("Event", "Hangup"), ("Cause", "16"), ("cause", "17"), ("Channel", "a"))))
    for msg in msgs:
        ev = event_from_message(msg, 2.0)
        for other in (event_from_message(Plain(msg.headers), 2.0), event_from_headers(list(msg.headers), 2.0)):
            assert type(other) is type(ev) and other == ev
            if ev is not None:
                assert other.raw == ev.raw == msg.headers
    assert event_from_message(msgs[-1], 0.0).cause == 16


def test_personal_data_stays_out_of_repr(asterisk_fixtures):
    evs = events(asterisk_fixtures / "ami_chinese_callerid.txt")
    for ev in evs:
        text = repr(ev)
        assert "13912345678" not in text and "张三丰" not in text
    shown = {mask_number(ev.caller_id_num) for ev in evs if getattr(ev, "caller_id_num", "")}
    assert "139****5678" in shown and "13912345678" not in shown  # the project's rule (engine.privacy)
