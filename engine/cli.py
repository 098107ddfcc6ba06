"""The ``hotline`` command: ``main(argv) -> int`` with one module per subcommand.

Subcommands live in ``engine/commands/<name>.py``; each defines ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``, and imports its heavy dependencies inside ``run`` so that
``hotline --help`` stays fast. Errors of this project are printed as one line, not a traceback;
argparse's usage errors (number flags are checked by ``engine.commands._common.number``) come
back as exit code 2, so ``main(argv)`` always returns rather than raising SystemExit.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

import engine.commands
from engine.asterisk.errors import AsteriskError
from engine.errors import ConfigError, HotlineError, UsageError


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(engine.commands.__path__) if not m.name.startswith("_"))


LOG_LEVELS = ("debug", "info", "warning", "error")
_SUB = "_sub_"  # dest prefix of the global options given after the subcommand


def _add_global_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, after: bool) -> None:
    """``--config``, ``--set``, ``-v``, ``--log-level``: before the subcommand (``hotline --config
    x.toml serve``) or after it (``hotline serve --config x.toml``); :func:`_merge` joins the two."""
    prefix, default = (_SUB, argparse.SUPPRESS) if after else ("", None)
    parser.add_argument("--config", dest=f"{prefix}config", default=default, metavar="FILE",
                        help="TOML config file (default: ./hotline.toml or $HOTLINE_CONFIG)")
    parser.add_argument("--set", dest=f"{prefix}set", action="append", default=default,
                        metavar="SECTION.KEY=VALUE", help="override one config value (repeatable)")
    parser.add_argument("-v", "--verbose", dest=f"{prefix}verbose", action="count",
                        default=argparse.SUPPRESS if after else 0, help="more log output (-vv for debug)")
    parser.add_argument("--log-level", dest=f"{prefix}log_level", choices=LOG_LEVELS, default=default,
                        help="log level (overrides -v; default: warning, serve: info)")


def _accept_global_options(parser: argparse.ArgumentParser) -> None:
    """The global options on a subcommand's parser and on its own subcommands (``flow validate``)."""
    group = parser.add_argument_group("global options (also accepted before the command)")
    _add_global_options(group, after=True)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _accept_global_options(child)


def _merge(args: argparse.Namespace) -> argparse.Namespace:
    """Global options given after the subcommand: ``--config`` and ``--log-level`` there win,
    ``--set`` pairs and ``-v`` add up."""
    given = {k[len(_SUB):]: v for k, v in vars(args).items() if k.startswith(_SUB)}
    for key in given:
        delattr(args, _SUB + key)
    if "config" in given:
        args.config = given["config"]
    if "log_level" in given:
        args.log_level = given["log_level"]
    if "set" in given:
        args.set = (args.set or []) + given["set"]
    args.verbose += given.get("verbose", 0)
    return args


def build_parser() -> argparse.ArgumentParser:
    from engine import __version__

    parser = argparse.ArgumentParser(prog="hotline", description="City service hotline engine.")
    parser.add_argument("--version", action="version", version=f"hotline {__version__}")
    _add_global_options(parser, after=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"engine.commands.{name}")
        cmd = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        _accept_global_options(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def log_level(args: argparse.Namespace) -> int:
    """``--log-level`` when given, else from ``-v`` (warning, info, debug)."""
    if getattr(args, "log_level", None):
        return int(getattr(logging, args.log_level.upper()))
    return [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = _merge(parser.parse_args(argv))
    except SystemExit as exc:  # argparse has printed its usage error (exit 2) or --help (exit 0)
        return int(exc.code or 0)
    logging.basicConfig(
        level=log_level(args),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    from engine.privacy import install_log_masking

    install_log_masking()  # numbers that slip into a log line are masked before it is written
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (UsageError, ConfigError) as exc:
        print(f"hotline {args.command}: {exc}", file=sys.stderr)
        return 2
    except (HotlineError, AsteriskError) as exc:
        print(f"hotline {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (``hotline calls | head``): no traceback; stdout to devnull so
        # the interpreter's own flush at exit cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)
