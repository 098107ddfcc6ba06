"""Records as the viewer may see them: personal data masked unless the viewer may see it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.privacy import mask_name, mask_number, mask_text, mask_words
from engine.store.records import CallRecord, SearchHit, Segment, Timeline

_NAME_KEYS = {"caller_name", "calleridname", "connectedlinename", "name"}
_NUMBER_KEYS = {"caller_number", "calleridnum", "connectedlinenum", "number"}


def _is_word_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray) and all(
        isinstance(w, Mapping) and "word" in w for w in value)


def mask_value(value: Any, key: str = "") -> Any:
    """Deep-mask JSON-like data: strings lose numbers, name fields keep one character, word lists
    are masked as their joined text (``engine.privacy.mask_words``)."""
    if isinstance(value, str):
        if key.lower() in _NAME_KEYS:
            return mask_name(value)
        if key.lower() in _NUMBER_KEYS:
            return mask_number(value)
        return mask_text(value)
    if key.lower() == "words" and _is_word_list(value):
        return mask_words(value)
    if isinstance(value, Mapping):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [mask_value(v, key) for v in value]
    if isinstance(value, int | float) and key.lower() in _NUMBER_KEYS:
        return mask_number(str(value))
    return value


def call_json(call: CallRecord, reveal: bool) -> dict[str, Any]:
    d = call.to_dict()
    if not reveal:
        d["caller_number"] = mask_number(d["caller_number"])
        d["caller_name"] = mask_name(d["caller_name"])
        d["ivr_inputs"] = mask_value(d["ivr_inputs"])
    return d


def segment_json(seg: Segment, reveal: bool) -> dict[str, Any]:
    d = seg.to_dict()
    if not reveal:
        d["text"] = mask_text(d["text"])
        d["words"] = mask_words(d["words"])
    return d


def hit_json(hit: SearchHit, reveal: bool) -> dict[str, Any]:
    return {
        "call": call_json(hit.call, reveal),
        "segment": segment_json(hit.segment, reveal),
        "spans": [list(s) for s in hit.spans],
    }


def timeline_json(tl: Timeline, reveal: bool) -> dict[str, Any]:
    items = []
    for item in tl.items:
        d = item.to_dict()
        if not reveal:
            d["text"] = mask_text(d["text"])
            d["words"] = mask_words(d["words"])
            d["data"] = mask_value(d["data"])
        items.append(d)
    audio = [
        {"id": a.id, "leg": a.leg, "offset": a.offset, "url": f"/api/audio/{a.id}"} for a in tl.audio
    ]
    related = [r.to_dict() for r in tl.related]  # call ids and kinds: nothing personal
    return {"call": call_json(tl.call, reveal), "items": items, "audio": audio, "related": related}


def live_json(message: Mapping[str, Any], reveal: bool) -> dict[str, Any]:
    return dict(message) if reveal else mask_value(message)
