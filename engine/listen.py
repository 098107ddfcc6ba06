"""Where the engine listens: on loopback or not, and whether an address can be bound at all.

FastAGI and AudioSocket have no authentication (the protocols have none): whoever reaches the
port can drive an IVR flow or feed audio into a call. Both listen on 127.0.0.1 by default; the
servers log a warning at start when they listen anywhere else (docs/serve.md, "Ports").
``hotline check-config`` asks :func:`bind_problem` about each configured address; ``hotline serve``
and ``hotline asr-worker`` ask :func:`bind_error` why a start failed.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address; ``""``, ``0.0.0.0`` and ``::`` are every interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_exposed(log: logging.Logger, what: str, host: str, port: int) -> None:
    """One warning when an unauthenticated server listens beyond loopback."""
    if not is_loopback(host):
        log.warning("%s listening on %s:%d, beyond loopback: it has no authentication, so firewall the port "
                    "to Asterisk's address only (docs/serve.md, Ports)", what, host or "*", port)


def bind_error(host: str, port: int) -> tuple[OSError, str] | None:
    """The error a server would meet listening on ``host:port`` now (bound as asyncio binds it:
    SO_REUSEADDR, IPv6 sockets v6-only) and the address it met it on; None when it can listen."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return exc, host
    for family, type_, proto, _, addr in infos:
        with socket.socket(family, type_, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(addr)
            except OSError as exc:
                return exc, addr[0]
    return None


def bind_problem(host: str, port: int) -> str | None:
    """None when ``host:port`` can be listened on now, else why not, in words."""
    failure = bind_error(host, port)
    if failure is None:
        return None
    exc, addr = failure
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {host!r}: {exc.strerror}"
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is taken on {addr} (another process listens there)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{addr} is not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} (below 1024 needs privileges)"
    return f"cannot listen on {addr}:{port}: {exc.strerror}"
