"""``hotline erlang``: Erlang C (no patience given) or Erlang A figures for one queue."""

from __future__ import annotations

import argparse

HELP = "waits, abandonment and service level of one queue from Erlang C / Erlang A"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number

    parser.add_argument("--rate", type=number(float, ge=0), required=True, help="arrival rate, calls per second")
    parser.add_argument("--aht", type=number(float, gt=0), required=True, help="average handling time, seconds")
    parser.add_argument("--agents", type=number(int, ge=1), required=True, help="agents on duty")
    parser.add_argument("--patience", type=number(float, ge=0), default=None,
                        help="mean patience in seconds (exponential): Erlang A; omit for Erlang C")
    parser.add_argument("--sl-seconds", type=number(float, ge=0), default=None,
                        help="service-level threshold T in seconds (default: config queueing.sl_seconds, 20)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def sl_seconds_from(args: argparse.Namespace) -> float:
    from engine.commands._common import config_from_args

    return float(config_from_args(args, **{"queueing.sl_seconds": args.sl_seconds}).queueing.sl_seconds)


def run(args: argparse.Namespace) -> int:
    import json

    from engine.errors import UsageError
    from queueing.erlang import ScenarioError, queue_metrics
    from queueing.report import format_metrics, json_safe, sl_definitions

    sl = sl_seconds_from(args)
    try:
        m = queue_metrics(args.rate, args.aht, args.agents, args.patience, sl)
    except ScenarioError as exc:  # bad numbers are the user's; UnstableQueueError exits 1
        raise UsageError(str(exc)) from None
    if args.json:
        out = {**m.as_dict(), "service_level_definitions": sl_definitions(sl)}
        print(json.dumps(json_safe(out), indent=2))
    else:
        print(format_metrics(m))
    return 0
