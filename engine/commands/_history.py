"""Queue history for the planning commands (``profile``, ``forecast``, ``backtest``): from
Asterisk ``queue_log`` files or from the store, grouped by the site's local intervals."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from engine.errors import UsageError


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import DB_HELP, number

    src = parser.add_mutually_exclusive_group()
    src.add_argument("--queue-log", metavar="FILE", nargs="+",
                     help="Asterisk queue_log file(s), e.g. /var/log/asterisk/queue_log.1 queue_log (any order)")
    src.add_argument("--db", help=f"{DB_HELP}; used when no --queue-log is given")
    parser.add_argument("--queue", help="only this queue (default: every queue together)")
    parser.add_argument("--interval-minutes", type=number(int, ge=1, le=60), default=None,
                        help="interval length: 15, 30 or 60 (default config queueing.interval_minutes)")
    parser.add_argument("--sl-seconds", type=number(float, ge=0), default=None,
                        help="service-level threshold T, seconds (default config queueing.sl_seconds)")
    parser.add_argument("--wrapup", type=number(float, ge=0), default=0.0,
                        help="after-call work in seconds added to every talk time for the AHT (default 0)")


def parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected a date YYYY-MM-DD") from None


def load_history(args: argparse.Namespace, *, since: date | None = None, until: date | None = None):
    """(History, config, notes) from ``--queue-log`` files or the store, for local days in
    ``[since, until)`` when given; the interval and zone from the config unless flagged."""
    from engine.commands._common import config_from_args, existing_store
    from queueing.history import History, visits_from_stays
    from queueing.intervals import IntervalClock, day_bounds
    from queueing.queue_log import read_queue_log

    cfg = config_from_args(args)
    minutes = args.interval_minutes or cfg.queueing.interval_minutes
    try:
        clock = IntervalClock(minutes, cfg.site.timezone)
    except ValueError as exc:
        raise UsageError(f"--interval-minutes: {exc}") from None
    lo = day_bounds(since, cfg.site.timezone)[0] if since else None
    hi = day_bounds(until, cfg.site.timezone)[0] if until else None  # until is the first day not read
    notes: list[str] = []
    if args.queue_log:
        visits = []
        for name in args.queue_log:
            path = Path(name)
            try:
                with path.open(encoding="utf-8", errors="replace") as f:  # caller names may be in any charset
                    reader = read_queue_log(f, lo, hi)
            except FileNotFoundError:
                raise UsageError(f"{path}: queue_log not found") from None
            except IsADirectoryError:
                raise UsageError(f"{path}: is a folder, not a queue_log file") from None
            except OSError as exc:
                raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
            if reader.bad_lines:
                n, why = reader.bad_lines[0]
                notes.append(f"{path}: {len(reader.bad_lines)} of {reader.lines} lines skipped (first: line {n}: {why})")
            if reader.lines and not reader.events:
                raise UsageError(f"{path}: not a queue_log (no line reads as epoch|callid|queue|agent|EVENT|...)")
            visits += reader.visits
    else:
        from engine.store.backend import open_store

        db = existing_store(args, cfg)
        with open_store(cfg, db=db, readonly=True) as store:
            rows = store.queue_stays(since=lo, until=hi, queue=args.queue)
        visits, live = visits_from_stays(rows)
        if live:
            notes.append(f"{live} calls still waiting or without an end are left out")
    history = History(visits, clock, args.queue)
    if not len(history):
        where = "the queue_log" if args.queue_log else "the store"
        span = f" between {since} and {until - timedelta(days=1)}" if since and until else ""
        raise UsageError(f"no queue calls{' in queue ' + repr(args.queue) if args.queue else ''} in {where}{span}")
    return history, cfg, notes


def sl_seconds(args: argparse.Namespace, cfg: Any) -> float:
    return float(args.sl_seconds if args.sl_seconds is not None else cfg.queueing.sl_seconds)


def print_data(args: argparse.Namespace, rows: list[dict[str, Any]], document: dict[str, Any], notes: list[str]) -> bool:
    """``--csv``: the rows; ``--json``: the document; the notes on stderr so that stdout stays
    data. False when neither was asked for (the command prints its table)."""
    import json

    from queueing.report import csv_text, json_safe

    if not (args.csv or args.json):
        return False
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if args.csv:
        print(csv_text(rows), end="")
    else:
        print(json.dumps(json_safe(document), indent=2, ensure_ascii=False))
    return True


def pct(x: float) -> str:
    """A share as ``" 85.0%"`` for the tables, ``"   n/a"`` when there is none (NaN)."""
    return "   n/a" if math.isnan(x) else f"{100 * x:5.1f}%"
