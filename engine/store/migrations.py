"""Schema migrations, applied in order; the store records the last one applied (SQLite:
``PRAGMA user_version``; PostgreSQL: the table ``hotline_schema``).

Every migration has its SQLite text and its PostgreSQL text under one version number, so a
version means the same tables, columns and indexes in either store. Rules: never edit a
migration that has shipped; append a new one (with both texts). Each runs in its own transaction
together with the version bump (DDL is transactional in both), so a crash in the middle leaves
the store at the previous version, never half-migrated. The PostgreSQL runner is in
``engine/store/pg_store.py``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from engine.store.errors import SchemaError
from engine.store.fts import TOKENIZER


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str  # SQLite
    postgres: str  # PostgreSQL: the same tables, columns and indexes
    # True when a store without this migration still reads correctly (an index, say): read-only
    # commands, which never migrate, can then open a store that predates it
    readers_need_it: bool = True


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "calls, id aliases, transcript segments, timeline events, audio, FTS5 index",
        f"""
        CREATE TABLE calls (
            id                 TEXT PRIMARY KEY,   -- canonical call id: the caller channel's Linkedid
            started_at         REAL,               -- epoch seconds; NULL while only a stub
            answered_at        REAL,
            ended_at           REAL,               -- NULL: the call is live (or its end was never seen)
            caller_number      TEXT,               -- stored in full; masked where shown
            caller_name        TEXT,
            ivr_flow           TEXT,
            ivr_path           TEXT,               -- JSON list of node ids
            ivr_inputs         TEXT,               -- JSON: what the caller pressed or said
            ivr_outcome        TEXT,
            queue              TEXT,
            queue_joined_at    REAL,
            queue_answered_at  REAL,
            queue_abandoned_at REAL,
            wait_seconds       REAL,
            agent              TEXT,
            outcome            TEXT,               -- answered, abandoned, callback, ivr, ...
            updated_at         REAL NOT NULL
        );
        CREATE INDEX calls_started ON calls (started_at);
        CREATE TABLE call_ids (
            alias   TEXT PRIMARY KEY,              -- a Uniqueid, Linkedid, AudioSocket UUID, ...
            call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            kind    TEXT NOT NULL,
            channel TEXT
        );
        CREATE INDEX call_ids_call ON call_ids (call_id);
        CREATE TABLE segments (
            id         INTEGER PRIMARY KEY,
            call_id    TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            leg        TEXT NOT NULL,              -- caller | agent
            start      REAL NOT NULL,              -- seconds from call start
            "end"      REAL NOT NULL,
            text       TEXT NOT NULL,
            words      TEXT NOT NULL DEFAULT '[]', -- JSON [{{"word","start","end","conf"}}]
            created_at REAL NOT NULL,
            UNIQUE (call_id, leg, start)
        );
        CREATE TABLE events (
            id      INTEGER PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            at      REAL NOT NULL,                 -- epoch seconds
            kind    TEXT NOT NULL,                 -- ivr.node, queue.join, queue.answer, agent.connect, ...
            data    TEXT NOT NULL DEFAULT '{{}}',
            dedupe  TEXT UNIQUE                    -- optional key: the same fact stored once
        );
        CREATE INDEX events_call ON events (call_id, at);
        CREATE TABLE audio (
            id      INTEGER PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            leg     TEXT NOT NULL,                 -- caller | agent | mixed
            path    TEXT NOT NULL,
            "offset" REAL NOT NULL DEFAULT 0,      -- call time (s) at which the file starts
            UNIQUE (call_id, leg, path)
        );
        CREATE VIRTUAL TABLE segments_fts USING fts5 (body, tokenize = '{TOKENIZER}');
        """,
        # Text is COLLATE "C" (bytewise, as SQLite compares and sorts). The search index lives in
        # segments: ``tokens`` are the FTS5 tokens of the text (engine/store/scratch_index.py), the
        # generated ``body`` their tsvector (positions = token offsets + 1) under a GIN index;
        # ``search_stats`` keeps the segment and token totals bm25 needs (engine/store/pg_search.py).
        r"""
        CREATE FUNCTION hotline_tsvector(tokens text[]) RETURNS tsvector
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT COALESCE(string_agg('''' || replace(replace(t, '\', '\\'), '''', '''''') || ''':'
                                       || least(i, 16383), ' '), '')::tsvector
            FROM unnest(tokens) WITH ORDINALITY AS u (t, i)
            WHERE octet_length(t) < 2047
        $$;
        CREATE FUNCTION hotline_phrase_freq(tokens text[], phrase text[], prefix boolean) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT CASE WHEN cardinality(phrase) = 1 AND NOT prefix
                        THEN cardinality(array_positions(tokens, phrase[1]))
                        ELSE (SELECT count(*)::integer
                              FROM generate_series(1, cardinality(tokens) - cardinality(phrase) + 1) AS p
                              WHERE NOT EXISTS (
                                  SELECT 1 FROM generate_series(1, cardinality(phrase)) AS k
                                  WHERE CASE WHEN prefix AND k = cardinality(phrase)
                                             THEN NOT starts_with(tokens[p + k - 1], phrase[k])
                                             ELSE tokens[p + k - 1] <> phrase[k] END))
                   END
        $$;
        CREATE TABLE calls (
            id                 text COLLATE "C" PRIMARY KEY,
            started_at         double precision,
            answered_at        double precision,
            ended_at           double precision,
            caller_number      text COLLATE "C",
            caller_name        text COLLATE "C",
            ivr_flow           text COLLATE "C",
            ivr_path           text COLLATE "C",
            ivr_inputs         text COLLATE "C",
            ivr_outcome        text COLLATE "C",
            queue              text COLLATE "C",
            queue_joined_at    double precision,
            queue_answered_at  double precision,
            queue_abandoned_at double precision,
            wait_seconds       double precision,
            agent              text COLLATE "C",
            outcome            text COLLATE "C",
            updated_at         double precision NOT NULL
        );
        CREATE INDEX calls_started ON calls (started_at);
        CREATE TABLE call_ids (
            alias   text COLLATE "C" PRIMARY KEY,
            call_id text COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            kind    text COLLATE "C" NOT NULL,
            channel text COLLATE "C"
        );
        CREATE INDEX call_ids_call ON call_ids (call_id);
        CREATE TABLE segments (
            id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            call_id    text COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            leg        text COLLATE "C" NOT NULL,
            start      double precision NOT NULL,
            "end"      double precision NOT NULL,
            text       text COLLATE "C" NOT NULL,
            words      text COLLATE "C" NOT NULL DEFAULT '[]',
            created_at double precision NOT NULL,
            tokens     text[] COLLATE "C" NOT NULL DEFAULT '{}',
            body       tsvector GENERATED ALWAYS AS (hotline_tsvector(tokens)) STORED,
            UNIQUE (call_id, leg, start)
        );
        CREATE INDEX segments_body ON segments USING gin (body);
        CREATE TABLE events (
            id      bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            call_id text COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            at      double precision NOT NULL,
            kind    text COLLATE "C" NOT NULL,
            data    text COLLATE "C" NOT NULL DEFAULT '{}',
            dedupe  text COLLATE "C" UNIQUE
        );
        CREATE INDEX events_call ON events (call_id, at);
        CREATE TABLE audio (
            id       bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            call_id  text COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            leg      text COLLATE "C" NOT NULL,
            path     text COLLATE "C" NOT NULL,
            "offset" double precision NOT NULL DEFAULT 0,
            UNIQUE (call_id, leg, path)
        );
        -- totals over all segments (one row): what bm25 needs, kept by the triggers below
        CREATE TABLE search_stats (
            one      boolean PRIMARY KEY DEFAULT true CHECK (one),
            segments bigint NOT NULL,
            tokens   bigint NOT NULL
        );
        CREATE FUNCTION hotline_count_segments() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        BEGIN
            INSERT INTO search_stats AS s (segments, tokens)
            SELECT TG_ARGV[0]::integer * count(*), TG_ARGV[0]::integer * COALESCE(sum(cardinality(tokens)), 0)
            FROM changed HAVING count(*) > 0
            ON CONFLICT (one) DO UPDATE SET segments = s.segments + excluded.segments,
                                              tokens = s.tokens + excluded.tokens;
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER segments_counted AFTER INSERT ON segments REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION hotline_count_segments('1');
        CREATE TRIGGER segments_uncounted AFTER DELETE ON segments REFERENCING OLD TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION hotline_count_segments('-1');
        """,
    ),
    Migration(
        2,
        "indexes for the supervisor's filters (queue, agent, caller number)",
        """
        CREATE INDEX calls_queue ON calls (queue, started_at);
        CREATE INDEX calls_agent ON calls (agent, started_at);
        CREATE INDEX calls_caller ON calls (caller_number);
        """,
        """
        CREATE INDEX calls_queue ON calls (queue, started_at);
        CREATE INDEX calls_agent ON calls (agent, started_at);
        CREATE INDEX calls_caller ON calls (caller_number);
        """,
        readers_need_it=False,
    ),
    Migration(
        3,
        "relations between calls (a booking and its callback call), one row per direction",
        """
        CREATE TABLE call_relations (
            call_id  TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            other_id TEXT NOT NULL,                -- the related call (resolved through call_ids when read)
            kind     TEXT NOT NULL,                -- callback: other is the call back of this booking;
                                                   -- callback_of: other is the call that booked this one
            at       REAL,                         -- epoch seconds the relation was made
            PRIMARY KEY (call_id, other_id, kind)
        );
        CREATE INDEX call_relations_other ON call_relations (other_id);
        """,
        """
        CREATE TABLE call_relations (
            call_id  text COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            other_id text COLLATE "C" NOT NULL,
            kind     text COLLATE "C" NOT NULL,
            at       double precision,
            PRIMARY KEY (call_id, other_id, kind)
        );
        CREATE INDEX call_relations_other ON call_relations (other_id);
        """,
        readers_need_it=False,  # a store without it has no related calls: readers show none
    ),
    Migration(
        4,
        "the caller's language (from the IVR), for the call list's filter",
        """
        ALTER TABLE calls ADD COLUMN language TEXT;
        CREATE INDEX calls_language ON calls (language, started_at);
        """,
        """
        ALTER TABLE calls ADD COLUMN language text COLLATE "C";
        CREATE INDEX calls_language ON calls (language, started_at);
        """,
        # readers of an older file show no language (Store selects NULL when the column is missing)
        readers_need_it=False,
    ),
    Migration(
        5,
        "callbacks booked and not yet done, so an engine restart re-dials them",
        """
        CREATE TABLE callbacks (
            node      TEXT NOT NULL,               -- the engine that dials it ([store] node)
            id        TEXT NOT NULL,               -- CB-00012: the booking's reference (per node)
            call_id   TEXT NOT NULL,               -- the call that booked it (its Linkedid)
            queue     TEXT NOT NULL,
            number    TEXT NOT NULL,               -- in full while pending (to dial); '' once done
            priority  INTEGER NOT NULL,
            booked_at REAL NOT NULL,
            status    TEXT NOT NULL,               -- waiting, due, dialing, retry, answered, failed
            attempts  INTEGER NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (node, id)
        );
        CREATE INDEX callbacks_node ON callbacks (node, status, booked_at);
        """,
        """
        CREATE TABLE callbacks (
            node      text COLLATE "C" NOT NULL,
            id        text COLLATE "C" NOT NULL,
            call_id   text COLLATE "C" NOT NULL,
            queue     text COLLATE "C" NOT NULL,
            number    text COLLATE "C" NOT NULL,
            priority  integer NOT NULL,
            booked_at double precision NOT NULL,
            status    text COLLATE "C" NOT NULL,
            attempts  integer NOT NULL,
            updated_at double precision NOT NULL,
            PRIMARY KEY (node, id)
        );
        CREATE INDEX callbacks_node ON callbacks (node, status, booked_at);
        """,
        readers_need_it=False,  # only the engine reads it
    ),
)

LATEST = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(have: int, where: str) -> None:
    if have > LATEST:
        raise SchemaError(
            f"{where}: schema version {have} is newer than this program knows ({LATEST}); upgrade hotline"
        )


def check_readable_version(have: int, where: str) -> int:
    """``have`` if a store at that schema version can be read unmigrated, else SchemaError."""
    refuse_newer(have, where)
    if have == 0:
        raise SchemaError(f"{where}: no schema version; not a hotline store")
    if any(m.readers_need_it for m in MIGRATIONS if m.version > have):
        raise SchemaError(
            f"{where}: schema version {have} is older than this program's ({LATEST}) and this command only "
            "reads; run `hotline serve` on it once to migrate it"
        )
    return have


def check_readable(conn: sqlite3.Connection, *, where: str = "store") -> int:
    """The schema version of a store opened read-only, if this program can read it unmigrated."""
    return check_readable_version(current_version(conn), where)


def migrate(conn: sqlite3.Connection, *, target: int = LATEST, where: str = "store") -> list[int]:
    """Bring ``conn`` (autocommit mode) up to ``target``; returns the versions applied."""
    have = current_version(conn)
    refuse_newer(have, where)
    if have == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if tables:
            raise SchemaError(f"{where}: has tables but no schema version; not a hotline store")
    applied: list[int] = []
    for m in MIGRATIONS:
        if m.version <= have or m.version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(m.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(m.version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(m.version)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would commit on its own)."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
