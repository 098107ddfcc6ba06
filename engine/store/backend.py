"""Which store a config names, and opening it: SQLite (``[store] path``, the embedded default) or
PostgreSQL (``[store] url``, for several engine nodes sharing one store). See docs/store.md.

This module imports neither database driver until a store is opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engine.config import STORE_URL_SCHEMES

if TYPE_CHECKING:
    from engine.config import Config
    from engine.store.sql_store import SqlStore


def is_url(target: str | Path) -> bool:
    """A PostgreSQL URL (else a SQLite file path)."""
    return isinstance(target, str) and target.startswith(STORE_URL_SCHEMES)


def redact_url(url: str) -> str:
    """``url`` without its password (in the user part or a ``password=`` parameter), for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unreadable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = user.partition(":")[0] + "@" + host
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def store_target(cfg: Config, db: str | Path | None = None) -> str:
    """What to open: ``db`` (a command's ``--db``: a file or a URL) if given, else ``[store] url``
    when set, else ``[store] path``."""
    if db is not None and str(db):
        return str(db)
    return cfg.store.url or cfg.store.path


def describe(target: str) -> str:
    """``target`` as messages may show it (a URL loses its password)."""
    return redact_url(target) if is_url(target) else target


def open_store(
    cfg: Config,
    *,
    db: str | Path | None = None,
    readonly: bool = False,
    create: bool = True,
    durable: bool = True,
    clock: Callable[[], float] = time.time,
) -> SqlStore:
    """Open the store ``cfg`` names (or ``db``): ``PgStore`` for a ``postgresql://`` URL, with the
    password from ``[store] password`` / ``$HOTLINE_STORE_PASSWORD``; else the SQLite ``Store``."""
    target = store_target(cfg, db)
    kwargs: dict[str, Any] = {"readonly": readonly, "create": create, "durable": durable, "clock": clock}
    if is_url(target):
        from engine.store.pg_store import PgStore

        return PgStore.open(target, password=cfg.store_password() or None, **kwargs)
    from engine.store.sqlite_store import Store

    return Store.open(target, **kwargs)
