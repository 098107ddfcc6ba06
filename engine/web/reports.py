"""Statistics and the live wallboard for the supervisor page.

``/api/stats/intervals`` computes one local day's per-interval queue KPIs from the store
(``queueing.interval_stats``), so it works for ``hotline web`` over a store file as well as in the
running engine. ``/api/wallboard`` and the alert acknowledgement need the live engine's wallboard
(``WALLBOARD``, set by the composition root); without one they say so.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from engine.web.app import SETTINGS, STORE, WALLBOARD, _error, _json, _row_id, _shown
from engine.web.calllist import query_day, query_text
from queueing.interval_stats import day_kpis
from queueing.intervals import IntervalClock, day_bounds

LATE_ANSWER = 4 * 3600.0  # calls that joined this long before midnight still add their talk time after it


async def api_intervals(request: web.Request) -> web.Response:
    """``?day=YYYY-MM-DD`` (default: today in the site's zone) ``&queue=Q`` (default: all queues)."""
    settings = request.app[SETTINGS]
    day = query_day(request, "day") or datetime.now(ZoneInfo(settings.timezone)).date()
    queue = query_text(request, "queue")
    store = request.app[STORE]
    start, end = day_bounds(day, settings.timezone)
    calls = await store.queue_calls(start - LATE_ANSWER, end, queue=queue)
    clock = IntervalClock(settings.interval_minutes, settings.timezone)
    body = day_kpis(calls, day, clock, sl_seconds=settings.sl_seconds)
    body["queue"] = queue
    body["queues"] = (await store.facets())["queues"]
    return _json(body)


async def api_wallboard(request: web.Request) -> web.Response:
    board = request.app.get(WALLBOARD)
    if board is None:
        return _json({"live": False, "queues": [], "alerts": [],
                      "message": "no live engine: this page reads a store file (hotline web); the wallboard "
                                 "needs hotline serve"})
    return _json(board.snapshot())


async def api_acknowledge(request: web.Request) -> web.Response:
    """POST with a JSON body (``{}``): a cross-site form cannot send one, and the cookie is SameSite."""
    if request.content_type != "application/json":
        return _error(415, "send the acknowledgement as application/json")
    board = request.app.get(WALLBOARD)
    if board is None:
        return _error(404, "no live engine: alerts exist only while hotline serve runs")
    raw = request.match_info["alert_id"]
    alert_id = _row_id(raw)
    alert = None if alert_id is None else board.acknowledge(alert_id)
    if alert is None:
        return _error(404, f"no alert {_shown(raw)}")
    return _json({"alert": alert})
