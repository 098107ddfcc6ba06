"""``hotline flow validate|graph|run``."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from ivr_flows.checksums import with_mod11

BROKEN = Path(__file__).parent / "data" / "flows_broken"
DEFAULT = Path(__file__).resolve().parents[1] / "ivr_flows" / "flows" / "hotline.yaml"


def test_validate_defaults_ok(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                              tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no hotline.toml around
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    assert main(["flow", "validate"]) == 0
    assert "ok: hotline (17 nodes, languages zh, en)" in capsys.readouterr().out


def test_validate_broken_one_message_per_flow(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(BROKEN.glob("*.yaml"))
    assert main(["flow", "validate", *map(str, files), str(DEFAULT)]) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[-1] == f"{len(files)} of {len(files) + 1} flow file(s) have errors"
    assert len(lines) == len(files) + 1  # one message per broken file
    for file, line in zip(files, lines, strict=False):
        assert line.startswith(f"{file}:")
    assert "ok: hotline" in out


def test_graph_mermaid_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flow", "graph", str(DEFAULT)]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart TD") and 'n_main_menu -- "3 / 查询工单" --> n_followup' in mermaid
    assert main(["flow", "graph", str(DEFAULT), "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "hotline" {') and '"check_hours" -> "after_hours"' not in dot
    assert '"check_hours" -> "closed_language" [label="closed"];' in dot


def test_graph_of_broken_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flow", "graph", str(BROKEN / "unknown_verb.yaml")]) == 2
    assert "unknown verb 'plya'" in capsys.readouterr().err


def test_run_prints_prompts_inputs_and_decisions(capsys: pytest.CaptureFixture[str]) -> None:
    order = with_mod11("202611280")
    assert main(["flow", "run", str(DEFAULT), "--digits", f"2,3,{order}#", "--now", "2026-11-30T19:30",
                 "--wait", "60", "--json"]) == 0
    out = capsys.readouterr().out
    assert "[choose_language] language: en" in out
    assert f"caller presses {order}#" in out and "[followup] collect: valid" in out
    assert "outcome: queued at 'queue_followup'" in out
    assert '"outcome": "queued"' in out and '"caller": "138****0001"' in out


def test_run_after_hours_and_hangup(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flow", "run", str(DEFAULT), "--digits", "1", "--now", "2026-10-01T10:00"]) == 0
    assert "outcome: message_left" in capsys.readouterr().out
    assert main(["flow", "run", str(DEFAULT), "--digits", "1", "--hangup-at", "main_menu",
                 "--now", "2026-11-30T10:00"]) == 0
    assert "outcome: abandoned_in_ivr at 'main_menu'" in capsys.readouterr().out
    assert main(["flow", "run", str(DEFAULT), "--hangup-at", "nowhere"]) == 2
    assert main(["flow", "run", str(DEFAULT), "--now", "yesterday"]) == 2


def test_run_masks_numbers_the_caller_says_or_gives_for_a_callback(capsys: pytest.CaptureFixture[str]) -> None:
    said = "我的电话是13800138000，身份证11010119900307001X"
    assert main(["flow", "run", str(DEFAULT), "--digits", "1,2,1,2,02587654321#,1", "--say", said,
                 "--caller", "13912345678", "--wait", "900", "--now", "2026-11-30T10:00", "--json"]) == 0
    out = capsys.readouterr().out
    for number in ("13800138000", "11010119900307001", "13912345678", "02587654321"):
        assert number not in out, number
    assert "caller says '我的电话是138****8000，身份证110***********001X'" in out
    assert "<digits 139****5678>" in out and "caller presses 025****4321#" in out
    assert "outcome: callback_booked" in out


@pytest.mark.parametrize(("old", "new", "line", "field", "reason"), [
    ("holidays: [2026-01-01,", "holidays: [2026-02-30,", 14, "holidays", "day is out of range for month"),
    ("holidays: [2026-01-01,", "holidays: [2026-13-01,", 14, "holidays", "month must be in 1..12"),
    ('2026-02-16: "08:00-12:00"', '2026-02-31: "08:00-12:00"', 16, "special", "day is out of range for month"),
])
def test_impossible_dates_are_flow_errors_naming_file_line_and_date(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, old: str, new: str, line: int, field: str,
        reason: str) -> None:
    """``2026-02-30`` looks like a date to YAML but is none: an error at its line, no traceback."""
    text = DEFAULT.read_text(encoding="utf-8")
    assert old in text
    flow = tmp_path / "hours.yaml"
    flow.write_text(text.replace(old, new), encoding="utf-8")
    bad_date = new.split("[")[-1].split(":")[0].rstrip(",")
    expected = f"{flow}:{line}: node 'check_hours': {field}: '{bad_date}' is not a calendar date ({reason})"
    assert main(["flow", "validate", "--no-prompts", str(flow)]) == 1
    assert capsys.readouterr().err.splitlines()[0] == expected
    assert main(["flow", "run", str(flow)]) == 2
    assert capsys.readouterr().err.splitlines() == [expected, f"hotline flow: {flow}: fix the errors above first"]
