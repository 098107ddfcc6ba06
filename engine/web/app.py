"""The supervisor web app (aiohttp): calls, search, a call's timeline with its audio, live calls,
the wallboard and per-interval statistics.

Build it with ``create_app(store, settings, hub)``; the composition root owns the store and the
``LiveHub`` and calls ``hub.publish(event)`` for live updates, then serves the app with
``start_site`` (loopback by default, from config ``web.host``). Every route but ``/healthz``,
``/metrics`` (its own optional token, ``engine.web.metrics``) and ``/static/`` needs a token (see
``engine.web.auth``). All API routes are read-only GETs but the acknowledgement of a wallboard
alert (a POST with a JSON body, ``engine.web.reports``). The call list's API is in
``engine.web.calllist``, the statistics and wallboard in ``engine.web.reports``.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.config import Config
from engine.errors import ConfigError
from engine.listen import is_loopback
from engine.store import AsyncStore
from engine.web import auth
from engine.web.live import LiveHub
from engine.web.metrics import METRICS_TOKEN, metrics_handler
from engine.web.present import hit_json, live_json, timeline_json
from queueing.intervals import IntervalClock

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg", ".flac": "audio/flac"}


@dataclass(frozen=True)
class WebSettings:
    token: str
    privileged_token: str = ""
    show_personal_data: bool = False
    metrics_token: str = ""  # Bearer token /metrics asks for; "" = open, like /healthz
    audio_dir: Path | None = None  # relative audio paths are under it; served files must be under it or audio_roots
    audio_roots: tuple[Path, ...] = ()
    heartbeat: float = 15.0  # seconds between keep-alive comments on event streams
    timezone: str = "Asia/Shanghai"  # the site's zone: times on the page, days and intervals of the statistics
    interval_minutes: int = 30  # reporting interval of the statistics page
    sl_seconds: float = 20.0  # service-level threshold of the statistics page

    def __post_init__(self) -> None:
        if not self.token:
            raise ConfigError("web: no access token configured; set web.token_env's variable (HOTLINE_WEB_TOKEN)")
        if self.privileged_token and self.privileged_token == self.token:
            raise ConfigError("web: privileged_token must differ from token")
        try:  # the statistics page's intervals: fail at start, not on the first request
            IntervalClock(self.interval_minutes, self.timezone)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"web: [site] timezone / [queueing] interval_minutes: {exc}") from None
        if self.metrics_token and self.metrics_token in (self.token, self.privileged_token):
            raise ConfigError("web: metrics_token must differ from the supervisors' tokens")

    def __repr__(self) -> str:  # tokens never reach a log line
        return f"WebSettings(show_personal_data={self.show_personal_data}, audio_dir={self.audio_dir})"


def settings_from_config(cfg: Config, **extra: Any) -> WebSettings:
    return WebSettings(
        token=cfg.web_token(),
        privileged_token=cfg.web_privileged_token(),
        show_personal_data=cfg.web.show_personal_data,
        metrics_token=cfg.metrics_token(),
        audio_dir=Path(cfg.store.audio_dir),
        timezone=cfg.site.timezone,
        interval_minutes=cfg.queueing.interval_minutes,
        sl_seconds=cfg.queueing.sl_seconds,
        **extra,
    )


STORE = web.AppKey("store", AsyncStore)
HUB = web.AppKey("hub", LiveHub)
SETTINGS = web.AppKey("settings", WebSettings)
VIEWER = web.RequestKey("viewer", auth.Viewer)
# optional, set by the composition root (hotline serve): () -> {component: {"ok": bool, ...}}
COMPONENTS = web.AppKey("components", object)
# optional, set by the composition root: the live wallboard (queueing.wallboard.Wallboard: snapshot(),
# acknowledge(alert_id)); without it (``hotline web`` over a store file) the page says there is no live engine
WALLBOARD = web.AppKey("wallboard", object)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


_OPEN = ("/healthz", "/metrics", "/static/", "/favicon.ico", "/login")


def _login_page(next_path: str, status: int = 401, failed: bool = False) -> web.Response:
    page = (STATIC / "login.html").read_text(encoding="utf-8")
    page = page.replace("{{next}}", html.escape(next_path, quote=True))
    page = page.replace("{{message}}", "That token is not valid." if failed else "")
    return web.Response(text=page, status=status, content_type="text/html")


_NOT_IN_A_SAFE_PATH = re.compile(r"[^\x21-\x7e]|\\")


def _safe_next(value: str) -> str:
    """``value`` if it is a path on this server, else ``/``: a redirect can never leave the site.

    A safe target starts with exactly one ``/`` and is printable ASCII without backslashes (the
    page puts the encoded path there). Browsers drop tabs and newlines from a URL and read ``\\``
    as ``/``, so ``/<TAB>/evil`` or ``/\\evil`` would become ``//evil``: another host.
    """
    if not value.startswith("/") or value.startswith("//") or _NOT_IN_A_SAFE_PATH.search(value):
        return "/"
    return value


def _set_token_cookie(resp: web.StreamResponse, request: web.Request, token: str) -> None:
    resp.set_cookie(auth.COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/")


@web.middleware
async def _security(request: web.Request, handler: Any) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    path = request.path
    if not path.startswith(_OPEN):
        viewer = auth.check(
            auth.presented_token(request),
            viewer_token=settings.token,
            privileged_token=settings.privileged_token,
            show_personal_data=settings.show_personal_data,
        )
        if viewer is None:
            if path.startswith("/api/"):
                resp: web.StreamResponse = _error(401, "token required")
                resp.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
            else:
                resp = _login_page(_safe_next(request.rel_url.raw_path_qs))
            _harden(resp)
            return resp
        request[VIEWER] = viewer
        if "token" in request.query and not path.startswith("/api/"):
            # a link with ?token=: keep the token in an HttpOnly cookie, drop it from the address bar
            query = {k: v for k, v in request.query.items() if k != "token"}
            target = _safe_next(request.rel_url.with_query(query).raw_path_qs)  # never //host
            resp = web.Response(status=302, headers={"Location": target})
            _set_token_cookie(resp, request, auth.presented_token(request))
            _harden(resp)
            return resp
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        for k, v in _HARDENING.items():
            exc.headers.setdefault(k, v)
        raise
    _harden(resp)
    return resp


_HARDENING = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a ?token= link never leaks through Referer
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",  # transcripts and numbers stay out of shared caches
}


def _harden(resp: web.StreamResponse) -> None:
    if resp.prepared:
        return
    for k, v in _HARDENING.items():
        resp.headers.setdefault(k, v)


def _shown(raw: str, at_most: int = 40) -> str:
    """A client's value quoted in an error message, cut short (an id can be 8 KB of digits)."""
    return repr(raw) if len(raw) <= at_most else repr(raw[:at_most]) + "..."


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)  # ValueError also for more than 4300 digits
    except ValueError:
        raise _bad_request(f"{name}: expected an integer, got {_shown(raw)}") from None
    return max(lo, min(hi, value))


def _float(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _bad_request(f"{name}: expected a number, got {_shown(raw)}")
    return value


def _row_id(raw: str) -> int | None:
    """A store row id from the path (``/api/audio/7``), or None when it cannot be one: not plain
    ASCII digits, or beyond SQLite's integers (which would otherwise fail inside the store)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw.lstrip("0")) > 19:
        return None
    value = int(raw)
    return value if value < 2**63 else None


# -- handlers ------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    try:
        ok = await request.app[STORE].healthy()
    except Exception as exc:  # the probe must answer, whatever broke
        log.error("health check: store failed: %s", type(exc).__name__)
        ok = False
    hub = request.app[HUB]
    body: dict[str, Any] = {"status": "ok" if ok else "store unavailable", "live_calls": hub.live_calls}
    report = request.app.get(COMPONENTS)
    if callable(report):
        try:
            components = report()
        except Exception as exc:  # the probe must answer, whatever broke
            log.error("health check: component report failed: %s", type(exc).__name__)
            components = {"engine": {"ok": False, "error": type(exc).__name__}}
        body["components"] = components
        if ok and not all(c.get("ok", True) for c in components.values()):
            ok = False
            body["status"] = "degraded"
    return _json(body, status=200 if ok else 503)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def call_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "call.html")


async def wallboard_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "wallboard.html")


async def stats_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "stats.html")


async def api_me(request: web.Request) -> web.Response:
    viewer: auth.Viewer = request[VIEWER]
    settings = request.app[SETTINGS]
    return _json({"privileged": viewer.privileged, "personal_data_shown": viewer.reveal,
                  "timezone": settings.timezone, "interval_minutes": settings.interval_minutes,
                  "sl_seconds": settings.sl_seconds, "live_engine": request.app.get(WALLBOARD) is not None})


async def api_search(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    if not q:
        return _error(400, "q: a search text is required")
    if len(q) > 200:
        return _error(400, "q: at most 200 characters")
    reveal = request[VIEWER].reveal
    # a viewer who sees numbers masked searches only what is shown: no digit can be guessed by search
    hits = await request.app[STORE].search(q, limit=_int(request, "limit", 100, 1, 500), masked=not reveal)
    return _json({"q": q, "hits": [hit_json(h, reveal) for h in hits]})


async def api_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    tl = await request.app[STORE].call_timeline(call_id)
    live = request.app[HUB].live_call(call_id)
    if tl is None and live is None:
        return _error(404, f"no call {_shown(call_id)}")
    reveal = request[VIEWER].reveal
    live_view = live_json(live, reveal) if live else None
    if tl is not None:
        body = timeline_json(tl, reveal)
    else:  # not stored yet: what the live hub knows
        assert live_view is not None
        summary = {k: live_view.get(k) for k in ("caller_number", "caller_name", "queue", "agent", "started_at", "ivr_path")}
        body = {"call": {"id": call_id, "live": True, **summary}, "items": [], "audio": [], "related": []}
    body["live"] = live_view
    return _json(body)


async def api_audio(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["audio_id"]
    audio_id = _row_id(raw)
    audio = None if audio_id is None else await request.app[STORE].get_audio(audio_id)
    if audio is None:
        return _error(404, f"no such audio: {_shown(raw)} (audio ids are the numbers in a call's \"audio\" list)")
    settings = request.app[SETTINGS]
    path = Path(audio.path)
    if not path.is_absolute():
        if settings.audio_dir is None:
            return _error(404, "audio path is relative and no audio directory is configured")
        path = settings.audio_dir / path
    path = path.resolve()
    roots = [r.resolve() for r in (settings.audio_dir, *settings.audio_roots) if r is not None]
    if not any(path.is_relative_to(r) for r in roots):
        log.warning("audio %d is outside the configured audio directories; not served", audio_id)
        return _error(403, "audio file is outside the configured audio directories")
    if not path.is_file():
        return _error(404, "audio file is missing")
    # FileResponse answers Range requests (206 + Content-Range), so the player can seek
    resp = web.FileResponse(path, headers={"Content-Type": AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")})
    return resp


async def api_live(request: web.Request) -> web.Response:
    reveal = request[VIEWER].reveal
    return _json({"calls": [live_json(c, reveal) for c in request.app[HUB].snapshot()]})


async def api_live_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``snapshot`` first, then ``partial``, ``final``, ``call.*`` as they happen."""
    hub = request.app[HUB]
    reveal = request[VIEWER].reveal
    call_id = request.query.get("call") or None
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    _harden(resp)
    await resp.prepare(request)
    sub = hub.subscribe(call_id)

    async def send(kind: str, data: Any) -> None:
        payload = json.dumps(data, ensure_ascii=False)
        await resp.write(f"event: {kind}\ndata: {payload}\n\n".encode())

    try:
        if call_id:
            one = hub.live_call(call_id)
            calls = [one] if one else []
        else:
            calls = hub.snapshot()
        await send("snapshot", {"calls": [live_json(c, reveal) for c in calls]})
        while True:
            msg = await sub.get(timeout=request.app[SETTINGS].heartbeat)
            if msg is None:
                break
            if msg["type"] == "ping":
                await resp.write(b": ping\n\n")
                continue
            await send(msg["type"], live_json(msg, reveal))
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    finally:
        sub.close()
    return resp


async def login(request: web.Request) -> web.Response:
    """The sign-in form posts here (the token stays out of the address bar and history)."""
    form = await request.post()
    token = str(form.get("token", ""))
    next_path = _safe_next(str(form.get("next", "/")))
    settings = request.app[SETTINGS]
    viewer = auth.check(token, viewer_token=settings.token, privileged_token=settings.privileged_token,
                        show_personal_data=settings.show_personal_data)
    if viewer is None:
        return _login_page(next_path, failed=True)
    resp = web.Response(status=303, headers={"Location": next_path})
    _set_token_cookie(resp, request, token)
    return resp


async def logout(request: web.Request) -> web.Response:
    resp = web.Response(status=303, headers={"Location": "/"})
    resp.del_cookie(auth.COOKIE, path="/")
    return resp


async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def create_app(store: AsyncStore, settings: WebSettings, hub: LiveHub | None = None) -> web.Application:
    app = web.Application(middlewares=[_security])
    app[STORE] = store
    app[HUB] = hub if hub is not None else LiveHub()
    app[SETTINGS] = settings
    app[METRICS_TOKEN] = settings.metrics_token
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_handler)  # its own token, if any (engine.web.metrics)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_post("/login", login)
    app.router.add_get("/logout", logout)
    # the call list, statistics and wallboard handlers use this module's keys and helpers: imported here
    from engine.web import calllist, reports

    app.router.add_get("/", index)
    app.router.add_get("/calls/{call_id}", call_page)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_get("/stats", stats_page)
    app.router.add_get("/api/me", api_me)
    app.router.add_get("/api/calls", calllist.api_calls)
    app.router.add_get("/api/calls.csv", calllist.api_calls_csv)
    app.router.add_get("/api/facets", calllist.api_facets)
    app.router.add_get("/api/stats/intervals", reports.api_intervals)
    app.router.add_get("/api/wallboard", reports.api_wallboard)
    app.router.add_post("/api/alerts/{alert_id}/ack", reports.api_acknowledge)
    app.router.add_get("/api/calls/{call_id}", api_call)
    app.router.add_get("/api/search", api_search)
    app.router.add_get("/api/audio/{audio_id}", api_audio)
    app.router.add_get("/api/live", api_live)
    app.router.add_get("/api/live/stream", api_live_stream)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)

    async def _close_streams(app: web.Application) -> None:
        app[HUB].close()

    app.on_shutdown.append(_close_streams)
    return app


async def start_site(app: web.Application, host: str = "127.0.0.1", port: int = 8080) -> tuple[web.AppRunner, int]:
    """Serve ``app``; returns the runner (``await runner.cleanup()`` to stop) and the bound port."""
    if not is_loopback(host):
        log.warning("supervisor page listening on %s, reachable from other machines: put TLS in front of it", host)
    runner = web.AppRunner(app, access_log=None)  # access logs would carry query strings (tokens)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:  # a taken port: nothing stays half set up
        await runner.cleanup()
        raise
    server = getattr(site, "_server", None)
    bound = port
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    return runner, bound
