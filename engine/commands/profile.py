"""``hotline profile``: a day profile (calls, AHT and patience per interval) from queue history."""

from __future__ import annotations

import argparse

HELP = "build a day profile (calls, AHT, patience per interval) from a queue_log or the store"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._history import add_source_arguments

    add_source_arguments(parser)
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="first local day to use (default: the first in the history)")
    parser.add_argument("--until", metavar="YYYY-MM-DD", help="last local day to use, included (default: the last)")
    parser.add_argument("--weekday", metavar="DAYS", help="only these weekdays, e.g. mon or mon,tue,wed,thu,fri")
    parser.add_argument("--out", metavar="FILE", help="write the profile: .toml (everything) or .csv (for Excel)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print the per-interval table as CSV")


def _weekdays(text: str | None) -> set[int] | None:
    from engine.errors import UsageError

    if not text:
        return None
    out = set()
    for part in text.lower().split(","):
        name = part.strip()[:3]
        if name not in WEEKDAYS:
            raise UsageError(f"--weekday {text!r}: use mon, tue, wed, thu, fri, sat, sun (comma-separated)")
        out.add(WEEKDAYS.index(name))
    return out


def run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from engine.commands._history import load_history, parse_day, pct, print_data, sl_seconds
    from engine.errors import UsageError
    from queueing.erlang import ScenarioError
    from queueing.history import patience_of, tally
    from queueing.patience import check_points
    from queueing.profiles.write import write_profile

    since = parse_day(args.since, "--since") if args.since else None
    until = parse_day(args.until, "--until") if args.until else None
    if since and until and until < since:
        raise UsageError(f"--until {until} is before --since {since}")
    weekdays = _weekdays(args.weekday)
    history, cfg, notes = load_history(args, since=since, until=until + timedelta(days=1) if until else None)
    days = [d for d in history.days if weekdays is None or d.weekday() in weekdays]
    if not days:
        raise UsageError(f"no day in the history ({history.span()}) falls on {args.weekday}")
    sl = sl_seconds(args, cfg)
    name = f"history {days[0]} to {days[-1]}" + (f" ({args.weekday})" if args.weekday else "")
    try:
        profile, how = history.profile(days, name=name, sl_seconds=sl, wrapup=args.wrapup)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    every = [v for d in days for v in history.visits(d)]
    pat = patience_of(every)
    fit = check_points([v.wait for v in every], [v.outcome == "abandoned" for v in every], pat)
    labels = profile.labels()
    pooled = [[v for d in days for v in history.visits(d, i)] for i in range(history.slots)]
    rows = []
    for i, lab in enumerate(labels):
        t = tally(pooled[i], sl)
        rows.append({"start": lab, "calls_per_hour": profile.calls_per_hour[i], "aht": profile.aht()[i],
                     "patience": profile.mean_patience()[i], "offered": t.offered, "answered": t.answered,
                     "abandoned": t.abandoned, "service_level": t.service_level, "asa": t.asa})
    if args.out:
        try:
            write_profile(profile, args.out, "\n".join([f"hotline profile: {name}, {len(days)} day(s)", *how]))
        except OSError as exc:
            raise UsageError(f"--out {args.out}: cannot write: {exc.strerror or exc}") from None
    out = {"name": name, "days": [str(d) for d in days], "interval_minutes": history.clock.minutes,
           "timezone": history.clock.timezone, "sl_seconds": sl, "calls": len(every),
           "patience": {"mean": pat.mean, "std_error": pat.std_error, "abandons": pat.abandons,
                        "callers": pat.callers, "method": "exponential MLE, answered callers censored",
                        "kaplan_meier_check": [{"seconds": t, "kaplan_meier": k, "exponential": e}
                                               for t, k, e in fit]},
           "notes": how + notes, "intervals": rows, "out": args.out}
    if print_data(args, rows, out, notes):
        return 0
    print(f"{name}: {len(every):,} queue calls on {len(days)} day(s) ({history.clock.timezone}, "
          f"{history.clock.minutes}-minute intervals){'; queue ' + args.queue if args.queue else ''}")
    print(f"{'time':>5} {'calls/h':>7} {'AHT':>5} {'patience':>8} {'offered':>7} {'aband.':>6} {'SL':>6} {'ASA':>6}")
    for r in rows:
        if r["offered"] == 0:
            continue
        print(f"{r['start']:>5} {r['calls_per_hour']:7.1f} {r['aht']:5.0f} {_num(r['patience']):>8} {r['offered']:7d} "
              f"{100 * r['abandoned'] / r['offered']:5.1f}% {pct(r['service_level'])} {_num(r['asa']):>6}")
    print(f"calls/h = mean over the days; SL = answered within {sl:g} s / offered; intervals without calls not shown")
    for line in how + notes:
        print(f"note: {line}")
    if fit:
        print("patience check, P(still holding at t): " + "; ".join(
            f"{t:g} s: Kaplan-Meier {100 * k:.0f} %, exponential {100 * e:.0f} %" for t, k, e in fit))
    if args.out:
        print(f"profile written to {args.out}")
    return 0


def _num(x: float | None) -> str:
    import math

    return "n/a" if x is None or math.isnan(x) or math.isinf(x) else f"{x:.0f}"
