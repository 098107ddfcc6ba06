"""Store figures, each against its peer in the same run.

1. Search: the store's FTS5 index (CJK bigrams + porter/unicode61) vs the obvious alternative,
   a ``LIKE '%...%'`` scan over the same segments table, on a synthetic corpus where each query
   word occurs in about 0.5% of segments (as a topic word does in real transcripts).
2. Writes: durable segment commits (``synchronous=FULL``, the default) vs ``durable=False``
   (``synchronous=NORMAL``), one transaction per segment as the store does it.

Each figure runs ``--runs`` times, the contenders alternating (``benchmarks/_runs.py``); it is
quoted as median (min-max) over the runs, with the per-run ratio.

    .venv/bin/python benchmarks/bench_store.py --segments 100000 --writes 500 [--repeat 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, ratios
from engine.store import Store
from engine.store.fts import index_text, match_expression

TARGETS_ZH = ["路灯", "噪音", "社保卡", "红绿灯"]
TARGETS_EN = ["streetlight", "garbage"]


def corpus(n: int, rng: random.Random) -> list[str]:
    """Mandarin segments of random common characters and English ones of pseudo-words; each
    target word is put into about 0.5% of the segments of its language."""
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(3000)]
    out = []
    for i in range(n):
        if i % 4:
            text = "".join(rng.choice(han) for _ in range(rng.randint(10, 30)))
            for t in TARGETS_ZH:
                if rng.random() < 0.005:
                    k = rng.randint(0, len(text))
                    text = text[:k] + t + text[k:]
        else:
            words = [rng.choice(vocab) for _ in range(rng.randint(5, 15))]
            for t in TARGETS_EN:
                if rng.random() < 0.005:
                    words.insert(rng.randint(0, len(words)), t)
            text = " ".join(words)
        out.append(text)
    return out


def build(path: Path, texts: list[str]) -> Store:
    store = Store.open(path, durable=False)
    with store._tx() as conn:  # bulk load in one transaction; the figure is the search, not the load
        for i, text in enumerate(texts):
            conn.execute("INSERT OR IGNORE INTO calls (id, updated_at) VALUES (?, 0)", (f"c{i // 10}",))
            cur = conn.execute(
                'INSERT INTO segments (call_id, leg, start, "end", text, created_at) VALUES (?, ?, ?, ?, ?, ?)',
                (f"c{i // 10}", "caller" if i % 2 else "agent", float(i % 10), i % 10 + 0.5, text, float(i)),
            )
            conn.execute("INSERT INTO segments_fts (rowid, body) VALUES (?, ?)", (cur.lastrowid, index_text(text)))
    return store


def mean_time(fn, repeat: int) -> float:
    """Mean seconds of one call over ``repeat`` calls."""
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def bench_search(store: Store, repeat: int, runs: int) -> None:
    conn = store._conn
    print(f"search, 50 newest/best hits; ms per query (mean of {repeat}), median (min-max) over {runs} runs:")
    print(f"{'query':<13}{'hits':>6}{'FTS sql ms':>22}{'LIKE scan ms':>22}{'speed-up LIKE/FTS':>20}"
          f"{'search() ms':>22}")
    for q in TARGETS_ZH + TARGETS_EN:
        like = f"%{q}%"
        like_ids = {r[0] for r in conn.execute("SELECT id FROM segments WHERE text LIKE ?", (like,))}
        fts_ids = {h.segment.id for h in store.search(q, limit=10**9)}
        assert fts_ids == like_ids, (q, len(fts_ids), len(like_ids))  # the same rows, not just as many
        expr = match_expression(q)
        res = alternate({
            "fts": lambda expr=expr: mean_time(lambda: conn.execute(
                """SELECT s.* FROM segments_fts f JOIN segments s ON s.id = f.rowid
                   WHERE segments_fts MATCH ? ORDER BY bm25(segments_fts) LIMIT 50""", (expr,)).fetchall(), repeat),
            "like": lambda like=like: mean_time(lambda: conn.execute(
                "SELECT * FROM segments WHERE text LIKE ? ORDER BY created_at DESC LIMIT 50", (like,)).fetchall(),
                repeat),
            "api": lambda q=q: mean_time(lambda: store.search(q, limit=50), repeat),
        }, runs)
        ms = {k: Spread.of([v * 1e3 for v in vals]) for k, vals in res.items()}
        speed = Spread.of(ratios(res["like"], res["fts"]))
        pad = 13 - len(q) if not q.isascii() else 13
        print(f"{q:<{pad}}{len(fts_ids):>6}{ms['fts'].fmt():>22}{ms['like'].fmt():>22}{speed.fmt('.0f', 'x'):>20}"
              f"{ms['api'].fmt():>22}")


def bench_writes(folder: Path, writes: int, runs: int) -> None:
    def commits(durable: bool, run: list[int]) -> float:
        run[0] += 1
        s = Store.open(folder / f"w{durable}-{run[0]}.sqlite", durable=durable)
        t = time.perf_counter()
        for i in range(writes):
            s.add_segment(f"w{i % 50}", "caller", float(i), i + 0.4, "我要报修路灯坏了 street light")
        dt = (time.perf_counter() - t) / writes
        s.close()
        return dt

    counter = [0]
    res = alternate({"full": lambda: commits(True, counter), "normal": lambda: commits(False, counter)}, runs)
    print(f"\nsegment commits, one transaction each ({writes} writes, FTS row included, fresh file each run), "
          f"median (min-max) over {runs} runs:")
    for key, label in (("full", "durable (synchronous=FULL)"), ("normal", "durable=False (NORMAL)")):
        print(f"  {label:<28}{Spread.of([v * 1e3 for v in res[key]]).fmt():>20} ms/segment  "
              f"{Spread.of([1 / v for v in res[key]]).fmt(',.0f'):>20} segments/s")
    print(f"  ratio FULL / NORMAL time per commit: {Spread.of(ratios(res['full'], res['normal'])).fmt('.1f', 'x')}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=int, default=100000)
    ap.add_argument("--writes", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=10, help="queries per timing (their mean is one run's figure)")
    add_runs_argument(ap)
    args = ap.parse_args()
    load = Load()
    print(load.header(args.runs))
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        store = build(Path(d) / "s.sqlite", corpus(args.segments, rng))
        print(f"{args.segments} segments")
        bench_search(store, args.repeat, args.runs)
        store.close()
        bench_writes(Path(d), args.writes, args.runs)
    print(load.footer())

if __name__ == "__main__":
    main()
