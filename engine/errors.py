"""Project-wide errors that are not about the wire (those live in ``engine.asterisk.errors``)."""

from __future__ import annotations


class HotlineError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(HotlineError):
    """A config file or flag is wrong; the message names the file, key and value."""


class UsageError(HotlineError):
    """Bad command-line input; printed without a traceback, exit code 2."""
