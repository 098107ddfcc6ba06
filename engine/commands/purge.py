"""``hotline purge``: delete recordings and transcripts older than the retention settings."""

from __future__ import annotations

import argparse

from engine.commands._common import DB_HELP
from engine.errors import UsageError

HELP = "delete recordings and transcripts older than [store] audio/transcript_retention_days (run daily)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=DB_HELP)
    parser.add_argument("--audio-days", type=float, metavar="N",
                        help="keep recordings of the last N days (default: [store] audio_retention_days; 0 keeps all)")
    parser.add_argument("--transcript-days", type=float, metavar="N",
                        help="keep transcripts of the last N days (default: [store] transcript_retention_days; "
                             "0 keeps all)")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be deleted")


def run(args: argparse.Namespace) -> int:
    import math
    import time

    from engine.commands._common import config_from_args, existing_store
    from engine.store.backend import open_store
    from engine.store.retention import purge

    cfg = config_from_args(args, **{"store.audio_retention_days": args.audio_days,
                                    "store.transcript_retention_days": args.transcript_days})
    s = cfg.store
    for name, days in (("audio_retention_days", s.audio_retention_days),
                       ("transcript_retention_days", s.transcript_retention_days)):
        if not math.isfinite(days) or days < 0:
            raise UsageError(f"{name} must be a number of days >= 0 (0 keeps everything), got {days:g}")
    db = existing_store(args, cfg)
    with open_store(cfg, db=db, create=False, readonly=args.dry_run) as store:
        report = purge(store, now=time.time(), audio_dir=s.audio_dir, audio_days=s.audio_retention_days,
                       transcript_days=s.transcript_retention_days, dry_run=args.dry_run)
    kept = [f"recordings {s.audio_retention_days:g} days" if s.audio_retention_days else "recordings for good",
            f"transcripts {s.transcript_retention_days:g} days" if s.transcript_retention_days
            else "transcripts for good"]
    print(f"{store.path}: keeping {', '.join(kept)}")
    print("\n".join(report.lines()))
    return 0
