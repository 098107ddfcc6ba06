"""``hotline serve``: the engine next to Asterisk (config from hotline.toml), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from engine.privacy import LOG_RECORD_ATTRS

HELP = "run the engine next to Asterisk: AMI, FastAGI flows, AudioSocket speech, taps, store, MQTT, web page"


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The record's traceback as the masking filter left it (``exc_text``), else formatted here."""
    return record.exc_text or formatter.formatException(record.exc_info)  # type: ignore[arg-type]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg (+ exc, + extra fields). The masking
    filter (engine.privacy) has already run on the record by the time it is formatted; the
    traceback is its masked ``exc_text``, never formatted again from the exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in LOG_RECORD_ATTRS and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            out["exc"] = _exception_text(self, record)
        return json.dumps(out, ensure_ascii=False)


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=info logger=engine.app msg="..."``: greppable, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        line = (f"ts={time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(record.created))}.{int(record.msecs):03d}Z "
                f"level={record.levelname.lower()} logger={record.name} msg=\"{msg}\"")
        if record.exc_info:
            exc = _exception_text(self, record).replace("\n", "\\n").replace('"', '\\"')
            line += f' exc="{exc}"'
        return line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import number
    from engine.config import LISTEN_PORT

    parser.add_argument("--log-format", choices=("json", "kv", "text"), default="kv",
                        help="log lines on stderr: json (one object per line), kv (key=value, default) or text")
    port = number(LISTEN_PORT)
    parser.add_argument("--agi-port", type=port, help="FastAGI port (overrides [agi] port; 0 = any free port)")
    parser.add_argument("--audiosocket-port", type=port,
                        help="AudioSocket port (overrides [audiosocket] port; 0 = any free port)")
    parser.add_argument("--web-port", type=port, help="supervisor page port (overrides [web] port; 0 = any free port)")
    parser.add_argument("--no-web", action="store_true", help="do not serve the supervisor page")
    parser.add_argument("--ready-file", metavar="FILE",
                        help="write the bound ports as JSON to FILE once everything listens (for supervisors/tests)")


def setup_logging(fmt: str, verbose: int, log_level: str | None = None) -> None:
    """Structured lines on the handlers the CLI set up (keeping their masking filter). Without
    ``-v`` or ``--log-level`` serve logs at info, with chatty libraries at warning."""
    root = logging.getLogger()
    if verbose == 0 and log_level is None:
        root.setLevel(logging.INFO)
    if verbose == 0 and log_level != "debug":
        for noisy in ("aiohttp.access", "panoramisk", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if fmt == "text":
        return
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else KeyValueFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from engine.commands._common import config_from_args
    from engine.privacy import install_log_masking

    setup_logging(args.log_format, args.verbose, args.log_level)
    install_log_masking()
    cfg = config_from_args(args, **{"agi.port": args.agi_port, "audiosocket.port": args.audiosocket_port,
                                    "web.port": args.web_port})
    return asyncio.run(serve(cfg, web=not args.no_web, ready_file=args.ready_file))


_ANY_ADDRESS = {"", "0.0.0.0", "::"}  # a server on these listens on every address


def _listeners(cfg: Any, web: bool) -> list[tuple[str, str, str, int]]:
    """(part, config key, host, port) of every server ``hotline serve`` opens."""
    parts = [("FastAGI", "[agi] port or --agi-port", cfg.agi.host, cfg.agi.port),
             ("AudioSocket", "[audiosocket] port or --audiosocket-port", cfg.audiosocket.host, cfg.audiosocket.port)]
    if web:
        parts.append(("web page", "[web] port or --web-port", cfg.web.host, cfg.web.port))
    return parts


def listen_error(cfg: Any, web: bool, exc: OSError) -> Exception:
    """The OSError of a failed start as a one-line ConfigError naming the part and host:port that
    cannot listen (taken by another program, or by another part of this config); ``exc`` itself
    when no port explains it. Called after the engine stopped, so our own sockets are closed."""
    from engine.errors import ConfigError
    from engine.listen import bind_error

    parts = _listeners(cfg, web)
    for i, (name, key, host, port) in enumerate(parts):
        for other, other_key, other_host, other_port in parts[i + 1:]:
            if port and port == other_port and (host == other_host or {host, other_host} & _ANY_ADDRESS):
                return ConfigError(f"{name} and {other} are both set to listen on {host}:{port} "
                                   f"({key}; {other_key}): give each its own port")
    for name, key, host, port in parts:
        failure = bind_error(host, port)
        if failure is not None:
            return cannot_listen(name, key, host, port, failure[0])
    return exc


def cannot_listen(name: str, key: str, host: str, port: int, problem: OSError) -> Exception:
    """``<name> cannot listen on host:port (<config key>): <reason>`` as a ConfigError."""
    from engine.errors import ConfigError

    reason = (problem.strerror or str(problem)).lower()
    return ConfigError(f"{name} cannot listen on {host}:{port} ({key}): {reason}")


def write_ready_file(path: str, ports: dict[str, Any]) -> None:
    """``ports`` and the pid as JSON, written whole (a reader never sees half a file)."""
    import os
    from pathlib import Path

    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps({**ports, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(path)


class StopSignals:
    """SIGTERM and SIGINT set ``stop`` while in the ``with`` block (also during a slow start, so
    the process then stops right after it); ``received`` names the signal."""

    def __init__(self) -> None:
        import asyncio

        self.stop = asyncio.Event()
        self.received = ""

    def _on_signal(self, name: str) -> None:
        self.received = self.received or name
        self.stop.set()

    def __enter__(self) -> StopSignals:
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig.name)
        return self

    def __exit__(self, *exc: object) -> None:
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def run_until_stopped(service: Any, name: str, log: logging.Logger, *,
                            listen_error: Callable[[OSError], Exception], ready: Callable[[], dict[str, Any]],
                            ready_file: str | None) -> int:
    """Start ``service``, write the ready file, wait for SIGTERM/SIGINT, stop it gracefully (exit
    code 0). A start that cannot listen is stopped first (so a probe sees only other programs'
    sockets), then raised as ``listen_error(exc)``. Shared by ``serve`` and ``asr-worker``."""
    with StopSignals() as signals:
        try:
            try:
                await service.start()
            except OSError as exc:
                await service.stop()
                raise listen_error(exc) from None
            if ready_file:
                write_ready_file(ready_file, ready())
            log.info("%s ready", name)
            await signals.stop.wait()
            log.info("%s received: stopping", signals.received or "stop")
        finally:
            await service.stop()
    log.info("%s stopped cleanly", name)
    return 0


async def serve(cfg: object, *, web: bool = True, ready_file: str | None = None) -> int:
    """Start the engine, wait for SIGTERM/SIGINT, stop it gracefully. Exit code 0 on a clean stop."""
    from engine.app import Engine

    engine = Engine(cfg, web=web)  # type: ignore[arg-type]
    return await run_until_stopped(
        engine, "hotline serve", logging.getLogger("engine.serve"),
        listen_error=lambda exc: listen_error(cfg, web, exc), ready_file=ready_file,
        ready=lambda: {"agi": engine.agi.port, "audiosocket": engine.audiosocket.port, "web": engine.web_port})
