"""Call records: calls joined across AMI, IVR, queue and speech; transcripts with full-text search.

``Store`` is the synchronous, thread-safe API on a SQLite file (the default); ``PgStore``
(``engine.store.pg_store``, needs psycopg) the same on PostgreSQL for several engine nodes;
``open_store(cfg)`` opens the one the config names. ``AsyncStore`` runs either on one writer
thread for the asyncio side of the engine. See docs/store.md.
"""

from engine.store.async_store import AsyncStore
from engine.store.backend import open_store
from engine.store.errors import SchemaError, StoreError, StoreInputError
from engine.store.records import (
    Audio,
    CallRecord,
    Relation,
    SearchHit,
    Segment,
    StoredCallback,
    Timeline,
    TimelineItem,
)
from engine.store.sqlite_store import Store

__all__ = [
    "AsyncStore",
    "Audio",
    "CallRecord",
    "Relation",
    "SchemaError",
    "SearchHit",
    "Segment",
    "Store",
    "StoreError",
    "StoreInputError",
    "StoredCallback",
    "Timeline",
    "TimelineItem",
    "open_store",
]
