"""The PostgreSQL store against a real server (the session's, tests/postgres_helpers.py): its
migrations, read-only opening, password, several nodes writing at once, a broken connection, and
search that finds, ranks and highlights exactly what the SQLite store does on the same data.
(The behaviour both backends share is tested on both in tests/test_store.py and friends.)"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import urllib.request

import psycopg
import pytest
from psycopg.rows import dict_row

from engine.cli import main
from engine.config import load_config
from engine.errors import ConfigError
from engine.store import SchemaError, Store, StoreError, StoreInputError
from engine.store import pg_store as pg_store_module
from engine.store.backend import open_store, redact_url
from engine.store.migrations import LATEST, MIGRATIONS, Migration
from engine.store.pg_store import PgStore
from engine.store.sample import MAIN_CALL, seed_sample_calls
from tests.postgres_helpers import PASSWORD, PASSWORD_ROLE
from tests.test_store import Clock, assert_index_agrees


def _raw(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def test_a_new_store_is_at_the_latest_version_with_its_search_index(pg_url):
    with PgStore.open(pg_url) as s:
        assert s.schema_version == LATEST and s.healthy()
        assert s.path == pg_url  # no password to hide
    with _raw(pg_url) as conn:
        tables = {r["tablename"] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        indexes = {r["indexname"] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
    assert {"calls", "call_ids", "segments", "events", "audio", "call_relations", "search_stats",
            "hotline_schema"} <= tables
    assert {"segments_body", "calls_queue", "calls_language", "call_relations_other"} <= indexes


def test_migrates_a_version_1_store_keeping_its_data(pg_url):
    with _raw(pg_url) as conn:
        assert PgStore._migrate(conn, "test", target=1) == [1]
        conn.execute("INSERT INTO calls (id, caller_number, updated_at) VALUES ('a', '13912345678', 1)")
    with PgStore.open(pg_url) as s:
        assert s.schema_version == LATEST
        assert s.get_call("a").caller_number == "13912345678" and s.get_call("a").language is None


def test_refuses_an_empty_database_foreign_tables_and_a_newer_schema(pg_url):
    with pytest.raises(StoreError, match="no hotline store in this database"):
        PgStore.open(pg_url, create=False)
    with _raw(pg_url) as conn:
        conn.execute("CREATE TABLE x (y int)")
    with pytest.raises(SchemaError, match="has tables but no schema version; not a hotline store"):
        PgStore.open(pg_url)
    with _raw(pg_url) as conn:
        conn.execute("DROP TABLE x")
        conn.execute(f"CREATE TABLE hotline_schema (version integer); INSERT INTO hotline_schema VALUES ({LATEST + 1})")
    with pytest.raises(SchemaError, match="newer than this program"):
        PgStore.open(pg_url)
    with pytest.raises(SchemaError, match="newer than this program"):
        PgStore.open(pg_url, readonly=True)


def test_a_failed_migration_leaves_the_previous_version(pg_url, monkeypatch):
    with _raw(pg_url) as conn:
        PgStore._migrate(conn, "test", target=1)
    broken = "CREATE INDEX calls_queue ON calls (queue);\nCREATE TABLE nope (;"
    monkeypatch.setattr(pg_store_module, "MIGRATIONS", (MIGRATIONS[0], Migration(2, "broken", broken, broken)))
    monkeypatch.setattr(pg_store_module, "LATEST", 2)
    with pytest.raises(SchemaError, match="not a usable PostgreSQL store: syntax error"):
        PgStore.open(pg_url)
    with _raw(pg_url) as conn:
        assert conn.execute("SELECT version FROM hotline_schema").fetchone()["version"] == 1
        assert conn.execute("SELECT to_regclass('calls_queue') AS i").fetchone()["i"] is None


def test_nodes_starting_together_migrate_once(pg_url):
    opened, errors = [], []

    def start() -> None:
        try:
            opened.append(PgStore.open(pg_url))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(opened) == 4
    assert {s.schema_version for s in opened} == {LATEST}
    for s in opened:
        s.close()


def test_read_only_opening_reads_an_older_schema_and_never_writes(pg_url):
    with pytest.raises(SchemaError, match="no schema version; not a hotline store"):
        PgStore.open(pg_url, readonly=True)
    with _raw(pg_url) as conn:
        PgStore._migrate(conn, "test", target=1)
        conn.execute("INSERT INTO calls (id, queue, started_at, updated_at) VALUES ('a', 'citizen', 5, 5)")
    with PgStore.open(pg_url, readonly=True) as s:
        assert s.schema_version == 1 and s.healthy() and s.readonly
        assert [c.id for c in s.list_calls(queue="citizen")] == ["a"]
        assert s.list_calls(language="zh") == [] and s.facets()["languages"] == []
        assert s.call_timeline("a").related == ()
        with pytest.raises(StoreError, match="opened read-only"):
            s.upsert_call("a", outcome="answered")
        assert s.schema_version == 1  # read as it is, never migrated


def test_the_password_comes_from_the_environment_and_is_never_shown(postgres, monkeypatch):
    url = postgres.url(PASSWORD_ROLE, user=PASSWORD_ROLE)
    cfg = load_config(overrides={"store.url": url})
    monkeypatch.delenv("HOTLINE_STORE_PASSWORD", raising=False)
    with pytest.raises(StoreError, match="cannot connect: .*password"):
        open_store(cfg)
    monkeypatch.setenv("HOTLINE_STORE_PASSWORD", PASSWORD)
    with open_store(cfg) as s:
        s.upsert_call("pw-call", outcome="answered")
        assert s.get_call("pw-call").outcome == "answered"
    # a password written into the URL works too, and is dropped from every message and name
    monkeypatch.delenv("HOTLINE_STORE_PASSWORD")
    inline = url.replace(f"{PASSWORD_ROLE}@", f"{PASSWORD_ROLE}:{PASSWORD}@")
    with open_store(load_config(overrides={"store.url": inline})) as s:
        assert PASSWORD not in s.path and s.path == url
    wrong = url.replace(f"{PASSWORD_ROLE}@", f"{PASSWORD_ROLE}:s3cret-typo@")
    with pytest.raises(StoreError) as err:
        open_store(load_config(overrides={"store.url": wrong}))
    assert "s3cret-typo" not in str(err.value) and "\n" not in str(err.value)
    assert redact_url("postgresql://u:pw@h:5/db?password=pw&sslmode=require") == "postgresql://u@h:5/db?sslmode=require"
    assert "s3cret" not in repr(load_config(overrides={"store.url": wrong}))
    with pytest.raises(ConfigError, match="expected a postgresql://") as err:
        load_config(overrides={"store.url": "mysql://u:s3cret@h/db"})
    assert "s3cret" not in str(err.value)


def test_two_nodes_racing_on_the_same_calls_lose_nothing(pg_url):
    """Node A stores segments under AudioSocket UUIDs while node B links each UUID to its call
    (a merge when A was first): every segment ends on its call, whoever wins each race."""
    a, b = PgStore.open(pg_url), PgStore.open(pg_url)
    n = 120
    failures: list[BaseException] = []

    def run(fn) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def node_a() -> None:
        for i in range(n):
            a.add_segment(f"uuid-{i}", "caller", 1.0, 2.0, f"路灯坏了 {i}")
            a.add_event(f"uuid-{i}", "tap.start", 10.0 + i)

    def node_b() -> None:
        for i in range(n):
            b.upsert_call(f"call-{i}", started_at=1000.0 + i, caller_number="13912345678")
            b.link(f"call-{i}", f"uuid-{i}", "audiosocket")

    threads = [threading.Thread(target=run, args=(fn,)) for fn in (node_a, node_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    calls = a.list_calls(limit=10 * n)
    assert sorted(c.id for c in calls) == sorted(f"call-{i}" for i in range(n))  # no stub left behind
    assert all(c.segment_count == 1 and c.caller_number == "13912345678" for c in calls)
    assert all(len(a.call_timeline(f"uuid-{i}").items) == 2 for i in range(n))
    assert len(a.search("路灯", limit=1000)) == n
    assert_index_agrees(a)
    a.close()
    b.close()


def test_a_broken_connection_is_opened_again(pg_url, postgres):
    with PgStore.open(pg_url) as s:
        s.add_segment("c", "caller", 0, 1, "路灯")
        postgres.execute(f"SELECT pg_terminate_backend({s._conn.info.backend_pid})")
        assert s.add_segment("c", "caller", 2, 3, "路灯坏了") is not None  # a write after the break
        postgres.execute(f"SELECT pg_terminate_backend({s._conn.info.backend_pid})")
        assert len(s.search("路灯")) == 2  # and a read
        s._conn.close()  # as a failed reconnect leaves it: the next call connects again
        assert s.healthy() and s.get_call("c").segment_count == 2


def test_an_unreachable_server_makes_the_store_unhealthy_not_dead(pg_url, postgres):
    """While the server refuses connections, calls fail with one StoreError line and the store
    reports itself unhealthy; once it answers again the store works without being reopened."""
    s = PgStore.open(pg_url)
    s._url = s._url.replace(f":{postgres.port}/", ":1/")  # as if the server had gone away
    postgres.execute(f"SELECT pg_terminate_backend({s._conn.info.backend_pid})")
    with pytest.raises(StoreError, match="cannot connect"):
        s.add_segment("c", "caller", 0, 1, "路灯")
    assert not s.healthy()
    s._url = pg_url  # back
    assert s.add_segment("c", "caller", 0, 1, "路灯") is not None and s.healthy()
    s.close()


def test_text_postgresql_cannot_hold_is_refused_and_a_huge_token_is_stored(pg_url):
    with PgStore.open(pg_url) as s:
        with pytest.raises(StoreInputError, match="NUL character"):
            s.add_segment("c", "caller", 0, 1, "路灯\x00坏了")
        assert s.segments("c") == []
        # a "word" longer than a tsvector lexeme may be (2 KB) is kept, just not findable by itself
        assert s.add_segment("c", "caller", 0, 1, "x" * 3000 + " 路灯") is not None
        assert [h.segment.start for h in s.search("路灯")] == [0.0]


def test_durable_false_commits_without_waiting_for_the_disk(pg_url):
    with PgStore.open(pg_url, durable=False) as s:
        assert s._conn.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"] == "off"
    with PgStore.open(pg_url) as s:
        assert s._conn.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"] == "on"


def test_read_only_commands_take_a_postgresql_url(pg_url, capsys):
    with PgStore.open(pg_url) as s:
        seed_sample_calls(s)
    assert main(["calls", "--db", pg_url, "--search", "路灯", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and all(h["call"]["id"] == MAIN_CALL for h in hits)
    assert main(["calls", "--db", pg_url, "--search", "13912345678"]) == 0
    assert "no transcript line matches" in capsys.readouterr().out  # masked: a hidden number is not searchable
    assert main(["replay", MAIN_CALL, "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert "139****5678" in out and "13912345678" not in out


def test_web_serves_the_configured_postgresql_store_without_showing_its_password(postgres, tmp_path, monkeypatch):
    """``hotline web`` with ``[store] url`` and the password in the environment: the page reads
    the PostgreSQL store; the address line names it without the password."""
    url = postgres.url(PASSWORD_ROLE, user=PASSWORD_ROLE)
    monkeypatch.setenv("HOTLINE_STORE_PASSWORD", PASSWORD)
    config = tmp_path / "hotline.toml"
    config.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    with open_store(load_config(config)) as s:
        seed_sample_calls(s)
    env = {**os.environ, "HOTLINE_WEB_TOKEN": "tok-123"}
    proc = subprocess.Popen([sys.executable, "-c", "from engine.cli import entry; entry()", "--config", str(config),
                             "web", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"supervisor page for {url}: http://127.0.0.1:"), line + proc.stderr.read()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/calls", headers={"Authorization": "Bearer tok-123"})
        with urllib.request.urlopen(req, timeout=10) as r:
            calls = {c["id"]: c for c in json.loads(r.read())["calls"]}
        assert calls[MAIN_CALL]["caller_number"] == "139****5678"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert PASSWORD not in line + err


# -- search parity -------------------------------------------------------------------------

ZH = ["路灯", "坏了", "报修", "人民路", "解放路", "路口", "噪音", "扰民", "社保卡", "垃圾", "清运", "的", "我",
      "在", "请问", "好的", "红绿灯", "马路口", "灯", "小区", "楼下", "施工"]
EN = ["street", "light", "lights", "lighting", "broken", "noise", "Garbage", "collection", "café", "report",
      "reported", "reporting", "the", "on", "Main", "runner", "running", "a_b", "Ünïcode", "O'Brien"]
NUM = ["13912345678", "139 1234 5678", "8001", "12345", "幺三九一二三四五六七八", "２０２６"]
QUERIES = ["路灯", "灯", "路", "路灯坏了", "人民路 路口", "马路口", "红绿灯", "噪音 扰民", "社保", "坏灯", "street",
           "LIGHTS", "light*", "lig*", "café", "cafe", "unicode", "report", "reporting", "runs*", "the", "o'brien",
           "a_b", "13912345678", "1234", "139*", "12345", "三四五", "２０２６", "路灯 street", "street 路灯 报修",
           '"', "AND", "street NEAR(", "a:b", "-x", "*", "___ street", "___"]


def _corpus(store, rng: random.Random) -> None:
    seed_sample_calls(store)
    for i in range(300):
        kind = rng.random()
        if kind < 0.45:
            text = "".join(rng.choice(ZH) for _ in range(rng.randint(1, 12))) + rng.choice(["", "，", "。", "？"])
        elif kind < 0.85:
            text = " ".join(rng.choice(EN) for _ in range(rng.randint(1, 10))) + rng.choice(["", ".", "?"])
        else:
            text = f"{rng.choice(ZH)}{rng.choice(NUM)} {rng.choice(EN)}，{rng.choice(ZH)}"
        store.add_segment(f"p{i // 5}", rng.choice(["caller", "agent"]), float(i % 5) * 3, float(i % 5) * 3 + 2, text)


def test_search_finds_ranks_and_highlights_as_sqlite_does(pg_url, tmp_path):
    stores = [Store.open(tmp_path / "h.sqlite", clock=Clock()), PgStore.open(pg_url, clock=Clock())]
    for s in stores:
        _corpus(s, random.Random(7))
    compared = 0
    for q in QUERIES:
        for limit in (4, 1000):
            for masked in (False, True):
                got = [[(h.call.id, h.segment.leg, h.segment.start, h.segment.text, h.spans)
                        for h in s.search(q, limit=limit, masked=masked)] for s in stores]
                assert got[0] == got[1], (q, limit, masked)
                compared += len(got[0])
    assert compared > 2000  # the queries do find things
    assert len(stores[1].search("路灯", limit=1000)) > 30
    for s in stores:
        s.close()
