"""The whole engine on loopback (``hotline demo --no-serve``): what tap admission costs.

Runs the demo (60 calls of the 19:00 peak, x24, seed 12345: the same callers every run) under
three tap admission settings, alternating over ``--runs`` runs (``benchmarks/_runs.py``), each
in a fresh process; per run: wall time, CPU (user + system of the process, from ``wait4``), peak
RSS, conversations tapped of those answered, and the worst decoding backlog, from the demo's
``--json`` report. The default setting is the reference: ratios are each setting's CPU over the
default's in the same run. Each demo takes about three minutes.

    .venv/bin/python benchmarks/bench_demo.py [--runs 3] [--calls 60 --minutes 60 --speed 24]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, ratios  # noqa: E402

NO_BACKLOG_RULE = ["--set", "tap.max_backlog=0"]
SETTINGS = {  # name: (options of `hotline`, options of `hotline demo`)
    "default: 4 legs per core + backlog <= 5 s": ([], []),
    "4 legs per core, no backlog rule": (NO_BACKLOG_RULE, []),
    "2 legs per core, no backlog rule": (NO_BACKLOG_RULE, ["--max-tap-legs", str(2 * (os.cpu_count() or 1))]),
}


def demo(options: list[str], demo_options: list[str], folder: Path) -> dict[str, float]:
    """One demo in a fresh process; its resource use and report."""
    db = folder / f"demo-{time.monotonic_ns()}.sqlite"
    cmd = [sys.executable, "-c", "from engine.cli import entry; entry()", *options, "demo", "--no-serve", "--json",
           "--db", str(db), *demo_options]
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"hotline demo failed ({proc.returncode}): {err.read().decode()[-2000:]}")
        report = json.loads(out.read().decode().strip().splitlines()[-1])
    assert report["ground_truth_agrees"], report
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_gb": usage.ru_maxrss / 1e6,
            "tapped": report["tapped_calls"], "answered": report["answered"],
            "max_backlog_s": report["max_asr_backlog_seconds"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_runs_argument(ap, default=3)
    ap.add_argument("--calls", type=int, default=60, help="hotline demo --calls")
    ap.add_argument("--minutes", type=int, default=60, help="hotline demo --minutes")
    ap.add_argument("--speed", type=float, default=24.0, help="hotline demo --speed")
    args = ap.parse_args()
    play = ["--calls", str(args.calls), "--minutes", str(args.minutes), "--speed", f"{args.speed:g}"]
    load = Load()
    print(load.header(args.runs), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as d:
        res = alternate({name: (lambda o=o, do=do: demo(o, [*play, *do], Path(d))) for name, (o, do) in SETTINGS.items()},
                        args.runs)
    default = [r["cpu_s"] for r in res[next(iter(SETTINGS))]]
    print(f"median (min-max) over {args.runs} runs")
    print(f"{'tap admission':44s} {'wall s':>18s} {'CPU s':>18s} {'CPU / default':>20s} {'peak RSS GB':>18s} "
          f"{'tapped':>12s} {'answered':>12s} {'worst backlog s':>20s}")
    for name, runs in res.items():
        def col(key: str, spec: str = ".0f", runs: list[dict[str, float]] = runs) -> str:
            return Spread.of([r[key] for r in runs]).fmt(spec)

        share = Spread.of(ratios([r["cpu_s"] for r in runs], default)).fmt(".2f", "x")
        print(f"{name:44s} {col('wall_s'):>18s} {col('cpu_s'):>18s} {share:>20s} {col('peak_rss_gb', '.2f'):>18s} "
              f"{col('tapped'):>12s} {col('answered'):>12s} {col('max_backlog_s', '.1f'):>20s}")
    print(load.footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
