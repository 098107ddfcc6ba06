"""``hotline web``: the supervisor page over a store file, without the rest of the engine."""

from __future__ import annotations

import argparse

from engine.errors import UsageError

HELP = "serve the supervisor page over a store file (e.g. the demo's) until Ctrl-C"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="store file (default: config store.path)")
    parser.add_argument("--port", type=int, help="port (default: [web] port)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import secrets

    from engine.commands._common import config_from_args, existing_store
    from engine.demo import serve_page

    cfg = config_from_args(args)
    db = existing_store(args, cfg)
    cfg.store.path = str(db)
    token = cfg.web_token()
    generated = not token
    token = token or secrets.token_urlsafe(18)
    port = cfg.web.port if args.port is None else args.port
    shown = token if generated else "<your token>"
    print(f"supervisor page for {db}: http://{cfg.web.host}:{port}/?token={shown}"
          + ("  (token generated for this run; set $HOTLINE_WEB_TOKEN to choose one)" if generated else ""),
          flush=True)
    try:
        asyncio.run(serve_page(cfg, token, port=port))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {cfg.web.host}:{port}: {exc.strerror or exc}") from None
    return 0
