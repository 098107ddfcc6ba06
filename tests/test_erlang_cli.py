"""``hotline erlang``: JSON keys, the three named service levels, error exit codes."""

from __future__ import annotations

import json

from engine.cli import main
from queueing.erlang import queue_metrics


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_erlang_keys_and_matches_the_library(capsys) -> None:
    code, out, _ = run(capsys, "erlang", "--rate", "0.5", "--aht", "180", "--agents", "95", "--patience", "120",
                       "--sl-seconds", "15", "--json")
    assert code == 0
    data = json.loads(out)
    for key in ("p_wait", "p_abandon", "mean_wait", "asa", "service_level", "occupancy",
                "service_level_answered", "p_wait_le_t"):
        assert isinstance(data[key], float)
    m = queue_metrics(0.5, 180.0, 95, 120.0, 15.0)
    assert data["service_level"] == m.service_level and data["model"] == "erlang_a"
    assert data["service_level_definitions"]["service_level"] == "answered within 15 s / offered"


def test_text_names_each_service_level_definition(capsys) -> None:
    code, out, _ = run(capsys, "erlang", "--rate", "0.1", "--aht", "200", "--agents", "25")
    assert code == 0
    assert "Erlang C" in out
    assert "answered within 20 s / offered" in out and "answered within 20 s / answered" in out
    assert "abandoners counted" in out


def test_unstable_erlang_c_is_an_error_with_exit_code_1(capsys) -> None:
    code, out, err = run(capsys, "erlang", "--rate", "1", "--aht", "100", "--agents", "100", "--json")
    assert code == 1 and out == ""
    assert "100 erlangs >= 100 agents" in err and "\n" == err[-1] and err.count("\n") == 1


def test_bad_numbers_exit_2(capsys) -> None:
    code, _, err = run(capsys, "erlang", "--rate", "-1", "--aht", "100", "--agents", "10")
    assert code == 2 and "argument --rate: expected a finite number >= 0, got '-1'" in err
    code, _, err = run(capsys, "erlang", "--rate", "1")  # argparse: missing required flags
    assert code == 2 and "required: --aht, --agents" in err


def test_agents_beyond_the_cap_are_refused_at_once(capsys) -> None:
    """Erlang B takes one step per agent: 10**15 agents never returned; the cap is a usage error."""
    code, _, err = run(capsys, "erlang", "--rate", "1", "--aht", "300", "--agents", "1000001")
    assert (code, err) == (2, "hotline erlang: 1,000,001 agents is more than the 1,000,000 these formulas "
                              "are computed for\n")
    code, _, err = run(capsys, "erlang", "--rate", "1e12", "--aht", "300", "--agents", str(10**15))
    assert code == 2 and "1,000,000,000,000,000 agents is more than" in err
    assert run(capsys, "erlang", "--rate", "1", "--aht", "300", "--agents", "1000000")[0] == 0
