"""Config layering and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Config, load_config
from engine.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_example_file_loads_and_matches_defaults():
    cfg = load_config(ROOT / "hotline.toml.example")
    default = Config()
    assert cfg.ami == default.ami and cfg.asr == default.asr and cfg.web == default.web


def test_file_then_override(tmp_path):
    f = tmp_path / "h.toml"
    f.write_text('[ami]\nport = 6000\nhost = "pbx"\n')
    cfg = load_config(f, {"ami.port": "7000"})
    assert (cfg.ami.host, cfg.ami.port) == ("pbx", 7000)


def test_unknown_key_names_file_and_key(tmp_path):
    f = tmp_path / "h.toml"
    f.write_text("[ami]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"h.toml \[ami\]: unknown key 'prot'"):
        load_config(f)


def test_bad_type(tmp_path):
    f = tmp_path / "h.toml"
    f.write_text('[ami]\nport = "x"\n')
    with pytest.raises(ConfigError, match="ami.*port.*expected int"):
        load_config(f)


def test_secret_from_env_and_never_in_repr(monkeypatch):
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s3cret-value")
    cfg = load_config(None, {"ami.port": 1})
    assert cfg.ami_secret() == "s3cret-value"
    cfg.ami.secret = "inline-secret"
    assert "inline-secret" not in repr(cfg) and "s3cret-value" not in repr(cfg)


def _erlang(capsys, *before: str) -> tuple[int, str]:
    """A command that loads the config and does little else."""
    from engine.cli import main

    code = main([*before, "erlang", "--rate", "0.1", "--aht", "60", "--agents", "10"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("text", "expected"), [
    ("[ami]\nport = 1e400\n", "[ami].port: expected a finite number, got inf"),
    ("[ami]\nport = 70000\n", "[ami].port: expected a whole number between 1 and 65535, got 70000"),
    ("[ami]\nconnect_timeout = nan\n", "[ami].connect_timeout: expected a finite number, got nan"),
    ("[ami]\nreconnect_min = -1.0\n", "[ami].reconnect_min: expected a finite number > 0, got -1.0"),
    ("[agi]\nport = -1\n", "[agi].port: expected a whole number between 0 and 65535, got -1"),
    ("[web]\nport = 65536\n", "[web].port: expected a whole number between 0 and 65535, got 65536"),
    ("[mqtt]\nbuffer_limit = 0\n", "[mqtt].buffer_limit: expected a whole number >= 1, got 0"),
    ("[asr]\nvad_mode = 4\n", "[asr].vad_mode: expected a whole number between 0 and 3, got 4"),
    ("[queueing]\nsl_seconds = inf\n", "[queueing].sl_seconds: expected a finite number, got inf"),
    ("[queueing]\ninterval_minutes = 0\n", "[queueing].interval_minutes: expected one of 15, 30, 60, got 0"),
    ("[queueing]\ninterval_minutes = -30\n", "[queueing].interval_minutes: expected one of 15, 30, 60, got -30"),
    ("[queueing]\ninterval_minutes = 7\n", "[queueing].interval_minutes: expected one of 15, 30, 60, got 7"),
    ('[site]\ntimezone = "Mars/Olympus"\n',
     "[site].timezone: expected a time zone name such as Asia/Shanghai, got 'Mars/Olympus'"),
    ('[site]\ntimezone = "../../etc/passwd"\n', "[site].timezone: expected a time zone name"),
])
def test_bad_values_are_one_line_errors_naming_file_key_and_value(capsys, tmp_path, text, expected):
    f = tmp_path / "h.toml"
    f.write_text(text)
    code, err = _erlang(capsys, "--config", str(f))
    assert code == 2
    assert err.startswith(f"hotline erlang: {f} ") and expected in err and err.count("\n") == 1, err


@pytest.mark.parametrize(("override", "expected"), [
    ("ami.port=1e400", "override ami.port: expected int, got '1e400'"),
    ("queueing.sl_seconds=nan", "override queueing.sl_seconds: expected a finite number, got 'nan'"),
    ("site.timezone=Mars/Olympus", "override site.timezone: expected a time zone name"),
    ("queueing.interval_minutes=0", "override queueing.interval_minutes: expected one of 15, 30, 60, got '0'"),
])
def test_bad_set_values_are_one_line_errors(capsys, override, expected):
    code, err = _erlang(capsys, "--set", override)
    assert code == 2 and expected in err and err.count("\n") == 1, err


def test_config_file_that_is_no_utf8_file_is_a_one_line_error(capsys, tmp_path):
    latin = tmp_path / "latin1.toml"
    latin.write_bytes('[site]\nname = "Zürich"\n'.encode("latin-1"))
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    for path, expected in ((latin, "config file is not UTF-8 text"), (folder, "config file is a folder"),
                           (tmp_path / "missing.toml", "config file not found")):
        code, err = _erlang(capsys, "--config", str(path))
        assert code == 2 and err.startswith(f"hotline erlang: {path}: {expected}") and err.count("\n") == 1, err


def test_limits_accept_the_documented_special_values(tmp_path):
    f = tmp_path / "h.toml"
    f.write_text('[agi]\nport = 0\n[audiosocket]\nport = 0\n[web]\nport = 0\n[queueing]\ninterval_minutes = 15\n'
                 '[site]\ntimezone = "Europe/Paris"\n[asr]\nworkers = 0\nbeam = 0.0\n')
    cfg = load_config(f)
    assert (cfg.agi.port, cfg.audiosocket.port, cfg.web.port, cfg.queueing.interval_minutes) == (0, 0, 0, 15)
