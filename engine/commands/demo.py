"""``hotline demo``: the PBX simulator and the engine together, playing a compressed evening peak."""

from __future__ import annotations

import argparse

from engine.errors import UsageError

HELP = "play a compressed evening peak through the simulator and the engine, then report (no PBX needed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=60, help="calls in the simulated peak hour (default 60)")
    parser.add_argument("--minutes", type=float, default=60.0,
                        help="simulated minutes of the 19:00 peak hour to play (default 60; calls are in that window)")
    parser.add_argument("--speed", type=float, default=24.0,
                        help="simulated seconds per real second (default 24: the hour in 2.5 minutes)")
    parser.add_argument("--seed", type=int, default=12345, help="random seed: same seed, same callers")
    parser.add_argument("--db", default="var/demo.sqlite", help="store file, recreated each run (default var/demo.sqlite)")
    parser.add_argument("--json", action="store_true", help="print only the final report as one JSON object")
    parser.add_argument("--no-serve", action="store_true",
                        help="exit after the report (default: keep the supervisor page up until Ctrl-C)")
    parser.add_argument("--port", type=int, help="supervisor page port (default: [web] port, or a free one)")
    parser.add_argument("--tap-sample", type=float, help="fraction of answered calls tapped (default: [tap] sample)")
    parser.add_argument("--max-tap-legs", type=int, help="tapped legs at once (default: [tap] max_legs)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.commands._common import config_from_args
    from engine.demo import DemoOptions, run_demo

    if not 1 <= args.calls <= 5000:
        raise UsageError(f"--calls must be between 1 and 5000, got {args.calls}")
    if not 0.5 <= args.speed <= 200:
        raise UsageError(f"--speed must be between 0.5 and 200, got {args.speed:g}")
    if args.tap_sample is not None and not 0.0 <= args.tap_sample <= 1.0:
        raise UsageError(f"--tap-sample must be between 0 and 1, got {args.tap_sample:g}")
    if not 1.0 <= args.minutes <= 60.0:
        raise UsageError(f"--minutes must be between 1 and 60, got {args.minutes:g}")
    cfg = config_from_args(args)
    options = DemoOptions(calls=args.calls, minutes=args.minutes, speed=args.speed, seed=args.seed, store=args.db,
                          serve=not args.no_serve, json=args.json, web_port=args.port,
                          tap_sample=args.tap_sample, max_tap_legs=args.max_tap_legs)
    try:
        asyncio.run(run_demo(cfg, options))
    except KeyboardInterrupt:
        print("\nhotline demo: stopped", flush=True)
    return 0
