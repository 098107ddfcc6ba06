"""Matching what a caller said against a speech menu's phrase list.

The recognizer (asr's grammar-restricted Vosk) returns text; this decides which choice it was.
Text and phrases are compared after lower-casing and removing spaces and punctuation, so
"Follow up." and "follow-up" match, and Mandarin needs no word segmentation.
"""

from __future__ import annotations

import unicodedata


def normalize(text: str) -> str:
    return "".join(ch for ch in text.lower() if unicodedata.category(ch)[0] in "LN")


def match_phrase(text: str, phrases: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The choice key whose phrase occurs in ``text`` (longest phrase wins), or ""."""
    said = normalize(text)
    if not said:
        return ""
    best, best_len = "", 0
    for key, options in phrases:
        for phrase in options:
            norm = normalize(phrase)
            if norm and norm in said and len(norm) > best_len:
                best, best_len = key, len(norm)
    return best
