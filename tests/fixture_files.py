"""Readers for the recording formats in ``shared/fixtures/asterisk`` (test helpers, no I/O beyond reading).

The marker format (``### >>> sent`` ... ``### <<<`` around what the client sent) is read by the
same code ``hotline monitor --replay`` uses (``engine.commands.monitor.recording_side``).
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

from engine.asterisk.audiosocket_codec import KIND_UUID
from engine.commands.monitor import recording_side


def ami_server_bytes(path: Path) -> bytes:
    """What Asterisk sent in a recorded AMI session (client's ``### >>> sent`` blocks removed).

    Files recorded server side only have no markers; they come back unchanged.
    """
    return recording_side(path.read_bytes())


def ami_client_bytes(path: Path) -> bytes:
    """What the client sent in a recorded AMI session."""
    return recording_side(path.read_bytes(), sent=True)


def recorded_audiosocket_stream(fixtures: Path) -> tuple[bytes, bytes, list[dict]]:
    """The exact bytes Asterisk sent: headers and first bytes from the JSON, payloads from the WAV."""
    frames = json.loads((fixtures / "audiosocket_frames.json").read_text())
    with wave.open(str(fixtures / "audiosocket_received.wav")) as w:
        pcm = w.readframes(w.getnframes())
    out = bytearray()
    pos = 0
    for f in frames:
        if "kind" not in f:
            continue  # the EOF marker
        first = bytes.fromhex(f["first_bytes_hex"])
        if f["kind"] == KIND_UUID:
            assert len(first) == 3 + 16
            out += first
            continue
        payload = pcm[pos : pos + f["len"]]
        pos += f["len"]
        frame = bytes((f["kind"], f["len"] >> 8, f["len"] & 0xFF)) + payload
        assert frame.startswith(first), "WAV and frame log disagree"
        out += frame
    assert pos == len(pcm)
    return bytes(out), pcm, frames
