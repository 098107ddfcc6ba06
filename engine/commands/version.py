"""``hotline version``."""

from __future__ import annotations

import argparse

HELP = "print the version"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(args: argparse.Namespace) -> int:
    del args
    from engine import __version__

    print(f"hotline {__version__}")
    return 0
