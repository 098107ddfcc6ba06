"""``hotline backtest``: a day's plan (forecast and roster) against what the queue history says
happened: calls per interval (MAPE, WAPE, bias) and service level (planned, replayed, actual)."""

from __future__ import annotations

import argparse

HELP = "compare a day's plan (a forecast profile with its roster) with what happened that day"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number
    from engine.commands._history import add_source_arguments

    parser.add_argument("--plan", metavar="FILE", required=True,
                        help="the day's plan: a profile (hotline forecast --out) with agents, or give --roster")
    parser.add_argument("--day", metavar="YYYY-MM-DD", required=True, help="the local day the plan was for")
    parser.add_argument("--roster", metavar="FILE", help="agents on duty per interval (CSV start,agents, e.g. hotline staff --csv)")
    add_source_arguments(parser)
    parser.add_argument("--target-sl", type=number(float, gt=0, lt=1), default=None, help="draw this target on the plot")
    parser.add_argument("--replications", type=number(int, ge=2), default=20, help="replications per simulation (default 20)")
    parser.add_argument("--seed", type=number(int, ge=0), default=0, help="random seed")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print the per-interval comparison as CSV")
    parser.add_argument("--plot", metavar="FILE.png", help="draw forecast vs actual calls and planned vs actual SL")


def run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from engine.commands._history import load_history, parse_day, pct, print_data, sl_seconds
    from engine.errors import UsageError
    from queueing.backtest import backtest
    from queueing.erlang import ScenarioError
    from queueing.profiles import load_profile
    from queueing.roster import load_roster

    day = parse_day(args.day, "--day")
    try:
        plan = load_profile(args.plan)
        if args.roster:
            plan = plan.with_agents(load_roster(args.roster, plan.labels()))
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    history, cfg, notes = load_history(args, since=day, until=day + timedelta(days=1))
    sl = sl_seconds(args, cfg)
    try:
        bt = backtest(plan, history, day, sl_seconds=sl, replications=args.replications, seed=args.seed)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    s = bt.summary
    if args.plot:
        from queueing.plots import plot_backtest

        plot_backtest(args.plot, bt.labels, bt.rows, sl_seconds=sl, target_sl=args.target_sl,
                      title=f"backtest {day}: {plan.name}")
    out = {"day": str(day), "plan": plan.name, "sl_seconds": sl, "replications": args.replications,
           "seed": args.seed, "summary": s, "intervals": bt.rows}
    if print_data(args, bt.rows, out, notes):
        return 0
    print(f"backtest of {plan.name} on {day} ({history.clock.timezone}); service level = answered within {sl:g} s / offered")
    print(f"{'time':>5} {'forecast':>8} {'actual':>6} {'error':>6} {'agents':>6} | {'planned':>7} {'replay':>7} "
          f"{'actual':>7} | {'AHT plan':>8} {'actual':>6}")
    for r in bt.rows:
        if r["forecast_calls"] < 0.5 and r["actual_calls"] == 0:
            continue
        aht = "n/a" if r["actual_aht"] != r["actual_aht"] else f"{r['actual_aht']:.0f}"
        print(f"{r['start']:>5} {r['forecast_calls']:8.1f} {r['actual_calls']:6.0f} {r['error']:+6.1f} {r['agents']:6d} | "
              f"{pct(r['planned_service_level']):>7} {pct(r['replayed_service_level']):>7} "
              f"{pct(r['actual_service_level']):>7} | {r['planned_aht']:8.0f} {aht:>6}")
    print("planned = the roster simulated at the forecast; replay = the roster simulated at the day's real calls, "
          "AHT and patience; actual = from the history")
    print(f"calls: forecast {s['forecast_calls']:,.0f}, actual {s['actual_calls']:,.0f}; "
          f"MAPE {100 * s['mape']:.1f} % over {s['intervals_with_calls']} intervals with calls, "
          f"WAPE {100 * s['wape']:.1f} %, bias {100 * s['bias']:+.1f} % (positive = over-forecast)")
    print(f"service level over the day: planned {100 * s['planned_service_level']:.1f} %, replayed "
          f"{100 * s['replayed_service_level']:.1f} %, actual {100 * s['actual_service_level']:.1f} %; per interval "
          f"actual - planned: mean {100 * s['service_level_bias']:+.1f} points, mean absolute "
          f"{100 * s['service_level_mae']:.1f} points")
    for n in notes:
        print(f"note: {n}")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
