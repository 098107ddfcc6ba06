"""Queue monitor: replays of real Asterisk recordings, reconnect reconciliation, surges."""

from __future__ import annotations

import json
from datetime import date

import pytest

from engine.cli import main
from engine.commands.monitor import events_from_recording, replay
from engine.events.ami import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AmiConnected,
    AmiDisconnected,
    AmiReconnected,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberStatus,
    QueueParams,
    QueueSnapshot,
)
from queueing.intervals import IntervalClock
from queueing.monitor import QueueMonitor
from queueing.surge import SurgeDetected, SurgeDetector, robust_baseline

T0 = 1795881000.0  # 2026-11-28 around 23:30 Beijing time


def final_params(path) -> QueueParams:
    snaps = [e for e in events_from_recording(path.read_bytes()) if isinstance(e, QueueSnapshot)]
    return snaps[-1].params[0]


def test_replay_of_queue_day_agrees_with_asterisk_counters(asterisk_fixtures):
    path = asterisk_fixtures / "ami_queue_day.txt"
    p = final_params(path)
    assert (p.completed, p.abandoned, p.service_level) == (22, 2, 5)
    m = QueueMonitor()
    end = replay(path, m)
    v = m.queue_view("evening", end)
    assert v["offered"] == 24
    assert v["answered"] == v["completed"] == p.completed
    assert v["abandoned"] == p.abandoned
    assert v["sl_seconds"] == p.service_level
    assert v["answered_within_sl"] == round(p.service_level_perf * p.completed / 100) == 17
    assert v["service_level_pct"] == p.service_level_perf == 77.3
    # ServicelevelPerf2 = (completed + abandoned within SL) / (completed + abandoned)
    assert v["abandoned_within_sl"] == 1
    assert v["service_level2_pct"] == p.service_level_perf2 == 75.0
    assert v["abandoned_waits"] == [4, 8]
    assert v["asa"] == pytest.approx(99 / 22, abs=0.01)
    assert v["waiting"] == 0 and v["longest_wait"] == 0 and v["max_wait"] == 14
    assert v["agents"]["logged_in"] == 3 and v["agents"]["available"] == 3
    assert v["asterisk"]["completed"] == 22
    # Asterisk's running averages, recomputed from the events the way app_queue does (the
    # final QueueStatus left out, since the monitor takes Asterisk's own values from it)
    m2 = QueueMonitor()
    for e in events_from_recording(path.read_bytes()):
        if not isinstance(e, QueueSnapshot):
            m2.feed(e)
    v2 = m2.queue_view("evening")
    assert (v2["holdtime_running_avg"], v2["talktime_running_avg"]) == (p.holdtime, p.talktime) == (8, 6)


def test_cli_replay_json(asterisk_fixtures, capsys):
    rc = main(["monitor", "--replay", str(asterisk_fixtures / "ami_queue_day.txt"), "--json"])
    assert rc == 0
    views = json.loads(capsys.readouterr().out)
    (v,) = views
    for key in ("queue", "offered", "answered", "abandoned", "answered_within_sl", "abandoned_within_sl",
                "sl_seconds", "asa", "longest_wait"):
        assert key in v
    assert (v["queue"], v["answered"], v["abandoned"], v["answered_within_sl"]) == ("evening", 22, 2, 17)
    assert main(["monitor", "--replay", str(asterisk_fixtures / "ami_queue_day.txt"), "--sl", "3"]) == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    # --sl 3 overrides the queue's ServiceLevel 5: 10 of the 22 AgentConnect HoldTimes are <= 3
    assert row[0] == "evening" and row[6] == "45.5"


def test_cli_replay_table_with_intervals(asterisk_fixtures, capsys):
    assert main(["monitor", "--replay", str(asterisk_fixtures / "ami_queue_day.txt"), "--intervals"]) == 0
    out = capsys.readouterr().out
    assert "evening by interval" in out and "2026-11-28T23:30+08:00" in out and "\n2026-11-28 " in out  # day row


def test_replay_with_a_chinese_caller_name(asterisk_fixtures):
    m = QueueMonitor()
    end = replay(asterisk_fixtures / "ami_chinese_callerid.txt", m)
    v = m.queue_view("citizen", end)
    assert (v["offered"], v["answered"], v["completed"]) == (1, 1, 1)
    text = json.dumps(m.views(end, intervals=True), ensure_ascii=False)
    assert "张三丰" not in text and "13912345678" not in text


def test_cli_replay_missing_file_is_a_usage_error(tmp_path, capsys):
    assert main(["monitor", "--replay", str(tmp_path / "nope.txt"), "--json"]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"hello world\nthis is not AMI\n\n", bytes(range(256)) * 8, b""])
def test_cli_replay_of_a_file_without_ami_events_is_a_usage_error(tmp_path, capsys, content):
    path = tmp_path / "garbage.txt"
    path.write_bytes(content)
    assert main(["monitor", "--replay", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert "no AMI events" in captured.err and str(path) in captured.err
    assert captured.out == ""


def test_cli_replay_of_a_file_with_a_line_over_the_codec_limit_is_a_usage_error(tmp_path, capsys):
    """A 2 MB line without a line break: the codec's protocol error, as one line, no traceback."""
    path = tmp_path / "long.txt"
    path.write_bytes(b"Event: QueueCallerJoin\r\nQueue: " + b"x" * 2_000_000)
    assert main(["monitor", "--replay", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert "not a readable AMI stream: AMI line longer than" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize(("header", "value"), [
    ("Timestamp", "1e20"), ("Timestamp", "nan"), ("Timestamp", "inf"), ("Timestamp", "-5"),
    ("EventTV", "9999-11-28T15:54:14.139+0000"),
])
def test_cli_replay_of_an_event_with_an_impossible_time_is_a_usage_error(asterisk_fixtures, tmp_path, capsys,
                                                                          header, value):
    """A corrupt ``Timestamp`` would drag the replay clock (which never goes back) with it, or
    overflow the interval clock: one line naming the file, header, value and event instead."""
    text = (asterisk_fixtures / "ami_queue_day.txt").read_text(encoding="utf-8")
    first = "Event: Newchannel\nPrivilege: call,all\n"
    path = tmp_path / "corrupt.txt"
    path.write_text(text.replace(first, f"{first}{header}: {value}\n", 1), encoding="utf-8")
    assert main(["monitor", "--replay", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"hotline monitor: --replay {path}: {header} {value!r} of Newchannel event is not a time "
                            "(expected epoch seconds between 1970 and 3000)\n")
    assert captured.out == ""


def test_intervals_add_up_to_the_day(asterisk_fixtures):
    m = QueueMonitor(interval_minutes=15)
    end = replay(asterisk_fixtures / "ami_queue_day.txt", m)
    ivs = m.interval_views("evening")
    assert sum(i["offered"] for i in ivs) == 24 and sum(i["answered"] for i in ivs) == 22
    (day,) = m.day_views("evening")
    assert day["offered"] == 24 and day["abandoned"] == 2
    (view,) = m.views(end, intervals=True)
    assert sum(a["total"]["calls"] for a in view["agent_stats"]) == 22
    assert {a["name"] for a in view["agent_stats"]} == {"Agent 1", "Agent 2", "Agent 3"}
    assert ivs[0]["interval"].endswith("+08:00") and end > 0


def test_replaying_every_event_twice_counts_each_call_once(asterisk_fixtures):
    events = list(events_from_recording((asterisk_fixtures / "ami_queue_day.txt").read_bytes()))
    m = QueueMonitor()
    for e in events:
        m.feed(e)
        if not isinstance(e, QueueSnapshot):
            m.feed(e)  # a duplicate delivery
    v = m.queue_view("evening")
    assert (v["offered"], v["answered"], v["completed"], v["abandoned"], v["answered_within_sl"]) == (24, 22, 22, 2, 17)


def test_replay_of_session_with_pause_abandon_and_member_changes(asterisk_fixtures):
    m = QueueMonitor()
    changes = []
    for e in events_from_recording((asterisk_fixtures / "ami_session.txt").read_bytes()):
        changes += m.feed(e)
    v = m.queue_view("citizen")
    # before the session Asterisk had counted 1 completed call; the monitor counts what it saw
    assert (v["offered"], v["answered"], v["completed"], v["abandoned"]) == (2, 1, 1, 1)
    assert v["abandoned_waits"] == [4] and v["sl_seconds"] == 0
    assert v["asterisk"]["completed"] == 2  # the mid-session QueueStatus
    paused = [c for c in changes if getattr(c, "new", None) == "paused"]
    assert paused and paused[0].reason == "break" and paused[0].name == "Agent One"
    agent2 = m.board.agents["Local/agent2@agents/n"]
    assert agent2.state == "logged_out"
    assert m.board.agents["Local/agent1@agents/n"].state == "available"
    assert "13800000003" not in json.dumps(m.views(), ensure_ascii=False)


# --- reconnect reconciliation ------------------------------------------------------------------

Q = "q"


def join(uid, t, num="13900000001"):
    return QueueCallerJoin(queue=Q, uniqueid=uid, caller_id_num=num, position=1, count=1, received=t)


def leave(uid, t):
    return QueueCallerLeave(queue=Q, uniqueid=uid, received=t)


def connect(uid, iface, hold, t):
    return AgentConnect(queue=Q, uniqueid=uid, interface=iface, member_name=iface, hold_time=hold, received=t)


def complete(uid, iface, hold, talk, t):
    return AgentComplete(queue=Q, uniqueid=uid, interface=iface, member_name=iface, hold_time=hold,
                         talk_time=talk, reason="agent", received=t)


def member(iface, *, calls=0, in_call=False, status=1):
    return QueueMember(queue=Q, member_name=iface, interface=iface, calls_taken=calls, in_call=in_call, status=status)


def params(completed, abandoned, c_sl, a_sl, sl=10):
    perf = round(100.0 * c_sl / completed, 1) if completed else 0.0
    perf2 = round(100.0 * (c_sl + a_sl) / (completed + abandoned), 1) if completed + abandoned else 0.0
    return QueueParams(queue=Q, completed=completed, abandoned=abandoned, service_level=sl,
                       service_level_perf=perf, service_level_perf2=perf2)


def snapshot(t, p, members, entries=()):
    return QueueSnapshot(taken_at=t, params=(p,), members=tuple(members), entries=tuple(entries))


def test_reconnect_books_missed_calls_once():
    m = QueueMonitor()
    m.feed(snapshot(T0, params(0, 0, 0, 0), [member("a1"), member("a2")]))
    m.feed(join("c1", T0 + 0))
    m.feed(join("c2", T0 + 1))
    m.feed(AgentCalled(queue=Q, uniqueid="c1", interface="a1", received=T0 + 2))
    m.feed(leave("c1", T0 + 3))
    m.feed(connect("c1", "a1", 3, T0 + 3))
    m.feed(QueueMemberStatus(queue=Q, interface="a1", member_name="a1", in_call=True, status=2, received=T0 + 3))
    m.feed(AmiDisconnected(received=T0 + 4, reason="test"))
    # while away: c1 completes (in SL), c2 abandons after 8 s (in SL), c3 is answered after
    # 12 s by a2 and completes, c4 is answered by a1 after 2 s and still talks, c5 still
    # waits, c6 abandons after 20 s.
    snap = snapshot(T0 + 60, params(2, 2, 1, 1),
                    [member("a1", calls=1, in_call=True, status=2), member("a2", calls=1)],
                    [QueueEntry(queue=Q, uniqueid="c5", caller_id_num="13900000005", wait=5, position=1)])
    m.feed(AmiReconnected(received=T0 + 60, down_seconds=56, queue_snapshot=snap))
    v = m.queue_view(Q, T0 + 60)
    assert v["offered"] == 6
    assert (v["answered"], v["completed"], v["abandoned"]) == (2, 2, 2)
    assert (v["answered_within_sl"], v["abandoned_within_sl"]) == (1, 1)
    assert v["waiting"] == 1 and v["callers"][0]["wait"] == 5 and v["callers"][0]["caller"] != "13900000005"
    assert v["answered_unseen"] == 1 and v["abandoned_unseen"] == 2
    assert m.board.agents["a1"].state == "talking" and m.board.agents["a2"].state == "available"
    # late or repeated events must not count again
    m.feed(complete("c1", "a1", 3, 5, T0 + 61))
    m.feed(join("c5", T0 + 61))
    # c4 ends: it was answered while we were away
    m.feed(complete("c4", "a1", 2, 10, T0 + 70))
    m.feed(connect("c5", "a2", 15, T0 + 70))
    m.feed(complete("c5", "a2", 15, 4, T0 + 80))
    v = m.queue_view(Q, T0 + 80)
    assert v["offered"] == 6
    assert (v["answered"], v["completed"], v["abandoned"]) == (4, 4, 2)
    assert v["answered_within_sl"] == 2  # c1 (3 s), c4 (2 s); c3 (12 s) and c5 (15 s) not
    assert v["asa"] == pytest.approx((3 + 2 + 15) / 3, abs=0.01)  # c3's wait is unknown
    # a later QueueStatus finds nothing missing
    m.feed(snapshot(T0 + 90, params(4, 2, 2, 1), [member("a1", calls=2), member("a2", calls=2)]))
    v2 = m.queue_view(Q, T0 + 90)
    assert {k: v2[k] for k in ("offered", "answered", "completed", "abandoned", "answered_within_sl")} == \
        {k: v[k] for k in ("offered", "answered", "completed", "abandoned", "answered_within_sl")}


def test_first_snapshot_comes_with_amiconnected():
    """The client's AmiConnected carries the first QueueStatus: the monitor takes it as its
    baseline (callers already waiting, counters), without counting a gap."""
    m = QueueMonitor()
    snap = snapshot(T0, params(3, 1, 3, 1), [member("a1", calls=3)],
                    [QueueEntry(queue=Q, uniqueid="w1", caller_id_num="13900000001", wait=12, position=1)])
    m.feed(AmiConnected(received=T0, banner="Asterisk Call Manager/13.0.0", queue_snapshot=snap))
    v = m.queue_view(Q, T0)
    assert m.connected and m.gaps == 0
    assert v["waiting"] == 1 and v["longest_wait"] == 12 and v["asterisk"]["completed"] == 3
    m.feed(join("c2", T0 + 1))
    m.feed(snapshot(T0 + 5, params(3, 1, 3, 1), [member("a1", calls=3)],
                    [QueueEntry(queue=Q, uniqueid=u, wait=w, position=i + 1) for i, (u, w) in
                     enumerate((("w1", 17), ("c2", 4)))]))
    assert m.queue_view(Q, T0 + 5)["offered"] == 2  # the baseline holds: nothing booked twice
    m.feed(AmiConnected(received=T0 + 6))  # reread_queues=False: no snapshot, nothing changes
    assert m.queue_view(Q, T0 + 6)["offered"] == 2


def test_asterisk_restart_starts_a_new_baseline():
    m = QueueMonitor()
    m.feed(snapshot(T0, params(5, 1, 5, 1), [member("a1", calls=5)]))
    m.feed(join("c1", T0 + 1))
    m.feed(AmiDisconnected(received=T0 + 2))
    # Asterisk restarted: counters from zero; c1 died with it; c9 came, was answered in 1 s, ended
    snap = snapshot(T0 + 30, params(1, 0, 1, 0), [member("a1", calls=1)])
    m.feed(AmiReconnected(received=T0 + 30, queue_snapshot=snap))
    v = m.queue_view(Q, T0 + 30)
    assert (v["offered"], v["answered"], v["abandoned"], v["other_exits"], v["waiting"]) == (2, 1, 0, 1, 0)
    assert v["answered_within_sl"] == 1


def test_leave_without_answer_is_an_other_exit_until_connect():
    m = QueueMonitor()
    m.feed(join("c1", T0))
    m.feed(leave("c1", T0 + 30))  # queue timeout
    m.feed(join("c2", T0 + 31))
    m.feed(leave("c2", T0 + 32))
    m.feed(connect("c2", "a1", 1, T0 + 32))
    v = m.queue_view(Q)
    assert (v["offered"], v["answered"], v["other_exits"], v["abandoned"]) == (2, 1, 1, 0)


# --- surge ---------------------------------------------------------------------------------


def test_robust_baseline_ignores_one_wild_day():
    b = robust_baseline([10, 12, 9, 11, 10, 100, 10])
    assert b.median == 10 and b.mad < 3


def test_surge_alert_once_when_offered_rises_above_usual():
    clock = IntervalClock(30, "Asia/Shanghai")
    det = SurgeDetector(k=3, min_excess=5, min_days=3)
    slot = 38  # 19:00-19:30
    for i, n in enumerate([10, 12, 9, 11, 10, 60, 10]):
        det.add_day("q", date(2026, 11, 20 + i), {slot: n}, 48)
    base = det.baseline("q", slot)
    assert base.median == 10 and det.threshold(base) == pytest.approx(max(10 + 3 * base.mad, 15))
    m = QueueMonitor(surge=det)
    start = 1795863600.0  # 2026-11-28 19:00 +08:00
    assert clock.slot(start) == slot
    alerts = []
    for i in range(30):
        alerts += [f for f in m.feed(join(f"s{i}", start + 20 * i)) if isinstance(f, SurgeDetected)]
    (alert,) = alerts
    assert alert.queue == "q" and alert.offered == int(det.threshold(base)) + 1
    assert alert.interval_label == "2026-11-28T19:00+08:00" and alert.as_dict()["type"] == "surge"


def test_monitor_learns_its_own_baseline_across_days():
    det = SurgeDetector(k=3, min_excess=3, min_days=3)
    m = QueueMonitor(surge=det, interval_minutes=60)
    day0 = 1795536000.0  # 2026-11-25 00:00 +08:00
    alerts = []
    for d in range(4):
        n = 4 if d < 3 else 12
        for i in range(n):
            t = day0 + d * 86400 + 10 * 3600 + 60 * i
            alerts += [f for f in m.feed(join(f"d{d}-{i}", t)) if isinstance(f, SurgeDetected)]
    assert len(alerts) == 1 and alerts[0].baseline_median == 4 and alerts[0].offered == 8


def test_a_monitor_that_keeps_two_days_forgets_older_tables():
    """A long-running engine's monitor keeps today and yesterday: intervals, days and call-takers'
    statistics of older days are dropped at midnight (they grew for the engine's life, and the
    wallboard walked them all on every refresh); with ``learn_days`` off the baseline is left alone."""
    det = SurgeDetector(min_days=1)
    m = QueueMonitor(surge=det, keep_days=2, learn_days=False)
    day0 = 1795536000.0  # 2026-11-25 00:00 +08:00
    for d in range(4):
        t = day0 + d * 86400 + 10 * 3600
        m.feed(join(f"c{d}", t))
        m.feed(connect(f"c{d}", "PJSIP/8001", 5, t + 5))
        m.feed(complete(f"c{d}", "PJSIP/8001", 5, 60, t + 65))
    q = m.queues[Q]
    assert sorted(d.day for d in q.days) == [27, 28]
    assert [v["interval"][:10] for v in m.interval_views(Q)] == ["2026-11-27", "2026-11-28"]
    assert [label[:10] for label, _ in m.board.stats.intervals("PJSIP/8001")] == ["2026-11-27", "2026-11-28"]
    assert q.total.offered == 4  # the totals since start stay
    assert det.baseline(Q, 20) is None  # nothing learnt: the engine feeds it from the store
    with pytest.raises(ValueError, match="keep_days"):
        QueueMonitor(keep_days=0)


def test_interval_clock_splits_at_local_boundaries():
    c = IntervalClock(30, "Asia/Shanghai")
    start = 1795863600.0  # 19:00 local
    parts = c.split(start + 1200, start + 2400)  # 19:20 -> 19:40
    assert parts == [(start, 600.0), (start + 1800, 600.0)]
    with pytest.raises(ValueError):
        IntervalClock(20)


def test_interval_clock_split_agrees_with_interval_start_when_clocks_go_back():
    """2026-10-25 in Berlin: 02:00-03:00 happens twice. Each pass is its own interval, keyed as
    ``interval_start`` keys the times in it (it was one two-hour interval under the first key)."""
    c = IntervalClock(60, "Europe/Berlin")
    day, start, end = c.day_span(1792900000.0)
    parts = c.split(start, end)
    assert len(parts) == 25 and all(secs == 3600.0 for _, secs in parts)
    assert [s for s, _ in parts] == [c.interval_start(s + 1800) for s, _ in parts]


@pytest.mark.parametrize(("zone", "ts", "hours"), [
    ("Asia/Shanghai", 1795863600.0, 24),
    ("Europe/Berlin", 1774746000.0, 23),  # 2026-03-29, clocks go forward
    ("America/Sao_Paulo", 1541336400.0, 23),  # 2018-11-04, the day began at 01:00 (no midnight)
])
def test_day_span_is_the_local_day_with_its_exact_bounds(zone, ts, hours):
    c = IntervalClock(30, zone)
    day, start, end = c.day_span(ts)
    assert start <= ts < end and end - start == hours * 3600
    assert c.day(start) == c.day(end - 0.001) == day and c.day(start - 0.001) < day < c.day(end)


def test_agent_connect_arriving_after_the_reconnect_snapshot_counts_once():
    m = QueueMonitor()
    m.feed(snapshot(T0, params(0, 0, 0, 0), [member("a1")]))
    m.feed(join("c1", T0))
    m.feed(AmiDisconnected(received=T0 + 1))
    # Asterisk connected c1 just before answering QueueStatus; the event comes after the answer
    snap = snapshot(T0 + 5, params(0, 0, 0, 0), [member("a1", in_call=True, status=2)])
    m.feed(AmiReconnected(received=T0 + 5, queue_snapshot=snap))
    m.feed(connect("c1", "a1", 4, T0 + 5))
    m.feed(complete("c1", "a1", 4, 30, T0 + 35))
    m.feed(join("c2", T0 + 40))
    m.feed(connect("c2", "a1", 1, T0 + 41))
    m.feed(complete("c2", "a1", 1, 10, T0 + 51))
    m.feed(complete("zz", "a1", 1, 10, T0 + 52))  # a stray repeat of nothing we know
    v = m.queue_view(Q)
    assert (v["offered"], v["answered"], v["completed"], v["abandoned"], v["other_exits"]) == (2, 2, 2, 0, 0)
    assert m.queues[Q].pending_talking == 0


def test_queue_status_racing_a_completion_does_not_book_it_twice():
    m = QueueMonitor()
    m.feed(snapshot(T0, params(0, 0, 0, 0), [member("a1")]))
    m.feed(join("c1", T0))
    m.feed(connect("c1", "a1", 2, T0 + 2))
    m.feed(complete("c1", "a1", 2, 20, T0 + 22))
    # Asterisk sends AgentComplete just before it bumps Completed: a QueueStatus in between
    m.feed(snapshot(T0 + 22, params(0, 0, 0, 0), [member("a1", calls=0)]))
    m.feed(snapshot(T0 + 30, params(1, 0, 1, 0), [member("a1", calls=1)]))
    v = m.queue_view(Q)
    assert (v["offered"], v["answered"], v["completed"], v["answered_within_sl"]) == (1, 1, 1, 1)
    assert v["answered_unseen"] == 0


def test_replay_with_a_surge_history_raises_an_alert_and_saves_the_day(asterisk_fixtures, tmp_path, capsys):
    hist = tmp_path / "history.json"
    # the evening queue usually gets 2-4 calls between 23:30 and 24:00; the recording has 24
    hist.write_text(json.dumps({"evening": {f"2026-11-{d}": {"23:30": n, "23:00": 9}
                                            for d, n in zip(range(20, 27), [3, 2, 4, 3, 2, 30, 3], strict=True)}}))
    rc = main(["monitor", "--replay", str(asterisk_fixtures / "ami_queue_day.txt"), "--json",
               "--surge-history", str(hist)])
    assert rc == 0
    captured = capsys.readouterr()
    (v,) = json.loads(captured.out)
    (alert,) = v["alerts"]
    assert alert["type"] == "surge" and alert["interval"] == "2026-11-28T23:30+08:00"
    assert alert["baseline_median"] == 3 and alert["offered"] == 9  # crossed median + max(3 MAD, 5)
    assert "ALERT surge in evening" in captured.err
    saved = json.loads(hist.read_text())
    assert saved["evening"]["2026-11-28"] == {"23:30": 24} and "2026-11-20" in saved["evening"]
    # a file that is not history is a clear error
    hist.write_text("[1, 2]")
    assert main(["monitor", "--replay", str(asterisk_fixtures / "ami_queue_day.txt"), "--surge-history", str(hist)]) == 2
    assert "--surge-history" in capsys.readouterr().err


def _with_malformed_join(src, dst, *, first: bool = False):
    """The queue-day recording with a QueueCallerJoin that lost its Uniqueid/Linkedid lines."""
    data = src.read_bytes()
    block = (b"Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: Local/s@peak-caller-000000ff;1\r\n"
             b"CallerIDNum: 13912345678\r\nCallerIDName: Caller X\r\nQueue: evening\r\nPosition: 1\r\nCount: 1\r\n\r\n")
    at = data.index(b"Event: QueueCallerJoin") if not first else data.index(b"Event:")
    dst.write_bytes(data[:at] + block + data[at:])
    return dst


@pytest.mark.parametrize("first", [False, True])
def test_join_without_uniqueid_is_skipped_and_counted_as_malformed(asterisk_fixtures, tmp_path, capsys, caplog, first):
    path = _with_malformed_join(asterisk_fixtures / "ami_queue_day.txt", tmp_path / "bad.txt", first=first)
    assert main(["monitor", "--replay", str(path), "--json"]) == 0
    (v,) = json.loads(capsys.readouterr().out)
    clean = QueueMonitor()
    end = replay(asterisk_fixtures / "ami_queue_day.txt", clean)
    (good,) = clean.views(end)
    assert v["malformed_events"] == {"QueueCallerJoin without Uniqueid": 1} and good["malformed_events"] == {}
    assert v["waiting"] == good["waiting"] and v["longest_wait"] == good["longest_wait"] < 3600
    for key in ("offered", "answered", "abandoned", "answered_within_sl", "asa", "max_wait"):
        assert v[key] == good[key], key
    assert "QueueCallerJoin without Uniqueid" in caplog.text and "13912345678" not in caplog.text
    assert main(["monitor", "--replay", str(path)]) == 0
    assert "1 malformed event" in capsys.readouterr().err


def test_cli_replay_table_with_intervals_shows_per_agent_statistics(asterisk_fixtures, capsys):
    assert main(["monitor", "--replay", str(asterisk_fixtures / "ami_queue_day.txt"), "--intervals"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("call-takers by interval"):].splitlines()
    assert table[1].split() == ["interval", "call-taker", "name", "calls", "talk", "s", "wrap", "s", "paused",
                                "s", "missed", "queues"]
    totals = {line.split()[1]: line.split()[-6:] for line in table if line.startswith("total")}
    # calls per agent = Asterisk's CallsTaken, talk = sum of TalkTime (as in the JSON agent_stats)
    assert totals == {"Local/agent1@agents2/n": ["7", "41", "0", "0", "0", "evening"],
                      "Local/agent2@agents2/n": ["6", "47", "0", "0", "0", "evening"],
                      "Local/agent3@agents2/n": ["9", "41", "0", "0", "0", "evening"]}
    assert main(["monitor", "--replay", str(asterisk_fixtures / "ami_queue_day.txt")]) == 0
    assert "call-takers by interval" not in capsys.readouterr().out  # only with --intervals


def test_agent_statistics_table_masks_numbers_and_lists_a_two_queue_agent_once():
    from engine.commands.monitor import render_table

    stats = {"interface": "Local/13912345678@remote/n", "name": "W 13912345678",
             "total": {"calls": 2, "talk_seconds": 90.4, "wrap_up_seconds": 10.0, "paused_seconds": 600.0,
                       "missed_rings": 1},
             "intervals": [{"interval": "2026-11-28T19:00+08:00", "calls": 2, "talk_seconds": 90.4,
                            "wrap_up_seconds": 10.0, "paused_seconds": 600.0, "missed_rings": 1},
                           {"interval": "2026-11-28T19:30+08:00", "calls": 0, "talk_seconds": 0.0,
                            "wrap_up_seconds": 0.0, "paused_seconds": 0.0, "missed_rings": 0}]}
    views = [{"queue": q, "waiting": 0, "longest_wait": 0, "offered": 0, "answered": 0, "abandoned": 0,
              "service_level_pct": None, "asa": None, "agents": {}, "intervals": [], "days": [],
              "agent_stats": [stats]} for q in ("citizen", "evening")]
    out = render_table(views)
    assert "13912345678" not in out and "Local/139****5678@remote/n" in out
    rows = [line.split() for line in out.splitlines() if "139****5678@remote" in line]
    assert rows == [["2026-11-28T19:00+08:00", "Local/139****5678@remote/n", "W", "139****5678",
                     "2", "90", "10", "600", "1"],
                    ["total", "Local/139****5678@remote/n", "W", "139****5678",
                     "2", "90", "10", "600", "1", "citizen,", "evening"]]
