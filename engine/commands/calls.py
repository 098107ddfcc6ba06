"""``hotline calls [--search Q] [--json]``: stored calls or transcript search hits, masked."""

from __future__ import annotations

import argparse

from engine.commands._common import DB_HELP
from engine.errors import UsageError

HELP = "list stored calls, or search transcripts (--search); numbers masked"
MAX_LIMIT = 1_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=DB_HELP)
    parser.add_argument("--search", metavar="Q", help="full-text search over transcripts (Mandarin or English)")
    parser.add_argument("--limit", type=int, default=50, help=f"at most this many rows (default 50, at most {MAX_LIMIT})")
    parser.add_argument("--live", action="store_true", help="only calls not yet ended")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from engine.commands._common import config_from_args, existing_store
    from engine.store.backend import open_store
    from engine.store.render import calls_table, hit_lines
    from engine.web.present import call_json, hit_json

    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}, got {args.limit}")
    cfg = config_from_args(args)
    db = existing_store(args, cfg)
    with open_store(cfg, db=db, readonly=True) as store:
        if args.search is not None:
            if not args.search.strip():
                raise UsageError("--search needs some text")
            hits = store.search(args.search, limit=args.limit, masked=True)  # as shown: masked
            if args.json:
                print(json.dumps([hit_json(h, reveal=False) for h in hits], ensure_ascii=False, indent=2))
            else:
                print("\n".join(hit_lines(hits, cfg.site.timezone)) if hits else f"no transcript line matches {args.search!r}")
            return 0
        calls = store.list_calls(limit=args.limit, live=True if args.live else None)
    if args.json:
        print(json.dumps([call_json(c, reveal=False) for c in calls], ensure_ascii=False, indent=2))
    else:
        print("\n".join(calls_table(calls, cfg.site.timezone)))
    return 0
