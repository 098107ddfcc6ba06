"""Charts: files are written, bands and the target line are drawn, and no legend covers data
(bounding boxes from matplotlib's own renderer)."""

from __future__ import annotations

from pathlib import Path

import pytest

import queueing.plots as plots
from queueing.profiles import builtin_profile
from queueing.sim import simulate


def legend_problems(fig) -> list[str]:
    """Each legend that overlaps any axes of the figure, covers a drawn point, or leaves the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # a closed figure has lost its pyplot canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    fig_box = fig.bbox
    out = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is None:
            continue
        box = leg.get_window_extent(renderer)
        for other in fig.axes:
            if box.overlaps(other.get_window_extent(renderer)):
                out.append(f"legend of {ax.get_title()!r} overlaps the axes {other.get_title()!r}")
        for line in ax.get_lines():
            pts = line.get_transform().transform(line.get_xydata())
            if any(box.contains(x, y) for x, y in pts if x == x and y == y):
                out.append(f"legend of {ax.get_title()!r} covers points of {line.get_label()!r}")
        if not (fig_box.x0 <= box.x0 and box.x1 <= fig_box.x1 and fig_box.y0 <= box.y0 and box.y1 <= fig_box.y1):
            out.append(f"legend of {ax.get_title()!r} is cut off by the figure edge")
    return out


@pytest.fixture
def figures(monkeypatch) -> list:
    """The figures the plot functions save (closed by pyplot, still drawable for inspection)."""
    kept: list = []
    real = plots._save

    def keep(fig, path, title):
        kept.append(fig)
        return real(fig, path, title)

    monkeypatch.setattr(plots, "_save", keep)
    return kept


def test_the_check_catches_a_legend_inside_the_data() -> None:
    """The negative control: the old placement (inside, upper left) over a line that runs there."""
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    x = [i / 200 for i in range(201)]
    ax.plot(x, [1 - v for v in x], label="a falling line")  # starts in the upper left corner
    ax.legend(loc="upper left")
    try:
        problems = legend_problems(fig)
        assert any("covers points of 'a falling line'" in p for p in problems)
        assert any("overlaps the axes" in p for p in problems)
    finally:
        plt.close(fig)


def test_day_plot_has_bands_target_and_legends_off_the_data(figures, tmp_path: Path) -> None:
    p = builtin_profile()
    res = simulate(p.scenario(), seed=1, replications=4)
    png = plots.plot_day(tmp_path / "day.png", p.labels(), res.intervals, aht=p.aht(), sl_seconds=20.0,
                         target_sl=0.8, roster=[a + 5 for a in p.agents], title="weekday")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    fig = figures[0]
    assert legend_problems(fig) == []
    waits, sl, staffing = fig.axes
    labels = [t.get_text() for t in sl.get_legend().get_texts()]
    assert "target service level 80 %" in labels
    assert any("95 % CI" in lab for lab in labels)  # the band over the replications
    assert len(sl.collections) == 2  # SL and abandonment bands
    assert any("current roster" in t.get_text() for t in staffing.get_legend().get_texts())


def test_backtest_and_forecast_plots_keep_legends_off_the_data(figures, tmp_path: Path) -> None:
    labels = [f"{h:02d}:00" for h in range(24)]
    rows = [{"forecast_calls": 10.0 + h, "actual_calls": 9.0 + h, "planned_service_level": 0.85,
             "planned_service_level_ci95": 0.05, "actual_service_level": 0.8 if h % 2 else 0.95} for h in range(24)]
    plots.plot_backtest(tmp_path / "bt.png", labels, rows, sl_seconds=20.0, target_sl=0.8)
    plots.plot_forecast(tmp_path / "fc.png", labels, [10.0 + h for h in range(24)], [8.0] * 24, [40.0] * 24)
    assert (tmp_path / "bt.png").stat().st_size > 10_000 and (tmp_path / "fc.png").stat().st_size > 10_000
    for fig in figures:
        assert legend_problems(fig) == []
    sl = figures[0].axes[1]  # the backtest's service-level panel: in percent, with the target
    assert sl.get_ylim() == (0.0, 100.0) and sl.get_ylabel() == "percent"
    assert "target service level 80 %" in [t.get_text() for t in sl.get_legend().get_texts()]
