"""The call-record store on PostgreSQL: one database shared by several engine nodes.

The logic is ``engine.store.sql_store.SqlStore``, as for SQLite; this module gives it a psycopg 3
connection, the migrations (their PostgreSQL text, the version in ``hotline_schema``) and the
search (``engine.store.pg_search``). Multi-node: a write transaction first takes the store's
write lock (a transaction-level advisory lock), so writes from every node run one at a time, as
SQLite's one writer does: a link that merges two records never loses a segment another node adds
meanwhile, and nothing needs retrying. (SERIALIZABLE with retries was tried: on these small,
hot tables nearly every pair of concurrent writes conflicted, and retries starved.) Reads never
wait for it. A connection that breaks (server restart, failover) is opened again and the call run
again once. Migrations take a lock of their own, so nodes starting together migrate once. The
password comes from the config or the environment and never reaches a message or a log line: the
store is named by its URL without the password (``engine.store.backend.redact_url``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

try:
    import psycopg
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - the PostgreSQL store is an extra
    psycopg = None  # type: ignore[assignment]

from engine.store import fts, pg_search
from engine.store.backend import redact_url
from engine.store.errors import SchemaError, StoreError, StoreInputError
from engine.store.migrations import LATEST, MIGRATIONS, check_readable_version, refuse_newer
from engine.store.sql_store import SqlStore

T = TypeVar("T")
CONNECT_TIMEOUT = 10  # seconds, unless the URL says connect_timeout
_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS hotline_schema (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), version integer NOT NULL)"""
# the advisory lock of migrations, per schema: nodes starting at once migrate one after the other
_MIGRATION_KEY = "hashtextextended('hotline migrations ' || current_schema(), 0)"
_MIGRATION_LOCK = f"SELECT pg_advisory_lock({_MIGRATION_KEY})"
_MIGRATION_UNLOCK = f"SELECT pg_advisory_unlock({_MIGRATION_KEY})"
# the write lock, per schema: taken first by every write transaction, released at its end
_WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('hotline writes ' || current_schema(), 0))"


@functools.lru_cache(maxsize=512)
def _pg_sql(sql: str) -> str:
    """The store's shared SQL (``?`` placeholders) in psycopg's placeholders."""
    return sql.replace("%", "%%").replace("?", "%s")


def _message(exc: BaseException) -> str:
    """What PostgreSQL said, first line only (details may quote the data)."""
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc) or type(exc).__name__).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _nul_check(params: Sequence[Any]) -> None:
    """PostgreSQL text cannot hold NUL: refuse it with a clear error (psycopg's names no field)."""
    for v in params:
        if isinstance(v, str) and "\x00" in v:
            raise StoreInputError("a text value contains a NUL character (\\x00), which PostgreSQL cannot store")


class PgStore(SqlStore):
    """The store in a PostgreSQL database. Open with ``PgStore.open(url)``."""

    ROUND_WAIT = ("round(GREATEST(0, COALESCE(queue_answered_at, queue_abandoned_at) - queue_joined_at)"
                  "::numeric, 3)::float8")

    def __init__(self, conn: Any, *, url: str, password: str | None, durable: bool, readonly: bool,
                 clock: Callable[[], float]) -> None:
        self._url = url
        self._password = password
        self._durable = durable
        super().__init__(conn, path=redact_url(url), clock=clock, readonly=readonly)

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        password: str | None = None,
        create: bool = True,
        durable: bool = True,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> PgStore:
        """Connect to the database at ``url`` (``postgresql://user@host:port/db``) and migrate it.

        ``password`` (from ``[store] password`` or ``$HOTLINE_STORE_PASSWORD``) overrides one in
        the URL; without either libpq's own ways apply (``PGPASSWORD``, ``~/.pgpass``). The
        database must exist; the store's tables go into its current schema (``search_path``).
        ``create=False`` refuses a database without a hotline store; ``durable=False`` sets
        ``synchronous_commit = off`` (a server crash may lose the last commits, never corrupt);
        ``readonly=True`` never migrates or writes (the session is read-only too) and reads an
        older schema as the SQLite store does.
        """
        where = redact_url(url)
        if psycopg is None:
            raise StoreError(f"{where}: the PostgreSQL store needs psycopg: pip install 'hotline[postgres]'")
        conn = cls._connect(url, password, durable=durable, readonly=readonly)
        try:
            have = cls._schema_version(conn)
            if readonly:
                check_readable_version(have, where)
            elif have == 0 and not create:
                raise StoreError(f"{where}: no hotline store in this database")
            else:
                cls._migrate(conn, where)
        except psycopg.Error as exc:
            conn.close()
            raise SchemaError(f"{where}: not a usable PostgreSQL store: {_message(exc)}") from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, url=url, password=password, durable=durable, readonly=readonly, clock=clock)

    @staticmethod
    def _connect(url: str, password: str | None, *, durable: bool, readonly: bool) -> Any:
        where = redact_url(url)
        try:
            params = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StoreError(f"{where}: not a PostgreSQL URL: {_message(exc)}") from None
        extra: dict[str, Any] = {"application_name": params.get("application_name", "hotline")}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = CONNECT_TIMEOUT
        if password:
            extra["password"] = password
        try:
            conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, **extra)
        except psycopg.Error as exc:
            raise StoreError(f"{where}: cannot connect: {_message(exc)}") from None
        try:
            conn.execute("SET jit = off")  # compiling costs more than short store queries ever save
            if readonly:
                conn.execute("SET default_transaction_read_only = on")
            if not durable:
                conn.execute("SET synchronous_commit = off")
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"{where}: {_message(exc)}") from None
        return conn

    @staticmethod
    def _schema_version(conn: Any) -> int:
        if conn.execute("SELECT to_regclass('hotline_schema') IS NOT NULL AS ok").fetchone()["ok"]:
            row = conn.execute("SELECT version FROM hotline_schema").fetchone()
            return int(row["version"]) if row else 0
        return 0

    @classmethod
    def _migrate(cls, conn: Any, where: str, *, target: int = LATEST) -> list[int]:
        """Apply the missing migrations, each in one transaction with its version bump. A session
        lock held meanwhile makes nodes that start together migrate one after the other (the
        next one then finds the work done)."""
        conn.execute(_MIGRATION_LOCK)
        try:
            applied = []
            for m in MIGRATIONS:
                if m.version > target:
                    break
                with conn.transaction():
                    have = cls._schema_version(conn)
                    refuse_newer(have, where)
                    if m.version <= have:
                        continue
                    if have == 0 and conn.execute(
                            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = current_schema()").fetchone()["n"]:
                        raise SchemaError(f"{where}: has tables but no schema version; not a hotline store")
                    conn.execute(m.postgres)
                    conn.execute(_VERSION_TABLE)
                    conn.execute("INSERT INTO hotline_schema (version) VALUES (%s) "
                                 "ON CONFLICT (one) DO UPDATE SET version = excluded.version", (m.version,))
                applied.append(m.version)
            return applied
        finally:
            if not conn.broken:
                conn.execute(_MIGRATION_UNLOCK)

    # -- the backend's part -------------------------------------------------------------------

    def _x(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        _nul_check(params)
        return conn.execute(_pg_sql(sql), params)

    def _reconnect(self) -> None:
        """A new connection for a broken one (if this fails, the next call tries again)."""
        self._conn.close()
        self._conn = self._connect(self._url, self._password, durable=self._durable, readonly=self._readonly)

    def _run(self, fn: Callable[[Any], T], *, write: bool) -> T:
        """``fn(conn)``, in a transaction holding the write lock for a write; a broken connection
        is opened again once, errors become StoreErrors."""
        reconnected = False
        while True:
            try:
                if not write:
                    return fn(self._conn)
                with self._conn.transaction():
                    self._conn.execute(_WRITE_LOCK)
                    return fn(self._conn)
            except psycopg.OperationalError as exc:
                if reconnected or not (self._conn.broken or self._conn.closed):
                    raise StoreError(f"{self._path}: {_message(exc)}") from None
                reconnected = True
                self._reconnect()
            except psycopg.DataError as exc:
                raise StoreInputError(f"{self._path}: {_message(exc)}") from None
            except psycopg.Error as exc:
                raise StoreError(f"{self._path}: {_message(exc)}") from None

    def _transaction(self, fn: Callable[[Any], T]) -> T:
        return self._run(fn, write=True)

    def _reading(self, fn: Callable[[Any], T]) -> T:
        return self._run(fn, write=False)

    def _call_columns(self, conn: Any) -> set[str]:
        rows = conn.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = 'calls'").fetchall()
        return {str(r["column_name"]) for r in rows}

    def _has_table(self, conn: Any, name: str) -> bool:
        return bool(conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (name,)).fetchone()["ok"])

    def _version(self, conn: Any) -> int:
        return self._schema_version(conn)

    def _check_readable(self, conn: Any) -> None:
        check_readable_version(self._schema_version(conn), self._path)

    def _insert_segment(self, conn: Any, params: tuple[Any, ...], text: str) -> int | None:
        tokens = self._scratch.segment_tokens(text)
        row = self._x(conn, """INSERT INTO segments (call_id, leg, start, "end", text, words, created_at, tokens)
                               VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id""",
                      (*params, tokens)).fetchone()
        return int(row["id"]) if row else None

    def _search_rows(self, conn: Any, q: str, limit: int) -> list[Any]:
        phrases = [(self._scratch.tokens(p.text), p.prefix) for p in fts.query_phrases(q)]
        phrases = [(tokens, prefix) for tokens, prefix in phrases if tokens]  # FTS5 ignores empty phrases
        if not phrases:
            return []
        sql, params = pg_search.search_query(phrases, limit)
        return conn.execute(sql, params).fetchall()
