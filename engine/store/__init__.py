"""Call records on SQLite: calls joined across AMI, IVR, queue and speech; transcripts with FTS5.

``Store`` is the synchronous, thread-safe API; ``AsyncStore`` runs it on one writer thread
for the asyncio side of the engine. See docs/store.md.
"""

from engine.store.async_store import AsyncStore
from engine.store.errors import SchemaError, StoreError, StoreInputError
from engine.store.records import Audio, CallRecord, Relation, SearchHit, Segment, Timeline, TimelineItem
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
    "Timeline",
    "TimelineItem",
]
