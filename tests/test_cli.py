"""The console script's own behaviour (not a subcommand's)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ivr_flows.loader import DEFAULT_FLOWS_DIR

# a subcommand that prints more than a pipe holds, run through the real entry point
_BIG_OUTPUT = (
    "import engine.cli as cli\n"
    "def main(argv=None):\n"
    "    for _ in range(20000):\n"
    "        print('x' * 80)\n"
    "    return 0\n"
    "cli.main = main\n"
    "cli.entry()\n"
)


def test_reader_closing_the_pipe_gives_no_traceback():
    """``hotline calls | head -c 1``: the reader leaves early; no BrokenPipeError traceback."""
    cmd = f"'{sys.executable}' -c \"$SCRIPT\" | head -c 1"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60,
                          env={"SCRIPT": _BIG_OUTPUT, "PATH": "/usr/bin:/bin"})
    assert proc.stdout == "x"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


# -- --version and the global options after the subcommand -----------------------------------


def test_version_flag(capsys):
    from engine import __version__
    from engine.cli import main

    assert main(["--version"]) == 0 and capsys.readouterr().out == f"hotline {__version__}\n"
    assert main(["version"]) == 0 and capsys.readouterr().out == f"hotline {__version__}\n"


def _flow_file(tmp_path: Path, name: str) -> Path:
    shipped = DEFAULT_FLOWS_DIR / "hotline.yaml"
    file = tmp_path / f"{name}.yaml"
    file.write_text(shipped.read_text(encoding="utf-8").replace("flow: hotline", f"flow: {name}", 1), encoding="utf-8")
    return file


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_is_read_before_or_after_the_subcommand(tmp_path: Path, capsys, where: str):
    from engine.cli import main

    config = tmp_path / "site.toml"
    config.write_text(f'[flows]\npaths = ["{_flow_file(tmp_path, "from_config")}"]\n', encoding="utf-8")
    argv = ["--config", str(config), "flow", "validate"] if where == "before" else \
        ["flow", "validate", "--config", str(config)]
    assert main(argv) == 0
    assert "ok: from_config " in capsys.readouterr().out
    # a config file that is not there is named, whichever side it is on
    argv = ["serve", "--config", str(tmp_path / "missing.toml")] if where == "after" else \
        ["--config", str(tmp_path / "missing.toml"), "serve"]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"hotline serve: {tmp_path / 'missing.toml'}: config file not found\n"


def test_options_after_the_subcommand_win_or_add_up(tmp_path: Path, capsys):
    from engine.cli import _merge, build_parser, log_level, main

    first, second = (tmp_path / "first.toml"), (tmp_path / "second.toml")
    first.write_text(f'[flows]\npaths = ["{_flow_file(tmp_path, "first")}"]\n', encoding="utf-8")
    second.write_text(f'[flows]\npaths = ["{_flow_file(tmp_path, "second")}"]\n', encoding="utf-8")
    assert main(["--config", str(first), "flow", "validate", "--config", str(second)]) == 0
    assert "ok: second " in capsys.readouterr().out  # the one after the subcommand wins
    # --set after the subcommand overrides one before it (pairs are applied in order)
    assert main(["--set", f"flows.paths={_flow_file(tmp_path, 'one')}", "flow", "validate",
                 "--set", f"flows.paths={_flow_file(tmp_path, 'two')}"]) == 0
    assert "ok: two " in capsys.readouterr().out

    args = _merge(build_parser().parse_args(["-v", "--set", "a.b=1", "serve", "-v", "--set", "c.d=2"]))
    assert args.verbose == 2 and args.set == ["a.b=1", "c.d=2"] and args.config is None
    assert log_level(args) == logging.DEBUG
    args = _merge(build_parser().parse_args(["--log-level", "info", "serve", "--log-level", "error", "-vv"]))
    assert args.log_level == "error" and log_level(args) == logging.ERROR  # --log-level beats -v
    assert not any(k.startswith("_sub_") for k in vars(args))
    assert log_level(_merge(build_parser().parse_args(["calls"]))) == logging.WARNING


def test_a_bad_log_level_is_a_usage_error(capsys):
    from engine.cli import main

    assert main(["calls", "--log-level", "loud"]) == 2 and "invalid choice: 'loud'" in capsys.readouterr().err
