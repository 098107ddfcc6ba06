"""``hotline sweep``: a grid of what-if scenarios over a day, simulated in batches of replications
in this process, a local process pool, or a Dask cluster."""

from __future__ import annotations

import argparse

HELP = "simulate a grid of scenarios (staffing, arrival rates, patience, AHT) x intervals, optionally on Dask"

BACKENDS = ("inprocess", "pool", "dask")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number

    parser.add_argument("file", metavar="FILE.toml", help="the sweep: base profile, grid, replications (docs/capacity.md)")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="where the tasks run (default: this process; 'pool' when --workers > 1; 'dask' with --scheduler)")
    parser.add_argument("--workers", type=number(int, ge=1), default=None,
                        help="local worker processes for 'pool' or a local Dask cluster (default 2)")
    parser.add_argument("--scheduler", metavar="URL",
                        help="a running Dask scheduler, e.g. tcp://host:8786 (its workers need hotline installed)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="print the records as CSV (one row per scenario and interval)")
    out.add_argument("--json", action="store_true", help="print the records and the run's details as JSON")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def backend_from(args: argparse.Namespace):
    """The backend the flags ask for (not started yet)."""
    from engine.errors import UsageError
    from queueing.sim.backends import DaskCluster, InProcess, ProcessPool

    kind = args.backend
    if args.scheduler:
        if kind not in (None, "dask"):
            raise UsageError(f"--scheduler is a Dask scheduler; it does not go with --backend {kind}")
        if args.workers is not None:
            raise UsageError("--workers starts local workers; the cluster behind --scheduler has its own")
        return DaskCluster(scheduler=args.scheduler)
    if kind is None:
        kind = "pool" if (args.workers or 1) > 1 else "inprocess"
    if kind == "inprocess":
        if (args.workers or 1) > 1:
            raise UsageError("--backend inprocess runs one task at a time; use --backend pool or dask for --workers")
        return InProcess()
    workers = args.workers or 2
    return ProcessPool(workers) if kind == "pool" else DaskCluster(workers)


def _figure(x: float, h: float, scale: float, unit: str) -> str:
    """``50.3% ±0.8``: a mean and its 95 % half-width (``n/a`` when there is none)."""
    import math

    if math.isnan(x):
        return "n/a"
    return f"{scale * x:.1f}{unit}" + ("" if math.isnan(h) else f" ±{scale * h:.1f}")


def _table(result) -> str:
    axes = [k for k, _ in result.sweep.axes]
    widths = [max(len(k), *(len(str(r[k])) for r in result.records)) for k in axes]
    head = "".join(f"{k:>{w}} " for k, w in zip(axes, widths, strict=True))
    lines = [f"{head}{'time':>5} {'calls/h':>7} {'agents':>6} {'SL':>12} {'mean wait':>12} {'abandoned':>12} "
             f"{'ASA':>7} {'occup.':>6}"]
    for r in result.records:
        params = "".join(f"{str(r[k]):>{w}} " for k, w in zip(axes, widths, strict=True))
        lines.append(
            f"{params}{r['time']:>5} {r['calls_per_hour']:7.0f} {r['agents']:6d} "
            f"{_figure(r['service_level'], r['service_level_ci95'], 100, '%'):>12} "
            f"{_figure(r['mean_wait'], r['mean_wait_ci95'], 1, 's'):>12} "
            f"{_figure(r['p_abandon'], r['p_abandon_ci95'], 100, '%'):>12} "
            f"{_figure(r['asa'], float('nan'), 1, 's'):>7} {_figure(r['occupancy'], float('nan'), 100, '%'):>6}")
    lines.append(f"SL = answered within {result.sweep.base.sl_seconds:g} s / offered; mean wait over all callers "
                 "on the line; ± = 95 % CI over the replications")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    import sys

    from engine.errors import UsageError
    from queueing.erlang import ScenarioError
    from queueing.report import json_safe, sl_definitions
    from queueing.sim.grid import load_sweep
    from queueing.sim.sweep import run_sweep

    backend = backend_from(args)
    try:
        sweep = load_sweep(args.file)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    bar = None
    if not args.no_progress:
        from tqdm import tqdm  # on stderr, and off when stderr is no terminal

        bar = tqdm(desc="tasks", unit="task", leave=False, disable=None)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        with backend:
            result = run_sweep(sweep, backend, progress)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    if args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(result.records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(json_safe(result.records))  # NaN (no answered call) as an empty cell
        return 0
    run_info = {
        "name": sweep.name, "split": sweep.split, "lead_in": sweep.lead_in, "replications": sweep.replications,
        "seed": sweep.seed, "scenarios": sweep.size, "intervals": len(sweep.intervals), "backend": result.backend,
        "workers": result.workers, "tasks": result.tasks, "batch_sizes": list(result.batch_sizes),
        "simulated_calls": result.calls, "seconds": result.seconds, "task_seconds": result.task_seconds,
        "kernel_load_seconds": result.warmups,
    }
    if args.json:
        out = {**run_info, "service_level_definitions": sl_definitions(sweep.base.sl_seconds), "records": result.records}
        print(json.dumps(json_safe(out), indent=2))
        return 0
    print(f"{sweep.name}: {sweep.size} scenario(s) x {len(sweep.intervals)} interval(s) x {sweep.replications:,} "
          f"replications (split by {sweep.split}, lead-in {sweep.lead_in}, seed {sweep.seed})")
    loads = ", ".join(f"{s:.2f}" for s in result.warmups.values()) or "none (already loaded)"
    print(f"{result.tasks} task(s) of {'/'.join(f'{b:,}' for b in result.batch_sizes)} replications on "
          f"{result.backend} ({result.workers} worker(s)); {result.calls:,} calls in {result.seconds:.1f} s; "
          f"kernel load per worker: {loads} s")
    print(_table(result))
    return 0
