"""Store figures, each against its peer in the same run.

1. Search: the store's FTS5 index (CJK bigrams + porter/unicode61) vs the obvious alternative,
   a ``LIKE '%...%'`` scan over the same segments table, on a synthetic corpus where each query
   word occurs in about 0.5% of segments (as a topic word does in real transcripts).
2. Writes: durable segment commits (``synchronous=FULL``, the default) vs ``durable=False``
   (``synchronous=NORMAL``), one transaction per segment as the store does it.

    .venv/bin/python benchmarks/bench_store.py --segments 100000 --writes 500
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

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


def time_it(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t) / repeat)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=int, default=100000)
    ap.add_argument("--writes", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as d:
        store = build(Path(d) / "s.sqlite", corpus(args.segments, rng))
        conn = store._conn
        print(f"search over {args.segments} segments, 50 newest/best hits (best of 3, mean of {args.repeat}):")
        print(f"{'query':<13}{'hits':>6}{'FTS sql ms':>12}{'LIKE ms':>10}{'speed-up':>10}{'search() ms':>13}")
        for q in TARGETS_ZH + TARGETS_EN:
            like = f"%{q}%"
            like_ids = {r[0] for r in conn.execute("SELECT id FROM segments WHERE text LIKE ?", (like,))}
            fts_ids = {h.segment.id for h in store.search(q, limit=10**9)}
            assert fts_ids == like_ids, (q, len(fts_ids), len(like_ids))  # the same rows, not just as many
            n_fts = len(fts_ids)
            expr = match_expression(q)
            fts_t = time_it(lambda expr=expr: conn.execute(
                """SELECT s.* FROM segments_fts f JOIN segments s ON s.id = f.rowid
                   WHERE segments_fts MATCH ? ORDER BY bm25(segments_fts) LIMIT 50""", (expr,)).fetchall(), args.repeat)
            like_t = time_it(lambda like=like: conn.execute(
                "SELECT * FROM segments WHERE text LIKE ? ORDER BY created_at DESC LIMIT 50", (like,)).fetchall(),
                args.repeat)
            api_t = time_it(lambda q=q: store.search(q, limit=50), args.repeat)
            print(f"{q:<{13 - len(q) if not q.isascii() else 13}}{n_fts:>6}{fts_t * 1e3:>12.2f}{like_t * 1e3:>10.2f}"
                  f"{like_t / fts_t:>9.0f}x{api_t * 1e3:>13.2f}")
        store.close()

        print(f"\nsegment commits, one transaction each ({args.writes} writes, FTS row included):")
        rates = {}
        for durable in (True, False):
            s = Store.open(Path(d) / f"w{durable}.sqlite", durable=durable)
            t = time.perf_counter()
            for i in range(args.writes):
                s.add_segment(f"w{i % 50}", "caller", float(i), i + 0.4, "我要报修路灯坏了 street light")
            dt = (time.perf_counter() - t) / args.writes
            rates[durable] = dt
            s.close()
            print(f"  {'durable (synchronous=FULL)' if durable else 'durable=False (NORMAL)':<28}"
                  f"{dt * 1e3:8.2f} ms/segment  {1 / dt:8.0f} segments/s")
        print(f"  ratio FULL / NORMAL time per commit: {rates[True] / rates[False]:.1f}x")


if __name__ == "__main__":
    main()
