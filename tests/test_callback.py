"""Callbacks keep the caller's place, are originated when the caller would reach an agent,
retry on no answer, and count in later callers' positions."""

from __future__ import annotations

import pytest

from ivr_flows import protocol as p
from ivr_flows.callback import CallbackManager, LiveQueueInfo, QueueState


def test_callback_is_due_when_everyone_ahead_has_left() -> None:
    m = CallbackManager()
    for i in range(3):
        m.caller_joined("citizen", f"u{i}", 0.0)
    req = m.book("citizen", "13912345678", 0, 10.0, linkedid="L1")
    assert req.ahead == {"u0", "u1", "u2"} and m.position(req.id) == 4
    m.caller_joined("citizen", "late", 11.0)  # joined after the booking: behind it
    assert m.tick(12.0) == []
    m.caller_left("citizen", "u0", 20.0)
    m.caller_left("citizen", "u2", 30.0)  # abandoned: also no longer ahead
    assert m.tick(31.0) == []
    m.caller_left("citizen", "u1", 40.0)
    (orig,) = m.tick(41.0)
    assert req.due_at == 40.0 and req.status == "dialing" and req.attempts == 1
    assert orig.channel == "Local/13912345678@hotline-callback-out"
    kw = orig.kwargs()  # what engine/app passes to AmiClient.originate
    assert kw["context"] == "hotline-callback" and kw["exten"] == "s" and kw["priority"] == 1
    assert kw["variables"]["HOTLINE_CALLBACK"] == req.id and kw["variables"]["QUEUE_PRIO"] == "10"
    assert "13912345678" not in repr(orig) and "13912345678" not in repr(req)
    assert m.tick(42.0) == []  # originated once


def test_no_answer_is_retried_then_given_up() -> None:
    m = CallbackManager(max_attempts=3, retry_delay=60.0)
    req = m.book("citizen", "5551234", 0, 0.0)
    assert len(m.tick(0.0)) == 1
    m.originate_result(req.id, answered=False, now=30.0)
    assert req.status == "retry" and m.pending("citizen") == 1
    assert m.tick(60.0) == [] and len(m.tick(90.0)) == 1
    m.originate_result(req.id, answered=False, now=120.0)
    assert len(m.tick(180.0)) == 1 and req.attempts == 3
    m.originate_result(req.id, answered=False, now=200.0)
    assert req.status == "failed" and m.pending("citizen") == 0 and m.tick(1000.0) == []


def test_pending_callbacks_count_in_later_positions_and_chain() -> None:
    m = CallbackManager()
    m.caller_joined("citizen", "u1", 0.0)
    first = m.book("citizen", "13900000001", 0, 1.0)
    second = m.book("citizen", "13900000002", 0, 2.0)
    assert second.ahead == {"u1", first.id}
    info = LiveQueueInfo(m)
    info.agents["citizen"] = QueueState(staffed=2, available=1)  # a call-taker free: due ones are dialled
    q = info.query("citizen", 0, 3.0)
    assert q.position == 4  # u1 + two pending callbacks + me
    m.caller_left("citizen", "u1", 5.0)
    assert [o.callback_id for o in m.tick(5.0)] == [first.id]
    m.originate_result(first.id, answered=True, now=20.0)
    assert second.status == "due" and [o.callback_id for o in m.tick(21.0)] == [second.id]
    assert info.query("citizen", 0, 22.0).position == 2  # second still dialing


def test_live_queue_info_uses_handle_times_and_priorities() -> None:
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=2, available=0)
    for i in range(50):
        info.handle_times.add("citizen", 120.0, float(i))
    info.callbacks.caller_joined("citizen", "a", 0.0, priority=0)
    info.callbacks.caller_joined("citizen", "b", 0.0, priority=2)
    low = info.query("citizen", 0, 60.0)
    high = info.query("citizen", 2, 60.0)
    assert (low.position, high.position) == (3, 2)
    aht = info.handle_times.mean("citizen", 60.0)
    assert low.wait == pytest.approx(3 * aht / 2) and high.wait == pytest.approx(2 * aht / 2)
    assert info.query("nobody", 0, 60.0) == p.QueueInfo(position=1, wait=None, agents_available=0)
    ref = info.book("citizen", "13912345678", 0, 61.0)
    assert info.callbacks.requests[ref].ahead == {"a", "b"}


def test_bad_number_rejected() -> None:
    with pytest.raises(ValueError):
        CallbackManager().book("q", "12ab", 0, 0.0)


def test_fed_with_the_recorded_queue_day(asterisk_fixtures) -> None:
    from engine.asterisk.ami_codec import AmiCodec, AmiMessage
    from engine.events.ami import event_from_message
    from queueing.monitor import QueueMonitor
    from tests.fixture_files import ami_server_bytes

    codec = AmiCodec(group_lists=False)
    codec.feed(ami_server_bytes(asterisk_fixtures / "ami_queue_day.txt"))
    msgs = [m for m in list(codec.items()) + codec.close() if isinstance(m, AmiMessage)]
    monitor = QueueMonitor()  # the call-takers' states, as the engine wires them
    info = LiveQueueInfo(wrapup_seconds=1.0, agents=lambda q: QueueState.from_counts(monitor.board.counts(q)))
    booked = None
    for i, msg in enumerate(msgs):
        ev = event_from_message(msg, float(i))
        if ev is None:
            continue
        monitor.feed(ev, float(i))
        due = info.feed(ev, float(i))
        if booked is None and info.callbacks.waiting("evening") >= 3:
            booked = info.book("evening", "13912345678", 0, float(i))  # a caller takes a callback now
            assert info.callbacks.position(booked) == 4
        if due:
            assert [d.callback_id for d in due] == [booked]
            assert info.callbacks.waiting("evening") >= 0
    assert booked is not None and info.callbacks.requests[booked].status == "dialing"
    assert info.callbacks.waiting("evening") == 0
    assert info.handle_times.count("evening", float(len(msgs))) == 22  # Completed 22
    # talk 4-9 s plus 1 s wrap-up, pulled a little toward the 240 s prior
    assert 5.0 < info.handle_times.mean("evening", float(len(msgs))) < 60.0


def test_queue_state_from_agent_counts() -> None:
    counts = {"available": 2, "ringing": 1, "talking": 3, "wrap_up": 1, "paused": 2, "unavailable": 1,
              "logged_in": 10}
    assert QueueState.from_counts(counts) == QueueState(staffed=7, available=2)


# -- callers in the queue node (announced, not yet in Queue() as AMI sees it) --------------------

QUEUE_FLOW = """
flow: q
start: queue
languages: [zh]
nodes:
  queue: {verb: queue, queue: citizen, prompt: hotline/transferring, announce: [position, wait]}
"""


def _announce(flow, info: LiveQueueInfo, uniqueid: str, linkedid: str, now: float) -> p.QueueInfo:
    """Run the flow's queue node as the FastAGI adapter would: QueryQueue answered by ``info``."""
    from ivr_flows.runner import CallInfo, start

    _, cmds = start(flow, CallInfo(uniqueid=uniqueid, linkedid=linkedid, caller="13912345678"), now)
    (ask,) = [c for c in cmds if isinstance(c, p.QueryQueue)]
    return info.query(ask.queue, ask.priority, now, uniqueid=uniqueid, linkedid=linkedid)


def test_three_callers_three_seconds_apart_hear_1_2_3() -> None:
    """Callers still hearing their announcement are in line: none of them is "position 1" but the first,
    and the wait grows with them (the caller told 71 s who then joined at position 3 was the defect)."""
    from ivr_flows.loader import load_text

    flow = load_text(QUEUE_FLOW, "q.yaml")[0]
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=2, available=1)
    for i in range(50):
        info.handle_times.add("citizen", 142.0, float(i))
    told = [_announce(flow, info, f"1796448581.{2 * i + 3}", f"1796448581.{2 * i + 2}", 100.0 + 3 * i)
            for i in range(3)]
    assert [t.position for t in told] == [1, 2, 3]
    aht = info.handle_times.mean("citizen", 106.0)
    assert told[0].wait == 0.0 and told[1].wait == pytest.approx(aht / 2) and told[2].wait == pytest.approx(aht)
    # asking again (a flow looping back to the node) keeps the place
    assert info.query("citizen", 0, 107.0, uniqueid="1796448581.5", linkedid="1796448581.4").position == 2


def test_announced_callers_leave_the_line_at_join_hangup_or_timeout() -> None:
    m = CallbackManager(announce_ttl=300.0, join_grace=15.0)
    m.caller_announced("citizen", "A.3", 0.0, linkedid="A.2")
    m.caller_announced("citizen", "B.5", 1.0, linkedid="B.4")
    m.caller_announced("citizen", "C.7", 2.0, linkedid="C.6", priority=2)
    m.caller_announced("citizen", "D.9", 3.0, linkedid="D.8")
    assert m.announced_ahead("citizen", 0, 4.0, "D.9") == {"A.3", "B.5", "C.7"}
    assert m.announced_ahead("citizen", 3, 4.0) == set()  # nobody announced at priority 3 or more
    # joins under another Uniqueid but the same Linkedid (the AGI ran on another channel of the call)
    m.caller_joined("citizen", "A.11", 5.0, linkedid="A.2")
    assert m.waiting("citizen") == 1 and m.announced("citizen", 5.0) == 3
    m.caller_gone("B.4", 6.0)  # the Hangup of B's first channel (;1, Uniqueid = Linkedid)
    m.caller_joined("citizen", "C.7", 7.0)  # AMI does not say the priority: the flow's is kept
    # the priorities are the flows' (A 0, C 2), not "unknown, ahead of all" as for a caller never announced
    assert (m.waiting_at_or_above("citizen", 2), m.waiting_at_or_above("citizen", 0)) == (1, 2)
    m.caller_handed_over("D.9", 8.0)
    assert m.announced("citizen", 8.0 + 15.0 - 0.1) == 1 and m.announced("citizen", 8.0 + 15.0) == 0
    # a caller never heard of again is forgotten after announce_ttl
    m.caller_announced("citizen", "E.13", 100.0)
    assert m.announced("citizen", 399.9) == 1 and m.announced("citizen", 400.0) == 0


def test_callback_booked_in_the_node_keeps_its_announced_place() -> None:
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=1, available=0)
    m = info.callbacks
    info.query("citizen", 0, 0.0, uniqueid="A.3", linkedid="A.2")
    info.query("citizen", 0, 3.0, uniqueid="B.5", linkedid="B.4")
    info.query("citizen", 0, 6.0, uniqueid="C.7", linkedid="C.6")
    ref = info.book("citizen", "13912345678", 0, 9.0, linkedid="B.4", uniqueid="B.5")
    req = m.requests[ref]
    assert req.ahead == {"A.3"}  # announced before B; C (after B) is behind the callback
    assert m.announced("citizen", 9.0) == 2  # B left the node: its callback holds the place
    assert info.query("citizen", 0, 10.0, uniqueid="D.9", linkedid="D.8").position == 4  # A, B's callback, C, me
    # A joins under another Uniqueid (matched by Linkedid) and is answered: the callback is due
    info.feed(_join("A.11", "A.2"), 20.0)
    assert req.ahead == {"A.11"}
    m.caller_left("citizen", "A.11", 30.0)
    assert req.status in ("due", "dialing")


def test_announced_callers_of_the_recorded_local_channel_calls(asterisk_fixtures) -> None:
    """ami_ivr_queue_local.txt: four calls on Local pairs, AGI and Queue() on ;2, one hangs up in the
    IVR. Announced under the ;2 Uniqueid and the call's Linkedid, each leaves the node at its
    QueueCallerJoin, the one that hung up at its Hangup; none is left over."""
    from engine.asterisk.ami_codec import AmiCodec, AmiMessage
    from engine.events.ami import event_from_message
    from tests.fixture_files import ami_server_bytes

    codec = AmiCodec(group_lists=False)
    codec.feed(ami_server_bytes(asterisk_fixtures / "ami_ivr_queue_local.txt"))
    events = [event_from_message(m, float(i)) for i, m in enumerate(list(codec.items()) + codec.close())
              if isinstance(m, AmiMessage)]
    info = LiveQueueInfo()
    calls = {"1796448575.1": "1796448575.0", "1796448581.3": "1796448581.2", "1796448587.5": "1796448587.4",
             "1796448593.7": "1796448593.6"}  # ;2 Uniqueid (the FastAGI channel) -> Linkedid
    for uid, linked in calls.items():
        info.query("citizen", 0, 0.0, uniqueid=uid, linkedid=linked)
    assert info.callbacks.announced("citizen", 0.0) == 4
    left = []
    for ev in events:
        if ev is None:
            continue
        before = info.callbacks.announced("citizen", 0.0)
        info.feed(ev, 0.0)
        if info.callbacks.announced("citizen", 0.0) < before:
            left.append((type(ev).__name__, ev.uniqueid))
    assert sorted(left) == [("Hangup", "1796448587.4"), ("QueueCallerJoin", "1796448575.1"),
                            ("QueueCallerJoin", "1796448581.3"), ("QueueCallerJoin", "1796448593.7")]


def _join(uniqueid: str, linkedid: str):
    from engine.events.ami import QueueCallerJoin

    return QueueCallerJoin(uniqueid=uniqueid, linkedid=linkedid, queue="citizen")


# -- dialled when a call-taker is (about to be) free --------------------------------------------


def _agent(kind: str, interface: str, uniqueid: str, **kw):
    from engine.events import ami

    cls = {"connect": ami.AgentConnect, "complete": ami.AgentComplete}[kind]
    return cls(queue="citizen", interface=interface, member_name=interface, uniqueid=uniqueid,
               linkedid=uniqueid, **kw)


def test_nobody_ahead_is_not_enough_a_call_taker_must_be_free() -> None:
    """The defect: with the only call-taker still talking, the callback was dialled at once and the
    citizen, having answered, waited on hold again. Now it waits for the call-taker."""
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=1, available=0)
    aht = info.handle_times.mean("citizen", 0.0)  # 240 s: no completions yet
    info.feed(_agent("connect", "Local/agent1@agents", "u0"), 0.0)  # busy with caller u0 from t=0
    ref = info.book("citizen", "13912345678", 0, 10.0, linkedid="L1", uniqueid="U1")
    req = info.callbacks.requests[ref]
    assert req.status == "due" and info.callbacks.tick(10.0) == []  # nobody ahead, but nobody free
    assert req.history[-1] == (10.0, "waiting for a free call-taker")
    lead = info.callbacks.ring_lead
    assert info.next_agent_free_in("citizen", 100.0) == pytest.approx(aht - 100.0)
    assert info.callbacks.tick(aht - lead - 1.0) == []
    (orig,) = info.callbacks.tick(aht - lead + 0.5)  # expected free before the citizen answers
    assert orig.callback_id == ref and req.status == "dialing"


def test_a_call_taker_finishing_early_frees_the_callback_at_once() -> None:
    info = LiveQueueInfo(wrapup_seconds=30.0)
    info.agents["citizen"] = QueueState(staffed=1, available=0)
    info.feed(_agent("connect", "Local/agent1@agents", "u0"), 0.0)
    ref = info.book("citizen", "13912345678", 0, 10.0)
    assert info.feed(_agent("complete", "Local/agent1@agents", "u0", talk_time=30), 30.0) == []  # in wrap-up
    assert info.next_agent_free_in("citizen", 40.0) == pytest.approx(20.0)
    (orig,) = info.callbacks.tick(50.5)  # the wrap-up ends within the ring lead
    assert orig.callback_id == ref
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=1, available=0)
    info.feed(_agent("connect", "Local/agent1@agents", "u0"), 0.0)
    ref = info.book("citizen", "13912345678", 0, 10.0)
    info.agents["citizen"] = QueueState(staffed=1, available=1)  # the board: the call ended early, idle
    (orig,) = info.feed(_agent("complete", "Local/agent1@agents", "u0", talk_time=20), 20.0)
    assert orig.callback_id == ref


def test_an_idle_call_taker_with_callers_ahead_of_a_callback_does_not_count() -> None:
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=2, available=1)
    info.callbacks.caller_joined("citizen", "unknown-priority", 0.0)  # AMI: no priority, so ahead of all
    ref = info.book("citizen", "13912345678", 0, 1.0)
    info.callbacks.caller_left("citizen", "unknown-priority", 2.0)  # crossed off: the callback is due
    info.callbacks.caller_joined("citizen", "later", 3.0)  # joined after: behind the callback, but AMI
    assert info.callbacks.tick(4.0) == []  # cannot say; it will take the idle call-taker first
    info.callbacks.caller_left("citizen", "later", 5.0)
    (orig,) = info.callbacks.tick(6.0)
    assert orig.callback_id == ref
    nobody = LiveQueueInfo()  # nobody staffed: a callback is never dialled into an empty room
    nobody.book("citizen", "13912345678", 0, 0.0)
    assert nobody.callbacks.tick(1.0) == []


def test_the_originate_carries_the_citizens_number_and_the_booking_call() -> None:
    m = CallbackManager(caller_id="12345")
    req = m.book("citizen", "13912345678", 0, 0.0, linkedid="1796448581.2")
    (orig,) = m.tick(0.0)
    kw = orig.kwargs()
    assert kw["caller_id"] == "13912345678"  # the callback call's caller ID: queue, call-taker and store see it
    assert kw["variables"]["HOTLINE_CALLBACK_CLI"] == "12345"  # what the citizen's phone shows
    assert kw["variables"]["HOTLINE_LINKEDID"] == "1796448581.2" and kw["variables"]["HOTLINE_CALLBACK"] == req.id
    assert "13912345678" not in repr(orig)


def test_each_status_change_is_told_so_the_store_can_keep_it() -> None:
    seen: list[tuple[str, str, int]] = []
    m = CallbackManager(max_attempts=2, retry_delay=10.0,
                        on_change=lambda req, now: seen.append((req.id, req.status, req.attempts)))
    m.caller_joined("citizen", "u0", 0.0)
    req = m.book("citizen", "13912345678", 0, 1.0)
    m.caller_left("citizen", "u0", 2.0)
    m.tick(3.0)
    m.originate_result(req.id, answered=False, now=4.0)
    m.tick(14.0)
    m.originate_result(req.id, answered=False, now=15.0)
    assert seen == [("CB-00001", "waiting", 0), ("CB-00001", "due", 0), ("CB-00001", "dialing", 1),
                    ("CB-00001", "retry", 1), ("CB-00001", "dialing", 2), ("CB-00001", "failed", 2)]


def test_callbacks_restored_after_a_restart_keep_their_order() -> None:
    from engine.store import StoredCallback

    def kept(cid, queue, at, status, attempts=0):
        return StoredCallback(cid, "n", f"L-{cid}", queue, "13912345678", 0, at, status, attempts)

    m = CallbackManager(max_attempts=3)
    restored = m.restore([kept("CB-00004", "citizen", 10.0, "due"), kept("CB-00005", "citizen", 20.0, "waiting"),
                          kept("CB-00006", "other", 30.0, "dialing", 1), kept("CB-00007", "other", 40.0, "retry", 3)],
                         "CB-00009", 100.0)
    first, second, dialled, spent = restored
    assert (first.status, second.status, second.ahead) == ("due", "waiting", {"CB-00004"})
    assert (dialled.status, dialled.next_try, dialled.linkedid) == ("retry", 100.0, "L-CB-00006")  # tried again
    assert spent.status == "failed"  # its attempts were used up: given up, not dialled a 4th time
    assert [o.callback_id for o in m.tick(100.0)] == ["CB-00004", "CB-00006"]
    m.originate_result("CB-00004", answered=True, now=110.0)
    assert second.status == "due" and m.pending("citizen") == 1
    assert m.book("citizen", "13900000000", 0, 120.0).id == "CB-00010"  # ids go on after the last one kept
    assert m.restore([kept("CB-00004", "citizen", 10.0, "due")], "", 130.0) == []  # known already
