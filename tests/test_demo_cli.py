"""``hotline demo`` / ``hotline web`` argument errors, the demo's evening plan and speech material."""

from __future__ import annotations

import collections
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.cli import main
from engine.demo import _frames, evening_start, plan_evening, render_report
from ivr_flows.loader import load_flows


@pytest.mark.parametrize("argv, message", [
    (["demo", "--calls", "0"], "argument --calls: expected a whole number between 1 and 5000, got '0'"),
    (["demo", "--speed", "0"], "argument --speed: expected a finite number between 0.5 and 200, got '0'"),
    (["demo", "--minutes", "90"], "argument --minutes: expected a finite number between 1 and 60, got '90'"),
    (["demo", "--tap-sample", "2"], "argument --tap-sample: expected a finite number between 0 and 1, got '2'"),
    (["demo", "--speed", "nan"], "argument --speed: expected a finite number between 0.5 and 200, got 'nan'"),
    (["web", "--db", "/nonexistent/demo.sqlite"], "no store at /nonexistent/demo.sqlite"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys) -> None:
    assert main(["--config", "/dev/null", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_evening_plan_follows_the_profile() -> None:
    flow = load_flows()["hotline"]
    zone = ZoneInfo("Asia/Shanghai")
    now = dt.datetime(2026, 10, 1, 21, 0, tzinfo=zone).timestamp()  # National Day: a holiday in the flow
    start = evening_start(flow, "Asia/Shanghai", now)
    local = dt.datetime.fromtimestamp(start, zone)
    assert (local.hour, local.minute) == (19, 0) and local.date() == dt.date(2026, 9, 30)
    ev = plan_evening(60, 1, start)
    assert len(ev.arrivals) == 60 and ev.arrivals == sorted(ev.arrivals)
    assert 0 <= ev.arrivals[0] and ev.arrivals[-1] < 3600
    assert ev.agents == 5 and 1300 < ev.profile_calls < 1450 and ev.profile_agents == 96
    assert plan_evening(60, 1, start).arrivals == ev.arrivals  # seeded
    short = plan_evening(16, 7, start, minutes=20)
    assert short.arrivals[-1] < 20 * 60 and short.agents == 4  # 48 calls an hour's load


def test_audio_is_padded_to_whole_frames() -> None:
    assert _frames(np.ones(161, np.int16)).size == 320
    assert _frames(np.ones(160, np.int16)).size == 160


def test_report_shows_the_evening_in_the_site_zone() -> None:
    flow = load_flows()["hotline"]
    zone = ZoneInfo("Europe/Berlin")
    now = dt.datetime(2026, 11, 27, 23, 0, tzinfo=zone).timestamp()
    start = evening_start(flow, "Europe/Berlin", now)
    assert dt.datetime.fromtimestamp(start, zone).hour == 19
    ev = plan_evening(10, 1, start, tz="Europe/Berlin")
    head = render_report(collections.defaultdict(int), ev, "", False, "x.sqlite").splitlines()[1]
    assert "evening peak 2026-11-" in head and "19:00-20:00 (Europe/Berlin)" in head
