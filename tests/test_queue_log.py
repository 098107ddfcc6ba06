"""Asterisk queue_log: field layout per event, visits, and the profile a synthetic log implies
(arrivals, AHT, patience with censoring), through the library and ``hotline profile``."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from queueing.history import History, QueueVisit, patience_of
from queueing.intervals import IntervalClock
from queueing.patience import exponential_patience, kaplan_meier, survival_at
from queueing.profiles import load_profile
from queueing.queue_log import QueueLogError, parse_line, read_queue_log
from tests.queue_log_fixture import ZONE, day_start, queue_log_lines

# the layout apps/app_queue.c writes (see queueing/queue_log.py)
LINES = [
    "1764300000|1764300000.10|citizen|NONE|ENTERQUEUE||13912345678|1",
    "1764300030|1764300000.10|citizen|Agent/1001|RINGNOANSWER|15000",
    "1764300045|1764300000.10|citizen|Agent/1002|CONNECT|45|1764300044.11|3",
    "1764300345|1764300000.10|citizen|Agent/1002|COMPLETECALLER|45|300|1",
    "1764300100|1764300100.12|citizen|NONE|ENTERQUEUE||13800000000|2|张三",
    "1764300172|1764300100.12|citizen|NONE|ABANDON|2|2|72",
    "1764300200|1764300200.13|citizen|NONE|ENTERQUEUE||13800000001|1",
    "1764300500|1764300200.13|citizen|NONE|EXITWITHTIMEOUT|1|1|300",
    "1764300600|1764300600.14|citizen|NONE|ENTERQUEUE||13800000002|1",
    "1764300610|1764300600.14|citizen|NONE|EXITWITHKEY|5|1|1|10",
    "1764300700|1764300700.15|citizen|NONE|ENTERQUEUE||13800000003|1",
    "1764300703|1764300700.15|citizen|NONE|EXITEMPTY|1|1|3",
    "1764300800|1764300800.16|citizen|NONE|ENTERQUEUE||13800000004|1",
    "1764300805|1764300800.16|citizen|Agent/1001|CONNECT|5|1764300804.17|2",
    "1764300925|1764300800.16|citizen|Agent/1001|BLINDTRANSFER|2000|default|5|120|1",
    "1764301000|1764301000.18|citizen|NONE|ENTERQUEUE||13800000005|1",
    "1764301008|1764301000.18|citizen|Agent/1003|CONNECT|8|1764301007.19|1",
    "1764301100|1764301000.18|citizen|Agent/1003|ATTENDEDTRANSFER|BRIDGE|1764301090.20|8|92|1",
    "1764301200|NONE|citizen|Agent/1003|PAUSE|lunch",
    "1764301201|MANAGER|citizen|Agent/1004|ADDMEMBER|",
]


def test_each_event_becomes_the_visit_its_fields_say() -> None:
    reader = read_queue_log(LINES)
    assert reader.bad_lines == []
    by_join = {int(v.joined): v for v in reader.visits}
    assert by_join[1764300000] == QueueVisit("citizen", 1764300000, "answered", 45.0, 300.0)
    assert by_join[1764300100] == QueueVisit("citizen", 1764300100, "abandoned", 72.0)
    assert by_join[1764300200] == QueueVisit("citizen", 1764300200, "timeout", 300.0)
    assert by_join[1764300600] == QueueVisit("citizen", 1764300600, "left", 10.0)  # EXITWITHKEY: key first
    assert by_join[1764300700] == QueueVisit("citizen", 1764300700, "left", 3.0)
    assert by_join[1764300800] == QueueVisit("citizen", 1764300800, "answered", 5.0, 120.0)  # blind transfer
    assert by_join[1764301000] == QueueVisit("citizen", 1764301000, "answered", 8.0, 92.0)  # attended: variable fields
    assert len(reader.visits) == 7
    assert reader.events["PAUSE"] == 1 and reader.events["ENTERQUEUE"] == 7


def test_rotated_and_old_format_lines_still_make_visits() -> None:
    reader = read_queue_log([
        # ENTERQUEUE and CONNECT were in the previous file: joined = end - calltime - holdtime
        "1764300345|1764300000.10|citizen|Agent/1002|COMPLETEAGENT|45|300|1",
        # Asterisk 1.4 EXITWITHTIMEOUT: position only; the wait comes from ENTERQUEUE
        "1764300400|1764300400.11|citizen|NONE|ENTERQUEUE||13800000000",
        "1764300700|1764300400.11|citizen|NONE|EXITWITHTIMEOUT|1",
        # answered, the file ends before the COMPLETE line: kept with an unknown talk time
        "1764300800|1764300800.12|citizen|NONE|ENTERQUEUE||13800000000|1",
        "1764300812|1764300800.12|citizen|Agent/1|CONNECT|12|x|1",
        # still waiting when the file ends: not a whole visit yet
        "1764300900|1764300900.13|citizen|NONE|ENTERQUEUE||13800000000|1",
    ])
    assert sorted(reader.visits, key=lambda v: v.joined) == [
        QueueVisit("citizen", 1764300000, "answered", 45.0, 300.0),
        QueueVisit("citizen", 1764300400, "timeout", 300.0),
        QueueVisit("citizen", 1764300800, "answered", 12.0, None),
    ]


@pytest.mark.parametrize("line,why", [
    ("1764300000|x|q|NONE", "4 fields"),
    ("yesterday|x|q|NONE|ENTERQUEUE|", "not an epoch time"),
    ("1764300000|x|q|NONE||", "no event name"),
])
def test_bad_lines_raise_with_what_is_wrong(line: str, why: str) -> None:
    with pytest.raises(QueueLogError, match=why):
        parse_line(line)


def test_bad_numbers_skip_the_line_and_are_counted_by_line_number() -> None:
    reader = read_queue_log(["1|a|q|NONE|ENTERQUEUE||139|1", "5|a|q|Agent/1|CONNECT|soon|b|1", "garbage"])
    assert [n for n, _ in reader.bad_lines] == [2, 3]
    assert "CONNECT: data field 1 is not a number" in reader.bad_lines[0][1]


def test_kaplan_meier_by_hand_and_the_exponential_mle() -> None:
    # waits 10 (abandoned), 20 (answered), 30 (abandoned), 30 (answered), 50 (abandoned)
    waits, ab = [10, 20, 30, 30, 50], [True, False, True, False, True]
    t, s = kaplan_meier(waits, ab)
    assert t.tolist() == [10, 30, 50]
    assert s.tolist() == pytest.approx([4 / 5, 4 / 5 * (1 - 1 / 3), 0.0])
    assert survival_at(t, s, 29.9) == pytest.approx(0.8) and survival_at(t, s, 5) == 1.0
    est = exponential_patience(waits, ab)
    assert est.mean == pytest.approx(140 / 3) and est.abandons == 3 and est.callers == 5
    assert math.isinf(exponential_patience([5, 6], [False, False]).mean)


RATES = [40.0] * 12 + [120.0, 200.0, 300.0, 360.0] + [400.0] * 16 + [300.0] * 8 + [160.0] * 4 + [80.0] * 4


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, object]:
    lines, truth = queue_log_lines(date(2026, 11, 2), 14, RATES, aht=240.0, patience=120.0, wait=40.0, seed=3)
    path = tmp_path_factory.mktemp("ql") / "queue_log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, truth


def test_the_profile_of_a_synthetic_log_recovers_rates_aht_and_patience(synthetic) -> None:
    path, truth = synthetic
    reader = read_queue_log(path.read_text().splitlines())
    assert len(reader.bad_lines) == 14  # one malformed line a day, reported, not fatal
    history = History(reader.visits, IntervalClock(30, ZONE))
    assert history.days == list(truth.days)
    profile, notes = history.profile(history.days, name="t", sl_seconds=20.0)
    days = len(truth.days)
    for i, r in enumerate(truth.rates_per_hour):
        sd = 2 * math.sqrt(r / 2 / days)  # calls/h from a mean of Poisson(r/2) counts over the days
        assert abs(profile.calls_per_hour[i] - r) < 4.5 * sd, (i, profile.calls_per_hour[i], r)
    answered = [v for v in reader.visits if v.outcome == "answered"]
    assert abs(profile.service.mean - truth.aht) < 4 * truth.aht / math.sqrt(len(answered))
    assert profile.service.cv == pytest.approx(1.0, abs=0.05)  # exponential talk times
    busy = [i for i, r in enumerate(truth.rates_per_hour) if r >= 300]
    for i in busy:  # enough calls there for an AHT of their own
        assert abs(profile.aht()[i] - truth.aht) < 4.5 * truth.aht / math.sqrt(truth.rates_per_hour[i] / 2 * days * 0.6)
    est = patience_of(reader.visits)
    assert abs(est.mean - truth.patience) < 4 * est.std_error
    assert abs(profile.patience.mean - truth.patience) < 4 * est.std_error
    # the naive mean of abandoners' waits is min(V, P) given P < V: Exp with mean 1/(1/40 + 1/120) = 30 s
    naive = np.mean([v.wait for v in reader.visits if v.outcome == "abandoned"])
    assert naive == pytest.approx(30.0, rel=0.05) and naive < 0.3 * truth.patience
    assert any("exponential MLE" in n for n in notes)


def test_hotline_profile_writes_a_profile_that_staff_and_simulate_read(synthetic, capsys, tmp_path: Path) -> None:
    path, truth = synthetic
    toml, csv = tmp_path / "p.toml", tmp_path / "p.csv"
    code = main(["profile", "--queue-log", str(path), "--weekday", "mon,tue,wed,thu,fri", "--out", str(toml)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1391234" not in out + err  # caller numbers from ENTERQUEUE never shown
    assert "14 of" in out and "lines skipped (first: line" in out  # the malformed line, by number
    assert "Kaplan-Meier" in out and "profile written to" in out
    p = load_profile(toml)
    assert len(p.calls_per_hour) == 48 and p.aht_by_interval is not None and p.patience_by_interval is not None
    assert p.service.kind == "lognormal" and p.patience.kind == "exponential"
    assert main(["profile", "--queue-log", str(path), "--out", str(csv), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["patience"]["method"].startswith("exponential MLE") and len(data["days"]) == 14
    c = load_profile(csv)
    assert c.calls_per_hour == pytest.approx(tuple(r["calls_per_hour"] for r in data["intervals"]), rel=1e-5)
    assert c.aht() == pytest.approx(tuple(r["aht"] for r in data["intervals"]), rel=1e-5)
    # simulate needs a roster for a profile from history; staff does not
    assert main(["simulate", "--profile", str(csv), "--replications", "2"]) == 2
    assert "no agents on duty in any interval" in capsys.readouterr().err
    roster = tmp_path / "roster.csv"
    roster.write_text("start,agents\n00:00,6\n06:00,30\n20:00,12\n")
    assert main(["simulate", "--profile", str(csv), "--roster", str(roster), "--replications", "2", "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert [r["agents"] for r in sim["intervals"]][::12] == [6, 30, 30, 30]
    assert main(["staff", "--profile", str(toml), "--no-correct", "--replications", "2", "--json"]) == 0
    staffed = json.loads(capsys.readouterr().out)
    assert staffed["intervals"][20]["aht"] == pytest.approx(p.aht()[20])


def test_profile_errors_are_one_line(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert main(["profile", "--queue-log", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "queue_log not found" in err
    junk = tmp_path / "junk"
    junk.write_text("hello\nworld\n")
    assert main(["profile", "--queue-log", str(junk)]) == 2
    assert "not a queue_log" in capsys.readouterr().err
    ok = tmp_path / "ql"
    ok.write_text("\n".join(LINES) + "\n")
    assert main(["profile", "--queue-log", str(ok), "--queue", "other"]) == 2
    assert "no queue calls in queue 'other'" in capsys.readouterr().err
    assert main(["profile", "--queue-log", str(ok), "--since", "2026-02-30"]) == 2
    assert "--since '2026-02-30': expected a date YYYY-MM-DD" in capsys.readouterr().err


def test_day_start_is_local_midnight() -> None:
    assert IntervalClock(30, ZONE).slot(day_start(date(2026, 11, 2))) == 0
