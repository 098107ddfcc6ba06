"""Reader for the recorded FastAGI transcripts (``fastagi_*.txt`` in the shared fixtures).

Why: the FastAGI tests replay these byte for byte (nothing else reads them). A file is a series of blocks,
each opened by a ``###`` marker line: ``### asterisk -> app`` (or ``### request header``,
what Asterisk sent), ``### app -> asterisk`` (what the FastAGI server sent); other ``###``
lines are notes (``### audiosocket connected, uuid ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RecordedBlock:
    direction: str  # "asterisk" (Asterisk -> app), "app" (app -> Asterisk) or "note"
    data: bytes


def read_fastagi_recording(path: str | Path) -> list[RecordedBlock]:
    blocks: list[RecordedBlock] = []
    direction = "note"
    buf = bytearray()

    def flush() -> None:
        if buf and direction != "note":
            blocks.append(RecordedBlock(direction, bytes(buf)))
        buf.clear()

    for line in Path(path).read_bytes().splitlines(keepends=True):
        if line.startswith(b"###"):
            flush()
            marker = line[3:].strip().decode("utf-8")
            if marker.startswith("asterisk -> app") or marker.startswith("request header"):
                direction = "asterisk"
            elif marker.startswith("app -> asterisk"):
                direction = "app"
            else:
                direction = "note"
                blocks.append(RecordedBlock("note", marker.encode("utf-8")))
            continue
        buf += line
    flush()
    return blocks


def asterisk_bytes(path: str | Path) -> bytes:
    """Everything Asterisk sent, in order (header first, then replies)."""
    return b"".join(b.data for b in read_fastagi_recording(path) if b.direction == "asterisk")


def app_commands(path: str | Path) -> list[bytes]:
    """Each command line the FastAGI application sent, with its ``\\n``."""
    out: list[bytes] = []
    for b in read_fastagi_recording(path):
        if b.direction == "app":
            out.extend(line for line in b.data.splitlines(keepends=True) if line.strip())
    return out
