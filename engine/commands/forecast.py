"""``hotline forecast``: calls, AHT and patience per interval for coming days, from the same
weekday of past weeks with a trend; writes profiles that ``staff`` and ``simulate`` read."""

from __future__ import annotations

import argparse

HELP = "forecast calls per interval for a day or a week from queue history (same weekday of past weeks, trend)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number
    from engine.commands._history import add_source_arguments

    parser.add_argument("--day", metavar="YYYY-MM-DD", required=True, help="first local day to forecast")
    parser.add_argument("--days", type=number(int, ge=1, le=31), default=1, help="days to forecast (7: a week; default 1)")
    parser.add_argument("--weeks", type=number(int, ge=1, le=52), default=4,
                        help="past weeks whose same weekday is averaged (default 4)")
    parser.add_argument("--no-trend", action="store_true", help="plain average, no trend line through the weeks")
    add_source_arguments(parser)
    parser.add_argument("--out", metavar="FILE",
                        help="write the forecast as a profile (.toml or .csv); with --days > 1 one file per day, "
                             "the date added to the name (plan.csv -> plan-2026-12-01.csv)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print CSV (date, start, calls, low, high, aht, patience)")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the first day's forecast with the range of the weeks used")


def _out_path(base: str, day, many: bool) -> str:
    from pathlib import Path

    if not many:
        return base
    p = Path(base)
    return str(p.with_name(f"{p.stem}-{day}{p.suffix}"))


def run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from engine.commands._history import load_history, parse_day, print_data, sl_seconds
    from engine.errors import UsageError
    from queueing.erlang import ScenarioError
    from queueing.forecast import forecast_day
    from queueing.profiles.write import write_profile

    first = parse_day(args.day, "--day")
    last = first + timedelta(days=args.days - 1)
    history, cfg, notes = load_history(args, since=first - timedelta(weeks=args.weeks), until=first)
    sl = sl_seconds(args, cfg)
    forecasts = []
    try:
        for k in range(args.days):
            forecasts.append(forecast_day(history, first + timedelta(days=k), weeks=args.weeks,
                                          trend=not args.no_trend, sl_seconds=sl, wrapup=args.wrapup))
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    written = []
    if args.out:
        for f in forecasts:
            path = _out_path(args.out, f.day, args.days > 1)
            try:
                write_profile(f.profile, path, "\n".join([f"hotline forecast for {f.day}", *f.notes]))
            except OSError as exc:
                raise UsageError(f"--out {path}: cannot write: {exc.strerror or exc}") from None
            written.append(path)
    if args.plot:
        from queueing.plots import plot_forecast

        f = forecasts[0]
        plot_forecast(args.plot, f.profile.labels(), f.calls, f.low, f.high,
                      title=f"{f.profile.name}: {f.notes[0]}")
    rows = []
    for f in forecasts:
        pat = f.profile.mean_patience()
        for i, lab in enumerate(f.profile.labels()):
            rows.append({"date": str(f.day), "start": lab, "calls": f.calls[i], "calls_per_hour": f.profile.calls_per_hour[i],
                         "low": f.low[i], "high": f.high[i], "aht": f.profile.aht()[i], "patience": pat[i]})
    out = {"from": str(first), "to": str(last), "weeks": args.weeks, "trend": not args.no_trend,
           "interval_minutes": history.clock.minutes, "timezone": history.clock.timezone,
           "days": [{"date": str(f.day), "based_on": [str(d) for d in f.based_on], "trend_factor": f.trend,
                     "calls": sum(f.calls), "notes": f.notes} for f in forecasts],
           "intervals": rows, "written": written}
    if print_data(args, rows, out, notes):
        return 0
    print(f"forecast {first} to {last} from {history.span()} ({history.clock.timezone}, "
          f"{history.clock.minutes}-minute intervals){'; queue ' + args.queue if args.queue else ''}")
    for f in forecasts:
        print(f"\n{f.day} ({f.day:%A}): {sum(f.calls):,.0f} calls; {f.notes[0]}")
        print(f"{'time':>5} {'calls':>7} {'calls/h':>7} {'low':>5} {'high':>5} {'AHT':>5} {'patience':>8}")
        pat = f.profile.mean_patience()
        for i, lab in enumerate(f.profile.labels()):
            if f.calls[i] == 0 and f.high[i] == 0:
                continue
            p = "n/a" if pat[i] is None else f"{pat[i]:.0f}"
            print(f"{lab:>5} {f.calls[i]:7.1f} {f.profile.calls_per_hour[i]:7.1f} {f.low[i]:5.0f} {f.high[i]:5.0f} "
                  f"{f.profile.aht()[i]:5.0f} {p:>8}")
        for n in f.notes[1:]:
            print(f"note: {n}")
    print("\ncalls = forecast per interval; low/high = fewest and most calls in that interval on the days used; "
          "intervals with no calls on any of them not shown")
    for n in notes:
        print(f"note: {n}")
    for path in written:
        print(f"profile written to {path} (hotline staff --profile {path}; hotline simulate --profile {path} --roster ...)")
    return 0
