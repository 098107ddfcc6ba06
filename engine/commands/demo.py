"""``hotline demo``: the PBX simulator and the engine together, playing a compressed evening peak."""

from __future__ import annotations

import argparse

HELP = "play a compressed evening peak through the simulator and the engine, then report (no PBX needed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number
    from engine.config import LISTEN_PORT

    parser.add_argument("--calls", type=number(int, ge=1, le=5000), default=60, help="calls in the simulated peak hour (default 60)")
    parser.add_argument("--minutes", type=number(float, ge=1, le=60), default=60.0,
                        help="simulated minutes of the 19:00 peak hour to play (default 60; calls are in that window)")
    parser.add_argument("--speed", type=number(float, ge=0.5, le=200), default=24.0,
                        help="simulated seconds per real second (default 24: the hour in 2.5 minutes)")
    parser.add_argument("--seed", type=number(int, ge=0), default=12345, help="random seed: same seed, same callers")
    parser.add_argument("--db", default="var/demo.sqlite", help="store file, recreated each run (default var/demo.sqlite)")
    parser.add_argument("--json", action="store_true", help="print only the final report as one JSON object")
    parser.add_argument("--no-serve", action="store_true",
                        help="exit after the report (default: keep the supervisor page up until Ctrl-C)")
    parser.add_argument("--port", type=number(LISTEN_PORT), help="supervisor page port (default: [web] port, or a free one)")
    parser.add_argument("--tap-sample", type=number(float, ge=0, le=1), help="fraction of answered calls tapped (default: [tap] sample)")
    parser.add_argument("--max-tap-legs", type=number(int, ge=0), help="tapped legs at once (default: [tap] max_legs)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.commands._common import config_from_args
    from engine.demo import DemoOptions, run_demo

    cfg = config_from_args(args)
    options = DemoOptions(calls=args.calls, minutes=args.minutes, speed=args.speed, seed=args.seed, store=args.db,
                          serve=not args.no_serve, json=args.json, web_port=args.port,
                          tap_sample=args.tap_sample, max_tap_legs=args.max_tap_legs)
    try:
        asyncio.run(run_demo(cfg, options))
    except KeyboardInterrupt:
        print("\nhotline demo: stopped", flush=True)
    return 0
