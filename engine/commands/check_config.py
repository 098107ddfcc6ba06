"""``hotline check-config [--connect] [--no-web]``: what ``hotline serve`` would refuse or trip
over, found before it starts: the config file, ``[tap]``, the flows (as FastAGI would serve
them), the speech model, the secrets and tokens, the store's directory (a PostgreSQL store is
named, not contacted), whether each listen address can be bound (and which port is taken), and
with ``--connect`` the AMI login.

One line per check (``ok``, ``warn``, ``FAIL``); exit 0 when nothing failed, 1 otherwise. It
never prints a secret and never starts anything that stays running.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELP = "check config, flows, speech model, listen ports and (--connect) the AMI login before serve"

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "-"


@dataclass(frozen=True)
class Check:
    status: str  # ok | warn | FAIL | - (not checked)
    what: str
    detail: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connect", action="store_true",
                        help="also log in to Asterisk's AMI (and reach the MQTT broker when configured)")
    parser.add_argument("--no-web", action="store_true", help="serve will run with --no-web: skip the page's checks")


def _config_checks(cfg: Any, web: bool) -> list[Check]:
    from engine.config import time_zone
    from engine.errors import ConfigError
    from engine.taps import check_tap_config

    tz_problem = time_zone(cfg.site.timezone)  # a loaded config passed it already; a built one may not
    out = [Check(FAIL, "timezone", f"[site] timezone: {tz_problem}, got {cfg.site.timezone!r}") if tz_problem
           else Check(OK, "timezone", cfg.site.timezone)]
    try:
        check_tap_config(cfg)
        out.append(Check(OK, "tap", "on" if cfg.tap.enabled else "off"))
    except ConfigError as exc:
        out.append(Check(FAIL, "tap", str(exc)))
    out.append(Check(OK, "ami secret", f"${cfg.ami.secret_env} is set" if not cfg.ami.secret else "[ami] secret")
               if cfg.ami_secret() else
               Check(FAIL, "ami secret", f"empty: set ${cfg.ami.secret_env} (or [ami] secret_env names another)"))
    if web:
        from engine.web import settings_from_config

        try:
            settings_from_config(cfg)
            out.append(Check(OK, "web token", f"${cfg.web.token_env} is set" if not cfg.web.token else "[web] token"))
        except ConfigError as exc:
            out.append(Check(FAIL, "web token", f"{exc} (or run serve --no-web)"))
    return out


def _flow_check(cfg: Any) -> Check:
    from ivr_flows.errors import FlowValidationError
    from ivr_flows.service import load_configured_flows

    try:
        flows = load_configured_flows(cfg)
    except FlowValidationError as exc:
        return Check(FAIL, "flows", "\n".join(e.format() for e in exc.errors))
    except OSError as exc:
        return Check(FAIL, "flows", f"{exc.filename or ''}: {exc.strerror}")
    where = ", ".join(cfg.flows.paths) if cfg.flows.paths else "the shipped flows"
    return Check(OK, "flows", f"{', '.join(sorted(flows))} from {where} (FastAGI: agi://HOST:PORT/<flow>)")


def _model_check(cfg: Any) -> Check:
    from asr.model import ModelNotFoundError, find_backend_model

    try:
        found = find_backend_model(cfg.asr.backend, configured=cfg.asr.model or None)
        return Check(OK, "asr model", f"{found} ({cfg.asr.backend})")
    except ModelNotFoundError as exc:
        return Check(FAIL, "asr model", str(exc))


def _store_check(cfg: Any) -> Check:
    from engine.store.backend import describe, is_url, store_target

    target = store_target(cfg)
    if is_url(target):  # [store] url: serve opens PostgreSQL, not the SQLite path
        return Check(SKIP, "store", f"{describe(target)} not contacted (PostgreSQL: serve reaches it when it starts); "
                                    f"this engine is node {cfg.store.node_name!r} there (its callbacks)")
    path = Path(target)
    if path.exists():
        ok = os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK)
        return Check(OK if ok else FAIL, "store", f"{path}" + ("" if ok else ": not writable by this user"))
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        return Check(FAIL, "store", f"{path}: cannot be created ({parent} is not writable by this user)")
    return Check(OK, "store", f"{path} (created at the first start)")


def _listen_checks(cfg: Any, web: bool) -> list[Check]:
    from engine.listen import bind_problem, is_loopback

    servers = [("fastagi", "FastAGI", cfg.agi.host, cfg.agi.port),
               ("audiosocket", "AudioSocket", cfg.audiosocket.host, cfg.audiosocket.port)]
    if web:
        servers.append(("web", "the page", cfg.web.host, cfg.web.port))
    out: list[Check] = []
    for what, name, host, port in servers:
        problem = bind_problem(host, port)
        if problem:
            out.append(Check(FAIL, what, f"{host}:{port}: {problem}"))
            continue
        if is_loopback(host):
            out.append(Check(OK, what, f"{host}:{port} free, loopback only"))
        elif what == "web":
            out.append(Check(WARN, what, f"{host}:{port} free, reachable from other machines: put TLS in front"))
        else:
            out.append(Check(WARN, what, f"{host}:{port} free, beyond loopback: {name} has no authentication, "
                                         "firewall the port to Asterisk's address (docs/serve.md, Ports)"))
    a = cfg.audiosocket
    if not a.advertise and a.host in ("", "0.0.0.0", "::"):
        out.append(Check(WARN, "audiosocket", f"Asterisk is told to dial {a.host or '0.0.0.0'}:{a.port}, which only "
                                              "works on this machine: set [audiosocket] advertise"))
    return out


async def _connect_checks(cfg: Any) -> list[Check]:
    import asyncio

    from engine.asterisk.ami_client import AmiClient
    from engine.asterisk.errors import AmiActionError, AmiAuthError, AmiConnectionError

    out: list[Check] = []
    where = f"{cfg.ami.host}:{cfg.ami.port}"
    if not cfg.ami_secret():
        out.append(Check(SKIP, "ami", f"{where} not contacted: no secret"))
    else:
        client = AmiClient(cfg.ami.host, cfg.ami.port, cfg.ami.username, cfg.ami_secret(),
                           connect_timeout=cfg.ami.connect_timeout, reread_queues=False, ping_interval=3600)
        try:
            await client.connect()
        except AmiAuthError:
            out.append(Check(FAIL, "ami", f"{where} refused the login of {cfg.ami.username!r}: check the secret "
                                          "and manager.conf (docs/ami.md)"))
        except (AmiConnectionError, OSError, TimeoutError) as exc:
            out.append(Check(FAIL, "ami", str(exc) or f"{where} not reachable ({type(exc).__name__})"))
        else:
            try:
                snapshot = await client.queue_status()
                queues = sorted({p.queue for p in snapshot.params})
                out.append(Check(OK, "ami", f"logged in to {where} as {cfg.ami.username!r}; "
                                            f"{len(queues)} queue(s): {', '.join(queues) or 'none'}"))
                try:
                    await client.core_show_channels()
                except AmiActionError as exc:
                    out.append(Check(WARN, "ami", f"CoreShowChannels refused ({exc}): add 'reporting' to the "
                                                  "manager.conf write= line (calls lost while AMI was down "
                                                  "would stay open)"))
            except (AmiActionError, AmiConnectionError, TimeoutError) as exc:
                out.append(Check(FAIL, "ami", f"logged in to {where} but QueueStatus failed: {exc}"))
        finally:
            await client.close()
    if cfg.mqtt.host:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(cfg.mqtt.host, cfg.mqtt.port), 5.0)
            writer.close()
            out.append(Check(OK, "mqtt", f"{cfg.mqtt.host}:{cfg.mqtt.port} reachable (TCP)"))
        except (OSError, TimeoutError) as exc:
            out.append(Check(FAIL, "mqtt", f"{cfg.mqtt.host}:{cfg.mqtt.port} not reachable: {exc}"))
    return out


def run_checks(cfg: Any, *, connect: bool = False, web: bool = True) -> list[Check]:
    """Every check for ``cfg`` (a loaded ``engine.config.Config``)."""
    import asyncio

    checks = [*_config_checks(cfg, web), _flow_check(cfg), _model_check(cfg), _store_check(cfg),
              *_listen_checks(cfg, web)]
    if connect:
        checks += asyncio.run(_connect_checks(cfg))
    else:
        checks.append(Check(SKIP, "ami", f"{cfg.ami.host}:{cfg.ami.port} not contacted (--connect logs in)"))
    return checks


def run(args: argparse.Namespace) -> int:
    from engine.commands._common import config_from_args
    from engine.errors import ConfigError

    try:
        cfg = config_from_args(args)
    except ConfigError as exc:
        print(f"{FAIL:<5} {'config':<12} {exc}")
        return 1
    source = cfg.source if cfg.source != "defaults" else "no config file (./hotline.toml, $HOTLINE_CONFIG, --config): defaults"
    print(f"{OK:<5} {'config':<12} {source}")
    checks = run_checks(cfg, connect=args.connect, web=not args.no_web)
    for c in checks:
        first, *rest = c.detail.split("\n")
        print(f"{c.status:<5} {c.what:<12} {first}")
        for line in rest:
            print(f"{'':<18} {line}")
    failed = sum(1 for c in checks if c.status == FAIL)
    warned = sum(1 for c in checks if c.status == WARN)
    print(f"{failed} problem(s), {warned} warning(s)" if failed or warned else "no problems found")
    return 1 if failed else 0
