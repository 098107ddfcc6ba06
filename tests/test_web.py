"""Supervisor web API through aiohttp's test client: tokens, masking, search, audio ranges, live events."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from engine.config import Config
from engine.errors import ConfigError
from engine.events.speech import FinalTranscript, PartialTranscript
from engine.store import AsyncStore
from engine.store.sample import MAIN_CALL, make_sample_audio, seed_sample_calls
from engine.web import LiveHub, WebSettings, create_app, settings_from_config, start_site
from tests.number_forms import HIDDEN, NUMBER_FORMS
from tests.web_helpers import PRIV, TOKEN, auth, start_client


@pytest.fixture
def sample_db(tmp_path, asterisk_fixtures):
    audio_dir = tmp_path / "audio"
    wav = make_sample_audio(asterisk_fixtures, audio_dir / "main.wav")
    from engine.store import Store

    with Store.open(tmp_path / "h.sqlite") as s:
        seed_sample_calls(s, wav.relative_to(audio_dir))
        s.add_audio("outside", "mixed", str(asterisk_fixtures / "spy_received.wav"))
    return tmp_path / "h.sqlite", audio_dir


async def _client(sample_db, *, show: bool = False, hub: LiveHub | None = None, heartbeat: float = 15.0):
    db, audio_dir = sample_db
    return await start_client(db, hub=hub, show_personal_data=show, audio_dir=audio_dir, heartbeat=heartbeat)


@pytest.fixture
async def client(sample_db):
    client, store = await _client(sample_db)
    yield client
    await client.close()
    await store.close()


async def test_health_is_open_everything_else_needs_the_token(client):
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json())["status"] == "ok"
    for path in ("/api/calls", "/api/search?q=x", f"/api/calls/{MAIN_CALL}", "/api/audio/1", "/api/live", "/api/me"):
        r = await client.get(path)
        assert r.status == 401, path
        assert (await r.json()) == {"error": "token required"}
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        r = await client.get(path, headers=auth("wrong"))
        assert r.status == 401, path
    r = await client.get("/")
    assert r.status == 401 and "Access token" in await r.text()
    assert (await client.get("/static/app.css")).status == 200  # the login page needs its style
    for headers in (auth(), {"X-Hotline-Token": TOKEN}, {"Cookie": f"hotline_token={TOKEN}"}):
        r = await client.get("/api/calls", headers=headers)
        assert r.status == 200


async def test_token_in_link_becomes_a_cookie_and_leaves_the_url(client):
    r = await client.get(f"/calls/{MAIN_CALL}?token={TOKEN}&x=1", allow_redirects=False)
    assert r.status == 302
    assert r.headers["Location"] == f"/calls/{MAIN_CALL}?x=1"
    cookie = r.headers["Set-Cookie"]
    assert "hotline_token=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    r = await client.get("/")  # the client keeps the cookie
    assert r.status == 200 and "Live calls" in await r.text()
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert r.headers["Referrer-Policy"] == "no-referrer"


async def test_sign_in_form_posts_the_token(client):
    r = await client.get("/calls/x?y=1")
    page = await r.text()
    assert r.status == 401 and 'action="/login"' in page and 'value="/calls/x?y=1"' in page
    r = await client.post("/login", data={"token": "wrong", "next": "/calls/x"}, allow_redirects=False)
    assert r.status == 401 and "not valid" in await r.text()
    assert "hotline_token" not in r.cookies
    r = await client.post("/login", data={"token": TOKEN, "next": "/calls/x?y=1"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/calls/x?y=1"
    assert "HttpOnly" in r.headers["Set-Cookie"]
    assert (await client.get("/api/me")).status == 200  # the cookie works
    r = await client.get("/logout", allow_redirects=False)
    assert r.status == 303 and 'hotline_token=""' in r.headers["Set-Cookie"]
    for evil in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)", "/\\\\evil"):
        r = await client.post("/login", data={"token": TOKEN, "next": evil}, allow_redirects=False)
        assert r.headers["Location"] == "/", evil
    r = await client.get("/?x=%22%3E%3Cscript%3E")  # the next path is escaped into the form
    assert "<script>" not in await r.text()


async def test_redirects_never_leave_the_site(client):
    """Only a same-site path is ever a redirect target: not //host (nor ////host, which browsers
    read the same), and no tab, newline, backslash, space or scheme in a sign-in ``next``."""
    from yarl import URL

    base = f"http://{client.host}:{client.port}"
    for target in ("//other-host/", "//other-host/x?y=1", "///other-host/", "/%2F/other-host/"):
        url = URL(f"{base}{target}{'&' if '?' in target else '?'}token={TOKEN}", encoded=True)
        r = await client.session.get(url, allow_redirects=False)
        location = r.headers.get("Location", "")
        assert r.status == 302 and location.startswith("/") and not location.startswith("//"), (target, location)
        assert "other-host" not in location or target == "/%2F/other-host/", (target, location)
        assert "token" not in location
    url = URL(f"{base}/calls/%E4%B8%AD?token={TOKEN}&x=1", encoded=True)  # a real path keeps its form
    r = await client.session.get(url, allow_redirects=False)
    assert r.headers["Location"] == "/calls/%E4%B8%AD?x=1"
    for evil in ("/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example",
                 " //evil.example", "/\\evil.example", "/ /evil.example", "/\x00", "//evil.example",
                 "http://evil.example/", "https:evil.example", "javascript:alert(1)", "/\u2028/evil", ""):
        r = await client.post("/login", data={"token": TOKEN, "next": evil}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/", repr(evil)
    r = await client.post("/login", data={"token": TOKEN, "next": "/calls/%E4%B8%AD?x=1#t=5"}, allow_redirects=False)
    assert r.headers["Location"] == "/calls/%E4%B8%AD?x=1#t=5"
    client.session.cookie_jar.clear()  # signed out: the sign-in form's next is safe too
    r = await client.session.get(URL(f"{base}//other-host/", encoded=True))
    assert r.status == 401 and 'value="/"' in await r.text()


async def test_calls_list_is_masked(client):
    calls = (await (await client.get("/api/calls", headers=auth())).json())["calls"]
    by_id = {c["id"]: c for c in calls}
    assert [c["outcome"] for c in calls if c["id"] != "outside"] == ["callback", "abandoned", "answered"]
    main = by_id[MAIN_CALL]
    assert main["caller_number"] == "139****5678" and main["caller_name"] == "张** **"
    assert main["ivr_path"] == ["welcome", "main_menu", "intake", "queue_citizen"]
    assert main["queue"] == "citizen" and main["wait_seconds"] == 29.8 and main["agent"] == "8001 王芳"
    assert by_id["1795881301.260"]["caller_number"] == "0755-****3456"
    body = json.dumps(calls, ensure_ascii=False)
    assert "13912345678" not in body and "86123456" not in body and "13800138000" not in body


async def test_search_mandarin_and_english_masked(client):
    r = await client.get("/api/search", params={"q": "路灯"}, headers=auth())
    hits = (await r.json())["hits"]
    assert {h["segment"]["text"] for h in hits} == {"我要报修路灯坏了，在人民路和解放路路口", "好的，请问路灯具体在哪个位置？"}
    assert all(h["call"]["caller_number"] == "139****5678" for h in hits)
    r = await client.get("/api/search", params={"q": "street light"}, headers=auth())
    (hit,) = (await r.json())["hits"]
    text = hit["segment"]["text"]
    assert [text[s:e] for s, e in hit["spans"]] == ["street", "light", "Street"]
    r = await client.get("/api/search", params={"q": "电话"}, headers=auth())
    (hit,) = (await r.json())["hits"]
    assert hit["segment"]["text"] == "人民路和解放路路口，我的电话是139****5678。"
    assert (await client.get("/api/search", params={"q": " "}, headers=auth())).status == 400
    assert (await client.get("/api/search?q=x&limit=abc", headers=auth())).status == 400


FORMS_CALL = "1795889999.301"


def _seed_number_forms(db: Path) -> None:
    """A call whose caller gives the number in every written form, in speech, inputs and events."""
    from engine.store import Store

    with Store.open(db) as s:
        s.upsert_call(FORMS_CALL, started_at=1795889999.0, caller_number="139.1234.5678",
                      ivr_inputs={"callback_number": NUMBER_FORMS[2][0]})
        for i, (said, _) in enumerate(NUMBER_FORMS):
            s.add_segment(FORMS_CALL, "caller", float(i), i + 0.5, f"我的电话是{said}",
                          words=[{"word": w, "start": float(i)} for w in said.split()])
            s.add_event(FORMS_CALL, "ivr.input", 1795889999.0 + i, {"node": "callback", "said": said})


async def test_every_written_form_of_a_number_is_masked_on_the_page(sample_db):
    _seed_number_forms(sample_db[0])
    hub = LiveHub(clock=lambda: 1000.0)
    client, store = await _client(sample_db, hub=hub)
    try:
        calls = (await (await client.get("/api/calls", headers=auth())).json())["calls"]
        forms = next(c for c in calls if c["id"] == FORMS_CALL)
        assert forms["caller_number"] == "139.****.5678"
        assert forms["ivr_inputs"] == {"callback_number": NUMBER_FORMS[2][1]}
        body = await (await client.get(f"/api/calls/{FORMS_CALL}", headers=auth())).json()
        speech = [i for i in body["items"] if i["kind"] == "speech"]
        assert [i["text"] for i in speech] == [f"我的电话是{shown}" for _, shown in NUMBER_FORMS]
        assert [" ".join(w["word"] for w in i["words"]) for i in speech] == [shown for _, shown in NUMBER_FORMS]
        assert [i["data"]["said"] for i in body["items"] if i["kind"] == "ivr.input"] == [
            shown for _, shown in NUMBER_FORMS]
        hits = (await (await client.get("/api/search", params={"q": "电话是"}, headers=auth())).json())["hits"]
        assert {h["segment"]["text"] for h in hits} >= {f"我的电话是{shown}" for _, shown in NUMBER_FORMS}
        resp = await client.get("/api/live/stream", headers=auth())
        await _read_events(resp, 1)
        for i, (said, _) in enumerate(NUMBER_FORMS):
            hub.publish(FinalTranscript("live-9", "caller", float(i), i + 1.0, f"号码 {said}"))
        finals = await _read_events(resp, len(NUMBER_FORMS))
        assert [m["text"] for _, m in finals] == [f"号码 {shown}" for _, shown in NUMBER_FORMS]
        resp.close()
        for shown in (forms, body, hits, finals):
            text = json.dumps(shown, ensure_ascii=False)
            assert not any(h in text for h in HIDDEN), text
    finally:
        await client.close()
        await store.close()


async def test_search_cannot_recover_masked_digits(sample_db):
    """The ordinary token searches what it is shown: a prefix, the whole number or a fragment of a
    masked number finds nothing; the privileged token (with show_personal_data) finds them all."""
    _seed_number_forms(sample_db[0])
    probes = ("1391234*", "13912345*", "13912345678", "139 1234", "1234", "二三四", "一二三四", "电话 1391234*")
    for show, token, found in ((False, TOKEN, False), (True, TOKEN, False), (False, PRIV, False), (True, PRIV, True)):
        client, store = await _client(sample_db, show=show)
        try:
            for q in probes:
                r = await client.get("/api/search", params={"q": q}, headers=auth(token))
                hits = (await r.json())["hits"]
                assert bool(hits) == found, (show, token, q, hits)
            # what is shown can still be searched, and its highlight covers only visible characters
            r = await client.get("/api/search", params={"q": "139*"}, headers=auth(token))
            hits = (await r.json())["hits"]
            number = "13912345678" if found else "139****5678"
            assert any(h["segment"]["text"] == f"人民路和解放路路口，我的电话是{number}。" for h in hits)
            for h in hits:
                text = h["segment"]["text"]
                assert h["spans"] and all("*" not in text[a:b] for a, b in h["spans"]), h
        finally:
            await client.close()
            await store.close()


async def test_timeline_has_both_legs_events_and_audio(client):
    body = await (await client.get(f"/api/calls/{MAIN_CALL}", headers=auth())).json()
    kinds = [i["kind"] for i in body["items"]]
    assert kinds[:5] == ["call.start", "ivr.node", "ivr.node", "ivr.input", "ivr.node"]
    assert "queue.join" in kinds and "agent.connect" in kinds
    legs = [i["leg"] for i in body["items"] if i["kind"] == "speech"]
    assert legs == ["caller", "agent", "caller", "agent", "caller", "agent"]
    assert [i["t"] for i in body["items"]] == sorted(i["t"] for i in body["items"])
    assert body["audio"] == [{"id": 1, "leg": "mixed", "offset": 44.0, "url": "/api/audio/1"}]
    assert "13912345678" not in json.dumps(body, ensure_ascii=False)
    assert body["call"]["ivr_inputs"] == {"main_menu": "2", "intake": "我要报修路灯坏了"}
    r = await client.get("/api/calls/nope", headers=auth())
    assert r.status == 404


async def test_personal_data_needs_config_and_privileged_token(sample_db):
    for show, token, expect in (
        (False, PRIV, "139****5678"),
        (True, TOKEN, "139****5678"),
        (True, PRIV, "13912345678"),
    ):
        client, store = await _client(sample_db, show=show)
        try:
            me = await (await client.get("/api/me", headers=auth(token))).json()
            assert me["personal_data_shown"] == (expect == "13912345678")
            calls = (await (await client.get("/api/calls", headers=auth(token))).json())["calls"]
            assert {c["id"]: c for c in calls}[MAIN_CALL]["caller_number"] == expect
            hits = (await (await client.get("/api/search?q=电话", headers=auth(token))).json())["hits"]
            assert expect in hits[0]["segment"]["text"]
        finally:
            await client.close()
            await store.close()


async def test_audio_is_served_with_range_support(client, sample_db):
    _, audio_dir = sample_db
    data = (audio_dir / "main.wav").read_bytes()
    r = await client.get("/api/audio/1", headers=auth())
    assert r.status == 200 and r.headers["Content-Type"] == "audio/wav"
    assert r.headers.get("Accept-Ranges") == "bytes"
    assert await r.read() == data
    r = await client.get("/api/audio/1", headers={**auth(), "Range": "bytes=1000-1999"})
    assert r.status == 206
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert await r.read() == data[1000:2000]
    # a path outside the configured audio directory is refused
    r = await client.get("/api/audio/2", headers=auth())
    assert r.status == 403
    assert (await client.get("/api/audio/99", headers=auth())).status == 404
    shutil.move(audio_dir / "main.wav", audio_dir / "gone.wav")
    assert (await client.get("/api/audio/1", headers=auth())).status == 404


async def test_out_of_range_ids_and_numbers_are_client_errors(client):
    """Ids and numbers SQLite cannot hold, or Python will not parse (over 4300 digits), are a 4xx
    with a short message naming the value, never a 500."""
    for path in ("/api/audio/99999999999999999999999", "/api/audio/9223372036854775808", "/api/audio/" + "9" * 5000,
                 "/api/audio/-1", "/api/audio/%D9%A3", "/api/audio/1.5", "/api/audio/0"):
        r = await client.get(path, headers=auth())
        body = await r.json()
        assert r.status == 404 and body["error"].startswith("no such audio: "), (path, body)
        assert len(body["error"]) < 200
    for path, status in (("/api/calls?limit=" + "9" * 5000, 400), ("/api/calls?limit=99999999999999999999999", 200),
                         ("/api/calls?before=1e400", 400), ("/api/calls?before=" + "9" * 5000, 400),
                         ("/api/search?q=x&limit=" + "9" * 30, 200), ("/api/search?q=x&limit=-" + "9" * 5000, 400),
                         ("/api/calls/" + "9" * 5000, 404), ("/api/calls/%00", 404), ("/api/search?q=%00", 200),
                         ("/api/live/stream?call=" + "9" * 30 + "&x=1", 200)):
        r = await client.get(path, headers=auth())
        assert r.status == status, (path, r.status)
        if status != 200:
            assert len((await r.json())["error"]) < 100
        r.close()


async def _read_events(resp, n: int) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    kind = None
    while len(out) < n:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            out.append((kind, json.loads(line[6:])))
    return out


async def test_live_events_stream_masked(sample_db):
    hub = LiveHub(clock=lambda: 1000.0)
    client, store = await _client(sample_db, hub=hub)
    try:
        hub.publish({"type": "call.start", "call_id": "live-1", "caller_number": "13712345678", "queue": "citizen"})
        resp = await client.get("/api/live/stream", headers=auth())
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        (snap,) = await _read_events(resp, 1)
        assert snap[0] == "snapshot" and snap[1]["calls"][0]["caller_number"] == "137****5678"
        hub.publish(PartialTranscript("live-1", "caller", 3.0, "我的号码是13712"))
        hub.publish(PartialTranscript("live-1", "caller", 3.0, "我的号码是13712345678"))
        hub.publish(FinalTranscript("live-1", "caller", 3.0, 5.0, "我的号码是13712345678"))
        hub.publish({"type": "call.end", "call_id": "live-1"})
        events = await _read_events(resp, 4)
        assert [k for k, _ in events] == ["partial", "partial", "final", "call.end"]
        assert events[1][1]["text"] == "我的号码是137****5678"
        assert events[2][1] == {"type": "final", "call_id": "live-1", "leg": "caller", "start": 3.0, "end": 5.0,
                                "text": "我的号码是137****5678"}
        resp.close()
        # per-call stream only carries that call; snapshot of a live call
        hub.publish({"type": "call.start", "call_id": "live-2", "caller_number": "8001"})
        hub.publish(PartialTranscript("live-2", "agent", 1.0, "您好"))
        live = await (await client.get("/api/live", headers=auth())).json()
        assert [c["call_id"] for c in live["calls"]] == ["live-2"]
        assert (await (await client.get("/healthz")).json())["live_calls"] == 1
        assert live["calls"][0]["partials"] == {"agent": {"start": 1.0, "text": "您好"}}
        resp = await client.get("/api/live/stream?call=live-3", headers=auth())
        await _read_events(resp, 1)
        hub.publish(FinalTranscript("live-2", "agent", 1.0, 2.0, "您好"))
        hub.publish(FinalTranscript("live-3", "agent", 1.0, 2.0, "hello three"))
        ((kind, msg),) = await _read_events(resp, 1)
        assert msg["call_id"] == "live-3"
        body = await (await client.get("/api/calls/live-3", headers=auth())).json()
        assert body["live"]["finals"][0]["text"] == "hello three"
        assert body["call"]["live"] and body["items"] == []
        body = await (await client.get("/api/calls/live-2", headers=auth())).json()
        assert body["call"]["caller_number"] == "8001"
        resp.close()
    finally:
        await client.close()
        await store.close()
    assert hub.subscribers == 0


def test_live_message_words_masked_as_their_text():
    from engine.web.present import live_json

    msg = {"type": "final", "text": "1 3 9 1 2 3 4 5 6 7 8", "words": [{"word": d, "start": 0.0} for d in "13912345678"]}
    shown = live_json(msg, reveal=False)
    assert "".join(w["word"] for w in shown["words"]) == "139****5678" and shown["text"] == "1 3 9 * * * * 5 6 7 8"
    assert live_json(msg, reveal=True) == msg


def test_late_final_after_hangup_does_not_revive_a_live_call():
    hub = LiveHub()
    sub = hub.subscribe()
    hub.publish({"type": "call.start", "call_id": "c1"})
    hub.publish({"type": "call.end", "call_id": "c1"})
    hub.publish(FinalTranscript("c1", "agent", 5.0, 6.0, "再见"))
    hub.publish({"type": "call.update", "call_id": "c1", "ivr_path": ["welcome"]})  # an IVR record after the hang-up
    assert hub.snapshot() == [] and hub.live_calls == 0
    assert [m["type"] for m in sub.queue] == ["call.start", "call.end", "final", "call.update"]  # the call page still gets them
    with pytest.raises(ValueError, match="unknown call fact"):
        hub.publish({"type": "call.explode", "call_id": "c1"})
    with pytest.raises(TypeError):
        hub.publish(42)


async def test_heartbeat_and_shutdown_end_streams(sample_db):
    hub = LiveHub()
    client, store = await _client(sample_db, hub=hub, heartbeat=0.05)
    try:
        resp = await client.get("/api/live/stream", headers=auth())
        await _read_events(resp, 1)
        line = b""
        while not line.startswith(b": ping"):
            line = await asyncio.wait_for(resp.content.readline(), 5)
    finally:
        await client.close()  # runs on_shutdown: the hub ends every stream
        await store.close()
    assert hub.subscribers == 0


def test_settings_need_a_token_and_come_from_config(monkeypatch):
    with pytest.raises(ConfigError, match="no access token"):
        WebSettings(token="")
    with pytest.raises(ConfigError, match="must differ"):
        WebSettings(token="a", privileged_token="a")
    cfg = Config()
    monkeypatch.setenv("HOTLINE_WEB_TOKEN", "t1")
    monkeypatch.setenv("HOTLINE_WEB_PRIVILEGED_TOKEN", "t2")
    s = settings_from_config(cfg)
    assert (s.token, s.privileged_token, s.show_personal_data) == ("t1", "t2", False)
    assert s.audio_dir == Path("var/audio")
    assert "t1" not in repr(s) and "t2" not in repr(s) and "t1" not in repr(cfg)


async def test_start_site_binds_loopback_by_default(sample_db):
    db, audio_dir = sample_db
    store = await AsyncStore.open(db)
    runner, port = await start_site(create_app(store, WebSettings(token=TOKEN, audio_dir=audio_dir)), port=0)
    try:
        addrs = [s.getsockname()[0] for site in runner.sites for s in site._server.sockets]
        assert addrs == ["127.0.0.1"] and port > 0
        async def raw_get(target: bytes) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            return data

        assert (await raw_get(b"/healthz")).startswith(b"HTTP/1.1 200")
        # the open prefixes cannot be used to reach the API without a token
        for target in (b"/static/../api/calls", b"/static/%2e%2e/api/calls", b"/static/..%2fapi/calls",
                       b"/healthz/../api/calls", b"/login/../api/calls", b"/static/../../etc/passwd"):
            data = await raw_get(target)
            assert data.split(b"\r\n")[0] in (b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 404 Not Found"), target
            assert b"caller_number" not in data and b"root:" not in data
    finally:
        await runner.cleanup()
        await store.close()


async def test_call_detail_links_a_booking_and_its_call_back(sample_db):
    from engine.store import Store

    db, _ = sample_db
    with Store.open(db) as s:
        s.relate("1795881390.271", "1795881700.300", "callback", at=1795881700.0)
    client, store = await _client(sample_db)
    try:
        booking = await (await client.get("/api/calls/1795881390.271", headers=auth())).json()
        back = await (await client.get("/api/calls/1795881700.300", headers=auth())).json()
        plain = await (await client.get(f"/api/calls/{MAIN_CALL}", headers=auth())).json()
    finally:
        await client.close()
        await store.close()
    assert booking["related"] == [{"call_id": "1795881700.300", "kind": "callback", "at": 1795881700.0}]
    assert back["related"] == [{"call_id": "1795881390.271", "kind": "callback_of", "at": 1795881700.0}]
    assert plain["related"] == []
