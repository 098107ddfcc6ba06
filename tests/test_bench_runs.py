"""benchmarks/_runs.py: the interleaving and the median (min-max) every benchmark figure uses."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from benchmarks._runs import Spread, add_runs_argument, alternate, ratios


def test_alternate_turns_the_order_each_run():
    calls: list[str] = []
    jobs = {name: (lambda name=name: calls.append(name) or len(calls)) for name in ("ours", "peer")}
    res = alternate(jobs, 4)
    assert calls == ["ours", "peer", "peer", "ours", "ours", "peer", "peer", "ours"]
    assert res == {"ours": [1, 4, 5, 8], "peer": [2, 3, 6, 7]}


def test_alternate_three_jobs_each_goes_first_once():
    calls: list[str] = []
    jobs = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    alternate(jobs, 3)
    assert [calls[i] for i in (0, 3, 6)] == ["a", "b", "c"]


def test_spread_is_median_min_max_not_the_best_run():
    s = Spread.of([3.0, 1.0, 10.0, 2.0, 4.0])
    assert (s.median, s.lo, s.hi, s.n) == (3.0, 1.0, 10.0, 5)
    assert s.fmt(".1f", "x") == "3.0x (1.0-10.0x)"
    assert Spread.of([-2.0, 1.0, 0.5]).fmt("+.1f") == "+0.5 (-2.0 to +1.0)"


def test_ratios_pair_runs_of_the_same_round():
    assert ratios([2.0, 9.0], [1.0, 3.0]) == [2.0, 3.0]
    with pytest.raises(ValueError):
        ratios([1.0], [1.0, 2.0])


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_runs_option_refuses_less_than_one_run(bad, capsys):
    parser = argparse.ArgumentParser(prog="bench")
    add_runs_argument(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--runs", bad])
    assert "argument --runs" in capsys.readouterr().err


@pytest.mark.parametrize("script", sorted(p.stem for p in (Path(__file__).parents[1] / "benchmarks").glob("bench_*.py")))
def test_every_benchmark_script_imports(script):
    """``make bench`` runs them all: a name one of them imports from another must still exist."""
    module = importlib.import_module(f"benchmarks.{script}")
    assert callable(module.main)
