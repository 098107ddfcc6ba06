"""Shared CLI helpers: the AMI connection options of ``hotline monitor`` and ``hotline agents``, and the
number options of every command."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands._common import add_ami_options, ami_target, number
from engine.config import LISTEN_PORT, Config
from engine.errors import UsageError
from tests.conftest import FIXTURES


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_ami_options(parser)
    return parser.parse_args(argv)


def test_flags_over_config_and_secret_from_the_environment(monkeypatch):
    cfg = Config()
    cfg.ami.secret = "from-config"
    assert ami_target(_args([]), cfg) == (cfg.ami.host, cfg.ami.port, cfg.ami.username, "from-config")
    monkeypatch.setenv("T_AMI_SECRET", "from-env")
    got = ami_target(_args(["--ami", "[::1]:5039", "--user", "u", "--secret-env", "T_AMI_SECRET"]), cfg)
    assert got == ("::1", 5039, "u", "from-env")


@pytest.mark.parametrize(("argv", "message"), [
    (["--ami", "host-without-port"], "expected HOST:PORT"),
    (["--ami", ":5038"], "expected HOST:PORT"),
    (["--secret-env", "T_AMI_SECRET_NOT_SET"], "not set"),
    (["--secret-env", "T_AMI_SECRET_EMPTY"], "is empty"),
    ([], r"no AMI secret: set \$HOTLINE_AMI_SECRET"),
])
def test_bad_options_are_usage_errors(argv, message, monkeypatch):
    monkeypatch.delenv("T_AMI_SECRET_NOT_SET", raising=False)
    monkeypatch.setenv("T_AMI_SECRET_EMPTY", "")
    monkeypatch.delenv("HOTLINE_AMI_SECRET", raising=False)
    with pytest.raises(UsageError, match=message):
        ami_target(_args(argv), Config())


@pytest.mark.parametrize(("rule", "text", "expected"), [
    ({"ge": 0}, "nan", "expected a finite number >= 0, got 'nan'"),
    ({"ge": 0}, "inf", "expected a finite number >= 0, got 'inf'"),
    ({"ge": 0}, "-1", "expected a finite number >= 0, got '-1'"),
    ({"ge": 0}, "fast", "expected a finite number >= 0, got 'fast'"),
    ({"gt": 0, "lt": 1}, "1", "expected a finite number > 0 and < 1, got '1'"),
    ({}, "-inf", "expected a finite number, got '-inf'"),
])
def test_number_refuses_nan_inf_and_values_out_of_range(rule, text, expected):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        number(float, **rule)(text)
    assert str(err.value) == expected


def test_number_keeps_whole_numbers_whole_and_takes_shared_rules():
    assert number(int, ge=1)("12") == 12 and number(LISTEN_PORT)("0") == 0 and number(float)("-2.5") == -2.5
    assert number(int, ge=0)("1" + "0" * 400) == 10**400  # no OverflowError on the way to the check
    for text in ("1e3", "2.5", "65536"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected a whole number"):
            number(LISTEN_PORT)(text)


FLOW = str(Path(__file__).resolve().parents[1] / "ivr_flows" / "flows" / "hotline.yaml")
DAY = str(FIXTURES / "ami_queue_day.txt")


@pytest.mark.parametrize(("argv", "option", "value", "expected"), [
    (["monitor", "--replay", DAY], "--sl", "nan", "expected a finite number >= 0"),
    (["monitor", "--replay", DAY], "--refresh", "0", "expected a finite number > 0"),
    (["monitor", "--replay", DAY], "--wrapup", "inf", "expected a finite number >= 0"),
    (["erlang", "--rate", "1", "--aht", "300", "--agents", "400"], "--sl-seconds", "nan",
     "expected a finite number >= 0"),
    (["erlang", "--rate", "1", "--aht", "300", "--agents", "400"], "--patience", "-inf",
     "expected a finite number >= 0"),
    (["simulate", "--rate", "1", "--aht", "300", "--agents", "400"], "--sl-seconds", "nan",
     "expected a finite number >= 0"),
    (["simulate", "--rate", "1", "--aht", "300", "--agents", "400"], "--seed", "-1", "expected a whole number >= 0"),
    (["simulate", "--rate", "1", "--aht", "300", "--agents", "400"], "--replications", "0",
     "expected a whole number >= 1"),
    (["simulate", "--rate", "1", "--aht", "300", "--agents", "400"], "--hours", "inf", "expected a finite number > 0"),
    (["simulate", "--rate", "1", "--aht", "300", "--agents", "400"], "--redial-prob", "1",
     "expected a finite number >= 0 and < 1"),
    (["staff", "--profile", "weekday"], "--sl-seconds", "nan", "expected a finite number >= 0"),
    (["staff", "--profile", "weekday"], "--max-abandon", "nan", "expected a finite number > 0 and < 1"),
    (["staff", "--profile", "weekday"], "--replications", "1", "expected a whole number >= 2"),
    (["flow", "run", FLOW], "--wait", "nan", "expected a finite number"),
    (["flow", "run", FLOW], "--wait", "inf", "expected a finite number"),
    (["flow", "run", FLOW], "--wait", "1e400", "expected a finite number"),
    (["flow", "run", FLOW], "--position", "-1", "expected a whole number >= 0"),
    (["serve"], "--agi-port", "70000", "expected a whole number between 0 and 65535"),
    (["pbxsim", "--duration", "0.1"], "--speed", "nan", "expected a finite number > 0"),
])
def test_number_options_of_every_command_refuse_bad_values_before_running(capsys, argv, option, value, expected):
    """``--sl nan`` and the like: argparse's usage error naming the option, rule and value; exit 2."""
    assert main(["--config", "/dev/null", *argv, f"{option}={value}"]) == 2
    captured = capsys.readouterr()
    command = " ".join(argv[:2]) if argv[0] == "flow" else argv[0]
    assert captured.err.splitlines()[-1] == f"hotline {command}: error: argument {option}: {expected}, got {value!r}"
    assert captured.out == "" and "Traceback" not in captured.err
