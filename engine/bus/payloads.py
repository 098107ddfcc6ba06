"""JSON payloads for the bus: one flat object per message with a schema version.

Every payload carries ``schema`` (an integer bumped on incompatible change), ``kind`` (what
the message is), ``site`` and ``ts`` (seconds since the epoch, passed in by the caller, never
read from a clock here). Caller numbers and names are masked before anything leaves the
process, whatever key the producer used; phone and ID numbers inside free text (a caller
reading out a number) are masked as well, also in word timings that give one digit per word.
The masking rule is the project's (:mod:`engine.privacy`), applied here to the named personal
fields (the supervisor page masks every string it shows).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from typing import Any

from engine.privacy import mask_name, mask_number, mask_text, mask_words

SCHEMA_VERSION = 1

_NUMBER_KEYS = {
    "caller",
    "caller_number",
    "callernum",
    "callerid",
    "calleridnum",
    "connectedlinenum",
    "destcalleridnum",
    "destconnectedlinenum",
    "number",
    "phone",
    "callback_number",
}
_NAME_KEYS = {"caller_name", "calleridname", "connectedlinename", "destcalleridname", "destconnectedlinename"}
_TEXT_KEYS = {"text", "partial", "transcript"}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def masked(value: Any) -> Any:
    """A copy of plain JSON data with personal data masked (by key, recursively)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            low = key.lower()
            if isinstance(item, str) and (low in _NUMBER_KEYS or low.endswith("_number")):
                out[key] = mask_number(item)
            elif isinstance(item, str) and low in _NAME_KEYS:
                out[key] = mask_name(item)
            elif isinstance(item, str) and low in _TEXT_KEYS:
                out[key] = mask_text(item)
            elif low == "words" and isinstance(item, list) and all(isinstance(w, dict) and "word" in w for w in item):
                out[key] = mask_words(item)  # digits one per word (1 3 9 ...) masked as in the text
            else:
                out[key] = masked(item)
        return out
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


RESERVED = ("schema", "kind", "site", "ts")


def build_payload(kind: str, site: str, now: float, data: Any, *, mask: bool = True) -> dict[str, Any]:
    """The envelope plus the producer's fields (a dataclass or a mapping), masked. ``mask=False``
    only for the ASR workers' link to the engine (``asr/sessions``): the engine stores what was
    said as it stores a transcript decoded in its own process (docs/mqtt.md, "ASR workers")."""
    fields = _plain(data)
    if not isinstance(fields, dict):
        fields = {"value": fields}
    body = masked(fields) if mask else fields
    clash = [k for k in RESERVED if k in body]
    if clash:
        raise ValueError(f"payload field(s) {clash} are reserved for the envelope")
    return {"schema": SCHEMA_VERSION, "kind": kind, "site": site, "ts": round(float(now), 3), **body}


def encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=False).encode("utf-8")
