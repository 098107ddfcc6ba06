"""``hotline simulate``: stationary and profile runs, JSON keys, plot, profile files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main

ERLANG_KEYS = ("p_wait", "p_abandon", "mean_wait", "asa", "service_level", "occupancy")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stationary_json_has_erlang_keys_and_counts(capsys) -> None:
    code, out, _ = run(capsys, "simulate", "--rate", "0.5", "--aht", "180", "--agents", "95", "--patience", "300",
                       "--hours", "100", "--seed", "1", "--json")
    assert code == 0
    data = json.loads(out)
    for key in (*ERLANG_KEYS, "calls", "answered", "abandoned"):
        assert key in data and data[key] is not None
    assert data["calls"] == data["answered"] + data["abandoned"]
    assert data["ci_method"] == "batch means" and data["erlang"]["model"] == "erlang_a"
    assert abs(data["service_level"] - data["erlang"]["service_level"]) < 4 * data["service_level_ci95"]
    assert "offered" in data["service_level_definitions"]["service_level"]
    code2, out2, _ = run(capsys, "simulate", "--rate", "0.5", "--aht", "180", "--agents", "95", "--patience", "300",
                         "--hours", "100", "--seed", "1", "--json")
    assert json.loads(out2)["service_level"] == data["service_level"]  # same seed, same result


def test_profile_run_with_plot(capsys, tmp_path: Path) -> None:
    png = tmp_path / "day.png"
    code, out, _ = run(capsys, "simulate", "--profile", "weekday", "--replications", "3", "--plot", str(png))
    assert code == 0
    assert "19:30" in out and "answered within 20 s / offered" in out and "Whole day" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    code, out, _ = run(capsys, "simulate", "--profile", "weekday", "--replications", "2", "--json")
    data = json.loads(out)
    assert len(data["intervals"]) == 48 and data["intervals"][39]["time"] == "19:30"
    for key in (*ERLANG_KEYS, "calls", "answered", "abandoned"):
        assert key in data


def test_csv_profile_and_flag_overrides(capsys, tmp_path: Path) -> None:
    csv = tmp_path / "evening.csv"
    csv.write_text("# evening only\nstart,calls_per_hour,agents\n18:00,600,50\n18:30,700,55\n19:00,500,45\n")
    code, out, _ = run(capsys, "simulate", "--profile", str(csv), "--aht", "240", "--patience", "200",
                       "--replications", "4", "--json")
    assert code == 0
    data = json.loads(out)
    assert [r["time"] for r in data["intervals"]] == ["18:00", "18:30", "19:00"]
    assert data["service"].startswith("exponential(mean 240")


def test_errors_exit_2_with_one_line(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "simulate", "--rate", "1", "--aht", "100", "--agents", "50")
    assert code == 2 and "grows without bound" in err
    code, _, err = run(capsys, "simulate", "--profile", str(tmp_path / "nope.toml"))
    assert code == 2 and "not found" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("start,calls_per_hour,agents\n18:00,600,50\n18:45,700,55\n19:00,500,45\n")
    code, _, err = run(capsys, "simulate", "--profile", str(bad))
    assert code == 2 and "equally spaced" in err
    code, _, err = run(capsys, "simulate", "--rate", "0.1")
    assert code == 2 and "--agents" in err
    code, _, err = run(capsys, "simulate", "--profile", "weekday", "--hours", "5")
    assert code == 2 and "stationary" in err


ONE_ROW = 'intervals = [["00:00", 100, 10]]\n'


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("minutes0.toml", "interval_minutes = 0\n" + ONE_ROW, "interval_minutes: expected a finite number between 1 and 1440, got 0"),
    ("minutesneg.toml", "interval_minutes = -30\n" + ONE_ROW, "interval_minutes: expected a finite number between 1 and 1440"),
    ("minutestext.toml", 'interval_minutes = "abc"\n' + ONE_ROW, "interval_minutes: expected a finite number between 1 and 1440, got 'abc'"),
    ("sl.toml", 'sl_seconds = "x"\n' + ONE_ROW, "sl_seconds: expected a finite number >= 0, got 'x'"),
    ("cap.toml", "queue_capacity = 1e400\n" + ONE_ROW, "queue_capacity: expected a whole number >= 0, got inf"),
    ("threshold.toml", "callback_threshold = [1]\n" + ONE_ROW, "callback_threshold: expected a finite number >= 0, got [1]"),
    ("agents.toml", 'intervals = [["00:00", 100, 1e400]]\n', "interval 1: agents: expected a whole number >= 0, got inf"),
    ("agentsnan.toml", 'intervals = [["00:00", 100, nan]]\n', "interval 1: agents: expected a whole number >= 0, got nan"),
    ("agents.csv", "start,calls_per_hour,agents\n00:00,100,1e400\n", "interval 1: agents: expected a whole number >= 0, got '1e400'"),
])
def test_bad_profile_values_are_one_line_errors(capsys, tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    for command in ("simulate", "staff"):
        code, _, err = run(capsys, command, "--profile", str(path))
        assert code == 2 and err.startswith(f"hotline {command}: {path}") and expected in err, err
        assert err.count("\n") == 1, err


def test_profile_that_is_no_utf8_file_is_a_one_line_error(capsys, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(('name = "Zürich"\n' + ONE_ROW).encode("latin-1"))
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    for path, expected in ((latin, "profile is not UTF-8 text"), (folder, "profile is a folder")):
        code, _, err = run(capsys, "simulate", "--profile", str(path))
        assert code == 2 and err.startswith(f"hotline simulate: {path}: {expected}") and err.count("\n") == 1, err


@pytest.mark.parametrize(("argv", "what"), [
    (["--rate", "0.001", "--aht", "100", "--agents", "3000000", "--hours", "1"], "3,000,000 agents x 21 intervals"),
    (["--rate", "1000", "--aht", "0.5", "--agents", "400", "--patience", "30", "--hours", "10"],
     "the waits of up to 3,428,571 calls"),
    (["--rate", "0.001", "--aht", "100", "--agents", "2", "--hours", "0.1", "--replications", "10000"],
     "10,000 replications x 21 intervals of results"),
])
def test_simulate_beyond_the_machine_is_refused_naming_what_makes_it_big(capsys, monkeypatch, argv, what) -> None:
    """``--agents 100000000`` grew to 19.6 GB; sizes beyond the available memory are a usage error."""
    import queueing.sim.memory

    monkeypatch.setattr(queueing.sim.memory, "available_memory", lambda: 50_000_000)
    code, out, err = run(capsys, "simulate", "--no-progress", *argv)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("hotline simulate: this simulation would need about ") and "more than the 50 MB available" in err
    assert f"(mostly for {what}): use fewer agents, calls (rate x hours), intervals or replications" in err


def test_simulate_of_absurd_sizes_is_refused_on_any_machine(capsys) -> None:
    code, _, err = run(capsys, "simulate", "--rate", "1", "--aht", "300", "--agents", "1" + "0" * 30)
    assert code == 2 and "TB of memory" in err and f"{10**30:,} agents x 21 intervals" in err
    code, _, err = run(capsys, "simulate", "--profile", "weekday", "--replications", "10000000000")
    assert code == 2 and "10,000,000,000 replications x 48 intervals of results" in err
