"""``hotline staff``: agents per interval from Erlang A, checked and corrected by simulation."""

from __future__ import annotations

import argparse

HELP = "agents needed per interval of a day profile (Erlang A, then corrected by simulation)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number

    parser.add_argument("--profile", required=True, help="day profile: a .toml or .csv file, or 'weekday' (built-in)")
    parser.add_argument("--target-sl", type=number(float, gt=0, lt=1), default=0.8,
                        help="target service level: answered within T / offered (default 0.8)")
    parser.add_argument("--sl-seconds", type=number(float, ge=0), default=None, help="T in seconds (default: the profile's)")
    parser.add_argument("--max-abandon", type=number(float, gt=0, lt=1), default=None, help="most abandoned / offered allowed per interval")
    parser.add_argument("--method", choices=("sipp", "lagged-sipp", "mol"), default="lagged-sipp",
                        help="effective load per interval: plain SIPP, SIPP lagged by one AHT, or modified offered load")
    parser.add_argument("--replications", type=number(int, ge=2), default=None,
                        help="replications per simulation (default 40; 200 with --compare)")
    parser.add_argument("--seed", type=number(int, ge=0), default=0, help="random seed")
    parser.add_argument("--no-correct", action="store_true", help="Erlang A only: simulate the roster but do not correct it")
    parser.add_argument("--compare", action="store_true",
                        help="simulate the Erlang roster of every method on the same day and show where each misses")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the final roster's simulated day")


def _pct(x: float) -> str:
    import math

    return "  n/a" if math.isnan(x) else f"{100 * x:5.1f}"


def run(args: argparse.Namespace) -> int:
    import json

    from engine.errors import UsageError
    from queueing.erlang import ScenarioError
    from queueing.profiles import load_profile
    from queueing.report import json_safe, sl_definitions
    from queueing.staffing import METHODS, Target, compare_methods, staff

    try:
        profile = load_profile(args.profile)
        sl_t = args.sl_seconds if args.sl_seconds is not None else profile.sl_seconds
        target = Target(args.target_sl, sl_t, args.max_abandon)
        if args.replications is None:
            args.replications = 200 if args.compare else 40
        if args.compare:
            plans = compare_methods(profile, target, replications=args.replications, seed=args.seed)
        else:
            plan = staff(profile, target, args.method, correct=not args.no_correct,
                         replications=args.replications, seed=args.seed)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    labels = profile.labels()
    sl_def = sl_definitions(sl_t)["service_level"]
    goal = f"target service level {100 * target.target_sl:g} % ({sl_def})"
    if target.max_abandon is not None:
        goal += f", abandonment at most {100 * target.max_abandon:g} %"
    hours = profile.interval_minutes / 60.0

    if args.compare:
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
              f"seed {args.seed}); {goal}")
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

    res, before = plan.result, plan.erlang_result
    if args.plot:
        from queueing.plots import plot_day

        plot_day(args.plot, labels, res.intervals, aht=profile.service.mean, sl_seconds=sl_t,
                 target_sl=target.target_sl, title=f"{profile.name}: {args.method} roster after simulation")
    if args.json:
        rows = []
        for i, lab in enumerate(labels):
            r, b = res.intervals[i], before.intervals[i]
            rows.append({"time": lab, "calls_per_hour": profile.calls_per_hour[i], "load": plan.effective_load[i],
                         "erlang_agents": plan.erlang_agents[i], "erlang_service_level": b["service_level"],
                         "agents": plan.agents[i], "service_level": r["service_level"],
                         "service_level_ci95": r["service_level_ci95"], "p_abandon": r["p_abandon"],
                         "asa": r["asa"]})
        out = {"profile": profile.name, "method": args.method, "target_sl": target.target_sl, "sl_seconds": sl_t,
               "max_abandon": target.max_abandon, "replications": args.replications, "seed": args.seed,
               "rounds": plan.rounds, "erlang_agent_hours": sum(plan.erlang_agents) * hours,
               "agent_hours": sum(plan.agents) * hours, "below_target": [labels[i] for i in plan.below_target()],
               "notes": plan.notes, "intervals": rows, "summary": res.summary,
               "service_level_definitions": sl_definitions(sl_t)}
        print(json.dumps(json_safe(out), indent=2))
        return 0
    print(f"{profile.name}: staffing by {args.method}, Erlang A then simulation ({args.replications} replications, "
          f"seed {args.seed}); {goal}")
    print(f"{'time':>5} {'calls/h':>7} {'load':>6} | {'Erlang A':>8} {'sim SL':>6} | {'agents':>6} {'sim SL':>6} "
          f"{'aband.':>6} {'ASA':>5}")
    for i, lab in enumerate(labels):
        r, b = res.intervals[i], before.intervals[i]
        mark = "*" if not target.met(b["service_level"], b["p_abandon"]) else " "
        print(f"{lab:>5} {profile.calls_per_hour[i]:7.0f} {plan.effective_load[i]:6.1f} | {plan.erlang_agents[i]:8d} "
              f"{_pct(b['service_level'])}{mark}| {plan.agents[i]:6d} {_pct(r['service_level'])} "
              f"{_pct(r['p_abandon'])} {r['asa']:5.1f}")
    print(f"load = erlangs the method staffs for; sim SL = simulated service level in % ({sl_def}); "
          "* the Erlang A roster misses the target")
    print(f"agent-hours: Erlang A {sum(plan.erlang_agents) * hours:.1f}, after simulation {sum(plan.agents) * hours:.1f} "
          f"(correction rounds: {plan.rounds})")
    miss = [labels[i] for i in plan.below_target()]
    print(f"final roster below target in: {', '.join(miss) or 'no interval'}")
    s = res.summary
    print(f"whole day: service level {100 * s['service_level']:.1f} % ({sl_def}), abandoned {100 * s['p_abandon']:.1f} %, "
          f"ASA {s['asa']:.1f} s, occupancy {100 * s['occupancy']:.1f} %")
    for note in plan.notes:
        print(f"note: {note}")
    return 0
