"""The call-record store on SQLite (WAL): one record per call, joined across sources.

Every source reports what it knows under whatever id it has (AMI Uniqueid/Linkedid, the AGI
request's uniqueid, an AudioSocket UUID); ``link`` records that an id belongs to a call, and every
method resolves ids through those links, so the order in which sources report never matters: a
segment that arrives before the call record makes a stub record that later facts fill in, and two
records found to be the same call are merged.

Each write is its own transaction, committed before the method returns (``synchronous=FULL`` by
default), so a crash or kill loses nothing a method already returned from. Methods are
thread-safe (one lock around one connection); for asyncio use ``engine.store.AsyncStore``.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.privacy import mask_text
from engine.store import fts
from engine.store.errors import SchemaError, StoreError, StoreInputError
from engine.store.migrations import LATEST, check_readable, current_version, migrate
from engine.store.records import (
    AUDIO_LEGS,
    CALL_FIELDS,
    LEGS,
    RELATIONS,
    Audio,
    CallRecord,
    Relation,
    SearchHit,
    Segment,
    Timeline,
    TimelineItem,
)

MASKED_SEARCH_SCAN = 5000  # best raw matches a masked search examines (about 0.1 s); see search()
_MAX_ROWS = 2**63 - 1  # SQLite's largest integer: a larger limit means "all", a larger id matches nothing
_TIME_FIELDS = {f for f in CALL_FIELDS if f.endswith("_at")} | {"wait_seconds"}
_JSON_FIELDS = {"ivr_path", "ivr_inputs"}
_QUEUE_TIMES = {"queue_joined_at", "queue_answered_at", "queue_abandoned_at"}
_START = "COALESCE(c.started_at, c.updated_at)"  # when a call (or a stub) happened, for ordering and ranges


def _call_select(columns: set[str]) -> str:
    """The SELECT of call records; a column an older schema lacks (read-only opening) reads as NULL."""
    cols = ", ".join(f"c.{f}" if f in columns else f"NULL AS {f}" for f in ("id", *CALL_FIELDS, "updated_at"))
    return f"""
    SELECT {cols},
           (SELECT count(*) FROM segments s WHERE s.call_id = c.id) AS segment_count,
           EXISTS (SELECT 1 FROM audio a WHERE a.call_id = c.id) AS has_audio
    FROM calls c
"""


def _word_dict(w: Any) -> dict[str, Any]:
    """A word from ``engine.events.speech.Word`` or a mapping, as JSON-ready dict."""
    if isinstance(w, Mapping):
        src = w
    else:
        src = {k: getattr(w, k) for k in ("word", "start", "end", "conf") if hasattr(w, k)}
    if "word" not in src:
        raise StoreInputError(f"word {w!r}: needs at least 'word'")
    out: dict[str, Any] = {"word": str(src["word"])}
    for k in ("start", "end", "conf"):
        if src.get(k) is not None:
            out[k] = float(src[k])
    return out


def _finite(name: str, value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise StoreInputError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(f):
        raise StoreInputError(f"{name}: expected a finite number, got {value!r}")
    return f


def _visible_rows(cur: sqlite3.Cursor, expr: str, limit: int, chunk: int = 256) -> list[sqlite3.Row]:
    """The first ``limit`` segment rows of ``cur`` whose masked text also matches ``expr``.

    The check runs the same MATCH on a scratch in-memory FTS5 table holding the masked text,
    so it tokenizes exactly as the real index does. At most ``MASKED_SEARCH_SCAN`` rows are
    examined, so a query that matches many hidden digits cannot hold the store for long.
    """
    out: list[sqlite3.Row] = []
    scanned = 0
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute(f"CREATE VIRTUAL TABLE shown USING fts5 (body, tokenize = '{fts.TOKENIZER}')")
        while len(out) < limit and scanned < MASKED_SEARCH_SCAN and (rows := cur.fetchmany(chunk)):
            scanned += len(rows)
            scratch.execute("DELETE FROM shown")
            scratch.executemany("INSERT INTO shown (rowid, body) VALUES (?, ?)",
                                [(r["id"], fts.index_text(mask_text(r["text"]))) for r in rows])
            ok = {i for (i,) in scratch.execute("SELECT rowid FROM shown WHERE shown MATCH ?", (expr,))}
            out += [r for r in rows if r["id"] in ok]
    finally:
        scratch.close()
    return out[:limit]


class Store:
    """Typed API over one SQLite file. Open with ``Store.open(path)``."""

    def __init__(
        self, conn: sqlite3.Connection, *, path: str, clock: Callable[[], float], readonly: bool = False
    ) -> None:
        self._conn = conn
        self._path = path
        self._clock = clock
        self._readonly = readonly
        self._lock = threading.RLock()
        self._columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(calls)")}
        self._call_select = _call_select(self._columns)

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        durable: bool = True,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Open (and create or migrate) the store at ``path``; ``":memory:"`` for tests.

        ``durable=False`` uses ``synchronous=NORMAL``: still safe against a crash of this process,
        but the last commits may be lost if the machine loses power. ``readonly=True`` is for
        commands that only read (``hotline calls``, ``replay``, ``web``): the file must exist, is
        opened read-only (never created, switched to WAL or migrated), and an older schema is
        read as it is when no missing migration matters to readers, else refused.
        """
        where = str(path)
        if readonly:
            return cls._open_readonly(Path(path), clock)
        if where != ":memory:":
            p = Path(path)
            if not p.exists():
                if not create:
                    raise StoreError(f"{where}: no such store")
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(where, isolation_level=None, check_same_thread=False, timeout=10.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 10000")
            if where != ":memory:":
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{where}: could not switch to WAL (journal_mode={mode})")
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            migrate(conn, where=where)
        except sqlite3.DatabaseError as exc:
            raise SchemaError(f"{where}: not a usable SQLite store: {exc}") from None
        return cls(conn, path=where, clock=clock)

    @classmethod
    def _open_readonly(cls, path: Path, clock: Callable[[], float]) -> Store:
        where = str(path)
        if not path.exists():
            raise StoreError(f"{where}: no such store")
        if not path.is_file():
            raise StoreError(f"{where}: not a store file")
        try:
            # mode=ro: SQLite never writes the file (with WAL it may add the -wal/-shm side files)
            conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=10.0)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{where}: cannot open: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            check_readable(conn, where=where)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SchemaError(f"{where}: not a usable SQLite store: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, path=where, clock=clock, readonly=True)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        return self._path

    @property
    def schema_version(self) -> int:
        with self._lock:
            return current_version(self._conn)

    @property
    def latest_schema_version(self) -> int:
        return LATEST

    @property
    def readonly(self) -> bool:
        return self._readonly

    def healthy(self) -> bool:
        """The schema is one this program works with: the latest, or (read-only) one it can read."""
        with self._lock:
            if not self._readonly:
                return current_version(self._conn) == LATEST
            try:
                check_readable(self._conn, where=self._path)
            except SchemaError:
                return False
            return True

    def pragma(self, name: str) -> Any:
        """Read one PRAGMA (journal_mode, synchronous, ...), for health checks and tests."""
        if not name.isidentifier():
            raise StoreInputError(f"pragma {name!r}: not a name")
        with self._lock:
            return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self._readonly:
            raise StoreError(f"{self._path}: opened read-only; this command does not change the store")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- ids ------------------------------------------------------------------------------

    def _resolve(self, conn: sqlite3.Connection, call_id: str) -> str:
        row = conn.execute("SELECT call_id FROM call_ids WHERE alias = ?", (call_id,)).fetchone()
        return str(row[0]) if row else call_id

    def _ensure(self, conn: sqlite3.Connection, call_id: str) -> str:
        if not isinstance(call_id, str) or not call_id:
            raise StoreInputError(f"call id {call_id!r}: expected a non-empty string")
        cid = self._resolve(conn, call_id)
        conn.execute("INSERT OR IGNORE INTO calls (id, updated_at) VALUES (?, ?)", (cid, self._clock()))
        return cid

    def resolve(self, call_id: str) -> str:
        """The canonical call id for ``call_id`` (itself when it is not a known alias)."""
        with self._lock:
            return self._resolve(self._conn, call_id)

    def link(self, call_id: str, alias: str, kind: str, channel: str | None = None) -> str:
        """Record that ``alias`` (a Uniqueid, AudioSocket UUID, ...) belongs to ``call_id``.

        If facts were already stored under ``alias`` as a call of its own, they are merged into
        ``call_id``. Returns the canonical call id.
        """
        if not alias:
            raise StoreInputError("link: empty alias")
        with self._tx() as conn:
            cid = self._ensure(conn, call_id)
            if alias == cid:
                return cid
            other = self._resolve(conn, alias)
            if other != cid and conn.execute("SELECT 1 FROM calls WHERE id = ?", (other,)).fetchone():
                self._merge(conn, other, cid)
            conn.execute(
                "INSERT OR REPLACE INTO call_ids (alias, call_id, kind, channel) VALUES (?, ?, ?, ?)",
                (alias, cid, kind, channel),
            )
            return cid

    def _merge(self, conn: sqlite3.Connection, src: str, dst: str) -> None:
        sets = ", ".join(f"{f} = COALESCE(d.{f}, s.{f})" for f in CALL_FIELDS if f != "started_at")
        conn.execute(
            f"""UPDATE calls AS d SET {sets},
                   started_at = CASE WHEN d.started_at IS NULL OR s.started_at < d.started_at
                                     THEN COALESCE(s.started_at, d.started_at) ELSE d.started_at END,
                   updated_at = ?
                FROM calls AS s WHERE d.id = ? AND s.id = ?""",
            (self._clock(), dst, src),
        )
        conn.execute("UPDATE OR IGNORE segments SET call_id = ? WHERE call_id = ?", (dst, src))
        conn.execute(
            "DELETE FROM segments_fts WHERE rowid IN (SELECT id FROM segments WHERE call_id = ?)", (src,)
        )
        conn.execute("UPDATE OR IGNORE events SET call_id = ? WHERE call_id = ?", (dst, src))
        conn.execute("UPDATE OR IGNORE audio SET call_id = ? WHERE call_id = ?", (dst, src))
        conn.execute("UPDATE OR IGNORE call_relations SET call_id = ? WHERE call_id = ?", (dst, src))
        conn.execute("UPDATE OR IGNORE call_relations SET other_id = ? WHERE other_id = ?", (dst, src))
        conn.execute("DELETE FROM call_relations WHERE other_id = ? OR call_id = other_id", (src,))
        conn.execute("UPDATE call_ids SET call_id = ? WHERE call_id = ?", (dst, src))
        conn.execute(
            "INSERT OR REPLACE INTO call_ids (alias, call_id, kind) VALUES (?, ?, 'merged')", (src, dst)
        )
        conn.execute("DELETE FROM calls WHERE id = ?", (src,))

    # -- writes ---------------------------------------------------------------------------

    def upsert_call(self, call_id: str, **fields: Any) -> CallRecord:
        """Create or update a call's record with the fields given (None leaves a field alone).

        ``started_at`` keeps the earliest time reported; other fields take the latest value.
        ``wait_seconds`` is derived from the queue times when an update sets a queue time
        without a wait (Asterisk's HoldTime, when given, wins).
        """
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name not in CALL_FIELDS:
                raise StoreInputError(f"upsert_call: unknown field {name!r} (known: {', '.join(CALL_FIELDS)})")
            if value is None:
                continue
            if name in _TIME_FIELDS:
                values[name] = _finite(name, value)
            elif name == "ivr_path":
                if isinstance(value, str) or not isinstance(value, Sequence):
                    raise StoreInputError(f"ivr_path: expected a list of node ids, got {value!r}")
                values[name] = json.dumps([str(v) for v in value], ensure_ascii=False)
            elif name in _JSON_FIELDS:
                try:
                    values[name] = json.dumps(value, ensure_ascii=False, default=str)
                except (TypeError, ValueError) as exc:
                    raise StoreInputError(f"{name}: not JSON-serialisable: {exc}") from None
            else:
                values[name] = str(value)
        with self._tx() as conn:
            cid = self._ensure(conn, call_id)
            if values:
                sets = []
                params: list[Any] = []
                for name, value in values.items():
                    if name == "started_at":
                        sets.append("started_at = CASE WHEN started_at IS NULL OR ? < started_at THEN ? ELSE started_at END")
                        params += [value, value]
                    else:
                        sets.append(f"{name} = ?")
                        params.append(value)
                sets.append("updated_at = ?")
                params += [self._clock(), cid]
                conn.execute(f"UPDATE calls SET {', '.join(sets)} WHERE id = ?", params)
                if "wait_seconds" not in values and values.keys() & _QUEUE_TIMES:
                    conn.execute(
                        """UPDATE calls SET wait_seconds =
                               round(max(0, COALESCE(queue_answered_at, queue_abandoned_at) - queue_joined_at), 3)
                           WHERE id = ? AND queue_joined_at IS NOT NULL
                             AND COALESCE(queue_answered_at, queue_abandoned_at) IS NOT NULL""",
                        (cid,),
                    )
            record = self._get(conn, cid)
        assert record is not None
        return record

    def add_segment(
        self,
        call_id: str,
        leg: str,
        start: float,
        end: float,
        text: str,
        words: Iterable[Any] = (),
    ) -> int | None:
        """Store one final transcript segment and index it; committed before returning.

        ``start``/``end`` are seconds from the call's start. The same (call, leg, start) stored
        twice is kept once: returns the new segment's id, or None for a duplicate.
        """
        if leg not in LEGS:
            raise StoreInputError(f"segment leg {leg!r}: expected one of {', '.join(LEGS)}")
        s, e = _finite("start", start), _finite("end", end)
        if e < s:
            raise StoreInputError(f"segment end {e} is before its start {s}")
        if not isinstance(text, str):
            raise StoreInputError(f"segment text: expected a string, got {type(text).__name__}")
        words_json = json.dumps([_word_dict(w) for w in words], ensure_ascii=False)
        with self._tx() as conn:
            cid = self._ensure(conn, call_id)
            cur = conn.execute(
                """INSERT OR IGNORE INTO segments (call_id, leg, start, "end", text, words, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (cid, leg, s, e, text, words_json, self._clock()),
            )
            if cur.rowcount == 0:
                return None
            seg_id = int(cur.lastrowid or 0)
            conn.execute("INSERT INTO segments_fts (rowid, body) VALUES (?, ?)", (seg_id, fts.index_text(text)))
            return seg_id

    def add_event(
        self,
        call_id: str,
        kind: str,
        at: float,
        data: Mapping[str, Any] | None = None,
        *,
        dedupe: str | None = None,
    ) -> int | None:
        """Add a timeline event (``ivr.node``, ``queue.join``, ``agent.connect``, ...) at epoch ``at``.

        With ``dedupe`` (e.g. the AMI event's Uniqueid + name) the same fact is stored once;
        returns the event id, or None when it was a duplicate.
        """
        if not kind:
            raise StoreInputError("event kind: empty")
        t = _finite("at", at)
        try:
            data_json = json.dumps(dict(data or {}), ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise StoreInputError(f"event data: not JSON-serialisable: {exc}") from None
        with self._tx() as conn:
            cid = self._ensure(conn, call_id)
            cur = conn.execute(
                "INSERT OR IGNORE INTO events (call_id, at, kind, data, dedupe) VALUES (?, ?, ?, ?, ?)",
                (cid, t, kind, data_json, dedupe),
            )
            return int(cur.lastrowid) if cur.rowcount else None

    def relate(self, call_id: str, other_id: str, kind: str, at: float | None = None) -> None:
        """Record that ``other_id`` is ``call_id``'s ``kind`` (``callback``: its call back), and the
        reverse (``callback_of``), so each call's page links to the other. Either may be a stub."""
        if kind not in RELATIONS:
            raise StoreInputError(f"relation {kind!r}: expected one of {', '.join(RELATIONS)}")
        t = None if at is None else _finite("at", at)
        with self._tx() as conn:
            a, b = self._ensure(conn, call_id), self._ensure(conn, other_id)
            if a == b:
                raise StoreInputError(f"relate: {call_id!r} and {other_id!r} are the same call")
            conn.executemany(
                "INSERT OR IGNORE INTO call_relations (call_id, other_id, kind, at) VALUES (?, ?, ?, ?)",
                [(a, b, kind, t), (b, a, RELATIONS[kind], t)],
            )

    @staticmethod
    def _has_table(conn: sqlite3.Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def related(self, call_id: str) -> list[Relation]:
        """The calls related to ``call_id`` (see ``relate``), oldest relation first."""
        with self._lock:
            return self._related(self._conn, self._resolve(self._conn, call_id))

    def _related(self, conn: sqlite3.Connection, cid: str) -> list[Relation]:
        try:
            rows = conn.execute(
                "SELECT other_id, kind, at FROM call_relations WHERE call_id = ? ORDER BY at, other_id", (cid,)
            ).fetchall()
        except sqlite3.OperationalError:
            if self._has_table(conn, "call_relations"):
                raise
            return []  # a store read as it is, from before version 3: no relations recorded
        return [Relation(self._resolve(conn, r["other_id"]), r["kind"], r["at"]) for r in rows]

    def add_audio(self, call_id: str, leg: str, path: str | Path, offset: float = 0.0) -> int | None:
        """Record where a call's audio is (``leg`` caller, agent or mixed; the file starts at call time ``offset``)."""
        if leg not in AUDIO_LEGS:
            raise StoreInputError(f"audio leg {leg!r}: expected one of {', '.join(AUDIO_LEGS)}")
        with self._tx() as conn:
            cid = self._ensure(conn, call_id)
            cur = conn.execute(
                'INSERT OR IGNORE INTO audio (call_id, leg, path, "offset") VALUES (?, ?, ?, ?)',
                (cid, leg, str(path), _finite("offset", offset)),
            )
            return int(cur.lastrowid) if cur.rowcount else None

    # -- retention ------------------------------------------------------------------------

    def audio_before(self, before: float) -> list[Audio]:
        """Recordings of calls that started before ``before`` (epoch seconds): what an audio
        retention purges (``engine.store.retention``)."""
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT a.* FROM audio a JOIN calls c ON c.id = a.call_id
                    WHERE {_START} < ? ORDER BY a.id""", (_finite("before", before),)).fetchall()
        return [self._audio_from_row(r) for r in rows]

    def delete_audio(self, ids: Iterable[int]) -> int:
        """Forget these recordings (their files are the caller's business); returns rows deleted."""
        wanted = [(int(i),) for i in ids]
        with self._tx() as conn:
            return sum(conn.execute("DELETE FROM audio WHERE id = ?", row).rowcount for row in wanted)

    def delete_transcripts(self, before: float, *, dry_run: bool = False) -> dict[str, int]:
        """Transcripts of calls that started before ``before``: segments with their search index
        rows, and what the caller typed or said in the IVR (``ivr_inputs``, ``ivr.input`` events).
        The call records stay, so statistics keep working. Returns what was (or, with
        ``dry_run``, would be) deleted."""
        t = _finite("before", before)
        old = f"SELECT c.id FROM calls c WHERE {_START} < ?"
        parts = {
            "segments": f"FROM segments WHERE call_id IN ({old})",
            "ivr_input_events": f"FROM events WHERE kind = 'ivr.input' AND call_id IN ({old})",
            "calls_with_ivr_inputs": f"FROM calls WHERE ivr_inputs IS NOT NULL AND id IN ({old})",
        }
        with self._lock:
            counts = {k: int(self._conn.execute(f"SELECT count(*) {where}", (t,)).fetchone()[0])
                      for k, where in parts.items()}
        if dry_run or not any(counts.values()):
            return counts
        with self._tx() as conn:
            conn.execute(f"DELETE FROM segments_fts WHERE rowid IN (SELECT id {parts['segments']})", (t,))
            counts["segments"] = conn.execute(f"DELETE {parts['segments']}", (t,)).rowcount
            counts["ivr_input_events"] = conn.execute(f"DELETE {parts['ivr_input_events']}", (t,)).rowcount
            counts["calls_with_ivr_inputs"] = conn.execute(
                f"UPDATE calls SET ivr_inputs = NULL WHERE ivr_inputs IS NOT NULL AND id IN ({old})", (t,)).rowcount
        return counts

    # -- reads ----------------------------------------------------------------------------

    @staticmethod
    def _call_from_row(row: sqlite3.Row) -> CallRecord:
        d = dict(row)
        d["ivr_path"] = tuple(json.loads(d["ivr_path"])) if d["ivr_path"] else ()
        d["ivr_inputs"] = json.loads(d["ivr_inputs"]) if d["ivr_inputs"] else None
        d["has_audio"] = bool(d["has_audio"])
        return CallRecord(**d)

    @staticmethod
    def _segment_from_row(row: sqlite3.Row) -> Segment:
        return Segment(
            id=row["id"],
            call_id=row["call_id"],
            leg=row["leg"],
            start=row["start"],
            end=row["end"],
            text=row["text"],
            words=tuple(json.loads(row["words"] or "[]")),
        )

    @staticmethod
    def _audio_from_row(r: sqlite3.Row) -> Audio:
        return Audio(id=r["id"], call_id=r["call_id"], leg=r["leg"], path=r["path"], offset=r["offset"])

    def _get(self, conn: sqlite3.Connection, cid: str) -> CallRecord | None:
        row = conn.execute(self._call_select + " WHERE c.id = ?", (cid,)).fetchone()
        return self._call_from_row(row) if row else None

    def get_call(self, call_id: str) -> CallRecord | None:
        with self._lock:
            return self._get(self._conn, self._resolve(self._conn, call_id))

    def list_calls(
        self,
        *,
        limit: int = 50,
        before: float | None = None,
        live: bool | None = None,
        queue: str | None = None,
        agent: str | None = None,
        caller_number: str | None = None,
        since: float | None = None,
        until: float | None = None,
        outcome: str | None = None,
        language: str | None = None,
    ) -> list[CallRecord]:
        """Calls, newest first (by start, or last update for stubs); filters are ANDed.

        ``since``/``until``: the call started in ``[since, until)`` (epoch seconds); ``before``
        pages back (started before it). ``caller_number`` matches the stored number exactly.
        """
        where, params = [], []
        for op, name, value in (("<", "before", before), (">=", "since", since), ("<", "until", until)):
            if value is not None:
                where.append(f"{_START} {op} ?")
                params.append(_finite(name, value))
        if live is not None:
            where.append("c.ended_at IS NULL" if live else "c.ended_at IS NOT NULL")
        for col, value in (("queue", queue), ("agent", agent), ("caller_number", caller_number),
                           ("outcome", outcome), ("language", language)):
            if value is None:
                continue
            if col not in self._columns:  # an older schema (read-only): nothing has that value
                where.append("0")
                continue
            where.append(f"c.{col} = ?")
            params.append(value)
        sql = self._call_select + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY {_START} DESC, c.id LIMIT ?"
        params.append(max(0, min(int(limit), _MAX_ROWS)))
        with self._lock:
            return [self._call_from_row(r) for r in self._conn.execute(sql, params)]

    def queue_calls(self, since: float, until: float, *, queue: str | None = None) -> list[CallRecord]:
        """Calls that joined a queue in ``[since, until)`` (by ``queue_joined_at``), oldest first:
        what per-interval queue statistics count (a call belongs to the interval it arrived in)."""
        where = ["c.queue_joined_at >= ?", "c.queue_joined_at < ?"]
        params: list[Any] = [_finite("since", since), _finite("until", until)]
        if queue is not None:
            where.append("c.queue = ?")
            params.append(queue)
        sql = self._call_select + " WHERE " + " AND ".join(where) + " ORDER BY c.queue_joined_at, c.id"
        with self._lock:
            return [self._call_from_row(r) for r in self._conn.execute(sql, params)]

    def facets(self) -> dict[str, list[str]]:
        """The values the call list can be filtered on: queues, call-takers, outcomes, languages."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for col, key in (("queue", "queues"), ("agent", "agents"), ("outcome", "outcomes"),
                             ("language", "languages")):
                if col not in self._columns:
                    out[key] = []
                    continue
                rows = self._conn.execute(f"SELECT DISTINCT {col} FROM calls WHERE {col} IS NOT NULL ORDER BY {col}")
                out[key] = [str(r[0]) for r in rows]
        return out

    def counts(self, *, since: float | None = None) -> dict[str, int]:
        """Totals for a report (``hotline demo``): calls, per outcome, transcribed calls, segments."""
        where, params = "", []
        if since is not None:
            where, params = f"WHERE {_START} >= ?", [_finite("since", since)]
        with self._lock:
            row = self._conn.execute(
                f"""SELECT count(*) AS calls,
                           count(*) FILTER (WHERE c.ended_at IS NULL) AS live,
                           count(*) FILTER (WHERE c.outcome = 'answered') AS answered,
                           count(*) FILTER (WHERE c.outcome = 'abandoned') AS abandoned,
                           count(*) FILTER (WHERE c.outcome = 'callback') AS callbacks,
                           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM segments s WHERE s.call_id = c.id))
                               AS transcribed_calls,
                           COALESCE(sum((SELECT count(*) FROM segments s WHERE s.call_id = c.id)), 0) AS segments,
                           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM audio a WHERE a.call_id = c.id))
                               AS recorded_calls
                    FROM calls c {where}""",
                params,
            ).fetchone()
        return {k: int(row[k]) for k in row.keys()}

    def queue_stays(
        self, *, since: float | None = None, until: float | None = None, queue: str | None = None
    ) -> list[dict[str, Any]]:
        """Calls that joined a queue in ``[since, until)`` (epoch seconds), oldest first, for
        capacity planning: queue, joined/answered/abandoned/ended times, wait, outcome, and the
        talk time of the last ``agent.complete`` event (None when there is none). No caller data."""
        where, params = ["c.queue_joined_at IS NOT NULL"], []
        if since is not None:
            where.append("c.queue_joined_at >= ?")
            params.append(_finite("since", since))
        if until is not None:
            where.append("c.queue_joined_at < ?")
            params.append(_finite("until", until))
        if queue is not None:
            where.append("c.queue = ?")
            params.append(queue)
        sql = f"""SELECT c.queue, c.queue_joined_at AS joined_at, c.queue_answered_at AS answered_at,
                         c.queue_abandoned_at AS abandoned_at, c.ended_at, c.wait_seconds, c.outcome,
                         (SELECT json_extract(e.data, '$.talk') FROM events e
                          WHERE e.call_id = c.id AND e.kind = 'agent.complete' ORDER BY e.at DESC LIMIT 1) AS talk
                  FROM calls c WHERE {' AND '.join(where)} ORDER BY c.queue_joined_at"""
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, params)]

    def segments(self, call_id: str) -> list[Segment]:
        with self._lock:
            cid = self._resolve(self._conn, call_id)
            rows = self._conn.execute(
                'SELECT * FROM segments WHERE call_id = ? ORDER BY start, leg', (cid,)
            ).fetchall()
        return [self._segment_from_row(r) for r in rows]

    def audio(self, call_id: str) -> list[Audio]:
        with self._lock:
            cid = self._resolve(self._conn, call_id)
            rows = self._conn.execute('SELECT * FROM audio WHERE call_id = ? ORDER BY id', (cid,)).fetchall()
        return [self._audio_from_row(r) for r in rows]

    def get_audio(self, audio_id: int) -> Audio | None:
        if not 0 <= int(audio_id) <= _MAX_ROWS:
            return None
        with self._lock:
            r = self._conn.execute("SELECT * FROM audio WHERE id = ?", (int(audio_id),)).fetchone()
        return self._audio_from_row(r) if r else None

    def search(self, q: str, *, limit: int = 50, masked: bool = False) -> list[SearchHit]:
        """Transcript segments matching every term of ``q`` (Mandarin or English), best first.

        ``masked=True`` is for a viewer who sees numbers masked: a segment is a hit only if its
        masked text matches too, and spans are found in the masked text, so a query cannot
        learn hidden digits (``1391234*``, ``13912345678`` or a fragment such as ``2345``).
        Only the ``MASKED_SEARCH_SCAN`` best raw matches are examined: past that a masked search
        may miss hits (never show one it should not).
        """
        expr = fts.match_expression(q)
        if expr is None:
            return []
        limit = max(0, min(int(limit), _MAX_ROWS))
        with self._lock:
            try:
                cur = self._conn.execute(
                    f"""SELECT s.* FROM segments_fts f JOIN segments s ON s.id = f.rowid
                       WHERE segments_fts MATCH ? ORDER BY bm25(segments_fts), s.created_at DESC
                       {"" if masked else "LIMIT ?"}""",
                    (expr,) if masked else (expr, limit),
                )
                rows = _visible_rows(cur, expr, limit) if masked else cur.fetchall()
                cur.close()  # a partly read statement would hold its read snapshot open
            except sqlite3.OperationalError as exc:  # should not happen: every token is quoted
                raise StoreInputError(f"search {q!r}: {exc}") from None
            calls: dict[str, CallRecord] = {}
            hits = []
            for r in rows:
                seg = self._segment_from_row(r)
                if seg.call_id not in calls:
                    rec = self._get(self._conn, seg.call_id)
                    assert rec is not None
                    calls[seg.call_id] = rec
                shown = mask_text(seg.text) if masked else seg.text
                hits.append(SearchHit(calls[seg.call_id], seg, tuple(fts.highlight_spans(shown, q))))
        return hits

    def call_timeline(self, call_id: str) -> Timeline | None:
        """Transcript segments of both legs and the call's events, on one clock (s from call start)."""
        with self._lock:
            cid = self._resolve(self._conn, call_id)
            call = self._get(self._conn, cid)
            if call is None:
                return None
            events = self._conn.execute(
                "SELECT * FROM events WHERE call_id = ? ORDER BY at, id", (cid,)
            ).fetchall()
            related = self._related(self._conn, cid)
        t0 = call.started_at
        if t0 is None:
            t0 = events[0]["at"] if events else 0.0
        items = [
            TimelineItem(t=round(e["at"] - t0, 3), kind=e["kind"], data=json.loads(e["data"] or "{}"))
            for e in events
        ]
        items += [
            TimelineItem(t=s.start, end=s.end, kind="speech", leg=s.leg, text=s.text, words=s.words, segment_id=s.id)
            for s in self.segments(cid)
        ]
        items.sort(key=lambda i: (i.t, i.kind == "speech", i.leg or ""))
        return Timeline(call=call, items=tuple(items), audio=tuple(self.audio(cid)), related=tuple(related))
