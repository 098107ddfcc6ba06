"""Helpers shared by subcommands."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.config import Config, Number, load_config, parse_set_options
from engine.errors import UsageError


def number(rule: Number | type = float, **bounds: float) -> Callable[[str], Any]:
    """An argparse ``type=`` for a number option: ``number(float, gt=0)``, ``number(int, ge=1)``
    or a shared rule (``number(LISTEN_PORT)``). Every command uses it, so ``nan``, ``inf`` and
    values out of range are refused the same way before anything runs, with the rule
    (``argument --sl: expected a finite number >= 0, got 'nan'``, exit 2)."""
    checked = rule if isinstance(rule, Number) else Number(rule, **bounds)

    def parse(text: str) -> Any:
        try:
            value = checked.kind(text)
        except ValueError:
            value = None
        problem = checked.problem(float("nan") if value is None else value)
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, got {text!r}")
        return value

    return parse


def config_from_args(args: argparse.Namespace, **overrides: object) -> Config:
    """Config file (``--config``) < ``--set`` pairs < explicit flags given as ``overrides``."""
    merged: dict[str, object] = dict(parse_set_options(getattr(args, "set", None)))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return load_config(getattr(args, "config", None), merged)


def add_ami_options(target: Any, *, ami_into: Any = None) -> None:
    """``--ami HOST:PORT``, ``--user`` and ``--secret-env VAR`` on ``target`` (a parser or an
    argument group); ``--ami`` goes into ``ami_into`` when given (a mutually exclusive group).
    Read them back with :func:`ami_target`."""
    (ami_into or target).add_argument("--ami", metavar="HOST:PORT",
                                      help="AMI server (default: config ami.host:ami.port)")
    target.add_argument("--user", help="AMI username (default: config ami.username)")
    target.add_argument("--secret-env", metavar="VAR",
                        help="environment variable holding the AMI secret (default: config ami.secret_env)")


def ami_target(args: argparse.Namespace, cfg: Config) -> tuple[str, int, str, str]:
    """(host, port, user, secret) from ``--ami``/``--user``/``--secret-env`` over the config.
    The secret only ever comes from the environment or the config file, never from a flag."""

    host, port = cfg.ami.host, cfg.ami.port
    if getattr(args, "ami", None):
        h, sep, p = args.ami.rpartition(":")
        if not sep or not h or not p.isdigit():
            raise UsageError(f"--ami {args.ami!r}: expected HOST:PORT")
        host, port = h.strip("[]"), int(p)
    user = getattr(args, "user", None) or cfg.ami.username
    var = getattr(args, "secret_env", None)
    if var:
        secret = os.environ.get(var)
        if secret is None:
            raise UsageError(f"--secret-env {var}: that environment variable is not set")
        if not secret:
            raise UsageError(f"--secret-env {var}: that environment variable is empty")
    else:
        secret = cfg.ami_secret()
        if not secret:  # else the login fails with a bare "Authentication failed"
            raise UsageError(f"no AMI secret: set ${cfg.ami.secret_env} (config ami.secret_env) or ami.secret, "
                             "or name another variable with --secret-env VAR")
    return host, port, user, secret


DB_HELP = "store file or postgresql:// URL (default: config store.url, else store.path)"


def existing_store(args: argparse.Namespace, cfg: Config) -> str:
    """The store a command opens (``--db``, else ``store.url``, else ``store.path``); a file
    must exist (a PostgreSQL store is checked when it is opened).

    Read-only commands open it with ``open_store(cfg, db=db, readonly=True)``: they never create,
    switch or migrate a store (an old one is read as it is, or refused with what to run).
    """
    from engine.store.backend import is_url, store_target

    target = store_target(cfg, args.db)
    if is_url(target):
        return target
    db = Path(target)
    if not db.exists():
        raise UsageError(f"no store at {db} (give --db PATH or set store.path)")
    if not db.is_file():
        raise UsageError(f"{db} is not a store file (give --db PATH or set store.path)")
    return target
