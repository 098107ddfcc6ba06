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
