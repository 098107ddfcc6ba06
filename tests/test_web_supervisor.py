"""The supervisor API for statistics, the wallboard and the call list (aiohttp's test client):
filters, lookup by id or (privileged) number, CSV export, per-interval KPIs, alert acknowledgement."""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest

from engine.config import WallboardConfig
from engine.events.ami import QueueCallerJoin
from engine.store import Store
from engine.store.sample import MAIN_CALL, SAMPLE_START, seed_sample_calls
from engine.web import WebSettings
from queueing.monitor import QueueMonitor
from queueing.wallboard import Wallboard
from tests.web_helpers import PRIV, TOKEN, auth, start_client


@pytest.fixture
def db(tmp_path):
    with Store.open(tmp_path / "h.sqlite") as s:
        seed_sample_calls(s)
        # a caller whose name and number a spreadsheet would take for formulas
        s.upsert_call("9.1", started_at=SAMPLE_START - 86400, caller_number="+8613712345678",
                      caller_name="=HYPERLINK(\"x\")", queue="noise", outcome="abandoned", ended_at=SAMPLE_START - 86000)
    return tmp_path / "h.sqlite"


async def _client(db, *, show: bool = False, wallboard: Wallboard | None = None, readonly: bool = False):
    return await start_client(db, readonly=readonly, wallboard=wallboard, show_personal_data=show,
                              timezone="Asia/Shanghai", interval_minutes=30, sl_seconds=20.0)


@pytest.fixture
async def client(db):
    client, store = await _client(db)
    yield client
    await client.close()
    await store.close()


async def ids(client, query: str, token: str = TOKEN) -> list[str]:
    r = await client.get(f"/api/calls?{query}", headers=auth(token))
    assert r.status == 200, await r.text()
    return [c["id"] for c in (await r.json())["calls"]]


async def test_pages_and_new_routes_need_the_token(client):
    for path in ("/api/calls.csv", "/api/facets", "/api/stats/intervals", "/api/wallboard"):
        assert (await client.get(path)).status == 401, path
    assert (await client.post("/api/alerts/1/ack", json={})).status == 401
    for path, marker in (("/wallboard", "Wallboard"), ("/stats", "Statistics")):
        assert (await client.get(path)).status == 401
        r = await client.get(path, headers=auth())
        assert r.status == 200 and marker in await r.text()
    me = await (await client.get("/api/me", headers=auth())).json()
    assert me["timezone"] == "Asia/Shanghai" and me["interval_minutes"] == 30 and me["sl_seconds"] == 20.0
    assert me["live_engine"] is False


async def test_filters_date_range_queue_outcome_language(client):
    cb, ab = "1795881390.271", "1795881301.260"
    assert await ids(client, "from=2026-11-28&to=2026-11-28") == [cb, ab, MAIN_CALL]  # site's day, newest first
    assert await ids(client, "from=2026-11-27&to=2026-11-27") == ["9.1"]
    assert await ids(client, "from=2026-11-29") == [] and await ids(client, "to=2026-11-27") == ["9.1"]
    assert await ids(client, "queue=citizen") == [ab, MAIN_CALL]
    assert await ids(client, "outcome=abandoned") == [ab, "9.1"]
    assert await ids(client, "language=en") == [ab]
    assert await ids(client, "language=zh&queue=noise&outcome=callback&from=2026-11-28") == [cb]
    assert await ids(client, "agent=8001 王芳") == [MAIN_CALL]
    facets = await (await client.get("/api/facets", headers=auth())).json()
    assert facets == {"queues": ["citizen", "noise"], "agents": ["8001 王芳"],
                      "outcomes": ["abandoned", "answered", "callback"], "languages": ["en", "zh"]}


async def test_bad_filter_values_are_400_naming_the_value(client):
    for query, message in (("from=28.11.2026", "from: expected a date YYYY-MM-DD, got '28.11.2026'"),
                           ("from=2026-11-28&to=2026-11-27", "to: 2026-11-27 is before from: 2026-11-28"),
                           ("queue=" + "q" * 201, "queue: at most 200 characters")):
        r = await client.get(f"/api/calls?{query}", headers=auth())
        assert r.status == 400 and (await r.json())["error"] == message, query
    r = await client.get("/api/stats/intervals?day=tomorrow", headers=auth())
    assert r.status == 400 and "day: expected a date" in (await r.json())["error"]


async def test_lookup_by_any_call_id_and_by_number_only_with_the_privileged_token(db, client):
    assert await ids(client, "id=4f0a8c3e-5b1d-4c55-9d1e-2b8f0c6a7e11") == [MAIN_CALL]  # the AudioSocket UUID
    assert await ids(client, "id=nope") == []
    r = await client.get("/api/calls?number=13912345678", headers=auth())
    assert r.status == 403 and "privileged token" in (await r.json())["error"]
    assert await ids(client, "number=139 1234-5678", PRIV) == [MAIN_CALL]  # separators are ignored
    r = await client.get("/api/calls?number=139abc", headers=auth(PRIV))
    assert r.status == 400
    r = await client.get("/api/calls?number=13912345678", headers=auth(PRIV))
    assert (await r.json())["calls"][0]["caller_number"] == "139****5678"  # found, still masked: not shown
    shown, store = await _client(db, show=True)
    try:
        r = await shown.get("/api/calls?number=13912345678", headers=auth(PRIV))
        assert (await r.json())["calls"][0]["caller_number"] == "13912345678"
    finally:
        await shown.close()
        await store.close()


async def test_csv_export_excel_ready_masked_and_in_the_sites_zone(db, client):
    r = await client.get("/api/calls.csv?from=2026-11-27&to=2026-11-28", headers=auth())
    assert r.status == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Content-Disposition"] == 'attachment; filename="calls-2026-11-27-2026-11-28.csv"'
    raw = await r.read()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # BOM: Excel reads the Chinese right
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row["call_id"] for row in rows] == ["1795881390.271", "1795881301.260", MAIN_CALL, "9.1"]
    main = rows[2]
    assert main["started"] == "2026-11-28 19:42:05" and main["answered"] == "2026-11-28 19:42:49"  # +08:00
    assert main["caller_number"] == "139****5678" and main["caller_name"] == "张** **"
    assert (main["queue"], main["agent"], main["outcome"], main["language"]) == ("citizen", "8001 王芳", "answered", "zh")
    assert main["wait_seconds"] == "29.8" and main["transcript_lines"] == "6" and main["recorded"] == "no"
    assert main["ivr_path"] == "welcome > main_menu > intake > queue_citizen"
    formula = rows[3]
    assert formula["caller_number"] == "'+86137****5678"  # a leading + or = is never run as a formula
    assert formula["caller_name"].startswith("'=")
    assert "13912345678" not in raw.decode("utf-8-sig") and "13712345678" not in raw.decode("utf-8-sig")

    shown, store = await _client(db, show=True)
    try:
        r = await shown.get(f"/api/calls.csv?id={MAIN_CALL}", headers=auth(PRIV))
        (row,) = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
        assert row["caller_number"] == "13912345678" and row["caller_name"] == "张三丰 市民"
        r = await shown.get(f"/api/calls.csv?id={MAIN_CALL}", headers=auth(TOKEN))
        assert "13912345678" not in (await r.read()).decode("utf-8-sig")
    finally:
        await shown.close()
        await store.close()


async def test_interval_kpis_of_a_chosen_day(client):
    r = await client.get("/api/stats/intervals?day=2026-11-28", headers=auth())
    body = await r.json()
    assert r.status == 200 and body["day"] == "2026-11-28" and body["timezone"] == "Asia/Shanghai"
    assert body["queues"] == ["citizen", "noise"] and body["queue"] is None and len(body["intervals"]) == 48
    busy = [row for row in body["intervals"] if row["received"]]
    (row,) = busy  # the three sample calls joined their queues at 19:42-19:44
    assert row["interval"] == "19:30" and row["start"] == SAMPLE_START - 12 * 60 - 5
    assert (row["received"], row["answered"], row["abandoned"], row["callback"]) == (3, 1, 1, 1)
    assert row["answered_within"] == {"10": 0, "20": 0, "30": 1, "60": 1} and row["asa"] == 29.8
    assert row["service_level_pct"] == 0.0 and row["abandon_rate_pct"] == 33.3
    assert row["aht"] == 15.0 and row["talk_seconds"] == 15.0  # answered at +44 s, hung up at +59 s
    one = await (await client.get("/api/stats/intervals?day=2026-11-28&queue=noise", headers=auth())).json()
    assert one["queue"] == "noise" and one["total"]["received"] == 1 and one["total"]["callback"] == 1


async def test_wallboard_without_a_live_engine_says_so(client):
    body = await (await client.get("/api/wallboard", headers=auth())).json()
    assert body["live"] is False and "hotline serve" in body["message"]
    r = await client.post("/api/alerts/1/ack", json={}, headers=auth())
    assert r.status == 404


async def test_wallboard_and_acknowledging_an_alert(db):
    m = QueueMonitor()
    for i in range(3):
        m.feed(QueueCallerJoin(queue="citizen", uniqueid=f"w{i}", caller_id_num="13912345678", received=1000.0 + i))
    board = Wallboard(m, WallboardConfig(waiting_warn=1, waiting_alarm=2), clock=lambda: 1030.0)
    client, store = await _client(db, wallboard=board)
    try:
        assert (await (await client.get("/api/me", headers=auth())).json())["live_engine"] is True
        snap = await (await client.get("/api/wallboard", headers=auth())).json()
        assert snap["live"] is True and snap["refresh_seconds"] == 5.0
        (row,) = snap["queues"]
        assert row["waiting"] == 3 and row["longest_wait"] == 30.0 and row["status"]["waiting"] == "alarm"
        assert "13912345678" not in str(snap) and "139****5678" not in str(snap)  # no callers on the board
        (alert,) = snap["alerts"]
        path = f"/api/alerts/{alert['id']}/ack"
        r = await client.post(path, data="id=1", headers={**auth(), "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 415  # a form (which another site could post) is refused
        assert (await client.post("/api/alerts/77/ack", json={}, headers=auth())).status == 404
        assert (await client.post("/api/alerts/x/ack", json={}, headers=auth())).status == 404
        r = await client.post(path, json={}, headers=auth())
        assert r.status == 200 and (await r.json())["alert"]["state"] == "acknowledged"
        snap = await (await client.get("/api/wallboard", headers=auth())).json()
        assert snap["alerts"][0]["state"] == "acknowledged"
    finally:
        await client.close()
        await store.close()


async def test_an_older_store_without_languages_is_served_read_only(db):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP INDEX calls_language")
    conn.execute("ALTER TABLE calls DROP COLUMN language")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    client, store = await _client(db, readonly=True)
    try:
        assert len(await ids(client, "")) == 4
        assert await ids(client, "language=zh") == []
        facets = await (await client.get("/api/facets", headers=auth())).json()
        assert facets["languages"] == [] and facets["queues"] == ["citizen", "noise"]
        calls = (await (await client.get("/api/calls", headers=auth())).json())["calls"]
        assert all(c["language"] is None for c in calls)
        r = await client.get("/api/stats/intervals?day=2026-11-28", headers=auth())
        assert (await r.json())["total"]["received"] == 3
    finally:
        await client.close()
        await store.close()
    assert Store.open(db, readonly=True).schema_version == 2  # read as it was, never migrated


def test_a_bad_zone_or_interval_is_a_config_error_at_start():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="interval must be one of"):
        WebSettings(token=TOKEN, interval_minutes=20)
    with pytest.raises(ConfigError, match="No time zone found with key Mars/Base"):
        WebSettings(token=TOKEN, timezone="Mars/Base")
