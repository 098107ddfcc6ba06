"""End to end: a short demo (PBX simulator + the whole engine on loopback) checked against ground truth.

The simulator (``engine.pbxsim.world``) plays every call as Asterisk and the dialplan would: the
default flow over FastAGI with the intake step's speech over AudioSocket, Queue() with the
channel variables the flow set, call-takers answering, ChanSpy taps streaming both sides into the
engine's AudioSocket server, callbacks originated by the engine. The store the engine wrote is
then compared with what really happened.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging

import pytest

from engine.config import load_config
from engine.demo import DemoOptions, run_demo
from engine.store import Store

CALLS = 16


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("demo")
    (tmp / "hotline.toml").write_text("", encoding="utf-8")  # defaults, whatever ./hotline.toml says
    cfg = load_config(tmp / "hotline.toml")
    out = io.StringIO()
    seen: dict[str, object] = {}

    def ready(engine: object, world: object) -> None:
        seen["engine"], seen["world"] = engine, world

    # 16 calls in the first 20 minutes of the peak at x40 (30 s), every conversation tapped
    options = DemoOptions(calls=CALLS, minutes=20, speed=40, seed=7, store=str(tmp / "demo.sqlite"), serve=False,
                          json=True, live=False, drain_limit=40, max_tap_legs=0, out=out)
    logging.getLogger().addHandler(RUN_ERRORS)
    try:
        result = asyncio.run(run_demo(cfg, options, ready=ready))
        gc.collect()  # a task left pending is reported when it is collected
    finally:
        logging.getLogger().removeHandler(RUN_ERRORS)
    return result, seen["world"], json.loads(out.getvalue()), tmp / "demo.sqlite"


class _Errors(logging.Handler):
    """ERROR records of the demo run (asyncio's 'Task was destroyed but it is pending!' among them)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


RUN_ERRORS = _Errors()


def test_the_run_logs_no_error(demo_run) -> None:
    """No task left pending, no engine part failing: the demo's log has no ERROR line."""
    assert RUN_ERRORS.messages == []


def test_every_simulated_call_has_a_record(demo_run) -> None:
    result, world, report, db = demo_run
    with Store.open(db, create=False) as store:
        for uid, truth in world.truth.items():
            rec = store.get_call(uid)
            assert rec is not None, f"no record for simulated {truth.kind} call {uid}"
            assert rec.caller_number == truth.plan.number
            if truth.kind == "inbound":
                assert rec.ivr_flow == "hotline" and rec.ivr_path[0] == "check_hours"
                assert rec.ivr_outcome == truth.ivr_outcome, uid
            if truth.queued:
                model = world.model.record(uid)
                assert rec.queue == model.queue
                if model.answered_at is not None:
                    assert rec.outcome == "answered" and rec.agent == model.member_name
                    assert rec.wait_seconds == model.hold_time
                else:
                    assert rec.outcome == "abandoned" and rec.wait_seconds == model.hold_time
            elif truth.callback_ref:
                assert rec.outcome == "callback"
        assert store.counts()["calls"] == len(world.truth)


def test_counts_match_ground_truth(demo_run) -> None:
    result, world, report, db = demo_run
    truth = result.truth
    assert report["calls"] == truth["calls"] == CALLS
    assert truth["answered"] > 0 and truth["queued"] == truth["answered"] + truth["abandoned"]
    assert report["answered"] == truth["answered"]
    assert report["abandoned"] == truth["abandoned"]
    assert report["callbacks"] == truth["callbacks"]
    assert report["callback_calls"] == truth["callback_calls"]
    assert report["ground_truth_agrees"] is True
    for key in ("calls", "answered", "abandoned", "callbacks", "transcribed_calls", "mean_wait", "service_level"):
        assert key in report
    assert 0.0 <= report["service_level"] <= 1.0


def test_transcripts_exist_for_calls_with_speech(demo_run) -> None:
    result, world, report, db = demo_run
    with Store.open(db, create=False) as store:
        spoke = [t for t in world.truth.values() if t.intake or t.tapped]
        assert spoke, "the demo made nobody speak"
        for t in spoke:
            segments = store.segments(t.uniqueid)
            legs = {s.leg for s in segments}
            if t.intake:
                assert "caller" in legs, (f"intake of {t.uniqueid} not transcribed; its IVR: "  # what the engine saw
                                          f"{[(i.kind, i.data) for i in store.call_timeline(t.uniqueid).items if i.kind.startswith('ivr')]}")
            if "agent" in t.tapped:
                assert "agent" in legs, f"tapped call-taker side of {t.uniqueid} not transcribed"
            assert all(s.text.strip() for s in segments)
        # tapped speech sits after the answer on the call's clock; intake speech before it
        for t in world.truth.values():
            if not t.tapped:
                continue
            rec = store.get_call(t.uniqueid)
            agent = [s for s in store.segments(t.uniqueid) if s.leg == "agent"]
            if agent and rec.answered_at and rec.started_at:
                assert min(s.start for s in agent) >= rec.answered_at - rec.started_at - 1.0
        assert report["transcribed_calls"] == store.counts()["transcribed_calls"] >= len(spoke)
        # the tapped sides are recorded next to the store, and the page can play them
        audio_dir = db.with_name("demo-audio")
        for t in world.truth.values():
            recorded = store.audio(t.uniqueid)
            assert {a.leg for a in recorded} == set(t.tapped), t.uniqueid
            assert all((audio_dir / a.path).stat().st_size > 44 for a in recorded)
        assert report["recorded_calls"] == store.counts()["recorded_calls"] == sum(1 for t in world.truth.values() if t.tapped)
