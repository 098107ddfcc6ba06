"""The PBX simulator's AMI side against the recordings: same answers, same event names, same
header sets and order; its queue model against its own ground truth, 200 calls on virtual time."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import defaultdict

import pytest

from engine.asterisk.ami_codec import AmiBanner, AmiCodec, AmiMessage
from engine.errors import ConfigError
from engine.events.ami import running_average
from engine.pbxsim.ami_server import AmiServer, parse_callerid
from engine.pbxsim.clock import ManualClock
from engine.pbxsim.queue_model import QueueModel, SimConfig, load_queues, parse_queues
from tests.fixture_files import ami_client_bytes, ami_server_bytes

# The queues of the recording (fixtures/asterisk/dialplan/queues.conf)
RECORDED_QUEUES = {
    "defaults": {"answer_after": 0.0, "talk_min": 3.0, "talk_max": 3.0},
    "queues": {
        "citizen": {"strategy": "rrmemory", "timeout": 15, "retry": 1, "wrapuptime": 0,
                    "members": [{"interface": "Local/agent1@agents/n", "name": "Agent One"}]},
        "evening": {"strategy": "rrmemory", "timeout": 10, "retry": 1, "wrapuptime": 1, "servicelevel": 5,
                    "ringinuse": False,
                    "members": [{"interface": f"Local/agent{i}@agents2/n", "name": f"Agent {i}"} for i in (1, 2, 3)]},
    },
}


def recorded_config() -> SimConfig:
    return parse_queues(RECORDED_QUEUES, "recorded")


def parse_all(data: bytes) -> list:
    codec = AmiCodec(group_lists=False)
    codec.feed(data)
    return list(codec.items()) + codec.close()


def recorded_messages(path) -> list[AmiMessage]:
    return [i for i in parse_all(ami_server_bytes(path)) if isinstance(i, AmiMessage)]


def header_sets(msgs: list[AmiMessage]) -> dict[str, set[tuple[str, ...]]]:
    out: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for m in msgs:
        if m.is_event:
            out[m.event].add(tuple(k for k, _ in m.headers))
    return out


class RawAmi:
    """A bare TCP AMI client that keeps every byte (to compare with the recordings)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.data = bytearray()

    @classmethod
    async def open(cls, port: int) -> RawAmi:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def read_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except TimeoutError:
                break
            if not chunk:
                break
            self.data += chunk

    async def read_until(self, marker: bytes, timeout: float = 2.0) -> None:
        end = time.monotonic() + timeout
        while marker not in self.data and time.monotonic() < end:
            await self.read_for(min(0.05, end - time.monotonic()))

    def messages(self) -> list[AmiMessage]:
        return [i for i in parse_all(bytes(self.data)) if isinstance(i, AmiMessage)]

    def close(self) -> None:
        self.writer.close()


LOGIN = b"Action: Login\r\nActionID: L\r\nUsername: hotline\r\nSecret: hotlinepw\r\n\r\n"


async def test_failed_login_bytes_equal_the_recording(asterisk_fixtures):
    async with AmiServer(recorded_config(), clock=ManualClock()) as server:
        raw = await RawAmi.open(server.port)
        await raw.send(b"Action: Login\r\nActionID: 1\r\nUsername: hotline\r\nSecret: wrong\r\n\r\n")
        await raw.read_for(1.0)  # returns at once when the server closes
        assert bytes(raw.data) == (asterisk_fixtures / "ami_failed_login.txt").read_bytes()
        assert raw.reader.at_eof()
        assert server.logins_failed == 1
        raw.close()


async def test_banner_has_no_blank_line_and_actions_need_login():
    async with AmiServer(recorded_config(), clock=ManualClock()) as server:
        raw = await RawAmi.open(server.port)
        await raw.send(b"Action: Ping\r\nActionID: p\r\n\r\n")
        await raw.read_until(b"\r\n\r\n")
        assert raw.data.startswith(b"Asterisk Call Manager/13.0.0\r\nResponse: Error\r\nActionID: p\r\n")
        assert b"Message: Permission denied" in raw.data
        raw.close()


async def test_replaying_the_recorded_client_gives_the_recorded_answers(asterisk_fixtures):
    """Every action the recorded client sent, sent again to the simulator: same Response, same
    Message, same header names in the same order; same list shapes."""
    path = asterisk_fixtures / "ami_session.txt"
    recorded = recorded_messages(path)
    async with AmiServer(recorded_config(), clock=ManualClock()) as server:
        raw = await RawAmi.open(server.port)
        await raw.send(ami_client_bytes(path))
        await raw.read_until(b"Thanks for all the fish", 3.0)
        await raw.read_for(0.2)
        ours = raw.messages()
        raw.close()

    def responses(msgs):
        return {m.action_id: m for m in msgs if m.is_response}

    rec, sim = responses(recorded), responses(ours)
    assert set(sim) == set(rec) == {"1", "1b", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"}
    for aid, want in rec.items():
        got = sim[aid]
        assert [k for k, _ in got.headers] == [k for k, _ in want.headers], aid
        assert got.response == want.response, aid
        assert got.get("Message") == want.get("Message"), aid
    # list answers: the same event names with the same header names, ActionID last
    for aid in ("3", "4"):
        want = [tuple(k for k, _ in m.headers) for m in recorded if m.is_event and m.action_id == aid]
        got = [tuple(k for k, _ in m.headers) for m in ours if m.is_event and m.action_id == aid]
        assert got == want, aid
    want_params = next(m for m in recorded if m.event == "QueueParams" and m.action_id == "4")
    got_params = next(m for m in ours if m.event == "QueueParams" and m.action_id == "4")
    assert got_params.get("Strategy") == want_params.get("Strategy") == "rrmemory"
    # every event the simulator sent has a header set Asterisk uses for that event
    rec_sets, sim_sets = header_sets(recorded), header_sets(ours)
    for name, sets in sim_sets.items():
        assert name in rec_sets, f"simulator sent {name}, never seen from Asterisk"
        assert sets <= rec_sets[name], name


async def scenario(server: AmiServer) -> list[AmiMessage]:
    """The recorded session's queue scenario: one answered call, then a caller who abandons while
    the only member is on a break, with a QueueStatus while they wait."""
    raw = await RawAmi.open(server.port)
    await raw.send(LOGIN)
    await raw.read_until(b"SuccessfulAuth")
    server.add_caller("citizen", caller_num="13800000001", caller_name="Citizen A", talk_time=3)
    server.advance(10)
    server.pause_member("Local/agent1@agents/n", True, queue="citizen", reason="break")
    server.add_caller("citizen", caller_num="13800000003", caller_name="Citizen C", patience=4)
    server.advance(1)
    await raw.send(b"Action: QueueStatus\r\nActionID: 9\r\nQueue: citizen\r\n\r\n")
    await raw.read_until(b"QueueStatusComplete")
    server.advance(3.5)
    server.pause_member("Local/agent1@agents/n", False, queue="citizen")
    await raw.read_until(b"Paused: 0\r\nPausedReason: \r\n")
    await raw.read_for(0.1)
    raw.close()
    return raw.messages()


QUEUE_EVENTS = {"QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentConnect",
                "AgentComplete", "AgentRingNoAnswer", "QueueMemberStatus", "QueueMemberPause", "QueueEntry",
                "QueueParams", "QueueMember", "QueueStatusComplete"}


async def test_scenario_matches_the_recorded_session(asterisk_fixtures):
    recorded = recorded_messages(asterisk_fixtures / "ami_session.txt")
    # the recorded session's part from the first Originate into the queue to the unpause
    start = next(i for i, m in enumerate(recorded) if m.event == "QueueCallerJoin")
    end = next(i for i, m in enumerate(recorded) if m.event == "QueueMemberPause" and m.get("Paused") == "0")
    want = [m for m in recorded[start:end + 1] if m.event in QUEUE_EVENTS]
    clock = ManualClock(1_795_881_200.0)
    async with AmiServer(recorded_config(), clock=clock) as server:
        ours = await scenario(server)
    got = [m for m in ours if m.event in QUEUE_EVENTS]
    assert [m.event for m in got] == [m.event for m in want]
    # the channel events around them (Newchannel, Newstate, DialBegin, DialEnd, Hangup) too
    rec_sets = header_sets(recorded)
    for name, sets in header_sets(ours).items():
        assert sets <= rec_sets[name], name
    for g, w in zip(got, want, strict=True):
        assert [k for k, _ in g.headers] == [k for k, _ in w.headers], g.event
    # the same semantics, value by value, where the values are not times or ids
    for key in ("Queue", "Position", "Count", "OriginalPosition", "HoldTime", "TalkTime", "Reason",
                "Interface", "MemberName", "Paused", "PausedReason", "InCall", "Status",
                "CallerIDName", "Wait", "Calls"):
        assert [g.get(key) for g in got if g.event != "QueueParams"] == \
            [w.get(key) for w in want if w.event != "QueueParams"], key

    def increments(msgs):
        taken = [int(m["CallsTaken"]) for m in msgs if m.event == "QueueMemberStatus"]
        return [b - a for a, b in zip(taken, taken[1:], strict=False)]

    # Agent One had taken calls before the recording began: compare the increments
    assert increments(got) == increments(want) == [1]


def test_callerid_parsing():
    assert parse_callerid('"张三丰 市民" <13912345678>') == ("张三丰 市民", "13912345678")
    assert parse_callerid("Citizen A <1380>") == ("Citizen A", "1380")
    assert parse_callerid("13800000001") == ("", "13800000001")
    assert parse_callerid("") == ("", "")


# --- the queue model on virtual time ---------------------------------------------------------


def run_day(n_calls: int = 200, seed: int = 7) -> tuple[QueueModel, list, float]:
    config = load_queues()
    model = QueueModel(config, now=1_000_000.0)
    rng = random.Random(seed)
    t = 1_000_000.0
    events = []
    for i in range(n_calls):
        t += rng.expovariate(1 / 2.2)  # a caller every 2.2 s on average; 3 members, talk 4-9 s
        _, evs = model.add_caller("citizen", t, caller_num=f"1390000{i:04d}", patience=rng.uniform(3, 40))
        events += evs
    events += model.advance(t + 3600)
    return model, events, t


def test_two_hundred_calls_agree_with_ground_truth():
    started = time.perf_counter()
    model, events, _ = run_day()
    assert time.perf_counter() - started < 3.0
    records = model.records()
    assert len(records) == 200
    outcomes = defaultdict(int)
    for r in records:
        outcomes[r.outcome] += 1
    c = model.counters("citizen")
    assert outcomes["completed"] == c["completed"] and outcomes["abandoned"] == c["abandoned"]
    assert c["completed"] + c["abandoned"] == 200 and c["abandoned"] > 0 and c["calls"] == 0
    # running averages from the events equal the model's counters
    # (app_queue's rule: the first answer / first completion sets them)
    hold = talk = ended = completed = 0
    connects = [e for e in events if e.name == "AgentConnect"]
    for e in events:
        if e.name == "AgentConnect":
            hold = running_average(hold, int(e.header("HoldTime")), first=ended == 0)
        elif e.name == "AgentComplete":
            ended, completed = ended + 1, completed + 1
            talk = running_average(talk, int(e.header("TalkTime")), first=completed == 1)
        elif e.name == "QueueCallerAbandon":
            ended += 1
    assert (hold, talk) == (c["holdtime"], c["talktime"])
    # events carry the ground truth: per caller the same hold time
    by_uid = {r.uniqueid: r for r in records}
    for e in connects:
        r = by_uid[e.header("Uniqueid")]
        assert r.outcome == "completed" and r.hold_time == int(e.header("HoldTime"))
        assert r.member == e.header("Interface")
    for e in (e for e in events if e.name == "QueueCallerAbandon"):
        r = by_uid[e.header("Uniqueid")]
        assert r.outcome == "abandoned" and r.answered_at is None
        assert abs(r.wait - r.patience) < 1e-6 and r.hold_time == int(e.header("HoldTime"))
    sl = 20
    in_sl = sum(1 for r in records if r.outcome == "completed" and r.hold_time <= sl)
    assert c["servicelevel_perf"] == round(100 * in_sl / c["completed"], 1)


def test_members_take_one_call_at_a_time_and_wrap_up():
    model, events, _ = run_day(120, seed=3)
    busy: dict[str, str] = {}
    for e in events:
        member = e.header("Interface")
        if e.name == "AgentConnect":
            assert member not in busy, f"{member} connected twice"
            busy[member] = e.header("Uniqueid")
        elif e.name == "AgentComplete":
            assert busy.pop(member) == e.header("Uniqueid")
    assert not busy


def test_agent_channel_keeps_an_interface_that_contains_slash_n():
    # Local/nurse1@agents/n rings Local/nurse1@agents-<seq>;1 (only the trailing /n goes)
    config = parse_queues({"queues": {"q": {"members": [{"interface": "Local/nurse1@agents/n"}]}}})
    model = QueueModel(config, now=0.0)
    _, events = model.add_caller("q", 0.0, caller_num="1")
    (called,) = [e for e in events if e.name == "AgentCalled"]
    assert called.header("DestChannel").startswith("Local/nurse1@agents-")


def test_wrapup_time_is_respected():
    model = QueueModel(recorded_config(), now=0.0)
    events = []
    for i in range(30):
        events += model.add_caller("evening", float(i), caller_num=str(i), talk_time=2)[1]
    events += model.advance(500)
    last_end: dict[str, float] = {}
    for e in events:
        m = e.header("Interface")
        if e.name == "AgentComplete":
            last_end[m] = e.at
        elif e.name == "AgentCalled" and m in last_end:
            assert e.at >= last_end[m] + 1.0 - 1e-9
    assert model.counters("evening")["completed"] == 30


def test_ring_no_answer_then_the_next_member():
    model = QueueModel(load_queues(), now=0.0)
    model.set_member_behaviour("Local/agent1@agents/n", answer_after=-1)
    for iface in ("Local/agent2@agents/n", "Local/agent3@agents/n"):
        model.pause(iface, True, 0.0, queue="citizen")
    uid, events = model.add_caller("citizen", 0.0, patience=100)
    events += model.advance(15.5)
    names = [e.name for e in events]
    assert "AgentRingNoAnswer" in names and "AgentConnect" not in names
    rna = next(e for e in events if e.name == "AgentRingNoAnswer")
    assert rna.header("RingTime") == "15000"  # milliseconds, as Asterisk sends it here
    dial_end = next(e for e in events if e.name == "DialEnd")
    assert dial_end.header("DialStatus") == "NOANSWER"
    events = model.pause("Local/agent2@agents/n", False, 15.6, queue="citizen")  # before the retry
    events += model.advance(30)
    connect = next(e for e in events if e.name == "AgentConnect")
    assert connect.header("Interface") == "Local/agent2@agents/n"
    assert model.record(uid).rings == 2


def test_queues_file_errors_name_the_key(tmp_path):
    bad = tmp_path / "q.toml"
    bad.write_text('[queues.citizen]\nstrategy = "rrmemory"\ntimeot = 15\n')
    with pytest.raises(ConfigError, match=r"queues.citizen.*timeot"):
        load_queues(bad)
    bad.write_text('[queues.citizen]\nstrategy = "fastest"\n')
    with pytest.raises(ConfigError, match="strategy"):
        load_queues(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_queues(tmp_path / "missing.toml")
    default = load_queues()
    names = {q.name: q for q in default.queues}
    assert len(names["citizen"].members) == 3 and "evening" in names


# --- panoramisk's own Manager against the simulator --------------------------------------------


async def test_plain_panoramisk_manager_works_against_the_simulator():
    from panoramisk import Manager

    async with AmiServer(load_queues(), clock=ManualClock()) as server:
        logged_in = asyncio.get_running_loop().create_future()
        joins = []
        manager = Manager(host="127.0.0.1", port=server.port, username="hotline", secret="hotlinepw",
                          loop=asyncio.get_running_loop(),
                          on_login=lambda m: logged_in.done() or logged_in.set_result(True))
        manager.register_event("QueueCallerJoin", lambda m, e: joins.append(e))
        await manager.connect()
        await asyncio.wait_for(logged_in, 2)
        pong = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), 2)
        assert pong.success and pong.ping == "Pong"
        status = await asyncio.wait_for(manager.send_action({"Action": "QueueStatus", "Queue": "citizen"}), 2)
        assert [m.event for m in status[1:]] == ["QueueParams", "QueueMember", "QueueMember", "QueueMember",
                                                 "QueueStatusComplete"]
        summary = await asyncio.wait_for(manager.send_action({"Action": "QueueSummary"}), 2)
        assert {m.queue for m in summary if m.event == "QueueSummary"} == {"citizen", "evening"}
        server.add_caller("citizen", caller_num="13800000009", caller_name="Citizen Z")
        for _ in range(50):
            if joins:
                break
            await asyncio.sleep(0.02)
        assert joins and joins[0].queue == "citizen" and joins[0].count == "1"
        manager.close()


# --- the command ---------------------------------------------------------------------------------


async def test_hotline_pbxsim_serves_and_prints_its_port(capsys):
    from engine.commands import pbxsim

    parser = argparse.ArgumentParser()
    pbxsim.add_arguments(parser)
    args = parser.parse_args(["--duration", "1.0", "--speed", "50", "--arrivals", "citizen:120",
                              "--agi-target", "127.0.0.1:4573"])
    seen = []

    async def probe(server: AmiServer) -> None:
        raw = await RawAmi.open(server.port)
        await raw.send(LOGIN + b"Action: QueueSummary\r\nActionID: s\r\n\r\n")
        await raw.read_until(b"QueueSummaryComplete")
        seen.extend(m.event for m in raw.messages())
        raw.close()

    tasks = []
    await pbxsim.serve(args, ready=lambda server: tasks.append(asyncio.get_running_loop().create_task(probe(server))))
    await asyncio.gather(*tasks)
    out = capsys.readouterr().out
    assert "pbxsim AMI listening on 127.0.0.1:" in out and "citizen (3 members)" in out
    assert "FastAGI target: 127.0.0.1:4573" in out
    assert "QueueSummary" in seen
    with pytest.raises(SystemExit):
        parser.parse_args(["--agi-target", "nohost"])


def test_codec_reads_the_simulators_banner():
    items = parse_all(b"Asterisk Call Manager/13.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\n")
    assert isinstance(items[0], AmiBanner) and items[1].response == "Success"


def test_model_replays_the_recorded_queue_day(asterisk_fixtures):
    """Driven by the recorded plan (arrival, patience) and the recorded talk times, the model
    reproduces Asterisk's day: the same callers abandon, hold times within a second, the same
    Completed/Abandoned counters and running averages within a second."""
    from engine.events.ami import (
        AgentComplete,
        AgentConnect,
        QueueCallerAbandon,
        QueueParams,
        event_from_message,
    )

    evs = [event_from_message(m, 0.0) for m in recorded_messages(asterisk_fixtures / "ami_queue_day.txt")]
    talk = {e.caller_id_num: e.talk_time for e in evs if isinstance(e, AgentComplete) and e.caller_id_num}
    held = {e.caller_id_num: e.hold_time for e in evs if isinstance(e, AgentConnect)}
    abandoned = {e.caller_id_num: e.hold_time for e in evs if isinstance(e, QueueCallerAbandon)}
    params = next(e for e in evs if isinstance(e, QueueParams))
    config = parse_queues({**RECORDED_QUEUES, "defaults": {"answer_after": 0.0}}, "recorded")
    model = QueueModel(config, now=0.0)
    for line in (asterisk_fixtures / "ami_queue_day_plan.txt").read_text().split("\n"):
        if line.strip():
            at, number, patience = line.split()
            model.add_caller("evening", float(at), caller_num=number, patience=float(patience),
                             talk_time=float(talk.get(number, 5)))
    model.advance(10**10)
    counters = model.counters("evening")
    assert (counters["completed"], counters["abandoned"]) == (params.completed, params.abandoned) == (22, 2)
    assert abs(counters["holdtime"] - params.holdtime) <= 1 and counters["talktime"] == params.talktime
    for record in model.records():
        if record.caller_num in abandoned:
            assert record.outcome == "abandoned"
            assert abs(record.hold_time - abandoned[record.caller_num]) <= 1
        else:
            assert record.outcome == "completed"
            assert abs(record.hold_time - held[record.caller_num]) <= 1


async def test_hotline_pbxsim_sends_callers_through_the_engines_ivr(capsys):
    """With --agi-target each generated caller first runs the engine's flow over FastAGI; the
    flow's HOTLINE_ACTION/HOTLINE_QUEUE decide the queue, as the dialplan after AGI() does."""
    from engine.asterisk.agi_server import AgiServer
    from engine.commands import pbxsim

    sessions = []

    async def flow(channel) -> None:
        sessions.append(channel)
        await channel.answer()
        await channel.set_variable("HOTLINE_ACTION", "queue")
        await channel.set_variable("HOTLINE_QUEUE", "evening")

    agi = AgiServer("127.0.0.1", 0)
    agi.route("hotline", flow)
    await agi.start()
    parser = argparse.ArgumentParser()
    pbxsim.add_arguments(parser)
    args = parser.parse_args(["--duration", "1.0", "--speed", "20", "--arrivals", "citizen:300",
                              "--agi-target", f"127.0.0.1:{agi.port}"])
    servers = []
    try:
        await pbxsim.serve(args, ready=servers.append)
    finally:
        await agi.stop()
    records = servers[0].model.records()
    assert sessions and records
    assert {r.queue for r in records} == {"evening"}
    out = capsys.readouterr().out
    assert "action queue, queue evening" in out and "139****" in out


async def _stream_answered_calls(tmp_path, on_session, *argv: str):
    """``hotline pbxsim`` with no AGI target for 1 s, streaming a 200 ms 8 kHz WAV (10 frames) per
    answered call to an AudioSocket server running ``on_session``; returns that (stopped) server."""
    import wave

    from engine.asterisk.audiosocket_server import AudioSocketServer
    from engine.commands import pbxsim

    wav = tmp_path / "caller.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * 1600)  # 200 ms: 10 frames
    target = AudioSocketServer(on_session, port=0)
    await target.start()
    parser = argparse.ArgumentParser()
    pbxsim.add_arguments(parser)
    args = parser.parse_args(["--duration", "1.0", "--speed", "50", "--arrivals", "citizen:300",
                              "--audiosocket-target", f"127.0.0.1:{target.port}", "--audio", str(wav), *argv])
    try:
        await pbxsim.serve(args)
        await asyncio.sleep(0.8)  # streams started just before the end (200 ms + linger) finish on their own
    finally:
        await target.stop()
    return target


async def test_hotline_pbxsim_streams_audio_of_answered_calls_to_the_audiosocket_target(tmp_path, capsys):
    """Without an AGI target, --audiosocket-target with --audio streams the WAV per answered call."""
    sessions = []

    async def on_session(session) -> None:
        sessions.append(session.uuid)

    target = await _stream_answered_calls(tmp_path, on_session)
    assert sessions and target.stats["sessions"] == len(sessions)
    assert target.stats["malformed"] == 0
    out = capsys.readouterr().out
    assert f"AudioSocket target: 127.0.0.1:{target.port}" in out and "10 frames sent" in out


async def test_hotline_pbxsim_streams_at_the_codec_it_is_given(tmp_path, capsys):
    """--audiosocket-codec slin16: the 8 kHz WAV goes out as chan_audiosocket with c(slin16)
    sends it, kind 0x12 in 640-byte frames; without it, as Asterisk's default slin."""
    from engine.commands import pbxsim

    frames = []

    async def on_session(session) -> None:
        frames.extend([(f.kind, len(f.pcm)) async for f in session.audio()])

    await _stream_answered_calls(tmp_path, on_session, "--audiosocket-codec", "slin16")
    assert frames and set(frames) == {(0x12, 640)}
    out = capsys.readouterr().out
    assert "codec slin16" in out and "10 frames sent (16 kHz)" in out
    parser = argparse.ArgumentParser()
    pbxsim.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--audiosocket-codec", "ulaw"])
    assert "expected a signed linear codec" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--audiosocket-target", "127.0.0.1:9092"], "--audiosocket-target needs --audio"),
    (["--audio", "caller.wav"], "--audio needs --audiosocket-target"),
    (["--audiosocket-target", "127.0.0.1:9092", "--audio", "/nonexistent/caller.wav"], "no such file"),
    (["--agi-target", "127.0.0.1:4573", "--audiosocket-codec", "slin16"], "--audiosocket-codec applies"),
])
async def test_hotline_pbxsim_audio_options_that_would_do_nothing_are_usage_errors(argv, message):
    from engine.commands import pbxsim
    from engine.errors import UsageError

    parser = argparse.ArgumentParser()
    pbxsim.add_arguments(parser)
    with pytest.raises(UsageError, match=message):
        await pbxsim.serve(parser.parse_args(["--duration", "0.1", *argv]))


def test_every_event_of_a_busy_day_has_a_recorded_header_set(asterisk_fixtures):
    """Rings that time out, abandons while ringing, wrap-ups: whatever the model emits uses a
    header set Asterisk used for that event (AgentRingNoAnswer, never recorded, follows the
    AgentCalled layout plus RingTime)."""
    rec_sets = header_sets(recorded_messages(asterisk_fixtures / "ami_session.txt")
                           + recorded_messages(asterisk_fixtures / "ami_queue_day.txt"))
    model = QueueModel(load_queues(), now=0.0)
    model.set_member_behaviour("Local/agent2@agents/n", answer_after=-1)  # lets every call ring out
    rng = random.Random(5)
    events, t = [], 0.0
    for i in range(60):
        t += rng.expovariate(1 / 3)
        events += model.add_caller("citizen", t, caller_num=str(i), patience=rng.uniform(2, 30))[1]
    events += model.advance(t + 600)
    names = {e.name for e in events}
    assert {"AgentRingNoAnswer", "QueueCallerAbandon", "AgentComplete"} <= names
    assert any(e.name == "DialEnd" and e.header("DialStatus") == "CANCEL" for e in events)
    called = next(iter(rec_sets["AgentCalled"]))
    for e in events:
        keys = tuple(k for k, _ in e.wire_headers())
        if e.name == "AgentRingNoAnswer":
            assert keys == (*called, "RingTime")
        else:
            assert keys in rec_sets[e.name], e.name


async def test_control_actions_events_off_and_garbage():
    async with AmiServer(load_queues(), clock=ManualClock()) as server:
        quiet = await RawAmi.open(server.port)
        await quiet.send(LOGIN.replace(b"\r\n\r\n", b"\r\nEvents: off\r\n\r\n"))
        tool = await RawAmi.open(server.port)
        await tool.send(LOGIN + b"Action: PbxSimAddCaller\r\nActionID: a\r\nQueue: citizen\r\n"
                        b"CallerIDNum: 13800000001\r\nPatience: 5\r\n\r\n"
                        b"Action: PbxSimAddCaller\r\nActionID: b\r\nQueue: nowhere\r\n\r\n")
        await tool.read_until(b"No such queue: nowhere")
        await tool.read_until(b"QueueCallerJoin")
        reply = next(m for m in tool.messages() if m.action_id == "a")
        assert reply.get("Message") == "Caller added" and server.model.record(reply["Uniqueid"]).queue == "citizen"
        await quiet.read_for(0.1)
        assert b"Authentication accepted" in quiet.data and b"Event:" not in quiet.data
        await tool.send(b"Action: PbxSimDropConnections\r\nActionID: d\r\n\r\n")
        await tool.read_for(1.0)
        assert b"Dropping all AMI connections" in tool.data and tool.reader.at_eof()
        bad = await RawAmi.open(server.port)
        from engine.asterisk.ami_codec import MAX_LINE

        await bad.send(b"X" * (MAX_LINE + 10))  # no end: the codec refuses, the server hangs up
        await bad.read_for(1.0)
        assert bad.reader.at_eof()
        for raw in (quiet, tool, bad):
            raw.close()


async def test_a_client_that_does_not_read_is_dropped(monkeypatch):
    import engine.pbxsim.ami_server as ami_server

    monkeypatch.setattr(ami_server, "MAX_OUTBOX", 5)
    async with AmiServer(load_queues(), clock=ManualClock()) as server:
        raw = await RawAmi.open(server.port)
        await raw.send(LOGIN)
        await raw.read_until(b"SuccessfulAuth")
        assert server.connections == 1
        server.add_caller("citizen", caller_num="1")  # a burst of events at once
        assert server.connections == 0
        raw.close()


def test_caller_already_up_and_queue_priority():
    """A channel that ran the IVR first enters Queue() with its own Uniqueid: no second
    Newchannel; QUEUE_PRIO puts a caller ahead of those with a lower priority."""
    model = QueueModel(load_queues(), now=0.0)
    for i in (1, 2, 3):
        model.pause(f"Local/agent{i}@agents/n", True, 0.0, queue="citizen")
    model.add_caller("citizen", 0.0, caller_num="1")
    uid, events = model.add_caller("citizen", 1.0, caller_num="2", uniqueid="1795881300.7",
                                   channel="PJSIP/trunk-00000007", priority=5)
    assert uid == "1795881300.7" and not [e for e in events if e.name in ("Newchannel", "Newstate")]
    join = next(e for e in events if e.name == "QueueCallerJoin")
    assert (join.header("Position"), join.header("Count"), join.header("Channel")) == ("1", "2", "PJSIP/trunk-00000007")
    entries = [e for e in model.queue_status(2.0, "citizen") if e.name == "QueueEntry"]
    assert [(e.header("Uniqueid"), e.header("Priority")) for e in entries][0] == ("1795881300.7", "5")
    with pytest.raises(ValueError):
        model.add_caller("citizen", 2.0, uniqueid="1795881300.7")
    events = model.hangup("PJSIP/trunk-00000007", 3.0)
    assert [e.header("Channel") for e in events if e.name == "Hangup"] == ["PJSIP/trunk-00000007"]
    assert model.record(uid).outcome == "abandoned"


def test_hanging_up_a_ringing_member_rejects_the_call_not_the_caller():
    model = QueueModel(load_queues(), now=0.0)
    model.set_member_behaviour("Local/agent1@agents/n", answer_after=5)
    for i in (2, 3):
        model.pause(f"Local/agent{i}@agents/n", True, 0.0, queue="citizen")
    uid, events = model.add_caller("citizen", 0.0, patience=60)
    ringing = [c for c in model.channels() if "agent1" in c]
    events = model.hangup(ringing[0], 1.0)
    assert next(e for e in events if e.name == "DialEnd").header("DialStatus") == "BUSY"
    assert model.record(uid).outcome == "waiting"
    events = model.advance(10.0)  # rung again after the retry, answers this time
    assert any(e.name == "AgentConnect" for e in events) and model.record(uid).rings == 2


@pytest.mark.parametrize(("strategy", "expected"), [("linear", ["a1", "a1", "a1"]), ("rrmemory", ["a1", "a2", "a3"])])
def test_linear_always_rings_from_the_top_rrmemory_goes_round(strategy, expected):
    members = [{"interface": f"Local/a{i}@agents/n", "name": f"a{i}"} for i in (1, 2, 3)]
    config = parse_queues({"defaults": {"answer_after": 0.0, "talk_min": 5.0, "talk_max": 5.0},
                           "queues": {"q": {"strategy": strategy, "members": members}}})
    model = QueueModel(config, now=0.0)
    answered = []
    for k in range(3):  # one caller at a time: every member is free when the next one arrives
        _, events = model.add_caller("q", k * 100.0, caller_num="1")
        events += model.advance(k * 100.0 + 50.0)
        answered += [e.header("MemberName") for e in events if e.name == "AgentConnect"]
    assert answered == expected


def test_queue_on_the_second_half_of_a_local_pair_carries_the_calls_linkedid():
    """As ami_ivr_queue_local.txt: Queue() runs on ;2 after the IVR; every queue and call-taker event
    carries the call's Linkedid (;1's Uniqueid), and the call ends with ;1 hanging up before ;2."""
    model = QueueModel(recorded_config(), now=0.0)
    _, events = model.add_caller("citizen", 0.0, caller_num="13611112222", uniqueid="100.1",
                                 channel="Local/s@hotline-in-00000000;2", linkedid="100.0",
                                 first_channel="Local/s@hotline-in-00000000;1")
    events += model.advance(60.0)
    assert {e.header("Linkedid") for e in events if e.header("Linkedid")} == {"100.0"}
    assert {e.header("Uniqueid") for e in events if e.name in ("QueueCallerJoin", "AgentConnect")} == {"100.1"}
    hangups = [e.header("Channel") for e in events if e.name == "Hangup"]
    assert hangups.index("Local/s@hotline-in-00000000;1") < hangups.index("Local/s@hotline-in-00000000;2")
    assert model.record("100.0").uniqueid == "100.1" and model.record("100.0").outcome == "completed"
