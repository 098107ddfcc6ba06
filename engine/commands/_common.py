"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse

from engine.config import Config, load_config, parse_set_options


def config_from_args(args: argparse.Namespace, **overrides: object) -> Config:
    """Config file (``--config``) < ``--set`` pairs < explicit flags given as ``overrides``."""
    merged: dict[str, object] = dict(parse_set_options(getattr(args, "set", None)))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return load_config(getattr(args, "config", None), merged)
