"""``hotline web``: the supervisor page over a store (file or PostgreSQL), without the rest of the engine."""

from __future__ import annotations

import argparse

from engine.commands._common import DB_HELP
from engine.errors import UsageError

HELP = "serve the supervisor page over a store (a file such as the demo's, or PostgreSQL) until Ctrl-C"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=DB_HELP)
    parser.add_argument("--port", type=int, help="port (default: [web] port; 0: any free port)")
    parser.add_argument("--audio-dir", help="where the store's recordings are (default: config store.audio_dir)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import secrets

    from engine.commands._common import config_from_args, existing_store
    from engine.demo import serve_page
    from engine.store.backend import describe, is_url

    if args.port is not None and not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535 (0: any free port), got {args.port}")
    cfg = config_from_args(args, **{"store.audio_dir": args.audio_dir})
    db = existing_store(args, cfg)
    if is_url(db):
        cfg.store.url = db
    else:
        cfg.store.path, cfg.store.url = db, ""
    token = cfg.web_token()
    generated = not token
    token = token or secrets.token_urlsafe(18)
    port = cfg.web.port if args.port is None else args.port
    shown = token if generated else "<your token>"

    def announce(bound: int) -> None:  # only once the port is ours
        print(f"supervisor page for {describe(db)}: http://{cfg.web.host}:{bound}/?token={shown}"
              + ("  (token generated for this run; set $HOTLINE_WEB_TOKEN to choose one)" if generated else ""),
              flush=True)

    try:
        asyncio.run(serve_page(cfg, token, port=port, ready=announce))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # asyncio words it "error while attempting to bind on address ...": say it plainly
        reason = os.strerror(exc.errno) if exc.errno else exc.strerror or str(exc)
        raise UsageError(f"cannot listen on {cfg.web.host}:{port}: {reason}") from None
    return 0
