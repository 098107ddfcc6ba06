"""Full-text indexing that works for Mandarin as well as English.

FTS5's ``unicode61`` tokenizer keeps a run of Han characters as one token, so 路灯 would never
match inside 我要报修路灯坏了. The ``trigram`` tokenizer (SQLite >= 3.34) fixes that only for
queries of three or more characters, and most Chinese words have two. So CJK runs (Han, kana,
Hangul) are indexed as overlapping character bigrams plus the run's last character, and a query
run becomes the phrase of its bigrams (a single character becomes a prefix query). Everything
else goes through ``porter unicode61``: English is lower-cased and stemmed ("lights" finds "light").
These functions are pure: text in, text out. Both backends use them (SQLite's FTS5 index and
PostgreSQL's tsvector one, ``engine/store/pg_search.py``), so a query is split the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # Han extension A
    "\u4e00-\u9fff"  # Han
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # Han compatibility
    "\U00020000-\U0002ebef"  # Han extensions B-F
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W{_CJK}]+\*?|\*")

TOKENIZER = "porter unicode61 remove_diacritics 2"


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_text(text: str) -> str:
    """What goes into the FTS column for ``text``: CJK runs as bigrams, the rest unchanged."""
    out: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        if m.start() > pos:
            out.append(text[pos : m.start()])
        run = m.group()
        out.extend(_bigrams(run))
        out.append(run[-1])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return " ".join(out)


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def query_terms(q: str) -> list[str]:
    """The user's query split into terms: CJK runs and words (a trailing ``*`` kept)."""
    terms: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(q):
        terms.extend(t for t in _WORD.findall(q[pos : m.start()]) if t != "*")
        terms.append(m.group())
        pos = m.end()
    terms.extend(t for t in _WORD.findall(q[pos:]) if t != "*")
    return terms


@dataclass(frozen=True)
class Phrase:
    """One term of a query as the index sees it: ``text`` is tokenized like an indexed segment
    (a CJK run as its bigrams), ``prefix``: its last token may be the start of a longer one."""

    text: str
    prefix: bool = False


def query_phrases(q: str) -> list[Phrase]:
    """The phrases that must all occur for a segment to match ``q``: both backends search these."""
    phrases: list[Phrase] = []
    for term in query_terms(q):
        if _CJK_RUN.fullmatch(term):
            phrases.append(Phrase(term, prefix=True) if len(term) == 1 else Phrase(" ".join(_bigrams(term))))
        elif term.endswith("*"):
            phrases.append(Phrase(term[:-1], prefix=True))
        else:
            phrases.append(Phrase(term))
    return phrases


def match_expression(q: str) -> str | None:
    """An FTS5 MATCH expression for the user's query (all terms must match); None if it has none.

    Every token is quoted, so FTS5 operators typed by a user (AND, NEAR, ``-``, ``:``) are searched
    for as words instead of raising a syntax error.
    """
    parts = [_quote(p.text) + ("*" if p.prefix else "") for p in query_phrases(q)]
    return " ".join(parts) if parts else None


def highlight_spans(text: str, q: str) -> list[tuple[int, int]]:
    """Character spans of ``text`` where the query's terms occur (case-insensitive), for display.

    Best effort: a stemmed match ("lights" for "light") is found through the term's prefix.
    """
    low = text.lower()
    spans: list[tuple[int, int]] = []
    for term in query_terms(q):
        needle = term.rstrip("*").lower()
        if not needle:
            continue
        start = 0
        while (i := low.find(needle, start)) >= 0:
            spans.append((i, i + len(needle)))
            start = i + len(needle)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged
