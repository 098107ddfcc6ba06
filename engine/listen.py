"""Where the engine listens: on loopback or not, and whether an address can be bound at all.

FastAGI and AudioSocket have no authentication (the protocols have none): whoever reaches the
port can drive an IVR flow or feed audio into a call. Both listen on 127.0.0.1 by default; the
servers log a warning at start when they listen anywhere else (docs/serve.md, "Ports").
``hotline check-config`` asks :func:`bind_problem` about each configured address.
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


def bind_problem(host: str, port: int) -> str | None:
    """None when ``host:port`` can be listened on now (as asyncio would, with SO_REUSEADDR),
    else why not, in words."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror}"
    for family, type_, proto, _, addr in infos:
        with socket.socket(family, type_, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio binds it
            try:
                sock.bind(addr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return f"port {port} is taken on {addr[0]} (another process listens there)"
                if exc.errno == errno.EADDRNOTAVAIL:
                    return f"{addr[0]} is not an address of this machine"
                if exc.errno == errno.EACCES:
                    return f"no permission to listen on port {port} (below 1024 needs privileges)"
                return f"cannot listen on {addr[0]}:{port}: {exc.strerror}"
    return None
