"""PostgreSQL store figures, each against its peer in the same run (a throw-away server, as the tests start).

1. Search: the store's index (FTS5 tokens in a tsvector, GIN, bm25 in SQL) vs the obvious
   alternative on the same table, pg_trgm (a GIN trigram index under ``LIKE '%q%'``, newest 50),
   and vs the SQLite store on the same corpus (``bench_store.py``'s).
2. Writes: segment commits through ``PgStore`` (write lock, durable) vs the SQLite store, and two
   writer threads (two nodes) vs one, which the write lock serialises.

Each figure runs ``--runs`` times, the contenders alternating (``benchmarks/_runs.py``), and is
quoted as median (min-max) over the runs.

    .venv/bin/python benchmarks/bench_store_pg.py --segments 50000 --writes 300 [--repeat 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import itertools
import random
import tempfile
import threading
import time
from pathlib import Path

from benchmarks._runs import Load, Spread, add_runs_argument, alternate
from benchmarks.bench_store import TARGETS_EN, TARGETS_ZH, corpus, mean_time
from benchmarks.bench_store import build as build_sqlite
from engine.store.fts import query_phrases
from engine.store.pg_search import search_query
from engine.store.pg_store import PgStore
from engine.store.sqlite_store import Store
from tests.postgres_helpers import Postgres


def build_pg(url: str, texts: list[str]) -> PgStore:
    store = PgStore.open(url, durable=False)

    def load(conn) -> None:  # one transaction; the figure is the search, not the load
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO calls (id, updated_at) VALUES (%s, 0) ON CONFLICT DO NOTHING",
                            [(f"c{i // 10}",) for i in range(0, len(texts), 10)])
            cur.executemany('INSERT INTO segments (call_id, leg, start, "end", text, created_at, tokens) '
                            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                            [(f"c{i // 10}", "caller" if i % 2 else "agent", float(i % 10), i % 10 + 0.5, text,
                              float(i), store._scratch.segment_tokens(text)) for i, text in enumerate(texts)])

    store._write(load)
    store._conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    store._conn.execute("CREATE INDEX segments_trgm ON segments USING gin (text gin_trgm_ops)")
    store._conn.execute("VACUUM ANALYZE")  # the load updated search_stats 1 row x segments times in one go
    return store


_RUNS = itertools.count()


def writes(open_store, n: int, threads: int) -> float:
    """Seconds per segment commit with ``threads`` writers (each its own store: a node). Every run
    writes new calls: the store keeps a (call, leg, start) once, so a repeated segment commits nothing."""
    stores = [open_store() for _ in range(threads)]
    run_id = next(_RUNS)

    def run(k: int) -> None:
        for i in range(n // threads):
            new = stores[k].add_segment(f"r{run_id}-w{k}-{i % 50}", "caller", float(i), i + 0.4,
                                        "我要报修路灯坏了 street light")
            assert new is not None, "a duplicate segment: this commit wrote nothing"

    t = time.perf_counter()
    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    dt = (time.perf_counter() - t) / (n // threads * threads)
    for s in stores:
        s.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=int, default=50000)
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=10, help="queries per timing (their mean is one run's figure)")
    add_runs_argument(ap)
    args = ap.parse_args()
    load = Load()
    print(load.header(args.runs))
    texts = corpus(args.segments, random.Random(7))
    server = Postgres(fsync=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as d:
            lite = build_sqlite(Path(d) / "s.sqlite", texts)
            store = build_pg(server.url(), texts)
            conn = store._conn
            print(f"search over {args.segments} segments, 50 best hits; ms per query (mean of {args.repeat}), "
                  f"median (min-max) over {args.runs} runs:")
            print(f"{'query':<13}{'hits':>6}{'sql ms':>22}{'search() ms':>22}{'pg_trgm ms':>22}{'SQLite ms':>22}")
            for q in TARGETS_ZH + TARGETS_EN:
                like = f"%{q}%"
                ids = {h.segment.text for h in store.search(q, limit=10**9)}
                assert ids == {h.segment.text for h in lite.search(q, limit=10**9)}  # the same rows as SQLite
                phrases = [(store._scratch.tokens(p.text), p.prefix) for p in query_phrases(q)]
                sql, params = search_query(phrases, 50)
                res = alternate({
                    "sql": lambda sql=sql, params=params: mean_time(
                        lambda: conn.execute(sql, params).fetchall(), args.repeat),
                    "api": lambda q=q: mean_time(lambda: store.search(q, limit=50), args.repeat),
                    "trgm": lambda like=like: mean_time(lambda: conn.execute(
                        "SELECT * FROM segments WHERE text LIKE %s ORDER BY created_at DESC LIMIT 50",
                        (like,)).fetchall(), args.repeat),
                    "lite": lambda q=q: mean_time(lambda: lite.search(q, limit=50), args.repeat),
                }, args.runs)
                ms = {k: Spread.of([v * 1e3 for v in vals]).fmt() for k, vals in res.items()}
                print(f"{q:<{13 - len(q) if not q.isascii() else 13}}{len(ids):>6}{ms['sql']:>22}"
                      f"{ms['api']:>22}{ms['trgm']:>22}{ms['lite']:>22}")
            store.close()
            lite.close()

            print(f"\nsegment commits, one transaction each ({args.writes} writes, durable), "
                  f"median (min-max) over {args.runs} runs:")
            n = server.url()
            rows = alternate({"SQLite store, 1 writer": lambda: writes(lambda: Store.open(Path(d) / "w.sqlite"),
                                                                        args.writes, 1),
                              "PgStore, 1 writer": lambda: writes(lambda: PgStore.open(n), args.writes, 1),
                              "PgStore, 2 writers (nodes)": lambda: writes(lambda: PgStore.open(n), args.writes, 2)},
                             args.runs)
            for name, dts in rows.items():
                print(f"  {name:<28}{Spread.of([dt * 1e3 for dt in dts]).fmt():>20} ms/segment  "
                      f"{Spread.of([1 / dt for dt in dts]).fmt(',.0f'):>20} segments/s")
    finally:
        server.stop()
    print(load.footer())

if __name__ == "__main__":
    main()
