"""The call-record store's logic, written once for both backends (SQLite and PostgreSQL).

Every source reports what it knows under whatever id it has (AMI Uniqueid/Linkedid, the AGI
request's uniqueid, an AudioSocket UUID); ``link`` records that an id belongs to a call, and every
method resolves ids through those links, so the order in which sources report never matters: a
segment that arrives before the call record makes a stub record that later facts fill in, and two
records found to be the same call are merged.

``SqlStore`` holds the checks of input, the SQL both databases run alike (``?`` placeholders),
the row mapping and the search's masking; a backend (``engine.store.sqlite_store.Store``,
``engine.store.pg_store.PgStore``) gives the connection, transactions, schema and the search index.
Each write is its own transaction, committed before the method returns. Methods are thread-safe
(one lock around one connection); for asyncio use ``engine.store.AsyncStore``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from engine.privacy import mask_text
from engine.store import fts
from engine.store.errors import SchemaError, StoreError, StoreInputError
from engine.store.migrations import LATEST
from engine.store.records import (
    AUDIO_LEGS,
    CALL_FIELDS,
    CALLBACK_PENDING,
    CALLBACK_STATUSES,
    LEGS,
    RELATIONS,
    Audio,
    CallRecord,
    Relation,
    SearchHit,
    Segment,
    StoredCallback,
    Timeline,
    TimelineItem,
)
from engine.store.scratch_index import ScratchIndex

T = TypeVar("T")
MASKED_SEARCH_SCAN = 5000  # best raw matches a masked search examines (a bound on its time); see search()
MAX_ROWS = 2**63 - 1  # the largest integer of both databases: a larger limit means "all", a larger id matches nothing
_TIME_FIELDS = {f for f in CALL_FIELDS if f.endswith("_at")} | {"wait_seconds"}
_JSON_FIELDS = {"ivr_path", "ivr_inputs"}
_QUEUE_TIMES = {"queue_joined_at", "queue_answered_at", "queue_abandoned_at"}
_START = "COALESCE(c.started_at, c.updated_at)"  # when a call (or a stub) happened, for ordering and ranges
SEGMENT_COLUMNS = 's.id, s.call_id, s.leg, s.start, s."end", s.text, s.words'


def _call_select(columns: set[str]) -> str:
    """The SELECT of call records; a column an older schema lacks (read-only opening) reads as NULL."""
    cols = ", ".join(f"c.{f}" if f in columns else f"NULL AS {f}" for f in ("id", *CALL_FIELDS, "updated_at"))
    return f"""
    SELECT {cols},
           (SELECT count(*) FROM segments s WHERE s.call_id = c.id) AS segment_count,
           EXISTS (SELECT 1 FROM audio a WHERE a.call_id = c.id) AS has_audio
    FROM calls c
"""


def _joined_where(since: float | None, until: float | None, queue: str | None) -> tuple[str, list[Any]]:
    """The WHERE of calls that joined ``queue`` (any queue if None) in ``[since, until)``, bounds optional."""
    where, params = ["c.queue_joined_at IS NOT NULL"], []
    for op, name, value in ((">=", "since", since), ("<", "until", until)):
        if value is not None:
            where.append(f"c.queue_joined_at {op} ?")
            params.append(finite(name, value))
    if queue is not None:
        where.append("c.queue = ?")
        params.append(queue)
    return " AND ".join(where), params


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


def finite(name: str, value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise StoreInputError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(f):
        raise StoreInputError(f"{name}: expected a finite number, got {value!r}")
    return f


def _call_from_row(row: Any) -> CallRecord:
    d = dict(row)
    d["ivr_path"] = tuple(json.loads(d["ivr_path"])) if d["ivr_path"] else ()
    d["ivr_inputs"] = json.loads(d["ivr_inputs"]) if d["ivr_inputs"] else None
    d["has_audio"] = bool(d["has_audio"])
    d["segment_count"] = int(d["segment_count"])
    return CallRecord(**d)


def _segment_from_row(row: Any) -> Segment:
    return Segment(id=row["id"], call_id=row["call_id"], leg=row["leg"], start=row["start"], end=row["end"],
                   text=row["text"], words=tuple(json.loads(row["words"] or "[]")))


def _audio_from_row(r: Any) -> Audio:
    return Audio(id=r["id"], call_id=r["call_id"], leg=r["leg"], path=r["path"], offset=r["offset"])


class SqlStore:
    """The store's API; open a backend (``Store.open(path)``, ``PgStore.open(url)``, or
    ``engine.store.backend.open_store(cfg)``), not this class."""

    # SQL of the wait (s) from a call's queue times, rounded to ms and never negative
    ROUND_WAIT = "round(max(0, COALESCE(queue_answered_at, queue_abandoned_at) - queue_joined_at), 3)"

    def __init__(self, conn: Any, *, path: str, clock: Callable[[], float], readonly: bool = False) -> None:
        self._conn = conn
        self._path = path
        self._clock = clock
        self._readonly = readonly
        self._lock = threading.RLock()
        self._scratch = ScratchIndex()
        self._columns = self._read(self._call_columns)
        self._call_select = _call_select(self._columns)

    # -- what a backend gives ---------------------------------------------------------------

    def _x(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement written with ``?`` placeholders; returns a cursor (rows by column name)."""
        raise NotImplementedError

    def _transaction(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)`` in one write transaction, committed before returning (lock held)."""
        raise NotImplementedError

    def _reading(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)`` for a read (lock held)."""
        return fn(self._conn)

    def _call_columns(self, conn: Any) -> set[str]:
        raise NotImplementedError

    def _has_table(self, conn: Any, name: str) -> bool:
        raise NotImplementedError

    def _version(self, conn: Any) -> int:
        raise NotImplementedError

    def _check_readable(self, conn: Any) -> None:
        raise NotImplementedError

    def _insert_segment(self, conn: Any, params: tuple[Any, ...], text: str) -> int | None:
        """Insert a segment row ``(call_id, leg, start, end, text, words, created_at)`` and index it;
        None when (call, leg, start) is already stored."""
        raise NotImplementedError

    def _unindex(self, conn: Any, segments_where: str, params: Sequence[Any]) -> None:
        """Drop the index rows of the segments ``segments_where`` selects, before they go (SQLite's
        index is a table of its own; PostgreSQL's lives in the segment rows)."""

    def _search_rows(self, conn: Any, q: str, limit: int) -> list[Any]:
        """The best ``limit`` segment rows (``SEGMENT_COLUMNS``) matching ``q``, best first (bm25)."""
        raise NotImplementedError

    def _close(self) -> None:
        self._conn.close()

    # -- opening and state --------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._close()
            self._scratch.close()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        """Where the store is: the file, or the PostgreSQL URL without its password."""
        return self._path

    @property
    def schema_version(self) -> int:
        return self._read(self._version)

    @property
    def latest_schema_version(self) -> int:
        return LATEST

    @property
    def readonly(self) -> bool:
        return self._readonly

    def healthy(self) -> bool:
        """The schema is one this program works with: the latest, or (read-only) one it can read."""
        def check(conn: Any) -> bool:
            if not self._readonly:
                return self._version(conn) == LATEST
            try:
                self._check_readable(conn)
            except SchemaError:
                return False
            return True

        try:
            return self._read(check)
        except StoreError:
            return False

    def _read(self, fn: Callable[[Any], T]) -> T:
        with self._lock:
            return self._reading(fn)

    def _write(self, fn: Callable[[Any], T]) -> T:
        if self._readonly:
            raise StoreError(f"{self._path}: opened read-only; this command does not change the store")
        with self._lock:
            return self._transaction(fn)

    # -- ids ------------------------------------------------------------------------------

    def _resolve(self, conn: Any, call_id: str) -> str:
        row = self._x(conn, "SELECT call_id FROM call_ids WHERE alias = ?", (call_id,)).fetchone()
        return str(row["call_id"]) if row else call_id

    def _ensure(self, conn: Any, call_id: str) -> str:
        if not isinstance(call_id, str) or not call_id:
            raise StoreInputError(f"call id {call_id!r}: expected a non-empty string")
        cid = self._resolve(conn, call_id)
        self._x(conn, "INSERT INTO calls (id, updated_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (cid, self._clock()))
        return cid

    def resolve(self, call_id: str) -> str:
        """The canonical call id for ``call_id`` (itself when it is not a known alias)."""
        return self._read(lambda conn: self._resolve(conn, call_id))

    def link(self, call_id: str, alias: str, kind: str, channel: str | None = None) -> str:
        """Record that ``alias`` (a Uniqueid, AudioSocket UUID, ...) belongs to ``call_id``.

        If facts were already stored under ``alias`` as a call of its own, they are merged into
        ``call_id``. Returns the canonical call id.
        """
        if not alias:
            raise StoreInputError("link: empty alias")

        def work(conn: Any) -> str:
            cid = self._ensure(conn, call_id)
            if alias == cid:
                return cid
            other = self._resolve(conn, alias)
            if other != cid and self._x(conn, "SELECT 1 FROM calls WHERE id = ?", (other,)).fetchone():
                self._merge(conn, other, cid)
            self._set_alias(conn, alias, cid, kind, channel)
            return cid

        return self._write(work)

    def _set_alias(self, conn: Any, alias: str, cid: str, kind: str, channel: str | None) -> None:
        self._x(conn, """INSERT INTO call_ids (alias, call_id, kind, channel) VALUES (?, ?, ?, ?)
                         ON CONFLICT (alias) DO UPDATE SET call_id = excluded.call_id, kind = excluded.kind,
                                                           channel = excluded.channel""",
                (alias, cid, kind, channel))

    def _merge(self, conn: Any, src: str, dst: str) -> None:
        sets = ", ".join(f"{f} = COALESCE(d.{f}, s.{f})" for f in CALL_FIELDS if f != "started_at")
        self._x(
            conn,
            f"""UPDATE calls AS d SET {sets},
                   started_at = CASE WHEN d.started_at IS NULL OR s.started_at < d.started_at
                                     THEN COALESCE(s.started_at, d.started_at) ELSE d.started_at END,
                   updated_at = ?
                FROM calls AS s WHERE d.id = ? AND s.id = ?""",
            (self._clock(), dst, src),
        )
        # rows move unless the target already has the same one (same unique key): that copy stays,
        # and the source's goes with the source record
        for table, same in (("segments", "leg = m.leg AND o.start = m.start"), ("audio", "leg = m.leg AND o.path = m.path")):
            self._x(conn, f"""UPDATE {table} AS m SET call_id = ? WHERE m.call_id = ? AND NOT EXISTS
                                  (SELECT 1 FROM {table} o WHERE o.call_id = ? AND o.{same})""", (dst, src, dst))
        self._unindex(conn, "call_id = ?", (src,))
        self._x(conn, "UPDATE events SET call_id = ? WHERE call_id = ?", (dst, src))
        self._x(conn, """UPDATE call_relations AS m SET call_id = ? WHERE m.call_id = ? AND NOT EXISTS
                             (SELECT 1 FROM call_relations o WHERE o.call_id = ? AND o.other_id = m.other_id
                                                               AND o.kind = m.kind)""", (dst, src, dst))
        self._x(conn, """UPDATE call_relations AS m SET other_id = ? WHERE m.other_id = ? AND NOT EXISTS
                             (SELECT 1 FROM call_relations o WHERE o.other_id = ? AND o.call_id = m.call_id
                                                               AND o.kind = m.kind)""", (dst, src, dst))
        self._x(conn, "DELETE FROM call_relations WHERE other_id = ? OR call_id = other_id", (src,))
        self._x(conn, "UPDATE call_ids SET call_id = ? WHERE call_id = ?", (dst, src))
        self._set_alias(conn, src, dst, "merged", None)
        self._x(conn, "DELETE FROM calls WHERE id = ?", (src,))

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
                values[name] = finite(name, value)
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

        def work(conn: Any) -> CallRecord:
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
                self._x(conn, f"UPDATE calls SET {', '.join(sets)} WHERE id = ?", params)
                if "wait_seconds" not in values and values.keys() & _QUEUE_TIMES:
                    self._x(conn, f"""UPDATE calls SET wait_seconds = {self.ROUND_WAIT}
                                      WHERE id = ? AND queue_joined_at IS NOT NULL
                                        AND COALESCE(queue_answered_at, queue_abandoned_at) IS NOT NULL""", (cid,))
            record = self._get(conn, cid)
            assert record is not None
            return record

        return self._write(work)

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
        s, e = finite("start", start), finite("end", end)
        if e < s:
            raise StoreInputError(f"segment end {e} is before its start {s}")
        if not isinstance(text, str):
            raise StoreInputError(f"segment text: expected a string, got {type(text).__name__}")
        words_json = json.dumps([_word_dict(w) for w in words], ensure_ascii=False)

        def work(conn: Any) -> int | None:
            cid = self._ensure(conn, call_id)
            return self._insert_segment(conn, (cid, leg, s, e, text, words_json, self._clock()), text)

        return self._write(work)

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
        t = finite("at", at)
        try:
            data_json = json.dumps(dict(data or {}), ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise StoreInputError(f"event data: not JSON-serialisable: {exc}") from None

        def work(conn: Any) -> int | None:
            cid = self._ensure(conn, call_id)
            row = self._x(conn, """INSERT INTO events (call_id, at, kind, data, dedupe) VALUES (?, ?, ?, ?, ?)
                                   ON CONFLICT DO NOTHING RETURNING id""", (cid, t, kind, data_json, dedupe)).fetchone()
            return int(row["id"]) if row else None

        return self._write(work)

    def relate(self, call_id: str, other_id: str, kind: str, at: float | None = None) -> None:
        """Record that ``other_id`` is ``call_id``'s ``kind`` (``callback``: its call back), and the
        reverse (``callback_of``), so each call's page links to the other. Either may be a stub."""
        if kind not in RELATIONS:
            raise StoreInputError(f"relation {kind!r}: expected one of {', '.join(RELATIONS)}")
        t = None if at is None else finite("at", at)

        def work(conn: Any) -> None:
            a, b = self._ensure(conn, call_id), self._ensure(conn, other_id)
            if a == b:
                raise StoreInputError(f"relate: {call_id!r} and {other_id!r} are the same call")
            for row in ((a, b, kind, t), (b, a, RELATIONS[kind], t)):
                self._x(conn, """INSERT INTO call_relations (call_id, other_id, kind, at) VALUES (?, ?, ?, ?)
                                 ON CONFLICT DO NOTHING""", row)

        self._write(work)

    def related(self, call_id: str) -> list[Relation]:
        """The calls related to ``call_id`` (see ``relate``), oldest relation first."""
        return self._read(lambda conn: self._related(conn, self._resolve(conn, call_id)))

    def _related(self, conn: Any, cid: str) -> list[Relation]:
        if not self._has_table(conn, "call_relations"):
            return []  # a store read as it is, from before version 3: no relations recorded
        rows = self._x(conn, "SELECT other_id, kind, at FROM call_relations WHERE call_id = ? "
                             "ORDER BY at NULLS FIRST, other_id", (cid,)).fetchall()
        return [Relation(self._resolve(conn, r["other_id"]), r["kind"], r["at"]) for r in rows]

    def add_audio(self, call_id: str, leg: str, path: Any, offset: float = 0.0) -> int | None:
        """Record where a call's audio is (``leg`` caller, agent or mixed; the file starts at call time ``offset``)."""
        if leg not in AUDIO_LEGS:
            raise StoreInputError(f"audio leg {leg!r}: expected one of {', '.join(AUDIO_LEGS)}")
        off = finite("offset", offset)

        def work(conn: Any) -> int | None:
            cid = self._ensure(conn, call_id)
            row = self._x(conn, """INSERT INTO audio (call_id, leg, path, "offset") VALUES (?, ?, ?, ?)
                                   ON CONFLICT DO NOTHING RETURNING id""", (cid, leg, str(path), off)).fetchone()
            return int(row["id"]) if row else None

        return self._write(work)

    # -- callbacks ------------------------------------------------------------------------

    def save_callback(self, cb: StoredCallback) -> None:
        """Keep a booked callback's state (inserted, or updated by node and id). A done one
        (answered, failed) keeps no number: it was only kept to dial."""
        if cb.status not in CALLBACK_STATUSES:
            raise StoreInputError(f"callback status {cb.status!r}: expected one of {', '.join(CALLBACK_STATUSES)}")
        pending = cb.status in CALLBACK_PENDING
        if pending and not cb.number.isdigit():
            raise StoreInputError(f"callback {cb.id}: its number must be digits")
        for name, value in (("node", cb.node), ("id", cb.id), ("queue", cb.queue)):
            if not value:
                raise StoreInputError(f"callback {cb.id or '?'}: no {name}")
        row = (cb.node, cb.id, cb.call_id, cb.queue, cb.number if pending else "", int(cb.priority),
               finite("booked_at", cb.booked_at), cb.status, int(cb.attempts), self._clock())
        self._write(lambda conn: self._x(conn, """
            INSERT INTO callbacks (node, id, call_id, queue, number, priority, booked_at, status, attempts, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (node, id) DO UPDATE SET number = excluded.number, status = excluded.status,
                attempts = excluded.attempts, updated_at = excluded.updated_at""", row))

    def pending_callbacks(self, node: str) -> tuple[list[StoredCallback], str]:
        """``node``'s callbacks still to dial, oldest booking first, and the id it booked last
        (pending or not; "" for none): its next id must not repeat one."""
        marks = ", ".join("?" for _ in CALLBACK_PENDING)

        def work(conn: Any) -> tuple[list[StoredCallback], str]:
            rows = self._x(conn, f"""SELECT node, id, call_id, queue, number, priority, booked_at, status, attempts
                                     FROM callbacks WHERE node = ? AND status IN ({marks})
                                     ORDER BY booked_at, id""", (node, *CALLBACK_PENDING)).fetchall()
            last = self._x(conn, "SELECT id FROM callbacks WHERE node = ? ORDER BY booked_at DESC, id DESC LIMIT 1",
                           (node,)).fetchone()
            return [StoredCallback(**dict(r)) for r in rows], (str(last["id"]) if last else "")

        return self._read(work)

    def queue_stays(
        self, *, since: float | None = None, until: float | None = None, queue: str | None = None
    ) -> list[dict[str, Any]]:
        """Calls that joined a queue in ``[since, until)`` (epoch seconds), oldest first, for
        capacity planning: queue, joined/answered/abandoned/ended times, wait, outcome, and the
        talk time of the last ``agent.complete`` event (None when there is none). No caller data."""
        where, params = _joined_where(since, until, queue)
        # the event's JSON is read here, not in SQL: the same query on SQLite and PostgreSQL
        sql = f"""SELECT c.queue, c.queue_joined_at AS joined_at, c.queue_answered_at AS answered_at,
                         c.queue_abandoned_at AS abandoned_at, c.ended_at, c.wait_seconds, c.outcome,
                         (SELECT e.data FROM events e WHERE e.call_id = c.id AND e.kind = 'agent.complete'
                          ORDER BY e.at DESC LIMIT 1) AS complete
                  FROM calls c WHERE {where} ORDER BY c.queue_joined_at"""
        rows = self._read(lambda conn: self._x(conn, sql, params).fetchall())
        out = []
        for r in rows:
            d = dict(r)
            complete = d.pop("complete")
            d["talk"] = json.loads(complete).get("talk") if complete else None
            out.append(d)
        return out

    def queue_joins(self, *, since: float | None = None, until: float | None = None) -> list[tuple[str, float]]:
        """(queue, joined at) of the calls that joined a queue in ``[since, until)``, oldest first:
        the surge baseline's read at an engine's start and each midnight (no events, no caller data)."""
        where, params = _joined_where(since, until, None)
        sql = f"SELECT c.queue, c.queue_joined_at FROM calls c WHERE {where} ORDER BY c.queue_joined_at"
        rows = self._read(lambda conn: self._x(conn, sql, params).fetchall())
        return [(r["queue"] or "", float(r["queue_joined_at"])) for r in rows]

    # -- retention ------------------------------------------------------------------------

    def audio_before(self, before: float) -> list[Audio]:
        """Recordings of calls that started before ``before`` (epoch seconds): what an audio
        retention purges (``engine.store.retention``)."""
        t = finite("before", before)
        rows = self._read(lambda conn: self._x(conn, f"""SELECT a.* FROM audio a JOIN calls c ON c.id = a.call_id
                                                         WHERE {_START} < ? ORDER BY a.id""", (t,)).fetchall())
        return [_audio_from_row(r) for r in rows]

    def delete_audio(self, ids: Iterable[int]) -> int:
        """Forget these recordings (their files are the caller's business); returns rows deleted."""
        wanted = [(int(i),) for i in ids]
        return self._write(lambda conn: sum(self._x(conn, "DELETE FROM audio WHERE id = ?", row).rowcount
                                            for row in wanted))

    def delete_transcripts(self, before: float, *, dry_run: bool = False) -> dict[str, int]:
        """Transcripts of calls that started before ``before``: segments with their search index
        rows, what the caller typed or said in the IVR (``ivr_inputs``, ``ivr.input`` events), and
        callback bookings made before it (a pending one's number with them).
        The call records stay, so statistics keep working. Returns what was (or, with
        ``dry_run``, would be) deleted."""
        t = finite("before", before)
        old = f"SELECT c.id FROM calls c WHERE {_START} < ?"
        parts = {
            "segments": f"FROM segments WHERE call_id IN ({old})",
            "ivr_input_events": f"FROM events WHERE kind = 'ivr.input' AND call_id IN ({old})",
            "calls_with_ivr_inputs": f"FROM calls WHERE ivr_inputs IS NOT NULL AND id IN ({old})",
            "callbacks": "FROM callbacks WHERE booked_at < ?",  # with the number of one never done
        }
        counts = self._read(lambda conn: {k: int(self._x(conn, f"SELECT count(*) AS n {where}", (t,)).fetchone()["n"])
                                          for k, where in parts.items()})
        if dry_run or not any(counts.values()):
            return counts

        def work(conn: Any) -> dict[str, int]:
            self._unindex(conn, f"call_id IN ({old})", (t,))
            return {
                "segments": self._x(conn, f"DELETE {parts['segments']}", (t,)).rowcount,
                "ivr_input_events": self._x(conn, f"DELETE {parts['ivr_input_events']}", (t,)).rowcount,
                "calls_with_ivr_inputs": self._x(
                    conn, f"UPDATE calls SET ivr_inputs = NULL WHERE ivr_inputs IS NOT NULL AND id IN ({old})",
                    (t,)).rowcount,
                "callbacks": self._x(conn, f"DELETE {parts['callbacks']}", (t,)).rowcount,
            }

        return self._write(work)

    # -- reads ----------------------------------------------------------------------------

    def _get(self, conn: Any, cid: str) -> CallRecord | None:
        row = self._x(conn, self._call_select + " WHERE c.id = ?", (cid,)).fetchone()
        return _call_from_row(row) if row else None

    def _get_many(self, conn: Any, cids: set[str], chunk: int = 500) -> dict[str, CallRecord]:
        """The records of ``cids`` in a few queries (one round trip each on PostgreSQL)."""
        ids = sorted(cids)
        out: dict[str, CallRecord] = {}
        for i in range(0, len(ids), chunk):
            part = ids[i : i + chunk]
            sql = self._call_select + f" WHERE c.id IN ({', '.join('?' * len(part))})"
            out.update((r["id"], _call_from_row(r)) for r in self._x(conn, sql, part).fetchall())
        return out

    def get_call(self, call_id: str) -> CallRecord | None:
        return self._read(lambda conn: self._get(conn, self._resolve(conn, call_id)))

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
                params.append(finite(name, value))
        if live is not None:
            where.append("c.ended_at IS NULL" if live else "c.ended_at IS NOT NULL")
        for col, value in (("queue", queue), ("agent", agent), ("caller_number", caller_number),
                           ("outcome", outcome), ("language", language)):
            if value is None:
                continue
            if col not in self._columns:  # an older schema (read-only): nothing has that value
                where.append("FALSE")
                continue
            where.append(f"c.{col} = ?")
            params.append(value)
        sql = self._call_select + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY {_START} DESC, c.id LIMIT ?"
        params.append(max(0, min(int(limit), MAX_ROWS)))
        return self._read(lambda conn: [_call_from_row(r) for r in self._x(conn, sql, params).fetchall()])

    def queue_calls(self, since: float, until: float, *, queue: str | None = None) -> list[CallRecord]:
        """Calls that joined a queue in ``[since, until)`` (by ``queue_joined_at``), oldest first:
        what per-interval queue statistics count (a call belongs to the interval it arrived in)."""
        where, params = _joined_where(finite("since", since), finite("until", until), queue)
        sql = self._call_select + f" WHERE {where} ORDER BY c.queue_joined_at, c.id"
        return self._read(lambda conn: [_call_from_row(r) for r in self._x(conn, sql, params).fetchall()])

    def facets(self) -> dict[str, list[str]]:
        """The values the call list can be filtered on: queues, call-takers, outcomes, languages."""
        def work(conn: Any) -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for col, key in (("queue", "queues"), ("agent", "agents"), ("outcome", "outcomes"),
                             ("language", "languages")):
                if col not in self._columns:
                    out[key] = []
                    continue
                rows = self._x(conn, f"SELECT DISTINCT {col} AS v FROM calls WHERE {col} IS NOT NULL ORDER BY {col}")
                out[key] = [str(r["v"]) for r in rows.fetchall()]
            return out

        return self._read(work)

    def counts(self, *, since: float | None = None) -> dict[str, int]:
        """Totals for a report (``hotline demo``): calls, per outcome, transcribed calls, segments."""
        where, params = "", []
        if since is not None:
            where, params = f"WHERE {_START} >= ?", [finite("since", since)]
        sql = f"""SELECT count(*) AS calls,
                         count(*) FILTER (WHERE c.ended_at IS NULL) AS live,
                         count(*) FILTER (WHERE c.outcome = 'answered') AS answered,
                         count(*) FILTER (WHERE c.outcome = 'abandoned') AS abandoned,
                         count(*) FILTER (WHERE c.outcome = 'callback') AS callbacks,
                         count(*) FILTER (WHERE EXISTS (SELECT 1 FROM segments s WHERE s.call_id = c.id))
                             AS transcribed_calls,
                         COALESCE(sum((SELECT count(*) FROM segments s WHERE s.call_id = c.id)), 0) AS segments,
                         count(*) FILTER (WHERE EXISTS (SELECT 1 FROM audio a WHERE a.call_id = c.id))
                             AS recorded_calls
                  FROM calls c {where}"""
        row = self._read(lambda conn: dict(self._x(conn, sql, params).fetchone()))
        return {k: int(v) for k, v in row.items()}

    def segments(self, call_id: str) -> list[Segment]:
        def work(conn: Any) -> list[Any]:
            cid = self._resolve(conn, call_id)
            return self._x(conn, f"SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.call_id = ? ORDER BY s.start, s.leg",
                           (cid,)).fetchall()

        return [_segment_from_row(r) for r in self._read(work)]

    def audio(self, call_id: str) -> list[Audio]:
        def work(conn: Any) -> list[Any]:
            cid = self._resolve(conn, call_id)
            return self._x(conn, "SELECT * FROM audio WHERE call_id = ? ORDER BY id", (cid,)).fetchall()

        return [_audio_from_row(r) for r in self._read(work)]

    def get_audio(self, audio_id: int) -> Audio | None:
        if not 0 <= int(audio_id) <= MAX_ROWS:
            return None
        r = self._read(lambda conn: self._x(conn, "SELECT * FROM audio WHERE id = ?", (int(audio_id),)).fetchone())
        return _audio_from_row(r) if r else None

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
        limit = max(0, min(int(limit), MAX_ROWS))

        def work(conn: Any) -> list[SearchHit]:
            rows = self._search_rows(conn, q, MASKED_SEARCH_SCAN if masked else limit)
            if masked:
                rows = self._visible_rows(rows, expr, limit)
            segments = [_segment_from_row(r) for r in rows]
            calls = self._get_many(conn, {seg.call_id for seg in segments})
            return [SearchHit(calls[seg.call_id], seg,
                              tuple(fts.highlight_spans(mask_text(seg.text) if masked else seg.text, q)))
                    for seg in segments]

        return self._read(work)

    def _visible_rows(self, rows: list[Any], expr: str, limit: int, chunk: int = 256) -> list[Any]:
        """The first ``limit`` of ``rows`` whose masked text also matches ``expr``.

        The check runs the same MATCH on the scratch FTS5 index holding the masked texts, so it
        tokenizes exactly as the real index does (for either backend).
        """
        out: list[Any] = []
        for i in range(0, len(rows), chunk):
            part = rows[i : i + chunk]
            ok = self._scratch.matching(expr, [(r["id"], mask_text(r["text"])) for r in part])
            out += [r for r in part if r["id"] in ok]
            if len(out) >= limit:
                break
        return out[:limit]

    def call_timeline(self, call_id: str) -> Timeline | None:
        """Transcript segments of both legs and the call's events, on one clock (s from call start)."""
        def work(conn: Any) -> tuple[CallRecord, list[Any], list[Relation]] | None:
            cid = self._resolve(conn, call_id)
            call = self._get(conn, cid)
            if call is None:
                return None
            events = self._x(conn, "SELECT * FROM events WHERE call_id = ? ORDER BY at, id", (cid,)).fetchall()
            return call, events, self._related(conn, cid)

        found = self._read(work)
        if found is None:
            return None
        call, events, related = found
        t0 = call.started_at
        if t0 is None:
            t0 = events[0]["at"] if events else 0.0
        items = [
            TimelineItem(t=round(e["at"] - t0, 3), kind=e["kind"], data=json.loads(e["data"] or "{}"))
            for e in events
        ]
        items += [
            TimelineItem(t=s.start, end=s.end, kind="speech", leg=s.leg, text=s.text, words=s.words, segment_id=s.id)
            for s in self.segments(call.id)
        ]
        items.sort(key=lambda i: (i.t, i.kind == "speech", i.leg or ""))
        return Timeline(call=call, items=tuple(items), audio=tuple(self.audio(call.id)), related=tuple(related))
