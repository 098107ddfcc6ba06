"""``/metrics``: the Prometheus text format (parsed back by a small parser written here), and the
numbers of a running engine against the PBX simulator: queue KPIs, calls, AMI reconnects."""

from __future__ import annotations

import math
import re
from pathlib import Path

import aiohttp
import pytest

from engine.app import Engine
from engine.config import load_config
from engine.errors import ConfigError
from engine.pbxsim.ami_server import AmiServer
from engine.pbxsim.clock import ManualClock
from engine.pbxsim.queue_model import parse_queues
from engine.store import AsyncStore
from engine.web import WebSettings, create_app, start_site
from engine.web.metrics import CONTENT_TYPE, Metric, metric, render
from tests.mosquitto_helpers import free_port
from tests.sim_engine import NoSpeech, until

pytestmark = pytest.mark.timeout(120)

# -- a small parser of the exposition format (0.0.4) ---------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], value)


def parse(text: str) -> dict[str, dict]:
    """``{name: {"type", "help", "samples": {frozenset(labels): value}}}``; asserts the format rules
    a Prometheus server checks: HELP and TYPE before the samples, known types, one family once,
    well-formed label sets and numbers, a final newline."""
    assert text.endswith("\n")
    families: dict[str, dict] = {}
    current = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert name not in families, f"{name} twice"
            current = families[name] = {"help": help_, "type": None, "samples": {}}
            continue
        if line.startswith("# TYPE "):
            name, _, type_ = line[7:].partition(" ")
            assert current is families.get(name) and type_ in ("counter", "gauge"), line
            current["type"] = type_
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.groups()
        assert current is families.get(name) and current["type"], f"{name} before its TYPE"
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = _LABEL.match(labels_text, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
        key = frozenset(labels.items())
        assert key not in current["samples"], f"{line!r} twice"
        current["samples"][key] = float(value)  # also NaN, +Inf
    return families


def value(families: dict, name: str, **labels: str) -> float:
    return families[name]["samples"][frozenset(labels.items())]


# -- rendering ------------------------------------------------------------------------------------


def test_render_escapes_labels_and_help_and_leaves_out_missing_values() -> None:
    tricky = 'a "quoted"\\ queue\n市民热线'
    text = render([
        Metric("x_waiting_calls", "gauge", "Waiting.\nSecond line \\ here",
               (((("queue", tricky),), 3), ((("queue", "empty"),), None))),
        metric("x_answered_total", "counter", "Answered.", 7),
        metric("x_ratio", "gauge", "Odd values.", values={"nan": math.nan, "inf": math.inf, "half": 0.5}, by="kind"),
        metric("x_flag", "gauge", "A flag.", True),
    ])
    fams = parse(text)
    assert fams["x_waiting_calls"]["help"] == "Waiting.\\nSecond line \\\\ here"  # escaped on one line
    assert fams["x_waiting_calls"]["samples"] == {frozenset({("queue", tricky)}): 3.0}  # None: no sample
    assert value(fams, "x_answered_total") == 7 and fams["x_answered_total"]["type"] == "counter"
    assert math.isnan(value(fams, "x_ratio", kind="nan")) and value(fams, "x_ratio", kind="inf") == math.inf
    assert value(fams, "x_ratio", kind="half") == 0.5 and value(fams, "x_flag") == 1
    assert "x_answered_total 7\n" in text  # integers stay integers


@pytest.mark.parametrize("make, message", [
    (lambda: Metric("bad-name", "gauge", "h"), "not valid"),
    (lambda: Metric("x", "summary", "h"), "type"),
    (lambda: Metric("x_count", "counter", "h"), "_total"),
    (lambda: Metric("x", "gauge", "h", (((("__x", "v"),), 1),)), "label name"),
    (lambda: render([metric("x", "gauge", "h", 1), metric("x", "gauge", "h", 2)]), "twice"),
])
def test_render_refuses_what_prometheus_would_reject(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


async def test_the_page_alone_has_no_metrics_and_a_metrics_token_must_differ(tmp_path: Path) -> None:
    store = await AsyncStore.open(tmp_path / "s.sqlite")
    runner, port = await start_site(create_app(store, WebSettings(token="viewer-token-1")), port=0)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
            assert r.status == 404 and "hotline serve" in await r.text()
    finally:
        await runner.cleanup()
        await store.close()
    with pytest.raises(ConfigError, match="metrics_token must differ"):
        WebSettings(token="same-token-1", metrics_token="same-token-1")


# -- a running engine -----------------------------------------------------------------------------

QUEUES = {
    "defaults": {"answer_after": 1.0, "talk_min": 60.0, "talk_max": 60.0, "seed": 3},
    "queues": {
        "citizen": {"timeout": 15, "retry": 1, "wrapuptime": 2, "servicelevel": 20,
                    "members": [{"interface": "Local/a1@agents/n", "name": "Agent 1"}]},
        "夜间": {"timeout": 15, "retry": 1, "wrapuptime": 2, "servicelevel": 30, "members": []},
    },
}


async def _scrape(port: int, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


async def test_a_running_engine_exposes_queues_calls_and_ami_reconnects(tmp_path: Path) -> None:
    clock = ManualClock()
    pbx = AmiServer(parse_queues(QUEUES), clock=clock)
    await pbx.start()
    (tmp_path / "hotline.toml").write_text("", encoding="utf-8")
    cfg = load_config(tmp_path / "hotline.toml", {
        "ami.port": pbx.port, "ami.secret": "hotlinepw", "ami.reconnect_min": 0.05, "ami.ping_interval": 3600,
        "agi.port": 0, "audiosocket.port": 0, "web.port": 0, "web.token": "viewer-token-1",
        "web.metrics_token": "scrape-token-1", "tap.enabled": False, "store.path": str(tmp_path / "h.sqlite")})
    engine = Engine(cfg, clock=clock.now, pipeline=NoSpeech())
    await engine.start()
    try:
        await until(lambda: engine.ami.connected and engine.monitor.queues, 10, "AMI login and QueueStatus")
        # one caller answered at once, then two waiting (the only call-taker is talking), one of them
        # giving up after 10 s; nobody in 夜间, which has no call-takers
        # (a Ping after each step is a barrier: the engine has read every event sent before the
        # answer, on the clock of that moment)
        pbx.add_caller("citizen", caller_num="13912345678", patience=300)
        pbx.advance(2)
        await engine.ami.ping()
        pbx.add_caller("citizen", caller_num="13912345679", patience=10)
        pbx.add_caller("citizen", caller_num="13912345680", patience=300)
        await engine.ami.ping()
        pbx.advance(12)
        await engine.ami.ping()

        # the token: none, the supervisors' one, or a wrong one are refused; the metrics token is let in
        for token in (None, "viewer-token-1", "wrong"):
            status, _, _ = await _scrape(engine.web_port, token)
            assert status == 401
        status, content_type, text = await _scrape(engine.web_port, "scrape-token-1")
        assert status == 200 and content_type == CONTENT_TYPE
        fams = parse(text)
        assert "139123456" not in text  # no caller number anywhere

        views = {v["queue"]: v for v in engine.monitor.views(clock.now())}
        c = views["citizen"]
        assert (c["offered"], c["answered"], c["abandoned"], c["waiting"]) == (3, 1, 1, 1)  # the scenario played
        assert value(fams, "hotline_queue_offered_total", queue="citizen") == 3
        assert value(fams, "hotline_queue_answered_total", queue="citizen") == 1
        assert value(fams, "hotline_queue_abandoned_total", queue="citizen") == 1
        assert value(fams, "hotline_queue_waiting_calls", queue="citizen") == 1
        assert value(fams, "hotline_queue_longest_wait_seconds", queue="citizen") == c["longest_wait"] == 12
        assert value(fams, "hotline_queue_asa_seconds", queue="citizen") == c["asa"]
        assert value(fams, "hotline_queue_service_level_ratio", queue="citizen") == 1.0  # answered within 20 s
        assert value(fams, "hotline_queue_service_level_seconds", queue="citizen") == 20
        assert value(fams, "hotline_queue_agents", queue="citizen", state="talking") == 1
        assert value(fams, "hotline_queue_agents", queue="citizen", state="logged_in") == 1
        # a queue with no answer yet has no service level or ASA sample, rather than a made-up 0
        assert value(fams, "hotline_queue_offered_total", queue="夜间") == 0
        assert frozenset({("queue", "夜间")}) not in fams["hotline_queue_service_level_ratio"]["samples"]
        assert frozenset({("queue", "夜间")}) not in fams["hotline_queue_asa_seconds"]["samples"]

        assert value(fams, "hotline_calls_live") == len(engine.calls.live_calls) == 2
        assert value(fams, "hotline_calls_started_total") == 3 and value(fams, "hotline_calls_ended_total") == 1
        assert value(fams, "hotline_ami_connected") == 1 and value(fams, "hotline_ami_reconnects_total") == 0
        assert value(fams, "hotline_component_up", component="ami") == 1
        assert value(fams, "hotline_taps_skipped_total", reason="max_legs") == 0
        assert value(fams, "hotline_audiosocket_dropped_frames_total", direction="in") == 0
        assert value(fams, "hotline_store_failed_writes_total") == 0
        assert value(fams, "hotline_bus_enabled") == 0
        # every family has a type, every counter is named _total, every number matches health()
        assert all(f["type"] for f in fams.values())
        assert all(n.endswith("_total") for n, f in fams.items() if f["type"] == "counter")
        health = engine.health()
        assert value(fams, "hotline_fastagi_sessions_total") == health["agi"]["sessions"]
        assert value(fams, "hotline_asr_backlog_seconds") == health["asr"]["backlog_seconds"]

        # Asterisk drops the connection: the client reconnects and the counter says so
        await pbx.drop_connections()
        await until(lambda: engine.ami.reconnects == 1 and engine.ami.connected, 10, "the AMI reconnect")
        _, _, text = await _scrape(engine.web_port, "scrape-token-1")
        fams = parse(text)
        assert value(fams, "hotline_ami_reconnects_total") == 1 and value(fams, "hotline_ami_connected") == 1
    finally:
        await engine.stop()
        await pbx.stop()


async def test_metrics_are_open_like_healthz_without_a_metrics_token(tmp_path: Path) -> None:
    (tmp_path / "hotline.toml").write_text("", encoding="utf-8")
    cfg = load_config(tmp_path / "hotline.toml", {
        "ami.port": free_port(), "ami.secret": "pw", "ami.reconnect_min": 0.05, "agi.port": 0,
        "audiosocket.port": 0, "web.port": 0, "web.token": "viewer-token-1", "web.metrics_token_env": "HOTLINE_TEST_UNSET",
        "store.path": str(tmp_path / "h.sqlite")})
    engine = Engine(cfg, pipeline=NoSpeech())
    await engine.start()
    try:
        status, _, text = await _scrape(engine.web_port)
        assert status == 200
        fams = parse(text)
        assert value(fams, "hotline_ami_connected") == 0  # nobody listens on the AMI port
        assert value(fams, "hotline_component_up", component="ami") == 0
        assert value(fams, "hotline_component_up", component="store") == 1
        assert fams["hotline_queue_waiting_calls"]["samples"] == {}  # no queue known yet
    finally:
        await engine.stop()
