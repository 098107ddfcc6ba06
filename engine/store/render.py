"""Calls and timelines as terminal text (``hotline calls``, ``hotline replay``), always masked.

Pure functions: records in, lines out. Widths count CJK characters as two columns so tables
with Chinese names line up.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.privacy import mask_name, mask_number, mask_text
from engine.store.records import CallRecord, SearchHit, Timeline, TimelineItem

LEG_LABELS = {"caller": "CALLER", "agent": "CALL-TAKER", "mixed": "BOTH"}


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def pad(text: str, n: int) -> str:
    return text + " " * max(0, n - width(text))


def clock(t: float, minute_digits: int = 1) -> str:
    """m:ss.s from call start, rounded to the tenth before the split (59.96 s is 1:00.0, not 0:60.0)."""
    minutes, tenths = divmod(round(max(0.0, t) * 10), 600)
    return f"{minutes:0{minute_digits}d}:{tenths / 10:04.1f}"


def when(epoch: float | None, tz: str) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def seconds(s: float | None) -> str:
    return "-" if s is None else f"{s:.1f} s"


def item_line(item: TimelineItem) -> str:
    """One timeline line: time, label, masked text."""
    if item.kind == "speech":
        return f"{clock(item.t):>7}  {pad(LEG_LABELS.get(item.leg or '', item.leg or ''), 14)} {mask_text(item.text)}"
    details = []
    for key in ("node", "verb", "queue", "agent", "digits", "input", "position", "outcome", "reason", "wait"):
        if key in item.data and item.data[key] not in (None, ""):
            details.append(f"{key}={mask_text(str(item.data[key]))}")
    return f"{clock(item.t):>7}  {pad(item.kind, 14)} {' '.join(details)}".rstrip()


def timeline_lines(tl: Timeline, tz: str) -> tuple[list[str], list[str]]:
    """(header lines, one line per timeline item)."""
    c = tl.call
    head = [
        f"Call {c.id}  {when(c.started_at, tz)}  caller {mask_number(c.caller_number) or '-'}"
        + (f" ({mask_name(c.caller_name)})" if c.caller_name else ""),
        f"  queue {c.queue or '-'}  wait {seconds(c.wait_seconds)}  agent {c.agent or '-'}  "
        f"outcome {c.outcome or ('live' if c.live else '-')}",
    ]
    if c.ivr_path:
        head.append(f"  IVR {' > '.join(c.ivr_path)}" + (f" -> {c.ivr_outcome}" if c.ivr_outcome else ""))
    for a in tl.audio:
        head.append(f"  audio {a.leg}: {a.path} (from {clock(a.offset)})")
    return head, [item_line(i) for i in tl.items]


def calls_table(calls: list[CallRecord], tz: str) -> list[str]:
    cols = ["started", "call", "caller", "queue", "wait", "agent", "outcome", "lines", "ivr path"]
    rows = [
        [
            when(c.started_at, tz),
            c.id,
            mask_number(c.caller_number) or "-",
            c.queue or "-",
            seconds(c.wait_seconds),
            c.agent or "-",
            c.outcome or ("live" if c.live else "-"),
            str(c.segment_count),
            " > ".join(c.ivr_path) or "-",
        ]
        for c in calls
    ]
    widths = [max([width(h)] + [width(r[i]) for r in rows]) for i, h in enumerate(cols)]
    out = ["  ".join(pad(h, widths[i]) for i, h in enumerate(cols)).rstrip()]
    out += ["  ".join(pad(v, widths[i]) for i, v in enumerate(r)).rstrip() for r in rows]
    return out


def hit_lines(hits: list[SearchHit], tz: str) -> list[str]:
    out = []
    for h in hits:
        out.append(
            f"{when(h.call.started_at, tz)}  {h.call.id}  {mask_number(h.call.caller_number) or '-'}  "
            f"{LEG_LABELS.get(h.segment.leg, h.segment.leg)} @ {clock(h.segment.start)}: {mask_text(h.segment.text)}"
        )
    return out
