"""Simulation sweeps: the grid file, seeds that do not depend on the split, equal figures on every
backend (in-process, a process pool, a real Dask LocalCluster with 1 and 2 workers, and its
scheduler over TCP), Erlang C for a stationary queue, bad grids and sizes beyond memory."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from queueing.erlang import ScenarioError, queue_metrics
from queueing.sim.backends import BackendError, DaskCluster, InProcess, ProcessPool
from queueing.sim.grid import load_sweep, parse_sweep
from queueing.sim.sweep import FIGURES, plan, run_sweep

# A small evening: three 10-minute intervals, about 60-110 calls each, some abandoning and redialling.
EVENING = """
name = "small evening"
interval_minutes = 10
service = "lognormal:150:0.8"
patience = 120
redial_prob = 0.2
redial_delay = 60
intervals = [["18:00", 360, 10], ["18:10", 540, 12], ["18:20", 420, 11]]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def sweep_file(tmp_path: Path, extra: str = "", grid: str = "agents_delta = [0, 2]\nrate_multiplier = [1.0, 1.2]",
               replications: int = 1200) -> Path:
    write(tmp_path, "evening.toml", EVENING)
    return write(tmp_path, "sweep.toml",
                 f'profile = "evening.toml"\nreplications = {replications}\nseed = 4\n{extra}\n[grid]\n{grid}\n')


def same_records(a: list[dict], b: list[dict]) -> bool:
    def eq(x: object, y: object) -> bool:
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    return len(a) == len(b) and all(ra.keys() == rb.keys() and all(eq(ra[k], rb[k]) for k in ra)
                                    for ra, rb in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def cluster():
    """A real Dask LocalCluster: 2 single-threaded worker processes."""
    with DaskCluster(workers=2) as c:
        yield c


def test_the_grid_is_every_combination_with_records_per_scenario_and_interval(tmp_path: Path) -> None:
    sweep = load_sweep(sweep_file(tmp_path, 'report = ["18:10", "18:20"]\nbatch = 500'))
    cases, tasks = plan(sweep)
    assert [c.params for c in cases] == [{"agents_delta": 0, "rate_multiplier": 1.0}, {"agents_delta": 0, "rate_multiplier": 1.2},
                                         {"agents_delta": 2, "rate_multiplier": 1.0}, {"agents_delta": 2, "rate_multiplier": 1.2}]
    assert cases[3].scenario.agents == (12, 14, 13) and cases[3].scenario.rates[1] == pytest.approx(0.18)
    assert [t.count for t in tasks[:3]] == [500, 500, 200] and len(tasks) == 12  # by day: 3 tasks per scenario
    res = run_sweep(sweep)
    assert len(res.records) == 8 and [r["time"] for r in res.records[:2]] == ["18:10", "18:20"]
    r = res.records[3]
    assert (r["scenario"], r["agents_delta"], r["rate_multiplier"], r["agents"], r["replications"]) == (1, 0, 1.2, 11, 1200)
    assert r["calls_per_hour"] == pytest.approx(504.0)
    for f in FIGURES:
        assert f in r and f"{f}_ci95" in r
    assert 0 < r["p_abandon"] < 1 and r["p_abandon_ci95"] > 0 and r["redials"] > 0
    # more calls, same roster: worse; more agents: better
    by = {(x["agents_delta"], x["rate_multiplier"], x["time"]): x for x in res.records}
    assert by[(0, 1.2, "18:10")]["mean_wait"] > by[(0, 1.0, "18:10")]["mean_wait"] > by[(2, 1.0, "18:10")]["mean_wait"]
    assert res.calls > 0 and len(res.warmups) <= 1


def test_grid_values_change_the_scenario_and_show_as_a_sweep_file_gives_them(tmp_path: Path) -> None:
    grid = ('patience = [300, "gamma:240:0.5", "none"]\naht = 250\ncallback_threshold = ["none", 60]\n'
            "queue_capacity = [5]\nredial_prob = 0.1\nsl_seconds = 30")
    sweep = load_sweep(sweep_file(tmp_path, 'report = ["18:00"]', grid, replications=2))
    cases, _ = plan(sweep)
    assert len(cases) == 6
    sc = cases[0].scenario
    assert (sc.service.kind, sc.service.mean, sc.service.cv) == ("lognormal", 250.0, 0.8)  # the base's shape, another mean
    assert sc.patience.kind == "exponential" and sc.callback_threshold is None and sc.queue_capacity == 5
    assert (sc.redial_prob, sc.sl_seconds, cases[1].scenario.callback_threshold) == (0.1, 30.0, 60.0)
    assert cases[4].scenario.patience is None and cases[2].scenario.patience.cv == 0.5
    res = run_sweep(sweep)
    assert [(r["patience"], r["callback_threshold"]) for r in res.records] == [
        ("300", "none"), ("300", 60.0), ("gamma:240:0.5", "none"), ("gamma:240:0.5", 60.0), ("none", "none"), ("none", 60.0)]
    assert res.records[0]["aht"] == 250.0 and res.records[0]["queue_capacity"] == 5


def test_a_profile_with_aht_and_patience_by_interval_is_cut_into_windows_with_them(tmp_path: Path) -> None:
    """``hotline profile --out x.toml`` writes AHT and patience per interval; each window (the day
    with its lead-in, or one interval) keeps the values of its own intervals."""
    write(tmp_path, "evening.toml", EVENING + "aht_by_interval = [100, 200, 300]\npatience_by_interval = [60, 90, 120]\n")
    for split, aht, patience in (("day", [(100, 100, 100, 200, 300)], [(60, 60, 60, 90, 120)]),
                                 ("interval", [(100, 100, 100), (100, 100, 200), (100, 200, 300)],
                                  [(60, 60, 60), (60, 60, 90), (60, 90, 120)])):
        sweep = load_sweep(write(tmp_path, "s.toml", f'profile = "evening.toml"\nreplications = 2\nsplit = "{split}"\n'
                                                     "[grid]\nagents_delta = [0]\n"))
        _, tasks = plan(sweep)
        assert [t.scenario.aht_by_interval for t in tasks] == aht
        assert [t.scenario.patience_by_interval for t in tasks] == patience
        assert len(run_sweep(sweep).records) == 3


def test_grid_aht_service_and_patience_replace_the_means_by_interval(tmp_path: Path) -> None:
    """As ``--aht``/``--patience`` do: a grid value is the one mean for every interval (kept, the
    per-interval means would scale it back to themselves, and ``patience = "none"`` could not be)."""
    write(tmp_path, "evening.toml", EVENING + "aht_by_interval = [100, 200, 300]\npatience_by_interval = [60, 90, 120]\n")
    for grid in ('aht = 250\npatience = [200, "none"]', 'service = "gamma:250:0.5"\npatience = [200, "none"]'):
        sweep = load_sweep(write(tmp_path, "s.toml", f'profile = "evening.toml"\nreplications = 2\n[grid]\n{grid}\n'))
        cases, _ = plan(sweep)
        assert sweep.base.aht_by_interval == (100.0, 200.0, 300.0)
        first, never = cases[0].scenario, cases[1].scenario
        assert first.service.mean == 250.0 and first.patience.mean == 200.0 and never.patience is None
        assert (first.aht_by_interval, first.patience_by_interval, never.patience_by_interval) == (None, None, None)
        assert [s.tolist() for s in first.interval_scales()] == [[1.0] * 3, [1.0] * 3]


def test_streams_are_per_replication_so_the_batch_size_does_not_matter(tmp_path: Path) -> None:
    """Each replication has its own stream (the spawn tree's leaf); cutting the replications
    into other batches changes only the order of the sums."""
    ss = np.random.SeedSequence(4, spawn_key=(3, 1, 7))
    leaf = np.random.SeedSequence(4).spawn(4)[3].spawn(2)[1].spawn(8)[7]
    assert ss.generate_state(4).tolist() == leaf.generate_state(4).tolist()
    one = run_sweep(load_sweep(sweep_file(tmp_path, 'batch = 1200\nsplit = "interval"', "agents_delta = [0]")))
    three = run_sweep(load_sweep(sweep_file(tmp_path, 'batch = 400\nsplit = "interval"', "agents_delta = [0]")))
    assert one.tasks == 3 and three.tasks == 9
    for a, b in zip(one.records, three.records, strict=True):
        for f in ("offered", "mean_wait", "service_level", "p_abandon", "wait_p90"):
            assert a[f] == pytest.approx(b[f], rel=1e-12) and a[f"{f}_ci95"] == pytest.approx(b[f"{f}_ci95"], rel=1e-9)


@pytest.mark.parametrize("split", ["day", "interval"])
def test_in_process_pool_and_dask_with_1_and_2_workers_give_identical_figures(tmp_path: Path, cluster, split: str) -> None:
    sweep = load_sweep(sweep_file(tmp_path, f'batch = 200\nsplit = "{split}"', "agents_delta = [0, 2]", 600))
    here = run_sweep(sweep)
    on_two = run_sweep(sweep, cluster)
    with DaskCluster(workers=1) as one:
        on_one = run_sweep(sweep, one)
    with ProcessPool(2) as pool:
        pooled = run_sweep(sweep, pool)
    assert here.tasks == on_two.tasks >= 6
    for other in (on_two, on_one, pooled):
        assert same_records(here.records, other.records)
    # the kernel is loaded once per worker process, not once per task
    assert 1 <= len(on_one.warmups) + len(on_two.warmups) <= 3 and len(pooled.warmups) <= 2
    assert on_two.backend == "dask" and on_two.workers == 2 and pooled.backend == "process pool"


def test_a_stationary_queue_matches_erlang_c(tmp_path: Path) -> None:
    """M/M/n, no abandonment, warmed up by the lead-in: each figure within 4 standard errors."""
    write(tmp_path, "mmn.toml", 'interval_minutes = 30\nservice = 180\npatience = "none"\n'
                                'intervals = [["00:00", 360, 22]]\n')
    sweep = load_sweep(write(tmp_path, "s.toml", 'profile = "mmn.toml"\nreplications = 3000\nseed = 2\nlead_in = 4\n'
                                                 "[grid]\nagents = [22, 25]\n"))
    res = run_sweep(sweep)
    for r in res.records:
        theory = queue_metrics(0.1, 180.0, r["agents"], None, 20.0).as_dict()
        for f in ("p_wait", "mean_wait", "service_level", "occupancy"):
            se = r[f"{f}_ci95"] / 1.96
            assert abs(r[f] - theory[f]) < 4 * se, (r["agents"], f, r[f], theory[f], se)


def test_bad_grids_name_the_key(tmp_path: Path) -> None:
    write(tmp_path, "evening.toml", EVENING)

    def bad(text: str) -> str:
        with pytest.raises(ScenarioError) as exc:
            load_sweep(write(tmp_path, "bad.toml", 'profile = "evening.toml"\n' + text))
        return str(exc.value)

    assert "unknown grid key 'agent_delta'" in bad("[grid]\nagent_delta = [1]\n")
    assert "grid.agents_delta: expected a whole number, got 1.5" in bad("[grid]\nagents_delta = [0, 1.5]\n")
    assert "grid.rate_multiplier: expected a finite number >= 0, got -1" in bad("[grid]\nrate_multiplier = -1\n")
    assert "grid.patience" in bad('[grid]\npatience = ["weibull:100"]\n')
    assert "grid.aht has no values" in bad("[grid]\naht = []\n")
    assert "grid.aht and grid.service" in bad('[grid]\naht = [200]\nservice = ["gamma:200:0.5"]\n')
    assert "unknown key(s) replication" in bad("replication = 10\n")
    assert "replications: expected a whole number >= 2, got 1" in bad("replications = 1\n")
    assert "report: no interval starts at '19:00'" in bad('report = ["19:00"]\n')
    assert "split must be one of day, interval" in bad('split = "hour"\n')
    assert ("grid scenario service = 'deterministic:0': mean service time must be > 0 seconds"
            in bad('[grid]\nservice = ["300", "deterministic:0"]\n'))
    with pytest.raises(ScenarioError, match="'profile' is missing"):
        parse_sweep({"replications": 10}, "s.toml")
    with pytest.raises(ScenarioError, match=r"s\.toml: profile: profile 'nowhere\.csv' not found"):
        parse_sweep({"profile": "nowhere.csv"}, "s.toml", tmp_path)


def test_the_command_refuses_a_bad_grid_in_one_line(tmp_path: Path, capsys) -> None:
    write(tmp_path, "evening.toml", EVENING)
    f = write(tmp_path, "bad.toml", 'profile = "evening.toml"\n[grid]\nagents_delta = ["five"]\n')
    assert main(["sweep", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("hotline sweep: ") and "grid.agents_delta" in err and "'five'" in err
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: sweep file not found" in capsys.readouterr().err
    assert main(["sweep", str(f), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    assert "--workers starts local workers" in capsys.readouterr().err
    assert main(["sweep", str(f), "--backend", "inprocess", "--workers", "2"]) == 2


def test_sizes_beyond_memory_are_refused_before_running(tmp_path: Path, monkeypatch, capsys) -> None:
    import queueing.sim.memory
    import queueing.sim.sweep

    monkeypatch.setattr(queueing.sim.memory, "available_memory", lambda: 2_000_000_000)
    ran = []
    monkeypatch.setattr(queueing.sim.sweep, "run_task", lambda t: ran.append(t))
    f = sweep_file(tmp_path, grid="agents = [10, 100000000]")
    assert main(["sweep", str(f)]) == 2
    err = capsys.readouterr().err
    assert "this sweep would need about" in err and "100,000,000 agents x 5 intervals" in err and not ran
    huge = "\n".join(f"{k} = [{', '.join(str(v) for v in range(1, 101))}]"
                     for k in ("agents", "aht", "sl_seconds", "callback_threshold", "queue_capacity"))
    with pytest.raises(ScenarioError, match=r"mostly for 30,000,000,000 records \(scenarios x intervals\)"):
        run_sweep(load_sweep(sweep_file(tmp_path, grid=huge)))
    assert not ran


def test_a_remote_cluster_refuses_a_task_beyond_a_workers_memory(tmp_path: Path, cluster) -> None:
    sweep = load_sweep(sweep_file(tmp_path, grid="agents = [1000000000]"))
    with DaskCluster(scheduler=cluster.address) as remote:
        assert remote.remote and remote.workers == 2 and remote.worker_memory() > 0
        with pytest.raises(ScenarioError, match=r"one task of this sweep would need about .* on a worker \(mostly "
                                                r"for 1,000,000,000 agents x 5 intervals\)"):
            run_sweep(sweep, remote)


def test_an_unreachable_scheduler_is_one_clear_error() -> None:
    with pytest.raises(BackendError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"), \
            DaskCluster(scheduler="tcp://127.0.0.1:9", timeout=1.0):
        pass


def test_the_command_prints_csv_json_and_runs_on_a_scheduler(tmp_path: Path, cluster, capsys) -> None:
    f = sweep_file(tmp_path, 'report = ["18:10"]\nbatch = 400')
    assert main(["sweep", str(f), "--csv", "--no-progress"]) == 0
    here = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(here) == 4 and here[0]["time"] == "18:10" and float(here[0]["service_level"]) > 0
    assert main(["sweep", str(f), "--csv", "--no-progress", "--scheduler", cluster.address]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out))) == here
    assert main(["sweep", str(f), "--json", "--no-progress", "--workers", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "process pool" and data["workers"] == 2 and data["tasks"] == 12
    assert data["batch_sizes"] == [400] and data["split"] == "day" and len(data["records"]) == 4
    assert data["records"][0]["mean_wait"] == pytest.approx(float(here[0]["mean_wait"]), rel=1e-12)
    assert "offered" in data["service_level_definitions"]["service_level"]
    assert main(["sweep", str(f), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "4 scenario(s) x 1 interval(s) x 1,200 replications" in out and "18:10" in out and "±" in out


def test_the_default_backend_is_in_process() -> None:
    from engine.cli import build_parser
    from engine.commands.sweep import backend_from

    def backend(*argv: str):
        return backend_from(build_parser().parse_args(["sweep", "x.toml", *argv]))

    assert isinstance(backend(), InProcess)
    assert isinstance(backend("--workers", "3"), ProcessPool) and backend("--workers", "3").workers == 3
    d = backend("--backend", "dask")
    assert isinstance(d, DaskCluster) and d.workers == 2 and not d.remote
    assert backend("--scheduler", "tcp://h:8786").remote


@pytest.mark.parametrize("batch", [1, 2])
def test_the_memory_estimate_of_records_and_tasks_bounds_the_measured_peak(tmp_path: Path, batch: int) -> None:
    """Many scenarios of tiny replications: what the caller holds is records and tasks."""
    import tracemalloc

    from queueing.sim.memory import RECORD_BYTES, TASK_BYTES

    write(tmp_path, "tiny.toml", 'interval_minutes = 10\nservice = 150\npatience = 120\n'
                                 'intervals = [["18:00", 6, 1], ["18:10", 6, 1], ["18:20", 6, 1]]\n')
    agents = ", ".join(str(i) for i in range(1, 201))
    sweep = load_sweep(write(tmp_path, "s.toml", f'profile = "tiny.toml"\nreplications = 2\nbatch = {batch}\n'
                                                 f'split = "interval"\nlead_in = 0\n[grid]\nagents = [{agents}]\n'))
    run_sweep(load_sweep(sweep_file(tmp_path, grid="agents = [1]", replications=2)))  # kernel loaded before measuring
    tracemalloc.start()
    try:
        res = run_sweep(sweep)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = len(res.records) * RECORD_BYTES + res.tasks * TASK_BYTES
    assert len(res.records) == 600 and res.tasks == 600 * 2 // batch
    assert peak <= estimate <= 4 * peak, (peak, estimate)
