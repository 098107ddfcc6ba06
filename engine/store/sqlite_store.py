"""The call-record store on SQLite (WAL): the embedded default, one file beside the engine.

The store's logic is ``engine.store.sql_store.SqlStore``; this module gives it the SQLite file
(WAL, ``synchronous=FULL`` by default, so a crash or kill loses nothing a method already
returned from), read-only opening, migrations through ``PRAGMA user_version`` and the FTS5 index
(``segments_fts``: CJK bigrams + porter/unicode61, see ``engine.store.fts``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from engine.store import fts
from engine.store.errors import SchemaError, StoreError, StoreInputError
from engine.store.migrations import check_readable, current_version, migrate
from engine.store.sql_store import SEGMENT_COLUMNS, SqlStore

T = TypeVar("T")


class Store(SqlStore):
    """The store in one SQLite file. Open with ``Store.open(path)``."""

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

    def __enter__(self) -> Store:
        return self

    def pragma(self, name: str) -> Any:
        """Read one PRAGMA (journal_mode, synchronous, ...), for health checks and tests."""
        if not name.isidentifier():
            raise StoreInputError(f"pragma {name!r}: not a name")
        with self._lock:
            return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    # -- the backend's part -------------------------------------------------------------------

    def _x(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return conn.execute(sql, params)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: the one writer of the file)."""
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

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._tx() as conn:
            return fn(conn)

    def _call_columns(self, conn: sqlite3.Connection) -> set[str]:
        return {str(r[1]) for r in conn.execute("PRAGMA table_info(calls)")}

    def _has_table(self, conn: sqlite3.Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def _version(self, conn: sqlite3.Connection) -> int:
        return current_version(conn)

    def _check_readable(self, conn: sqlite3.Connection) -> None:
        check_readable(conn, where=self._path)

    def _insert_segment(self, conn: sqlite3.Connection, params: tuple[Any, ...], text: str) -> int | None:
        row = conn.execute("""INSERT INTO segments (call_id, leg, start, "end", text, words, created_at)
                              VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id""", params).fetchone()
        if row is None:
            return None
        conn.execute("INSERT INTO segments_fts (rowid, body) VALUES (?, ?)", (row["id"], fts.index_text(text)))
        return int(row["id"])

    def _unindex(self, conn: sqlite3.Connection, segments_where: str, params: Sequence[Any]) -> None:
        conn.execute(f"DELETE FROM segments_fts WHERE rowid IN (SELECT id FROM segments WHERE {segments_where})", params)

    def _search_rows(self, conn: sqlite3.Connection, q: str, limit: int) -> list[Any]:
        try:
            return conn.execute(
                f"""SELECT {SEGMENT_COLUMNS} FROM segments_fts f JOIN segments s ON s.id = f.rowid
                    WHERE segments_fts MATCH ? ORDER BY bm25(segments_fts), s.created_at DESC, s.id LIMIT ?""",
                (fts.match_expression(q), limit),
            ).fetchall()
        except sqlite3.OperationalError as exc:  # should not happen: every token is quoted
            raise StoreInputError(f"search {q!r}: {exc}") from None
