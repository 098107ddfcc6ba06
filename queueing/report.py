"""Plain-text tables and JSON-safe dicts for the capacity commands.

Why one place: every service-level figure shown must say which of the three definitions it is,
and NaN (no answered calls in an interval) must become ``null`` in JSON, not an invalid token.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

from queueing.erlang import SL_DEFINITIONS, QueueMetrics


def json_safe(obj: object) -> object:
    """NaN and infinities to None, tuples to lists, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def csv_text(rows: Sequence[dict[str, object]]) -> str:
    """Rows as CSV with a header from the first row's keys (commas, ``\n`` line ends, empty
    cells for NaN/None, floats to 6 significant digits), for Excel and the other commands."""
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(rows[0]))

    def cell(v: object) -> object:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return ""
        if isinstance(v, bool):
            return int(v)
        return f"{v:.6g}" if isinstance(v, float) else v

    for r in rows:
        writer.writerow([cell(v) for v in r.values()])
    return buf.getvalue()


def sl_definitions(sl_seconds: float) -> dict[str, str]:
    t = f"{sl_seconds:g} s"
    return {k: v.replace("T", t) for k, v in SL_DEFINITIONS.items()}


def _pct(x: float) -> str:
    return "     n/a" if x is None or math.isnan(x) else f"{100 * x:6.1f} %"


def _sec(x: float) -> str:
    return "     n/a" if x is None or math.isnan(x) else f"{x:6.1f} s"


def metric_lines(values: dict[str, float], sl_seconds: float, ci: dict[str, float] | None = None,
                 theory: dict[str, float] | None = None) -> list[str]:
    """One line per figure; optional 95 % half-widths and a theory column."""
    t = f"{sl_seconds:g} s"
    rows = [
        ("p_wait", "P(wait)", _pct, "callers who found every agent busy"),
        ("p_abandon", "P(abandon)", _pct, "callers who hung up while waiting"),
        ("mean_wait", "mean wait", _sec, "all callers, abandoners until they hang up"),
        ("asa", "ASA", _sec, "mean wait of answered callers"),
        ("service_level", "service level", _pct, f"answered within {t} / offered"),
        ("service_level_answered", "SL of answered", _pct, f"answered within {t} / answered"),
        ("p_wait_le_t", f"P(wait <= {t})", _pct, "all callers, abandoners counted"),
        ("occupancy", "occupancy", _pct, "talk time / agent time on duty"),
    ]
    out = []
    for key, label, fmt, note in rows:
        if key not in values:
            continue
        line = f"  {label:16s} {fmt(values[key])}"
        if ci is not None:
            h = ci.get(key, math.nan)
            scale = 100.0 if fmt is _pct else 1.0
            line += "  ± n/a   " if h is None or math.isnan(h) else f"  ± {scale * h:6.2f}"
        if theory is not None:
            line += f"   {fmt(theory.get(key, math.nan))}"
        out.append(f"{line}   {note}")
    return out


def format_metrics(m: QueueMetrics) -> str:
    model = {"erlang_c": "Erlang C (M/M/n)", "erlang_a": "Erlang A (M/M/n+M)",
             "erlang_b": "Erlang B (zero patience: a loss system)"}[m.model]
    pat = "never hang up" if m.patience is None else f"mean patience {m.patience:g} s"
    head = (f"{model}: {m.rate:g} calls/s, AHT {m.aht:g} s, {m.agents} agents, {pat}; "
            f"offered load {m.load:.2f} erlangs")
    return "\n".join([head, *metric_lines(m.as_dict(), m.sl_seconds)])


def interval_table(labels: Sequence[str], rows: Sequence[dict[str, float]], sl_seconds: float) -> str:
    """Per-interval table of a simulated day (means over replications)."""
    head = (f"{'time':>5} {'calls/h':>7} {'agents':>6} {'offered':>8} {'SL':>6} {'ASA':>6} "
            f"{'wait p90':>8} {'aband.':>6} {'occup.':>6}")
    out = [head]
    for lab, r in zip(labels, rows, strict=True):
        def p(x: float) -> str:
            return "  n/a" if math.isnan(x) else f"{100 * x:5.1f}%"

        def s(x: float) -> str:
            return "  n/a" if math.isnan(x) else f"{x:5.0f}s"

        out.append(f"{lab:>5} {r['rate'] * 3600:7.0f} {r['agents']:6.0f} {r['offered']:8.1f} {p(r['service_level'])} "
                   f"{s(r['asa'])} {s(r['wait_p90']):>8} {p(r['p_abandon'])} {p(r['occupancy'])}")
    out.append(f"SL = answered within {sl_seconds:g} s / offered; ASA = mean wait of answered callers; "
               "wait p90 over all callers on the line")
    return "\n".join(out)
