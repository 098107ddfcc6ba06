"""Readers for the recording formats in ``shared/fixtures/asterisk`` (test helpers, no I/O beyond reading).

The marker format (``### >>> sent`` ... ``### <<<`` around what the client sent) is read by the
same code ``hotline monitor --replay`` uses (``engine.commands.monitor.recording_side``).
"""

from __future__ import annotations

from pathlib import Path

from engine.commands.monitor import recording_side


def ami_server_bytes(path: Path) -> bytes:
    """What Asterisk sent in a recorded AMI session (client's ``### >>> sent`` blocks removed).

    Files recorded server side only have no markers; they come back unchanged.
    """
    return recording_side(path.read_bytes())


def ami_client_bytes(path: Path) -> bytes:
    """What the client sent in a recorded AMI session."""
    return recording_side(path.read_bytes(), sent=True)
