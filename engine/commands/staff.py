"""``hotline staff``: agents needed, for one arrival rate (the Erlang calculator's "agents for
80/20") or per interval of a day profile (Erlang A, then corrected by simulation); FTE with
shrinkage, the gap to a current roster, text, JSON or CSV."""

from __future__ import annotations

import argparse
import math

HELP = "agents needed for a target: one arrival rate (--rate) or per interval of a day profile (--profile)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number

    what = parser.add_mutually_exclusive_group()
    what.add_argument("--profile", help="day profile: a .toml or .csv file (a forecast too), or 'weekday' (built-in)")
    what.add_argument("--rate", metavar="CALLS/PERIOD",
                      help="one arrival rate with its unit: 100/30min, 200/h, 0.05/s or 100/interval")
    parser.add_argument("--aht", type=number(float, gt=0), default=None,
                        help="average handling time, seconds (needed with --rate; overrides the profile's)")
    parser.add_argument("--patience", type=number(float, ge=0), default=None,
                        help="mean patience in seconds (exponential): Erlang A; without it --rate uses Erlang C "
                             "(overrides the profile's)")
    parser.add_argument("--target-sl", type=number(float, ge=0, lt=1), default=0.8,
                        help="target service level: answered within T / offered (default 0.8; 0: no SL target)")
    parser.add_argument("--sl-seconds", type=number(float, ge=0), default=None,
                        help="T in seconds (default: the profile's, else config queueing.sl_seconds)")
    parser.add_argument("--max-abandon", type=number(float, gt=0, lt=1), default=None,
                        help="most abandoned / offered allowed per interval")
    parser.add_argument("--max-asa", type=number(float, gt=0), default=None,
                        help="longest ASA (mean wait of answered callers) allowed, seconds")
    parser.add_argument("--shrinkage", type=number(float, ge=0, lt=1), default=0.0,
                        help="share of paid time off the phones (breaks, training, absence); "
                             "FTE = agents / (1 - shrinkage) (default 0)")
    parser.add_argument("--interval-minutes", type=number(int, ge=1, le=1440), default=None,
                        help="length of 'interval' in --rate (default config queueing.interval_minutes)")
    parser.add_argument("--roster", metavar="FILE",
                        help="current agents on duty per interval (CSV start,agents, or a profile): the gap")
    parser.add_argument("--method", choices=("sipp", "lagged-sipp", "mol"), default="lagged-sipp",
                        help="effective load per interval: plain SIPP, SIPP lagged by one AHT, or modified offered load")
    parser.add_argument("--replications", type=number(int, ge=2), default=None,
                        help="replications per simulation (default 40; 200 with --compare)")
    parser.add_argument("--seed", type=number(int, ge=0), default=0, help="random seed")
    parser.add_argument("--no-correct", action="store_true", help="Erlang A only: simulate the roster but do not correct it")
    parser.add_argument("--compare", action="store_true",
                        help="simulate the Erlang roster of every method on the same day and show where each misses")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", action="store_true", help="print CSV (one row per interval, or per agent count with --rate)")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the final roster's simulated day")


def _pct(x: float) -> str:
    return "  n/a" if math.isnan(x) else f"{100 * x:5.1f}"


def run(args: argparse.Namespace) -> int:
    from engine.errors import UsageError
    from queueing.erlang import ScenarioError

    if not args.profile and not args.rate:
        raise UsageError("give --rate CALLS/PERIOD and --aht (one queue), or --profile FILE (a day)")
    try:
        return _calculator(args) if args.rate else _day(args)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None


def _calculator(args: argparse.Namespace) -> int:
    """One rate: the fewest agents meeting the target, with the figures around it."""
    import json

    from engine.commands._common import config_from_args
    from engine.errors import UsageError
    from queueing.erlang import queue_metrics
    from queueing.report import csv_text, json_safe, sl_definitions
    from queueing.roster import describe_rate, parse_rate
    from queueing.staffing import Target, agents_needed, fte

    for flag in ("roster", "plot", "compare", "no_correct"):
        if getattr(args, flag):
            raise UsageError(f"--{flag.replace('_', '-')} needs --profile (a day of intervals), not --rate")
    if args.aht is None:
        raise UsageError("--rate needs --aht SECONDS")
    cfg = config_from_args(args)
    minutes = args.interval_minutes or cfg.queueing.interval_minutes
    rate = parse_rate(args.rate, minutes)
    sl_t = args.sl_seconds if args.sl_seconds is not None else float(cfg.queueing.sl_seconds)
    target = Target(args.target_sl, sl_t, args.max_abandon, args.max_asa)
    need = agents_needed(rate, args.aht, args.patience, target)
    rows = []
    for n in range(max(1, need - 3), need + 3):
        if args.patience is None and rate * args.aht >= n:
            continue  # Erlang C: the queue would grow without bound
        m = queue_metrics(rate, args.aht, n, args.patience, sl_t)
        rows.append({"agents": n, "fte": fte(n, args.shrinkage), "service_level": m.service_level,
                     "asa": m.asa, "p_abandon": m.p_abandon, "occupancy": m.occupancy, "p_wait": m.p_wait,
                     "meets_target": target.met(m.service_level, m.p_abandon, m.asa)})
    model = "Erlang C" if args.patience is None else ("Erlang B" if args.patience == 0 else "Erlang A")
    sl_def = sl_definitions(sl_t)["service_level"]
    best = next(r for r in rows if r["agents"] == need)
    if args.json:
        out = {"model": model.lower().replace(" ", "_"), "rate_per_second": rate, "calls_per_hour": rate * 3600,
               "aht": args.aht, "patience": args.patience, "load": rate * args.aht, "target_sl": target.target_sl,
               "sl_seconds": sl_t, "max_abandon": target.max_abandon, "max_asa": target.max_asa,
               "agents": need, "shrinkage": args.shrinkage, "fte": fte(need, args.shrinkage),
               "metrics": best, "around": rows, "service_level_definitions": sl_definitions(sl_t)}
        print(json.dumps(json_safe(out), indent=2))
        return 0
    if args.csv:
        print(csv_text(rows), end="")
        return 0
    pat = "callers never hang up" if args.patience is None else f"mean patience {args.patience:g} s"
    print(f"{model}: {describe_rate(rate, minutes)}, AHT {args.aht:g} s, {pat}; offered load {rate * args.aht:.2f} erlangs")
    print(f"target: {target.describe(sl_def)}")
    line = f"agents needed: {need}"
    if args.shrinkage:
        line += f"; FTE to schedule with {100 * args.shrinkage:g} % shrinkage: {fte(need, args.shrinkage):.1f} (agents / (1 - shrinkage))"
    print(line)
    print(f"  {'agents':>6} {'SL %':>6} {'ASA s':>7} {'aband. %':>8} {'occup. %':>8} {'FTE':>6}")
    for r in rows:
        mark = ">" if r["agents"] == need else " "
        print(f"{mark} {r['agents']:6d} {_pct(r['service_level']):>6} {r['asa']:7.1f} {_pct(r['p_abandon']):>8} "
              f"{_pct(r['occupancy']):>8} {r['fte']:6.1f}")
    print(f"SL = {sl_def}; > the fewest agents meeting the target")
    return 0


def _load_day(args: argparse.Namespace):
    """The profile with --aht/--patience applied, and the current roster (or None)."""
    from queueing.profiles import load_profile
    from queueing.roster import load_roster
    from queueing.sim import Distribution

    profile = load_profile(args.profile)
    if args.aht is not None:
        profile = profile.with_behaviour(service=Distribution.exponential(args.aht))
    if args.patience is not None:
        profile = profile.with_behaviour(patience=Distribution.exponential(args.patience))
    roster = load_roster(args.roster, profile.labels()) if args.roster else None
    return profile, roster


def _day(args: argparse.Namespace) -> int:
    import json

    from engine.errors import UsageError
    from queueing.report import csv_text, json_safe, sl_definitions
    from queueing.staffing import Target, compare_methods, fte, staff

    profile, roster = _load_day(args)
    sl_t = args.sl_seconds if args.sl_seconds is not None else profile.sl_seconds
    target = Target(args.target_sl, sl_t, args.max_abandon, args.max_asa)
    if args.replications is None:
        args.replications = 200 if args.compare else 40
    labels = profile.labels()
    sl_def = sl_definitions(sl_t)["service_level"]
    if args.compare:
        if args.csv or args.roster:
            raise UsageError("--compare shows each method's roster; --csv and --roster go with one plan")
        plans = compare_methods(profile, target, replications=args.replications, seed=args.seed)
        return _print_compare(args, profile, target, plans, sl_def)
    plan = staff(profile, target, args.method, correct=not args.no_correct,
                 replications=args.replications, seed=args.seed)
    hours = profile.interval_minutes / 60.0
    res, before = plan.result, plan.erlang_result
    ahts = profile.aht()
    rows = []
    for i, lab in enumerate(labels):
        r, b = res.intervals[i], before.intervals[i]
        row = {"start": lab, "calls_per_hour": profile.calls_per_hour[i], "aht": ahts[i],
               "patience": profile.mean_patience()[i], "load": plan.effective_load[i],
               "erlang_agents": plan.erlang_agents[i], "erlang_service_level": b["service_level"],
               "agents": plan.agents[i], "fte": fte(plan.agents[i], args.shrinkage),
               "service_level": r["service_level"], "service_level_ci95": r["service_level_ci95"],
               "p_abandon": r["p_abandon"], "asa": r["asa"], "occupancy": r["occupancy"]}
        if roster is not None:
            row["roster"] = roster[i]
            row["gap"] = roster[i] - plan.agents[i]
            row["gap_fte"] = fte(row["gap"], args.shrinkage)
        rows.append(row)
    if args.plot:
        from queueing.plots import plot_day

        plot_day(args.plot, labels, res.intervals, aht=ahts, sl_seconds=sl_t,
                 target_sl=target.target_sl or None, roster=roster,
                 title=f"{profile.name}: {args.method} roster after simulation")
    if args.csv:
        print(csv_text(rows), end="")
        return 0
    if args.json:
        out = {"profile": profile.name, "method": args.method, "target_sl": target.target_sl, "sl_seconds": sl_t,
               "max_abandon": target.max_abandon, "max_asa": target.max_asa, "shrinkage": args.shrinkage,
               "replications": args.replications, "seed": args.seed,
               "rounds": plan.rounds, "erlang_agent_hours": sum(plan.erlang_agents) * hours,
               "agent_hours": sum(plan.agents) * hours, "fte_hours": fte(sum(plan.agents) * hours, args.shrinkage),
               "below_target": [labels[i] for i in plan.below_target()],
               "notes": plan.notes, "summary": res.summary,
               "intervals": [{"time": r["start"], **{k: v for k, v in r.items() if k != "start"}} for r in rows],
               "service_level_definitions": sl_definitions(sl_t)}
        if roster is not None:
            out["short_intervals"] = [r["start"] for r in rows if r["gap"] < 0]
        print(json.dumps(json_safe(out), indent=2))
        return 0
    print(f"{profile.name}: staffing by {args.method}, Erlang A then simulation ({args.replications} replications, "
          f"seed {args.seed}); target {target.describe(sl_def)}")
    extra = f" {'FTE':>6}" if args.shrinkage else ""
    extra += f" {'roster':>6} {'gap':>5}" if roster is not None else ""
    print(f"{'time':>5} {'calls/h':>7} {'AHT':>5} {'load':>6} | {'Erlang A':>8} {'sim SL':>6} | {'agents':>6} {'sim SL':>6} "
          f"{'aband.':>6} {'ASA':>5}{extra}")
    for i, row in enumerate(rows):
        r, b = res.intervals[i], before.intervals[i]
        mark = "*" if not target.met(b["service_level"], b["p_abandon"], b["asa"]) else " "
        cells = f" {row['fte']:6.1f}" if args.shrinkage else ""
        if roster is not None:
            cells += f" {row['roster']:6d} {row['gap']:+5d}"
        print(f"{row['start']:>5} {row['calls_per_hour']:7.0f} {row['aht']:5.0f} {row['load']:6.1f} | "
              f"{plan.erlang_agents[i]:8d} {_pct(b['service_level'])}{mark}| {plan.agents[i]:6d} "
              f"{_pct(r['service_level'])} {_pct(r['p_abandon'])} {r['asa']:5.1f}{cells}")
    print(f"load = erlangs the method staffs for; sim SL = simulated service level in % ({sl_def}); "
          "* the Erlang A roster misses the target")
    if args.shrinkage:
        print(f"FTE = agents / (1 - shrinkage {args.shrinkage:g}): people to schedule so that the agents are on the phones")
    if roster is not None:
        short = [r["start"] for r in rows if r["gap"] < 0]
        print(f"gap = roster - agents needed (agents on duty; negative = short); short in {len(short)} intervals"
              f"{': ' + ', '.join(short) if short else ''}; {sum(min(r['gap'], 0) for r in rows) * hours:+.1f} "
              f"agent-hours short, {sum(max(r['gap'], 0) for r in rows) * hours:+.1f} over")
    print(f"agent-hours: Erlang A {sum(plan.erlang_agents) * hours:.1f}, after simulation {sum(plan.agents) * hours:.1f} "
          f"(correction rounds: {plan.rounds})"
          + (f"; FTE-hours {fte(sum(plan.agents) * hours, args.shrinkage):.1f}" if args.shrinkage else ""))
    miss = [labels[i] for i in plan.below_target()]
    print(f"final roster below target in: {', '.join(miss) or 'no interval'}")
    s = res.summary
    print(f"whole day: service level {100 * s['service_level']:.1f} % ({sl_def}), abandoned {100 * s['p_abandon']:.1f} %, "
          f"ASA {s['asa']:.1f} s, occupancy {100 * s['occupancy']:.1f} %")
    for note in plan.notes:
        print(f"note: {note}")
    return 0


def _print_compare(args: argparse.Namespace, profile, target, plans, sl_def: str) -> int:
    import json

    from queueing.report import json_safe, sl_definitions
    from queueing.staffing import METHODS

    labels = profile.labels()
    hours = profile.interval_minutes / 60.0
    sl_t = target.sl_seconds
    if args.json:
        out = {m: {"agents": p.agents, "agent_hours": sum(p.agents) * hours,
                   "service_level": [r["service_level"] for r in p.result.intervals],
                   "service_level_ci95": [r["service_level_ci95"] for r in p.result.intervals],
                   "below_target": [labels[i] for i in p.below_target()],
                   "significantly_below_target": [labels[i] for i in p.below_target(significant=True)]}
               for m, p in plans.items()}
        print(json.dumps(json_safe({"profile": profile.name, "target_sl": target.target_sl, "sl_seconds": sl_t,
                                    "times": labels, "methods": out,
                                    "service_level_definitions": sl_definitions(sl_t)}), indent=2))
        return 0
    print(f"{profile.name}: Erlang A rosters by method, each simulated ({args.replications} replications, "
          f"seed {args.seed}); target {target.describe(sl_def)}")
    print(f"SL = simulated service level in % ({sl_def}) ± 95 % CI; "
          "* whole CI below target, - mean below target")
    print(f"{'time':>5} {'calls/h':>7} " + " ".join(f"{m:>12} {'SL':>12}" for m in METHODS))
    for i, lab in enumerate(labels):
        cells = []
        for m in METHODS:
            p = plans[m]
            r = p.result.intervals[i]
            flag = "*" if i in p.below_target(significant=True) else "-" if i in p.below_target() else " "
            cells.append(f"{p.agents[i]:>12d} {_pct(r['service_level'])} ±{_pct(r['service_level_ci95'])}{flag}")
        print(f"{lab:>5} {profile.calls_per_hour[i]:7.0f} " + " ".join(cells))
    for m in METHODS:
        p = plans[m]
        sig = [labels[i] for i in p.below_target(significant=True)]
        print(f"{m:12s} agent-hours {sum(p.agents) * hours:7.1f}; mean below target in {len(p.below_target())} "
              f"intervals; clearly below (whole 95 % CI) in {len(sig)}: {', '.join(sig) or 'none'}")
    return 0
