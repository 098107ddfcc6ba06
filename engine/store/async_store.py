"""The store for asyncio code: every call runs on one dedicated writer thread.

Store calls block (a durable commit waits for fsync, or for the PostgreSQL server), so they never
run on the event loop. One thread means writes are serialised in the order they were submitted,
which is the order events happened; other processes (``hotline calls``) read meanwhile (SQLite's
WAL, or PostgreSQL). Either backend works (``open_config`` picks the one the config names).
``submit_*`` methods are fire-and-forget for pipelines that must not wait: errors are logged
(without the data) and counted in ``failed_writes``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.store.records import Audio, CallRecord, SearchHit, Segment, StoredCallback, Timeline
from engine.store.sql_store import SqlStore
from engine.store.sqlite_store import Store

if TYPE_CHECKING:
    from engine.config import Config

log = logging.getLogger(__name__)
T = TypeVar("T")


class AsyncStore:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotline-store")
        self.failed_writes = 0
        self._pending: set[Future[Any]] = set()

    @classmethod
    async def open(cls, path: str | Path, **kwargs: Any) -> AsyncStore:
        """The SQLite store at ``path`` (``Store.open``'s arguments)."""
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(None, functools.partial(Store.open, path, **kwargs))
        return cls(store)

    @classmethod
    async def open_config(cls, cfg: Config, **kwargs: Any) -> AsyncStore:
        """The store ``cfg`` names, SQLite or PostgreSQL (``engine.store.backend.open_store``)."""
        from engine.store.backend import open_store

        loop = asyncio.get_running_loop()
        return cls(await loop.run_in_executor(None, functools.partial(open_store, cfg, **kwargs)))

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def _submit(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        fut = self._executor.submit(fn, *args, **kwargs)
        self._pending.add(fut)

        def done(f: Future[Any]) -> None:
            self._pending.discard(f)
            exc = f.exception()
            if exc is not None:
                self.failed_writes += 1
                log.error("store write %s failed: %s", what, type(exc).__name__)

        fut.add_done_callback(done)
        return fut

    # awaitable API, same names and arguments as Store
    async def upsert_call(self, call_id: str, **fields: Any) -> CallRecord:
        return await self._run(self.store.upsert_call, call_id, **fields)

    async def link(self, call_id: str, alias: str, kind: str, channel: str | None = None) -> str:
        return await self._run(self.store.link, call_id, alias, kind, channel)

    async def add_segment(self, *args: Any, **kwargs: Any) -> int | None:
        return await self._run(self.store.add_segment, *args, **kwargs)

    async def add_event(self, *args: Any, **kwargs: Any) -> int | None:
        return await self._run(self.store.add_event, *args, **kwargs)

    async def add_audio(self, *args: Any, **kwargs: Any) -> int | None:
        return await self._run(self.store.add_audio, *args, **kwargs)

    async def get_call(self, call_id: str) -> CallRecord | None:
        return await self._run(self.store.get_call, call_id)

    async def list_calls(self, **kwargs: Any) -> list[CallRecord]:
        return await self._run(self.store.list_calls, **kwargs)

    async def search(self, q: str, *, limit: int = 50, masked: bool = False) -> list[SearchHit]:
        return await self._run(self.store.search, q, limit=limit, masked=masked)

    async def call_timeline(self, call_id: str) -> Timeline | None:
        return await self._run(self.store.call_timeline, call_id)

    async def counts(self, *, since: float | None = None) -> dict[str, int]:
        return await self._run(self.store.counts, since=since)

    async def segments(self, call_id: str) -> list[Segment]:
        return await self._run(self.store.segments, call_id)

    async def get_audio(self, audio_id: int) -> Audio | None:
        return await self._run(self.store.get_audio, audio_id)

    async def queue_calls(self, since: float, until: float, *, queue: str | None = None) -> list[CallRecord]:
        return await self._run(self.store.queue_calls, since, until, queue=queue)

    def submit_callback(self, cb: StoredCallback) -> Future[Any]:
        return self._submit("callback", self.store.save_callback, cb)

    async def pending_callbacks(self, node: str) -> tuple[list[StoredCallback], str]:
        return await self._run(self.store.pending_callbacks, node)

    async def queue_stays(self, *, since: float | None = None, until: float | None = None,
                          queue: str | None = None) -> list[dict[str, Any]]:
        return await self._run(self.store.queue_stays, since=since, until=until, queue=queue)

    async def queue_joins(self, *, since: float | None = None, until: float | None = None) -> list[tuple[str, float]]:
        return await self._run(self.store.queue_joins, since=since, until=until)

    async def facets(self) -> dict[str, list[str]]:
        return await self._run(self.store.facets)

    async def healthy(self) -> bool:
        return await self._run(self.store.healthy)

    # fire-and-forget API for pipelines
    def submit_segment(self, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._submit("segment", self.store.add_segment, *args, **kwargs)

    def submit_event(self, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._submit("event", self.store.add_event, *args, **kwargs)

    def submit_call(self, call_id: str, **fields: Any) -> Future[Any]:
        return self._submit("call", self.store.upsert_call, call_id, **fields)

    def submit_audio(self, call_id: str, leg: str, path: str, offset: float = 0.0) -> Future[Any]:
        return self._submit("audio", self.store.add_audio, call_id, leg, path, offset)

    def submit_link(self, call_id: str, alias: str, kind: str, channel: str | None = None) -> Future[Any]:
        return self._submit("link", self.store.link, call_id, alias, kind, channel)

    def submit_relate(self, call_id: str, other_id: str, kind: str, at: float | None = None) -> Future[Any]:
        return self._submit("relation", self.store.relate, call_id, other_id, kind, at)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        await self._run(lambda: None)

    async def close(self) -> None:
        """Finish every pending write, then close the store."""
        await self.flush()
        await self._run(self.store.close)
        self._executor.shutdown(wait=True)
