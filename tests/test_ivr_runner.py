"""The pure runner on a fake clock: every path of the default flow and of small flows."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from ivr_flows import protocol as p
from ivr_flows.checksums import with_mod11
from ivr_flows.dryrun import Script, run_script
from ivr_flows.errors import FlowRuntimeError
from ivr_flows.loader import load_flows, load_text
from ivr_flows.runner import CallInfo, record, start, step

CST = dt.timezone(dt.timedelta(hours=8))
OPEN = dt.datetime(2026, 11, 30, 10, 0, tzinfo=CST).timestamp()  # a Monday morning
CLOSED = dt.datetime(2026, 11, 30, 23, 30, tzinfo=CST).timestamp()
HOLIDAY = dt.datetime(2026, 10, 1, 10, 0, tzinfo=CST).timestamp()
GOOD_ORDER = with_mod11("202611280")
BAD_ORDER = GOOD_ORDER[:-1] + str((int(GOOD_ORDER[-1]) + 1) % 10)


@pytest.fixture(scope="module")
def flow():
    return load_flows()["hotline"]


def run(flow, now=OPEN, **kw):
    return run_script(flow, Script(**kw), now=now).record


def test_consultation_with_intake_queued(flow) -> None:
    rec = run(flow, digits=["1", "1"], says=["路灯坏了"])
    assert rec.outcome == "queued" and rec.queue == "citizen" and rec.priority == 0
    assert rec.node_path == ["check_hours", "choose_language", "welcome", "main_menu", "consult", "intake", "queue"]
    assert rec.transcript == "路灯坏了"
    assert rec.vars["HOTLINE_TOPIC"] == "consultation" and rec.language == "zh"
    assert rec.started == OPEN and rec.ended > OPEN
    assert all(v.left is not None for v in rec.path)


def test_complaint_in_english(flow) -> None:
    rec = run(flow, digits=["2", "2"], says=["the street light is broken"])
    assert rec.outcome == "queued" and rec.language == "en" and rec.vars["HOTLINE_TOPIC"] == "complaint"


def test_followup_with_valid_work_order_gets_priority(flow) -> None:
    rec = run(flow, digits=["1", "3", GOOD_ORDER + "#"])
    assert rec.outcome == "queued" and rec.priority == 2
    assert rec.vars["HOTLINE_WORK_ORDER"] == GOOD_ORDER
    assert rec.node_path[-3:] == ["followup", "followup_topic", "queue_followup"]


def test_followup_wrong_checksum_then_right(flow) -> None:
    result = run_script(flow, Script(digits=["1", "3", BAD_ORDER, GOOD_ORDER]), now=OPEN)
    rec = result.record
    assert rec.outcome == "queued" and rec.vars["HOTLINE_WORK_ORDER"] == GOOD_ORDER
    asks = [c for c in result.commands if isinstance(c, p.GetDigits) and c.max_digits == 10]
    assert asks[1].parts[0] == p.Prompt("hotline/bad_work_order")
    assert [i.value for i in rec.inputs if i.node == "followup"] == [BAD_ORDER, GOOD_ORDER]


def test_followup_wrong_three_times_goes_to_operator(flow) -> None:
    rec = run(flow, digits=["1", "3", BAD_ORDER, "12", ""])
    assert rec.node_path[-2:] == ["operator", "queue"] and rec.vars["HOTLINE_TOPIC"] == "operator"
    followup = [v for v in rec.path if v.node == "followup"][0]
    assert followup.result == "timeout, no tries left"


def test_operator_branch(flow) -> None:
    rec = run(flow, digits=["1", "0"])
    assert rec.node_path[-2:] == ["operator", "queue"] and rec.outcome == "queued"


def test_invalid_then_timeout_then_choice(flow) -> None:
    result = run_script(flow, Script(digits=["1", "7", "", "1"], says=["x"]), now=OPEN)
    asks = [c for c in result.commands if isinstance(c, p.GetDigits) and c.phrases]
    assert [a.parts[0].name for a in asks] == ["hotline/main_menu", "hotline/invalid", "hotline/no_input"]
    assert result.record.node_path[4] == "consult"


def test_menu_retries_exhausted_go_to_operator(flow) -> None:
    rec = run(flow, digits=["1", "9", "9", "9"])
    menu = [v for v in rec.path if v.node == "main_menu"][0]
    assert menu.result == "invalid, no tries left" and rec.node_path[-2:] == ["operator", "queue"]


def test_speech_menu_choice(flow) -> None:
    rec = run(flow, digits=["2", "s:I want to make a complaint"], says=["noise at night"])
    assert rec.vars["HOTLINE_TOPIC"] == "complaint"
    rec = run(flow, digits=["1", "s:我要投诉"], says=["噪音"])
    assert rec.vars["HOTLINE_TOPIC"] == "complaint"
    rec = run(flow, digits=["1", "s:天气", "0"])  # not understood, then a key
    assert [i.kind for i in rec.inputs if i.node == "main_menu"] == ["speech", "digits"]


def test_barge_in_key_is_type_ahead_for_the_menu(flow) -> None:
    state, cmds = start(flow, CallInfo(uniqueid="1.1", caller="13912345678"), OPEN)
    assert isinstance(cmds[-1], p.GetDigits)  # language
    state, cmds = step(state, p.DigitsReceived("1"), OPEN + 3)
    assert cmds[-1] == p.Play((p.Prompt("hotline/welcome"),), barge_in=True)
    state, cmds = step(state, p.PlaybackDone(digit="0"), OPEN + 4)
    assert state.node == "queue" and isinstance(cmds[-1], p.QueryQueue)
    assert [v.result for v in state.path if v.node == "main_menu"] == ["choice 0 (type-ahead)"]


def test_no_speech_at_intake_still_queues(flow) -> None:
    rec = run(flow, digits=["1", "1"], says=[""])
    assert rec.outcome == "queued" and rec.transcript == ""
    assert [v.result for v in rec.path if v.node == "intake"] == ["no speech"]


def test_short_wait_announces_without_offer(flow) -> None:
    result = run_script(flow, Script(digits=["1", "0"], position=2, wait=45), now=OPEN)
    play = [c for c in result.commands if isinstance(c, p.Play)][-1]
    assert play.parts == (p.Prompt("hotline/transferring"), p.Prompt("hotline/position"), p.Number(2),
                          p.Prompt("hotline/wait"), p.Number(1, measure=True), p.Prompt("hotline/minutes"))
    enter = result.commands[-1]
    assert enter == p.EnterQueue("citizen", 0, 0)
    assert p.SetVar("HOTLINE_QUEUE", "citizen") in result.commands


def test_unknown_wait_skips_wait_announcement_and_offers_callback(flow) -> None:
    result = run_script(flow, Script(digits=["1", "0", "2"], position=1, wait=None), now=OPEN)
    offer = [c for c in result.commands if isinstance(c, p.GetDigits)][-1]
    assert p.Prompt("hotline/wait") not in offer.parts and offer.parts[-1] == p.Prompt("hotline/offer_callback")
    assert result.record.outcome == "queued"


def test_callback_accepted_with_caller_number(flow) -> None:
    result = run_script(flow, Script(digits=["1", "0", "1", "1"], wait=600, callback_ref="CB-7"), now=OPEN,
                        call=CallInfo(uniqueid="9.1", linkedid="9.0", caller="13912345678"))
    rec = result.record
    assert rec.outcome == "callback_booked" and rec.callback_ref == "CB-7"
    assert rec.node_path[-3:] == ["queue", "callback", "goodbye"]
    book = [c for c in result.commands if isinstance(c, p.BookCallback)]
    assert book == [p.BookCallback("citizen", "13912345678", 0)]
    confirm = [c for c in result.commands if isinstance(c, p.GetDigits)][-1]
    assert p.Digits("13912345678") in confirm.parts
    assert rec.uniqueid == "9.1" and rec.linkedid == "9.0" and rec.caller == "139****5678"
    assert "13912345678" not in repr(rec.inputs)  # the number is masked in the record


def test_callback_other_number(flow) -> None:
    result = run_script(flow, Script(digits=["1", "0", "1", "2", "123", "02587654321#", "1"], wait=600),
                        now=OPEN)
    assert [c for c in result.commands if isinstance(c, p.BookCallback)][0].number == "02587654321"
    assert result.record.outcome == "callback_booked"


def test_callback_declined_and_timed_out(flow) -> None:
    assert run(flow, digits=["1", "0", "2"], wait=600).outcome == "queued"
    assert run(flow, digits=["1", "0", ""], wait=600).outcome == "queued"


def test_callback_without_caller_id_and_no_number_falls_back_to_queue(flow) -> None:
    result = run_script(flow, Script(digits=["1", "0", "1", "", "", ""], wait=600), now=OPEN,
                        call=CallInfo(uniqueid="2.2", caller="anonymous"))
    assert result.record.node_path[-2:] == ["callback", "queue_no_offer"]
    assert result.record.outcome == "queued"


def test_after_hours_and_holiday_record_a_message(flow) -> None:
    for now in (CLOSED, HOLIDAY):
        rec = run(flow, now=now, digits=["2"])
        assert rec.node_path == ["check_hours", "closed_language", "after_hours", "goodbye"]
        assert rec.outcome == "message_left" and rec.language == "en"
        assert rec.path[0].result == "closed"


def test_hangup_at_every_node(flow) -> None:
    # a route that passes every waiting node of the main path, and the branches
    routes = {
        "choose_language": [], "welcome": ["1"], "main_menu": ["1"], "intake": ["1", "1"],
        "followup": ["1", "3"], "queue": ["1", "0"], "callback": ["1", "0", "1"],
        "goodbye": ["1", "0", "1", "1"], "closed_language": [], "after_hours": ["1"],
    }
    for node, digits in routes.items():
        now = CLOSED if node in ("closed_language", "after_hours") else OPEN
        rec = run(flow, now=now, digits=digits, hangup_at=node, wait=600)
        assert rec.end_node == node, node
        expected = "callback_booked" if node == "goodbye" else "abandoned_in_ivr"
        if node == "goodbye" and now == CLOSED:
            expected = "message_left"
        assert rec.outcome == expected, node
        assert rec.path[-1].result == "hung up"


def test_step_after_end_and_wrong_event() -> None:
    flow = load_text("flow: f\nstart: h\nnodes:\n  h: {verb: hangup}\n", "f.yaml")[0]
    state, cmds = start(flow, CallInfo(), 0.0)
    assert cmds[-1] == p.Hangup() and state.done and record(state).outcome == "self_served"
    assert step(state, p.HungUp(), 1.0) == (state, [])
    with pytest.raises(FlowRuntimeError):
        step(state, p.Timeout(), 1.0)
    flow2 = load_text("flow: g\nstart: a\nnodes:\n  a: {verb: play, prompt: hotline/welcome, next: h}\n"
                      "  h: {verb: hangup}\n", "g.yaml")[0]
    state, _ = start(flow2, CallInfo(), 0.0)
    with pytest.raises(FlowRuntimeError, match="expected PlaybackDone"):
        step(state, p.DigitsReceived("1"), 1.0)


def test_transfer_goto_set_language_and_failures() -> None:
    text = """flow: small
start: en
languages: [zh, en]
nodes:
  en: {verb: language, set: en, next: mark}
  mark: {verb: set, vars: {A: 1, B: true}, next: jump}
  jump: {verb: goto, target: intake}
  intake: {verb: intake, next: out, no_speech: bye}
  out: {verb: transfer, to: PJSIP/operator, prompt: hotline/transferring}
  bye: {verb: hangup}
"""
    flow = load_text(text, "small.yaml")[0]
    state, cmds = start(flow, CallInfo(language="zh"), 100.0)
    assert cmds[:2] == [p.SetLanguage("zh"), p.SetLanguage("en")]
    assert p.SetVar("A", "1") in cmds and p.SetVar("B", "true") in cmds
    assert isinstance(cmds[-1], p.StartIntake) and cmds[-1].language == "en"
    failed, cmds2 = step(state, p.CommandFailed("no AudioSocket"), 105.0)
    assert cmds2[-1] == p.Hangup() and record(failed).outcome == "self_served"
    state, cmds = step(state, p.TranscriptReady("hello", intake_id="u-1"), 110.0)
    assert p.SetVar("HOTLINE_INTAKE_ID", "u-1") in cmds and isinstance(cmds[-1], p.Play)
    state, cmds = step(state, p.PlaybackDone(), 112.0)
    assert cmds == [p.Transfer("PJSIP/operator")]
    rec = record(state)
    assert rec.outcome == "transferred" and rec.duration == 12.0 and rec.transcript == "hello"
    assert [v.node for v in rec.path] == ["en", "mark", "jump", "intake", "out"]
    assert dataclasses.asdict(rec)["path"][3]["entered"] == 100.0
    assert rec.to_dict()["duration"] == 12.0


def test_dry_run_lines_show_prompts_inputs_and_decisions(flow) -> None:
    result = run_script(flow, Script(digits=["2", "9", "1"], says=["pothole"]), now=OPEN)
    text = "\n".join(result.lines)
    assert "caller presses 9" in text and "hotline/invalid" in text
    assert "caller says 'pothole'" in text and "[main_menu] menu: choice 1" in text
    assert result.lines[-2].startswith("outcome: queued")


def test_record_goes_into_the_store(flow, tmp_path) -> None:
    from engine.store import Store
    from engine.store.feed import StoreFeed

    rec = run_script(flow, Script(digits=["1", "3", GOOD_ORDER]), now=OPEN,
                     call=CallInfo(uniqueid="7.1", linkedid="7.0", caller="13912345678")).record
    with Store.open(tmp_path / "s.sqlite") as store:
        StoreFeed(store).handle(rec)  # the way engine/app stores a run record
        call = store.get_call("7.0")
        assert call.ivr_outcome == "queued" and list(call.ivr_path) == rec.node_path and call.queue == "citizen"
        kinds = [i.kind for i in store.call_timeline("7.0").items]
        assert kinds[:2] == ["call.start", "ivr.node"] and kinds[-1] == "ivr.end" and "ivr.input" in kinds
