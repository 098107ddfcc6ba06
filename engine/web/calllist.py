"""The call list's API: filters, lookup by call id or (privileged) caller number, CSV export.

Filters (all optional, ANDed): ``from``/``to`` (days ``YYYY-MM-DD`` in the site's zone, both
included), ``queue``, ``agent``, ``outcome``, ``language``, ``live``; ``id`` looks one call up by
any of its ids (other filters then do not apply); ``number`` finds a caller's calls and needs the
privileged token (the ordinary token sees numbers masked, so it may not search by them). The
CSV export takes the same filters; it is UTF-8 with a byte order mark (so Excel reads Chinese
names right), times in the site's zone, numbers masked unless the viewer may see them.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from aiohttp import web

from engine.privacy import mask_name, mask_number, mask_text
from engine.store import CallRecord, render
from engine.web.app import SETTINGS, STORE, VIEWER, _bad_request, _float, _int, _json, _shown
from engine.web.present import call_json
from queueing.intervals import day_bounds

CSV_MAX_ROWS = 100_000
_TEXT_MAX = 200  # longest filter value taken
_NUMBER_SEPARATORS = re.compile(r"[\s\-.()]")


def query_day(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _bad_request(f"{name}: expected a date YYYY-MM-DD, got {_shown(raw)}") from None


def query_text(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name, "").strip()
    if len(raw) > _TEXT_MAX:
        raise _bad_request(f"{name}: at most {_TEXT_MAX} characters")
    return raw or None


def call_filters(request: web.Request) -> dict[str, Any]:
    """``Store.list_calls`` keyword arguments from the query (400 for a bad value, 403 for a
    number lookup without the privileged token)."""
    tz = request.app[SETTINGS].timezone
    first, last = query_day(request, "from"), query_day(request, "to")
    if first and last and last < first:
        raise _bad_request(f"to: {last} is before from: {first}")
    live_q = request.query.get("live")
    out: dict[str, Any] = {
        "since": day_bounds(first, tz)[0] if first else None,
        "until": day_bounds(last, tz)[1] if last else None,
        "live": None if live_q in (None, "") else live_q in ("1", "true", "yes"),
    }
    for name in ("queue", "agent", "outcome", "language"):
        out[name] = query_text(request, name)
    number = query_text(request, "number")
    if number is not None:
        if not request[VIEWER].privileged:
            raise web.HTTPForbidden(text='{"error": "number: looking calls up by caller number needs the '
                                         'privileged token"}', content_type="application/json")
        number = _NUMBER_SEPARATORS.sub("", number)
        if not re.fullmatch(r"\+?\d{3,20}", number):
            raise _bad_request("number: expected a phone number (digits, optionally + and separators)")
        out["caller_number"] = number
    return out


async def _calls(request: web.Request, limit: int) -> list[CallRecord]:
    store = request.app[STORE]
    filters = call_filters(request)
    call_id = query_text(request, "id")
    if call_id is not None:  # lookup by any id of the call (Linkedid, Uniqueid, AudioSocket UUID)
        call = await store.get_call(call_id)
        return [call] if call is not None else []
    return await store.list_calls(limit=limit, before=_float(request, "before"), **filters)


async def api_calls(request: web.Request) -> web.Response:
    reveal = request[VIEWER].reveal
    calls = await _calls(request, _int(request, "limit", 100, 1, 1000))
    return _json({"calls": [call_json(c, reveal) for c in calls]})


async def api_facets(request: web.Request) -> web.Response:
    """Values for the filter menus: queues, call-takers, outcomes, languages seen in the store."""
    return _json(await request.app[STORE].facets())


CSV_COLUMNS = ("call_id", "started", "ended", "caller_number", "caller_name", "language", "ivr_path", "ivr_outcome",
               "queue", "wait_seconds", "answered", "agent", "outcome", "transcript_lines", "recorded")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...) gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def calls_csv(calls: list[CallRecord], timezone: str, reveal: bool) -> bytes:
    """The calls as CSV: UTF-8 with BOM, CRLF lines, local times, personal data masked unless ``reveal``."""
    def when(t: float | None) -> str:
        return "" if t is None else render.when(t, timezone)

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(CSV_COLUMNS)
    for c in calls:
        number, name = c.caller_number or "", c.caller_name or ""
        if not reveal:
            number, name = mask_number(number), mask_name(name)
        row = (c.id, when(c.started_at), when(c.ended_at), number, name, c.language or "",
               " > ".join(c.ivr_path), c.ivr_outcome or "", c.queue or "",
               "" if c.wait_seconds is None else round(c.wait_seconds, 1), when(c.answered_at), c.agent or "",
               c.outcome or ("live" if c.live else ""), c.segment_count, "yes" if c.has_audio else "no")
        out.writerow([_cell(mask_text(v) if isinstance(v, str) and not reveal else v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


async def api_calls_csv(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    calls = await _calls(request, _int(request, "limit", CSV_MAX_ROWS, 1, CSV_MAX_ROWS))
    span = "-".join(request.query[k] for k in ("from", "to") if request.query.get(k))
    name = f"calls-{span}.csv" if span and re.fullmatch(r"[0-9-]+", span) else "calls.csv"
    return web.Response(body=calls_csv(calls, settings.timezone, request[VIEWER].reveal),
                        content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
