"""``hotline simulate``: the Numba queue simulator, stationary (flags) or over a day (--profile)."""

from __future__ import annotations

import argparse

HELP = "simulate waits, abandonment and service level (stationary queue or a day profile)"

PROGRESS_CALLS = 2_000_000  # show a progress bar when a run simulates more calls than this


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number

    parser.add_argument("--profile", help="day profile: a .toml or .csv file, or 'weekday' (built-in)")
    parser.add_argument("--rate", type=number(float, ge=0), help="arrival rate, calls per second (stationary run)")
    parser.add_argument("--aht", type=number(float, gt=0), help="average handling time, seconds (exponential unless --service)")
    parser.add_argument("--agents", type=number(int, ge=0), help="agents on duty (stationary run)")
    parser.add_argument("--patience", type=number(float, ge=0), default=None,
                        help="mean patience in seconds (exponential); omit: callers never hang up")
    parser.add_argument("--service", metavar="DIST", help="service time, e.g. lognormal:300:0.8, gamma:300:0.5, "
                        "deterministic:300, empirical:120,300,540 (overrides --aht)")
    parser.add_argument("--patience-dist", metavar="DIST", help="patience distribution (overrides --patience)")
    parser.add_argument("--sl-seconds", type=number(float, ge=0), default=None, help="service-level threshold T, seconds")
    parser.add_argument("--hours", type=number(float, gt=0), default=None, help="stationary run length in hours (default 100)")
    parser.add_argument("--seed", type=number(int, ge=0), default=0, help="random seed (same seed, same result)")
    parser.add_argument("--replications", type=number(int, ge=1), default=None,
                        help="independent replications (default: 1 with batch means when stationary, 10 for a profile)")
    parser.add_argument("--redial-prob", type=number(float, ge=0, lt=1), default=None, help="probability an abandoning/busy caller calls again")
    parser.add_argument("--redial-delay", type=number(float, ge=0), default=None, help="mean delay before a redial, seconds")
    parser.add_argument("--callback-threshold", type=number(float, ge=0), default=None,
                        help="offer a callback when the estimated wait exceeds this many seconds")
    parser.add_argument("--callback-accept", type=number(float, ge=0, le=1), default=None, help="share of callers who accept a callback")
    parser.add_argument("--queue-capacity", type=number(int, ge=0), default=None, help="callers allowed to wait; more get busy")
    parser.add_argument("--roster", metavar="FILE",
                        help="agents on duty per interval for the profile (CSV start,agents, e.g. hotline staff --csv)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="draw waits, abandonment and staffing by interval")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    from queueing.sim import Distribution

    kw: dict[str, object] = {}
    if args.service:
        kw["service"] = Distribution.parse(args.service)
    elif args.aht is not None:
        kw["service"] = Distribution.exponential(args.aht)
    if args.patience_dist:
        kw["patience"] = None if args.patience_dist == "none" else Distribution.parse(args.patience_dist)
    elif args.patience is not None:
        kw["patience"] = Distribution.exponential(args.patience)
    if args.redial_prob is not None:
        kw["redial_prob"] = args.redial_prob
    if args.redial_delay is not None:
        kw["redial_delay"] = Distribution.exponential(args.redial_delay)
    if args.callback_threshold is not None:
        kw["callback_threshold"] = args.callback_threshold
    if args.callback_accept is not None:
        kw["callback_accept"] = args.callback_accept
    if args.queue_capacity is not None:
        kw["queue_capacity"] = args.queue_capacity
    return kw


def build(args: argparse.Namespace):
    """(scenario, labels, profile or None, replications) from the flags."""
    from engine.commands.erlang import sl_seconds_from
    from engine.errors import UsageError
    from queueing.profiles import load_profile
    from queueing.sim import Scenario

    kw = _overrides(args)
    if args.profile:
        if args.rate is not None or args.agents is not None or args.hours is not None:
            raise UsageError("--rate/--agents/--hours describe a stationary queue; the profile gives the day")
        profile = load_profile(args.profile)
        if args.roster:
            from queueing.roster import load_roster

            profile = profile.with_agents(load_roster(args.roster, profile.labels()))
        if not any(profile.agents):
            raise UsageError(f"{args.profile}: no agents on duty in any interval (a forecast?); "
                             "give --roster FILE with the agents per interval")
        if "service" in kw or "patience" in kw:  # a flat --aht/--service/--patience replaces the per-interval means
            profile = profile.with_behaviour(kw.pop("service", None), kw.pop("patience", "keep"))
        if args.sl_seconds is not None:
            kw["sl_seconds"] = args.sl_seconds
        scenario = profile.scenario(**kw)
        return scenario, profile.labels(), profile, args.replications or 10
    if args.roster:
        raise UsageError("--roster gives agents per interval of a --profile; a stationary run takes --agents")
    missing = [f for f in ("rate", "agents") if getattr(args, f) is None]
    if args.aht is None and not args.service:
        missing.append("aht")
    if missing:
        raise UsageError("give --profile, or --rate, --aht and --agents (missing: " + ", ".join("--" + m for m in missing) + ")")
    hours = 100.0 if args.hours is None else args.hours
    service = kw.pop("service")
    patience = kw.pop("patience", None)
    scenario = Scenario.stationary(args.rate, service, args.agents, patience, hours=hours,
                                   sl_seconds=sl_seconds_from(args), **kw)
    step = hours / scenario.intervals
    labels = [f"{i * step:.1f}h" for i in range(scenario.intervals)]
    return scenario, labels, None, args.replications or 1


def theory_for(scenario) -> dict[str, float] | None:
    """Erlang C/A figures when the stationary run is exactly M/M/n(+M) without extras."""
    from queueing.erlang import CapacityError, queue_metrics

    exp = scenario.service.kind == "exponential" and (
        scenario.patience is None or scenario.patience.kind == "exponential")
    plain = scenario.redial_prob == 0 and scenario.callback_threshold is None and scenario.queue_capacity is None
    if not (scenario.batch_means and exp and plain and scenario.agents[0] >= 1):
        return None
    try:
        m = queue_metrics(scenario.rates[0], scenario.service.mean, scenario.agents[0],
                          None if scenario.patience is None else scenario.patience.mean, scenario.sl_seconds)
    except CapacityError:
        return None
    return m.as_dict()


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from engine.errors import UsageError
    from queueing.erlang import ScenarioError
    from queueing.report import interval_table, json_safe, metric_lines, sl_definitions
    from queueing.sim import simulate

    try:
        scenario, labels, profile, reps = build(args)
        if scenario.patience is None and scenario.batch_means and scenario.queue_capacity is None:
            load = scenario.rates[0] * scenario.service.mean
            if load >= scenario.agents[0]:
                raise UsageError(
                    f"offered load {load:.4g} erlangs >= {scenario.agents[0]} agents and callers never hang up: "
                    "the queue grows without bound (add agents, --patience, or --queue-capacity)")
        total = scenario.expected_calls * reps
        progress = not args.no_progress and total >= PROGRESS_CALLS
        if progress:
            print(f"simulating about {total:,.0f} calls...", file=sys.stderr)
        result = simulate(scenario, seed=args.seed, replications=reps, progress=progress)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    theory = theory_for(scenario)
    sl = scenario.sl_seconds
    if args.plot:
        from queueing.plots import plot_day

        w = scenario.warmup_intervals
        aht = scenario.aht_by_interval[w:] if scenario.aht_by_interval else scenario.service.mean
        plot_day(args.plot, labels[w:], result.intervals[w:], aht=aht, sl_seconds=sl,
                 title=scenario.name or "simulated queue")
    if args.json:
        out: dict[str, object] = dict(result.summary)
        out.update(
            seed=args.seed, replications=result.replications, ci_method=result.ci_method, sl_seconds=sl,
            service=scenario.service.describe(),
            patience=None if scenario.patience is None else scenario.patience.describe(),
            simulated_calls=result.calls, seconds=result.seconds,
            service_level_definitions=sl_definitions(sl), erlang=theory,
        )
        if profile is not None:
            out["profile"] = profile.name
            out["intervals"] = [{"time": lab, **row} for lab, row in zip(labels, result.intervals, strict=True)]
        print(json.dumps(json_safe(out), indent=2))
        return 0
    pat = "never hang up" if scenario.patience is None else f"patience {scenario.patience.describe()}"
    head = profile.name if profile else f"stationary queue, {scenario.rates[0]:g} calls/s, {scenario.agents[0]} agents"
    print(f"{head}; service {scenario.service.describe()}; {pat}")
    ci_note = ("95 % CI from batch means" if result.ci_method == "batch means"
               else f"95 % CI over {result.replications} replications")
    print(f"{result.calls:,} calls simulated in {result.seconds:.2f} s (seed {args.seed}; {ci_note})")
    if profile is not None:
        print(interval_table(labels, result.intervals, sl))
        print("Whole day:")
    ci = {k[:-5]: v for k, v in result.summary.items() if k.endswith("_ci95")}
    theory_col = None
    if theory is not None:
        theory_col = theory
        print(f"  {'':16s} {'simulated':>9}  {'± 95%':>8}   {'Erlang ' + ('C' if scenario.patience is None else 'A'):>8}")
    for line in metric_lines(result.summary, sl, ci=ci, theory=theory_col):
        print(line)
    s = result.summary
    print(f"  calls {s['calls']:,.0f} (per replication), answered {s['answered']:,.0f}, "
          f"abandoned {s['abandoned']:,.0f}, busy {s['busy']:,.0f}, redials {s['redials']:,.0f}, "
          f"callbacks {s['callbacks']:,.0f}")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
