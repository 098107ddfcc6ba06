"""Schema migrations, applied in order; ``PRAGMA user_version`` holds the last one applied.

Rules: never edit a migration that has shipped; append a new one. Each runs in its own
transaction together with the ``user_version`` bump (SQLite DDL is transactional), so a crash
in the middle leaves the file at the previous version, never half-migrated.
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
    sql: str
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
    ),
    Migration(
        2,
        "indexes for the supervisor's filters (queue, agent, caller number)",
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
        readers_need_it=False,  # a store without it has no related calls: readers show none
    ),
    Migration(
        4,
        "the caller's language (from the IVR), for the call list's filter",
        """
        ALTER TABLE calls ADD COLUMN language TEXT;
        CREATE INDEX calls_language ON calls (language, started_at);
        """,
        # readers of an older file show no language (Store selects NULL when the column is missing)
        readers_need_it=False,
    ),
)

LATEST = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(have: int, where: str) -> None:
    if have > LATEST:
        raise SchemaError(
            f"{where}: schema version {have} is newer than this program knows ({LATEST}); upgrade hotline"
        )


def check_readable(conn: sqlite3.Connection, *, where: str = "store") -> int:
    """The schema version of a store opened read-only, if this program can read it unmigrated."""
    have = current_version(conn)
    _refuse_newer(have, where)
    if have == 0:
        raise SchemaError(f"{where}: no schema version; not a hotline store")
    if any(m.readers_need_it for m in MIGRATIONS if m.version > have):
        raise SchemaError(
            f"{where}: schema version {have} is older than this program's ({LATEST}) and this command only "
            "reads; run `hotline serve` on it once to migrate it"
        )
    return have


def migrate(conn: sqlite3.Connection, *, target: int = LATEST, where: str = "store") -> list[int]:
    """Bring ``conn`` (autocommit mode) up to ``target``; returns the versions applied."""
    have = current_version(conn)
    _refuse_newer(have, where)
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
