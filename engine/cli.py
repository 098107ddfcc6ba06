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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="City service hotline engine.")
    parser.add_argument("--config", help="TOML config file (default: ./hotline.toml or $HOTLINE_CONFIG)")
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override one config value")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"engine.commands.{name}")
        cmd = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage error (exit 2) or --help (exit 0)
        return int(exc.code or 0)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
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
