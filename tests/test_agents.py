"""Call-takers: the state machine on real recordings, statistics, actions and ``hotline agents``."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from agents_adapter import actions
from agents_adapter.errors import AgentActionRefused, AgentRequestError
from agents_adapter.model import AgentBoard, AgentState
from engine.asterisk.ami_client import AmiClient
from engine.cli import main
from engine.commands.monitor import events_from_recording
from engine.events.ami import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberRemoved,
    QueueSnapshot,
)
from engine.pbxsim.ami_server import AmiServer
from engine.pbxsim.clock import ManualClock
from queueing.intervals import IntervalClock

pytestmark = pytest.mark.timeout(60)

T = 1795863600.0  # 19:00 Beijing time
IF = "PJSIP/1001"


def added(t, queue="q", penalty=0, wrap=0):
    return QueueMemberAdded(queue=queue, interface=IF, member_name="Li", penalty=penalty, status=1,
                            wrapuptime=wrap, received=t)


def test_replay_of_queue_day_walks_every_agent_through_its_calls(asterisk_fixtures):
    board = AgentBoard(wrapup_seconds={"evening": 1})
    changes = []
    last = 0.0
    for e in events_from_recording((asterisk_fixtures / "ami_queue_day.txt").read_bytes()):
        if isinstance(e, QueueSnapshot):
            continue
        changes += board.feed(e)
        last = e.received
    board.close_spans(last + 5)
    assert {a.name for a in board.agents.values()} == {"Agent 1", "Agent 2", "Agent 3"}
    states = {(c.old, c.new) for c in changes}
    assert (AgentState.RINGING, AgentState.TALKING) in states
    assert (AgentState.TALKING, AgentState.WRAP_UP) in states
    assert (AgentState.WRAP_UP, AgentState.AVAILABLE) in states
    calls = {a.name: board.stats.total(i).calls for i, a in board.agents.items()}
    assert calls == {"Agent 1": 7, "Agent 2": 6, "Agent 3": 9}  # = CallsTaken in the final QueueStatus
    talk = sum(board.stats.total(i).talk_seconds for i in board.agents)
    assert talk == 5 + 5 + 4 + 8 + 2 + 5 + 2 + 5 + 7 + 10 + 7 + 0 + 6 + 1 + 5 + 9 + 10 + 8 + 9 + 8 + 4 + 9
    assert all(a.state is AgentState.AVAILABLE for a in board.agents.values())


def test_pause_reason_and_resume_from_the_session_recording(asterisk_fixtures):
    board = AgentBoard()
    changes = []
    for e in events_from_recording((asterisk_fixtures / "ami_session.txt").read_bytes()):
        changes += board.apply_snapshot(e, e.taken_at) if isinstance(e, QueueSnapshot) else board.feed(e)
    pauses = [c for c in changes if c.new is AgentState.PAUSED]
    assert [(c.name, c.reason) for c in pauses] == [("Agent One", "break")]
    resumed = [c for c in changes if c.old is AgentState.PAUSED]
    assert resumed and resumed[0].new is AgentState.AVAILABLE
    two = board.agents["Local/agent2@agents/n"]
    assert two.state is AgentState.LOGGED_OUT and not two.memberships


def test_states_ringing_missed_talk_wrapup_by_the_clock_and_logout():
    board = AgentBoard(wrapup_seconds=10, interval=IntervalClock(30))
    board.feed(added(T))
    assert board.agents[IF].state is AgentState.AVAILABLE
    board.feed(AgentCalled(queue="q", uniqueid="c1", interface=IF, received=T + 10))
    assert board.agents[IF].state is AgentState.RINGING
    board.feed(AgentRingNoAnswer(queue="q", uniqueid="c1", interface=IF, ring_time=15000, received=T + 25))
    assert board.agents[IF].state is AgentState.AVAILABLE
    board.feed(AgentCalled(queue="q", uniqueid="c1", interface=IF, received=T + 26))
    board.feed(AgentConnect(queue="q", uniqueid="c1", interface=IF, hold_time=27, received=T + 27))
    assert board.agents[IF].state is AgentState.TALKING
    board.feed(AgentComplete(queue="q", uniqueid="c1", interface=IF, talk_time=60, hold_time=27, received=T + 87))
    assert board.agents[IF].state is AgentState.WRAP_UP
    out = board.tick(T + 100)
    assert [c.new for c in out] == [AgentState.AVAILABLE] and out[0].at == T + 97
    board.feed(QueueMemberRemoved(queue="q", interface=IF, received=T + 200))
    assert board.agents[IF].state is AgentState.LOGGED_OUT
    s = board.stats.total(IF)
    assert (s.calls, s.talk_seconds, s.wrap_up_seconds, s.missed_rings) == (1, 60, 10, 1)
    assert s.ringing_seconds == 15 + 1


def test_paused_time_is_split_at_interval_boundaries():
    board = AgentBoard(interval=IntervalClock(30))
    board.feed(added(T))
    board.feed(QueueMemberPause(queue="q", interface=IF, paused=True, paused_reason="training",
                                last_pause=int(T + 1200), status=1, received=T + 1200))
    a = board.agents[IF]
    assert a.state is AgentState.PAUSED and a.pause_reason == "training"
    assert a.view(T + 1300)["reason"] == "training"
    board.feed(QueueMemberPause(queue="q", interface=IF, paused=False, status=1, received=T + 3000))
    rows = dict(board.stats.intervals(IF))
    assert rows["2026-11-28T19:00+08:00"]["paused_seconds"] == 600
    assert rows["2026-11-28T19:30+08:00"]["paused_seconds"] == 1200
    assert board.counts("q")["available"] == 1 and board.counts("q")["logged_in"] == 1


def test_paused_in_one_queue_only_counts_as_paused_there():
    board = AgentBoard()
    board.feed(added(T, "a"))
    board.feed(added(T, "b"))
    board.feed(QueueMemberPause(queue="a", interface=IF, paused=True, paused_reason="break", received=T + 1))
    assert board.agents[IF].state is AgentState.AVAILABLE  # still takes calls from b
    assert board.counts("a")["paused"] == 1 and board.counts("b")["available"] == 1


def test_skill_levels_and_queue_specs_become_penalties():
    assert actions.penalties_from_skills({"citizen": 5, "evening": 3}) == {"citizen": 0, "evening": 2}
    assert actions.parse_queue_specs(["citizen", "evening:2"]) == {"citizen": 0, "evening": 2}
    assert actions.normalise_reason(" ACW ") == "after-call work"
    for bad in (lambda: actions.penalties_from_skills({"x": 9}), lambda: actions.parse_queue_specs(["x:-1"]),
                lambda: actions.normalise_reason("  ")):
        with pytest.raises(AgentRequestError):
            bad()


async def test_actions_against_the_simulator():
    clock = ManualClock()
    async with AmiServer(clock=clock) as server:
        async with AmiClient("127.0.0.1", server.port, "hotline", "hotlinepw", clock=clock.now) as client:
            board = AgentBoard()
            client.subscribe(lambda e: board.feed(e))
            await actions.login(client, "Local/new@agents/n", {"citizen": 2, "evening": 0}, name="New One")
            await actions.pause(client, "Local/new@agents/n", "break")
            await client.ping()
            a = board.agents["Local/new@agents/n"]
            assert a.memberships["citizen"].penalty == 2 and a.state is AgentState.PAUSED and a.pause_reason == "break"
            await actions.resume(client, "Local/new@agents/n", queue="citizen")
            await client.ping()
            assert a.state is AgentState.AVAILABLE
            assert await actions.member_queues(client, "Local/new@agents/n") == ["citizen", "evening"]
            await actions.logout(client, "Local/new@agents/n")
            await client.ping()
            assert a.state is AgentState.LOGGED_OUT
            with pytest.raises(AgentActionRefused, match="Not there|Interface not found"):
                await actions.pause(client, "Local/nobody@agents/n", "break")
            with pytest.raises(AgentRequestError):
                await actions.logout(client, "Local/nobody@agents/n")


@pytest.fixture
def sim_in_thread():
    """The simulator on its own event loop, so the synchronous CLI can talk to it."""
    loop = asyncio.new_event_loop()
    server = AmiServer(clock=ManualClock())
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    ready.wait(5)
    yield server
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    th.join(5)


def test_cli_login_pause_status_resume_logout(sim_in_thread, monkeypatch, capsys):
    monkeypatch.setenv("SIM_SECRET", "hotlinepw")
    ami = ["--ami", f"127.0.0.1:{sim_in_thread.port}", "--user", "hotline", "--secret-env", "SIM_SECRET"]
    assert main(["agents", "login", *ami, "--interface", "PJSIP/1001", "--queue", "citizen:1",
                 "--skill", "evening=5", "--name", "Wang"]) == 0
    assert "login PJSIP/1001 citizen" in capsys.readouterr().out
    assert main(["agents", "pause", *ami, "--interface", "PJSIP/1001", "--reason", "training"]) == 0
    assert main(["agents", "status", *ami, "--json"]) == 0
    out = capsys.readouterr().out
    views = json.loads(out[out.index("["):])
    me = next(v for v in views if v["interface"] == "PJSIP/1001")
    assert me["state"] == "paused" and me["reason"] == "training"
    assert me["queues"]["citizen"]["penalty"] == 1 and me["queues"]["evening"]["penalty"] == 0
    assert main(["agents", "resume", *ami, "--interface", "PJSIP/1001"]) == 0
    assert main(["agents", "status", *ami]) == 0
    table = capsys.readouterr().out
    assert "PJSIP/1001" in table and "available" in table and "hotlinepw" not in table
    assert main(["agents", "logout", *ami, "--interface", "PJSIP/1001"]) == 0
    assert main(["agents", "logout", *ami, "--interface", "PJSIP/1001"]) == 1  # not logged in anywhere
    assert "not logged in" in capsys.readouterr().err


def test_cli_errors_are_one_line(monkeypatch, capsys):
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    assert main(["agents", "status", "--ami", "127.0.0.1:1", "--secret-env", "NOPE_SECRET"]) == 2
    assert "NOPE_SECRET" in capsys.readouterr().err
    assert main(["agents", "status", "--ami", "nonsense"]) == 2
    assert main(["agents"]) == 2


def test_cli_status_of_an_unknown_queue_is_a_usage_error_naming_the_known_ones(sim_in_thread, monkeypatch, capsys):
    monkeypatch.setenv("SIM_SECRET", "hotlinepw")
    ami = ["--ami", f"127.0.0.1:{sim_in_thread.port}", "--user", "hotline", "--secret-env", "SIM_SECRET"]
    assert main(["agents", "status", *ami, "--queue", "citizn"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "(no call-takers logged in)" not in captured.out
    assert len(err.splitlines()) == 1 and "'citizn'" in err and "no such queue" in err
    assert "citizen" in err.split("known queues:")[1]
    assert main(["agents", "status", *ami, "--queue", "citizen", "--queue", "nope", "--json"]) == 2
    assert "'nope'" in capsys.readouterr().err
    assert main(["agents", "status", *ami, "--queue", "citizen"]) == 0
    assert "citizen(" in capsys.readouterr().out


def test_wrap_up_ends_are_found_by_the_clock_for_each_agent():
    # tick only scans the agents when a wrap-up may be due: every end must still come on time
    board = AgentBoard(wrapup_seconds={"long": 30, "short": 5}, interval=IntervalClock(30))
    two = "PJSIP/1002"
    board.feed(added(T, queue="long"))
    board.feed(QueueMemberAdded(queue="long", interface=two, member_name="Wang", status=1, received=T))
    for iface, uid in ((IF, "c1"), (two, "c2")):
        board.feed(AgentConnect(queue="long", uniqueid=uid, interface=iface, hold_time=1, received=T + 1))
    board.feed(AgentComplete(queue="long", uniqueid="c1", interface=IF, talk_time=9, hold_time=1, received=T + 10))
    board.feed(AgentComplete(queue="long", uniqueid="c2", interface=two, talk_time=19, hold_time=1, received=T + 20))
    assert board.tick(T + 39) == []
    out = board.tick(T + 45)
    assert [(c.interface, c.new, c.at) for c in out] == [(IF, AgentState.AVAILABLE, T + 40)]
    # a late AgentComplete from a queue with a shorter wrap-up, while in wrap-up: it ends sooner
    board.feed(AgentComplete(queue="short", uniqueid="", interface=two, talk_time=0, hold_time=0, received=T + 46))
    out = board.tick(T + 52)
    assert [(c.interface, c.new, c.at) for c in out] == [(two, AgentState.AVAILABLE, T + 51)]
    assert board.tick(T + 100) == []


def test_a_talking_call_taker_shows_the_calls_linkedid_not_the_queue_channel(asterisk_fixtures):
    """ami_ivr_queue_local.txt: Queue() runs on ;2 (Uniqueid 1796448581.3); the page knows the
    call as its Linkedid (1796448581.2), so the board's screen-pop link must use that."""
    board = AgentBoard()
    seen = {}
    for e in events_from_recording((asterisk_fixtures / "ami_ivr_queue_local.txt").read_bytes()):
        if isinstance(e, QueueSnapshot):
            continue
        board.feed(e)
        if isinstance(e, AgentConnect):
            seen[e.uniqueid] = board.agents[e.interface].view(e.received)["call"]
    assert seen == {"1796448581.3": "1796448581.2", "1796448593.7": "1796448593.6", "1796448575.1": "1796448575.0"}
