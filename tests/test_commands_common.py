"""Shared CLI helpers: the AMI connection options of ``hotline monitor`` and ``hotline agents``."""

from __future__ import annotations

import argparse

import pytest

from engine.commands._common import add_ami_options, ami_target
from engine.config import Config
from engine.errors import UsageError


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
