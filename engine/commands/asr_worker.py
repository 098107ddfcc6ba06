"""``hotline asr-worker``: decode the engine's taps in a process of its own, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
from typing import Any

HELP = "decode tapped calls for the engine: an AudioSocket server with its own Vosk pool, transcripts over MQTT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number
    from engine.config import LISTEN_PORT

    parser.add_argument("--name", help="the worker's name on the bus (overrides [worker] name; default host-pid)")
    parser.add_argument("--host", help="AudioSocket listen address (overrides [worker] host)")
    parser.add_argument("--port", type=number(LISTEN_PORT),
                        help="AudioSocket port (overrides [worker] port; 0 = any free port)")
    parser.add_argument("--advertise", metavar="HOST:PORT",
                        help="the address Asterisk dials for this worker (overrides [worker] advertise)")
    parser.add_argument("--log-format", choices=("json", "kv", "text"), default="kv",
                        help="log lines on stderr: json (one object per line), kv (key=value, default) or text")
    parser.add_argument("--ready-file", metavar="FILE",
                        help="write the bound port, target and name as JSON to FILE once the worker listens")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.commands._common import config_from_args
    from engine.commands.serve import setup_logging
    from engine.privacy import install_log_masking

    setup_logging(args.log_format, args.verbose)
    install_log_masking()
    cfg = config_from_args(args, **{"worker.name": args.name, "worker.host": args.host, "worker.port": args.port,
                                    "worker.advertise": args.advertise})
    return asyncio.run(serve_worker(cfg, ready_file=args.ready_file))


async def serve_worker(cfg: Any, *, ready_file: str | None = None) -> int:
    """Start the worker, wait for SIGTERM/SIGINT, stop it (open utterances decoded and sent)."""
    from engine.asr_worker import AsrWorker
    from engine.commands.serve import cannot_listen, run_until_stopped
    from engine.listen import bind_error

    worker = AsrWorker(cfg)

    def listen_error(exc: OSError) -> Exception:
        w = cfg.worker
        failure = bind_error(w.host, w.port)
        return cannot_listen("AudioSocket", "[worker] port or --port", w.host, w.port,
                             exc if failure is None else failure[0])

    return await run_until_stopped(
        worker, f"hotline asr-worker {worker.name}", logging.getLogger("engine.asr_worker"),
        listen_error=listen_error, ready_file=ready_file,
        ready=lambda: {"audiosocket": worker.server.port, "target": worker.target, "name": worker.name})
