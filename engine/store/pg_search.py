"""Full-text search on PostgreSQL that finds and ranks what SQLite's FTS5 index does.

A segment's ``tokens`` (``text[]``) are the FTS5 tokens of its text (``engine.store.scratch_index``:
CJK bigrams, porter-stemmed Latin words); the generated ``body`` is their ``tsvector``, each token
at its offset + 1, under a GIN index. A query is split by ``engine.store.fts.query_phrases`` and
each phrase tokenized the same way, so ``路灯坏了`` becomes ``'路灯' <-> '灯坏' <-> '坏了'`` and a
single character ``灯`` the prefix ``'灯':*``: the phrase and prefix semantics of FTS5, on the
same tokens. The built-in ``to_tsvector`` is not used: its parser and stemmers differ from FTS5's.

Ranking is FTS5's ``bm25()`` computed in SQL (k1 = 1.2, b = 0.75): per phrase, its IDF from the
segments that contain it and the segment count (``search_stats``), its frequency in the segment
(``hotline_phrase_freq``) and the segment's length in tokens against the average, in the same
order of floating-point operations as SQLite, so hits come back in the same order. Pure: SQL
text and parameters out, no I/O.
"""

from __future__ import annotations

from typing import Any

from engine.store.sql_store import SEGMENT_COLUMNS

K1 = 1.2  # FTS5's bm25 constants
B = 0.75


def lexeme(token: str) -> str:
    """A token as a quoted tsquery lexeme (quotes doubled, backslashes escaped)."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def phrase_query(tokens: list[str], prefix: bool) -> str:
    """One phrase as a tsquery: its tokens at consecutive positions, the last one a prefix if asked."""
    parts = [lexeme(t) for t in tokens]
    if prefix:
        parts[-1] += ":*"
    return "(" + " <-> ".join(parts) + ")"


def search_query(phrases: list[tuple[list[str], bool]], limit: int) -> tuple[str, dict[str, Any]]:
    """The SELECT of the best ``limit`` segments holding every phrase ``(tokens, prefix)``, bm25 order."""
    params: dict[str, Any] = {"all": " & ".join(phrase_query(t, p) for t, p in phrases), "limit": limit,
                              "k1": K1, "b": B}
    idfs, terms = [], []
    for i, (tokens, prefix) in enumerate(phrases):
        params[f"q{i}"] = phrase_query(tokens, prefix)
        params[f"t{i}"] = tokens
        params[f"p{i}"] = prefix
        # FTS5: idf = log((N - hits + 0.5) / (hits + 0.5)), at least 1e-6
        idfs.append(f"""(SELECT CASE WHEN x <= 0 THEN 1e-6::float8 ELSE x END
                         FROM (SELECT ln(((st.n - h.c)::float8 + 0.5::float8) / (h.c::float8 + 0.5::float8)) AS x
                               FROM (SELECT count(*) AS c FROM segments WHERE body @@ %(q{i})s::tsquery) h) y) AS idf{i}""")
        f = f"hotline_phrase_freq(s.tokens, %(t{i})s::text[], %(p{i})s)"
        # FTS5: idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl)), summed from 0.0
        terms.append(f"q.idf{i} * (({f} * (%(k1)s::float8 + 1.0::float8)) / ({f} + %(k1)s::float8 * "
                     f"(1.0::float8 - %(b)s::float8 + %(b)s::float8 * cardinality(s.tokens) / q.avgdl)))")
    sql = f"""
        WITH st AS MATERIALIZED (SELECT COALESCE(sum(segments), 0) AS n, COALESCE(sum(tokens), 0) AS t FROM search_stats),
             q AS MATERIALIZED (SELECT st.t::float8 / NULLIF(st.n, 0)::float8 AS avgdl, {", ".join(idfs)} FROM st)
        SELECT {SEGMENT_COLUMNS}
        FROM segments s CROSS JOIN q
        WHERE s.body @@ %(all)s::tsquery
        ORDER BY (0.0::float8 + {" + ".join(terms)}) DESC, s.created_at DESC, s.id
        LIMIT %(limit)s"""
    return sql, params
