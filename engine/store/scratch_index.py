"""A scratch FTS5 index in memory: the one tokenizer and matcher both store backends share.

SQLite's index tokenizes with FTS5 (``porter unicode61 remove_diacritics 2`` over the bigram
form of ``engine.store.fts``). PostgreSQL has neither that tokenizer nor the Porter stemmer
SQLite uses, so the PostgreSQL store takes its tokens from here: the same FTS5 code, run on a
table in memory, so both stores cut, fold and stem every text the same way and find the same
segments. The masked search of both stores also runs its check here (the query's MATCH on the
masked texts). Not thread-safe: each store keeps one, used under the store's lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from engine.store import fts


class ScratchIndex:
    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.execute(f"CREATE VIRTUAL TABLE shown USING fts5 (body, tokenize = '{fts.TOKENIZER}')")
        self._conn.execute("CREATE VIRTUAL TABLE shown_terms USING fts5vocab (shown, instance)")

    def tokens(self, body: str) -> list[str]:
        """The tokens FTS5 indexes for ``body`` (already in index form: ``fts.index_text``), in order."""
        self._conn.execute("INSERT INTO shown (rowid, body) VALUES (1, ?)", (body,))
        try:
            rows = self._conn.execute("SELECT term FROM shown_terms WHERE doc = 1 ORDER BY \"offset\"").fetchall()
        finally:
            self._conn.execute("DELETE FROM shown")
        return [str(r[0]) for r in rows]

    def segment_tokens(self, text: str) -> list[str]:
        """The tokens of a transcript segment as the store indexes it."""
        return self.tokens(fts.index_text(text))

    def matching(self, expr: str, texts: Iterable[tuple[int, str]]) -> set[int]:
        """The ids among ``(id, text)`` whose text matches the FTS5 expression ``expr``."""
        self._conn.executemany("INSERT INTO shown (rowid, body) VALUES (?, ?)",
                               [(i, fts.index_text(t)) for i, t in texts])
        try:
            return {int(i) for (i,) in self._conn.execute("SELECT rowid FROM shown WHERE shown MATCH ?", (expr,))}
        finally:
            self._conn.execute("DELETE FROM shown")

    def close(self) -> None:
        self._conn.close()
