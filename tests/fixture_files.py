"""Readers for the recording formats in ``shared/fixtures/asterisk`` (test helpers, no I/O beyond reading)."""

from __future__ import annotations

from pathlib import Path

SENT = b"### >>> sent"
RECEIVED = b"### <<<"


def ami_server_bytes(path: Path) -> bytes:
    """What Asterisk sent in a recorded AMI session (client's ``### >>> sent`` blocks removed).

    Files recorded server side only have no markers; they come back unchanged.
    """
    data = path.read_bytes()
    out = bytearray()
    sending = False
    for line in data.splitlines(keepends=True):
        marker = line.rstrip(b"\r\n")
        if marker == SENT:
            sending = True
            continue
        if marker == RECEIVED:
            sending = False
            continue
        if not sending:
            out += line
    return bytes(out)


def ami_client_bytes(path: Path) -> bytes:
    """What the client sent in a recorded AMI session."""
    out = bytearray()
    sending = False
    for line in path.read_bytes().splitlines(keepends=True):
        marker = line.rstrip(b"\r\n")
        if marker == SENT:
            sending = True
            continue
        if marker == RECEIVED:
            sending = False
            continue
        if sending:
            out += line
    return bytes(out)
