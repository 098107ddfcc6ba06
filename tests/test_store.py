"""Store: migrations, WAL, joins across sources, FTS (Mandarin and English), async writer.

Tests of behaviour run on both backends (the ``backend`` fixture: SQLite and a real PostgreSQL);
those about the SQLite file (WAL, its migrations) on SQLite only; PostgreSQL's own in
tests/test_store_postgres.py."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from engine.events.speech import Word
from engine.store import AsyncStore, SchemaError, Store, StoreInputError, fts
from engine.store.migrations import LATEST, MIGRATIONS, migrate


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        self.t += 0.001
        return self.t


@pytest.fixture
def store(backend):
    s = backend.open(clock=Clock())
    yield s
    s.close()


def assert_index_agrees(store) -> None:
    """The search index holds exactly the stored segments (and SQLite's FTS5 index is sound)."""
    if isinstance(store, Store):
        conn = store._conn
        assert conn.execute("SELECT count(*) FROM segments_fts").fetchone()[0] == \
            conn.execute("SELECT count(*) FROM segments").fetchone()[0]
        conn.execute("INSERT INTO segments_fts (segments_fts) VALUES ('integrity-check')")
    else:  # PostgreSQL: bm25's totals match the segments
        conn = store._conn
        stats = conn.execute("SELECT sum(segments) AS n, sum(tokens) AS t FROM search_stats").fetchone()
        real = conn.execute("SELECT count(*) AS n, sum(cardinality(tokens)) AS t FROM segments").fetchone()
        assert (stats["n"] or 0, stats["t"] or 0) == (real["n"], real["t"] or 0)


def test_new_file_is_wal_and_at_latest_version(tmp_path):
    with Store.open(tmp_path / "sub" / "h.sqlite") as s:
        assert s.pragma("journal_mode") == "wal"
        assert s.pragma("synchronous") == 2  # FULL
        assert s.schema_version == LATEST == len(MIGRATIONS)
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST + 1))


def test_migrates_a_version_1_file_keeping_its_data(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == [1]
    conn.execute("INSERT INTO calls (id, caller_number, updated_at) VALUES ('a', '13912345678', 1)")
    conn.close()
    with Store.open(path) as s:
        assert s.schema_version == LATEST
        assert s.get_call("a").caller_number == "13912345678"
        names = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "calls_queue" in names


def test_refuses_newer_schema_and_foreign_files(tmp_path):
    newer = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer than this program"):
        Store.open(newer)
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE x (y)")
    conn.close()
    with pytest.raises(SchemaError, match="not a hotline store"):
        Store.open(foreign)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(SchemaError, match="not a usable SQLite store"):
        Store.open(junk)


def test_failed_migration_leaves_previous_version(tmp_path, monkeypatch):
    from engine.store import migrations

    path = tmp_path / "h.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    broken = "CREATE INDEX calls_queue ON calls (queue);\nCREATE TABLE nope (;"
    bad = migrations.Migration(2, "broken", broken, broken)
    monkeypatch.setattr(migrations, "MIGRATIONS", (migrations.MIGRATIONS[0], bad))
    monkeypatch.setattr(migrations, "LATEST", 2)
    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate(conn)
    assert migrations.current_version(conn) == 1
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'calls_queue'").fetchone()


def test_one_record_joined_across_sources(store):
    # the speech path reports first, under the AudioSocket UUID it knows
    store.add_segment("uuid-1", "caller", 1.0, 2.5, "我要报修路灯坏了", words=[Word("我要", 1.0, 1.4, 0.9)])
    # then AMI tells us the channel's ids, and the IVR and queue their parts
    store.upsert_call("1795.10", started_at=1000.0, caller_number="13912345678", caller_name="张三")
    store.link("1795.10", "1795.11", "uniqueid", "Local/s@x;2")
    store.link("1795.10", "uuid-1", "audiosocket")
    store.upsert_call("1795.11", ivr_flow="main", ivr_path=["welcome", "menu", "intake"], ivr_inputs={"menu": "2"})
    store.upsert_call("1795.10", queue="citizen", queue_joined_at=1012.0, queue_answered_at=1040.5, agent="Local/8001")
    store.add_event("1795.11", "queue.join", 1012.0, {"queue": "citizen", "position": 1})
    store.add_audio("uuid-1", "caller", "/tmp/a.wav", offset=0.5)
    rec = store.get_call("uuid-1")
    assert rec.id == "1795.10"
    assert rec.ivr_path == ("welcome", "menu", "intake") and rec.ivr_inputs == {"menu": "2"}
    assert rec.wait_seconds == pytest.approx(28.5)
    assert rec.segment_count == 1 and rec.has_audio and rec.live
    assert [c.id for c in store.list_calls()] == ["1795.10"]  # the stub was merged, not left behind
    seg = store.segments("1795.10")[0]
    assert seg.words == ({"word": "我要", "start": 1.0, "end": 1.4, "conf": 0.9},)
    tl = store.call_timeline("1795.11")
    assert [(i.t, i.kind) for i in tl.items] == [(1.0, "speech"), (12.0, "queue.join")]
    assert tl.audio[0].offset == 0.5
    assert store.search("路灯")[0].call.id == "1795.10"


def test_started_at_keeps_earliest_and_wait_given_wins(store):
    store.upsert_call("c", started_at=100.0, queue_joined_at=110.0, wait_seconds=7.0)
    store.upsert_call("c", started_at=99.0, queue_abandoned_at=130.0)
    store.upsert_call("c", started_at=105.0)
    rec = store.get_call("c")
    assert rec.started_at == 99.0
    assert rec.wait_seconds == 20.0  # derived again: no wait given in the update that set the end
    store.upsert_call("c", wait_seconds=18.0, ended_at=131.0)
    rec = store.get_call("c")
    assert rec.wait_seconds == 18.0 and not rec.live


def test_duplicates_stored_once(store):
    assert store.add_segment("c", "agent", 3.0, 4.0, "hello") is not None
    assert store.add_segment("c", "agent", 3.0, 4.0, "hello") is None
    assert store.add_event("c", "queue.join", 5.0, dedupe="u1/QueueCallerJoin") is not None
    assert store.add_event("c", "queue.join", 5.0, dedupe="u1/QueueCallerJoin") is None
    assert len(store.segments("c")) == 1 and len(store.search("hello")) == 1
    assert len(store.call_timeline("c").items) == 2


def test_bad_input_is_rejected_with_a_clear_message(store):
    with pytest.raises(StoreInputError, match="leg 'left'"):
        store.add_segment("c", "left", 1, 2, "x")
    with pytest.raises(StoreInputError, match="before its start"):
        store.add_segment("c", "caller", 2, 1, "x")
    with pytest.raises(StoreInputError, match="unknown field 'colour'"):
        store.upsert_call("c", colour="red")
    with pytest.raises(StoreInputError, match="started_at: expected a number"):
        store.upsert_call("c", started_at="yesterday")
    with pytest.raises(StoreInputError, match="ivr_path"):
        store.upsert_call("c", ivr_path="welcome")
    assert store.segments("c") == []


def test_fts_mandarin_and_english(store):
    store.add_segment("zh", "caller", 0, 2, "我要报修路灯坏了")
    store.add_segment("zh", "agent", 2, 4, "好的，请问路灯在哪个位置")
    store.add_segment("zh", "caller", 5, 7, "在人民路和解放路的路口")
    store.add_segment("en", "caller", 0, 2, "Hello, I would like to report a broken street light on Main Street.")
    store.add_segment("en", "agent", 2, 3, "Which street, please?")
    assert {h.segment.text for h in store.search("路灯")} == {"我要报修路灯坏了", "好的，请问路灯在哪个位置"}
    hit = store.search("报修")[0]
    assert hit.segment.text == "我要报修路灯坏了" and hit.spans == ((2, 4),)
    assert [h.segment.call_id for h in store.search("路灯坏了")] == ["zh"]
    assert {h.segment.start for h in store.search("灯")} == {0, 2}  # one character: still found
    assert store.search("坏灯") == []  # characters present but not adjacent
    assert [h.segment.call_id for h in store.search("解放路 路口")] == ["zh"]
    assert [h.segment.call_id for h in store.search("broken")] == ["en"]
    assert [h.segment.call_id for h in store.search("LIGHTS")] == ["en"]  # case and stemming
    assert len(store.search("street")) == 2
    assert len(store.search("stre*")) == 2
    assert store.search("elephant") == []
    # query syntax typed by a user is searched for, not executed
    for q in ['"', "AND", "street NEAR(", "a:b", "-x", "*", ""]:
        store.search(q)


def test_masked_search_matches_only_what_is_shown(store, monkeypatch):
    """``masked=True``: hidden digits never make a hit, however the query is written, and the
    limit still fills past the many segments the masked text does not match."""
    for i in range(300):  # raw text matches "1234" (a token of its own), the masked text does not
        store.add_segment(f"n{i}", "caller", 0, 1, "电话 139 1234 5678")
    for i in range(3):  # "1234" visible: a 4-digit number is not masked
        store.add_segment(f"v{i}", "caller", 0, 1, "分机 1234 号，" + "请 帮 我 转 接 一 下 谢 谢 " * 5)
    assert len(store.search("1234", limit=500)) == 303
    hits = store.search("1234", limit=2, masked=True)
    assert len(hits) == 2 and all(h.segment.call_id.startswith("v") for h in hits)
    assert [h.spans for h in hits] == [((3, 7),)] * 2
    assert len(store.search("1234", limit=10, masked=True)) == 3
    for q in ("139 1234", "1391234*", "13912345678", "电话 1234"):
        assert store.search(q, masked=True) == [], q
    assert store.search("139 5678", limit=1, masked=True)[0].segment.text == "电话 139 1234 5678"
    # the scan is bounded: past it a masked search misses hits rather than holding the store
    monkeypatch.setattr("engine.store.sql_store.MASKED_SEARCH_SCAN", 256)
    assert store.search("1234", limit=10, masked=True) == []


def test_limits_and_ids_beyond_sqlite_integers(store):
    """A limit past SQLite's 64-bit integers means "all"; such an id matches nothing (no OverflowError)."""
    store.add_segment("c", "caller", 0, 1, "路灯")
    assert len(store.list_calls(limit=10**30)) == 1 and len(store.search("路灯", limit=10**30)) == 1
    assert store.get_audio(10**30) is None and store.get_audio(-(10**30)) is None


def test_index_text_and_query_are_consistent():
    assert fts.index_text("我要报修路灯abc") == "我要 要报 报修 修路 路灯 灯 abc"
    assert fts.match_expression("路灯 lights*") == '"路灯" "lights"*'
    assert fts.match_expression("灯") == '"灯"*'
    assert fts.match_expression("  ") is None


async def test_async_store_writes_off_the_loop_in_order(backend):
    astore = AsyncStore(backend.open())
    futs = [astore.submit_segment("c", "caller", float(i), float(i) + 0.5, f"segment {i}") for i in range(50)]
    astore.submit_call("c", started_at=1.0)
    astore.submit_segment("c", "nope", 1, 2, "bad leg")  # fails, logged and counted, not raised
    await astore.flush()
    assert all(f.done() for f in futs) and astore.pending == 0
    assert astore.failed_writes == 1
    assert [s.start for s in await astore.segments("c")] == [float(i) for i in range(50)]
    assert (await astore.get_call("c")).started_at == 1.0
    assert len(await astore.search("segment")) == 50
    assert await astore.healthy()
    # many awaiting writers at once
    await asyncio.gather(*(astore.add_event("c", "x", 10.0 + i) for i in range(20)))
    await astore.close()
    with backend.open() as s:
        assert len(s.call_timeline("c").items) == 70


def test_merging_two_records_keeps_every_fact_once(store):
    store.upsert_call("uuid-9", started_at=105.0, agent="8002")
    store.add_segment("uuid-9", "caller", 1.0, 2.0, "路灯")
    store.add_segment("uuid-9", "agent", 3.0, 4.0, "好的")
    store.add_event("uuid-9", "agent.connect", 106.0, dedupe="k1")
    store.upsert_call("200.1", started_at=100.0, caller_number="13912345678", agent="8001")
    store.add_segment("200.1", "caller", 1.0, 2.0, "路灯")  # the same final reported under both ids
    store.link("200.1", "uuid-9", "audiosocket")
    (rec,) = store.list_calls()
    assert rec.id == "200.1" and rec.started_at == 100.0 and rec.caller_number == "13912345678"
    assert rec.agent == "8001"  # the target's own value wins over the merged one
    assert [(s.leg, s.start) for s in store.segments("uuid-9")] == [("caller", 1.0), ("agent", 3.0)]
    assert len(store.search("路灯")) == 1  # the duplicate's index row went with it
    assert [i.kind for i in store.call_timeline("200.1").items] == ["speech", "speech", "agent.connect"]
    assert store.resolve("uuid-9") == "200.1"
    assert_index_agrees(store)


def test_a_booking_and_its_callback_call_are_related_both_ways(store):
    """The call that booked a callback and the call back link to each other; merges keep the link."""
    store.upsert_call("1796448581.2", started_at=1000.0, outcome="callback")
    store.relate("1796448581.2", "1796449000.20", "callback", at=1300.0)  # the call back: a stub so far
    assert [r.to_dict() for r in store.related("1796448581.2")] == [
        {"call_id": "1796449000.20", "kind": "callback", "at": 1300.0}]
    assert [(r.call_id, r.kind) for r in store.related("1796449000.20")] == [("1796448581.2", "callback_of")]
    store.relate("1796448581.2", "1796449000.20", "callback", at=1300.0)  # the same fact again: kept once
    assert len(store.related("1796448581.2")) == 1
    # the call back's facts first arrived under another id, later linked to it: merged, link kept
    store.upsert_call("1796449000.21", caller_number="13912345678")
    store.relate("1796448581.2", "1796449000.21", "callback", at=1301.0)
    store.link("1796449000.20", "1796449000.21", "uniqueid")
    assert [(r.call_id, r.kind) for r in store.related("1796448581.2")] == [("1796449000.20", "callback")]
    assert [(r.call_id, r.kind) for r in store.related("1796449000.21")] == [("1796448581.2", "callback_of")]
    tl = store.call_timeline("1796449000.20")
    assert [r.call_id for r in tl.related] == ["1796448581.2"] and tl.to_dict()["related"][0]["kind"] == "callback_of"
    with pytest.raises(StoreInputError, match="relation 'cousin'"):
        store.relate("1796448581.2", "x", "cousin")
    with pytest.raises(StoreInputError, match="the same call"):
        store.relate("1796448581.2", "1796448581.2", "callback")


def test_queue_stays_for_planning_on_either_backend(store):
    """The planner's read (``hotline profile --db``): queue stays with the last agent.complete's talk
    time, the same on SQLite and PostgreSQL (the event's JSON is read in Python, not in SQL)."""
    store.upsert_call("q.1", started_at=100.0, queue="citizen", queue_joined_at=110.0, queue_answered_at=120.0,
                      wait_seconds=10.0, outcome="answered", ended_at=400.0)
    store.add_event("q.1", "agent.complete", 390.0, {"queue": "citizen", "talk": 150})
    store.add_event("q.1", "agent.complete", 395.0, {"queue": "citizen", "talk": 170})
    store.upsert_call("q.2", started_at=200.0, queue="citizen", queue_joined_at=205.0, queue_abandoned_at=230.0,
                      wait_seconds=25.0, outcome="abandoned", ended_at=230.0)
    store.upsert_call("q.3", started_at=300.0, queue="other", queue_joined_at=301.0)
    rows = store.queue_stays(queue="citizen", since=100.0, until=300.0)
    assert [(r["joined_at"], r["outcome"], r["talk"]) for r in rows] == [(110.0, "answered", 170), (205.0, "abandoned", None)]
    assert store.queue_stays(since=300.0)[0]["queue"] == "other"
    assert store.queue_joins() == [("citizen", 110.0), ("citizen", 205.0), ("other", 301.0)]
    assert store.queue_joins(since=110.5, until=301.0) == [("citizen", 205.0)]


def test_callbacks_are_kept_per_node_until_done_on_either_backend(store):
    """What an engine restart re-dials: a node's pending callbacks, oldest first, with the number
    in full; once done (answered, failed) the number is erased. Another node's are not its own."""
    from engine.store import StoredCallback

    def cb(node, cid, at, status="waiting", attempts=0, number="13912345678"):
        return StoredCallback(cid, node, f"call-{cid}", "citizen", number, 0, at, status, attempts)

    assert store.pending_callbacks("a") == ([], "")
    store.save_callback(cb("a", "CB-00002", 200.0))
    store.save_callback(cb("a", "CB-00001", 100.0))
    store.save_callback(cb("b", "CB-00001", 150.0, number="13800000000"))
    store.save_callback(cb("a", "CB-00003", 300.0))
    store.save_callback(cb("a", "CB-00002", 200.0, "retry", 1))  # updated in place
    store.save_callback(cb("a", "CB-00003", 300.0, "answered", 1))
    pending, last = store.pending_callbacks("a")
    assert [(c.id, c.status, c.attempts, c.number) for c in pending] == [
        ("CB-00001", "waiting", 0, "13912345678"), ("CB-00002", "retry", 1, "13912345678")]
    assert last == "CB-00003" and "13912345678" not in repr(pending[0])
    assert store.pending_callbacks("b")[0][0].number == "13800000000"
    done = store._read(lambda conn: store._x(conn, "SELECT number FROM callbacks WHERE id = 'CB-00003'").fetchone())
    assert done["number"] == ""  # done: no number kept
    for bad, match in ((cb("a", "CB-9", 1.0, "lost"), "status 'lost'"), (cb("a", "CB-9", 1.0, number="139-1"), "digits"),
                       (cb("", "CB-9", 1.0), "no node")):
        with pytest.raises(StoreInputError, match=match):
            store.save_callback(bad)
