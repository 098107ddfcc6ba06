"""Masking of personal data: phone numbers, ID-card numbers and names, in any text and in logs.

The rule errs on the side of hiding: every run of 7 or more digits (spaces and hyphens between
digits allowed, ASCII or full-width digits, or Chinese numerals as speech recognisers write them)
is masked, because a transcript may hold a mobile number (139****5678), a landline with its area
code (0755-****5678), a local number, or an 18-digit resident ID (110***********123X, check
digit X included). Not masked: decimals and AMI Uniqueids (``1795881255.252``) and ISO dates
(``2026-11-28``). Order numbers or dates written as long digit runs are masked; that is the
price of never leaking a number. Masking keeps the text's length, so character positions (search
highlights, word timings) stay valid.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_CN_DIGITS = "零〇一二三四五六七八九幺两"
# A run of digits with single spaces/hyphens between them, an optional +86/0086 prefix and an
# optional X check digit; not glued to other digits.
_DIGIT_RUN = re.compile(
    r"(?<![\d])(?P<cc>(?:\+|00)86[ \-]?)?(?P<num>\d(?:[ \-]?\d)*)(?P<x>[Xx](?![A-Za-z]))?(?!\d)"
)
_CN_RUN = re.compile(f"[{_CN_DIGITS}]+")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_CJK_HINT = "\u4e00-\u9fff"
MIN_DIGITS = 7
MASK = "*"


def _keep(n: int, first_group: int, starts_zero: bool) -> tuple[int, int]:
    """How many leading and trailing digits of an ``n``-digit number stay visible."""
    first = 4 if starts_zero and first_group == 4 else 3
    last = 4
    while n - first - last < 4 and first > 0:
        first -= 1
    while n - first - last < 4 and last > 0:
        last -= 1
    return first, last


def _mask_digits(chars: str, is_digit: Callable[[str], bool]) -> str:
    positions = [i for i, c in enumerate(chars) if is_digit(c)]
    n = len(positions)
    groups = re.split(r"[ \-]", chars)
    first, last = _keep(n, len(groups[0]), chars[:1] in ("0", "０", "零", "〇"))
    hide = set(positions[first : n - last])
    return "".join(MASK if i in hide else c for i, c in enumerate(chars))


def _mask_run(m: re.Match[str], min_digits: int) -> str:
    num = m.group("num")
    x = m.group("x") or ""
    digits = sum(c.isdigit() for c in num)
    if digits < min_digits or _ISO_DATE.fullmatch(num):
        return m.group(0)
    s = m.string
    if s[m.end() : m.end() + 1] == "." and s[m.end() + 1 : m.end() + 2].isdigit():
        return m.group(0)  # a decimal or an AMI Uniqueid (1795881255.252), not a phone number
    if m.start() >= 2 and s[m.start() - 1] == "." and s[m.start() - 2].isdigit():
        return m.group(0)
    if x and digits == 17:  # ID card with an X check digit: the X is its last character
        masked = _mask_digits(num + "0", str.isdigit)
        return (m.group("cc") or "") + masked[:-1] + x
    return (m.group("cc") or "") + _mask_digits(num, str.isdigit) + x


def _mask_cn_run(m: re.Match[str], min_digits: int) -> str:
    run = m.group(0)
    return _mask_digits(run, lambda c: c in _CN_DIGITS) if len(run) >= min_digits else run


def mask_text(text: str, *, min_digits: int = MIN_DIGITS) -> str:
    """``text`` with every phone or ID-card number in it masked (same length).

    ``min_digits`` lowers the bar for text known to be typed digits (an IVR input), where a
    shorter run is still something personal; in free text shorter runs are extensions, room
    numbers and the hotline's own number, and stay.
    """
    if not text:
        return text
    text = _DIGIT_RUN.sub(lambda m: _mask_run(m, min_digits), text)
    return _CN_RUN.sub(lambda m: _mask_cn_run(m, min_digits), text)


def mask_number(number: str | None, *, min_digits: int = MIN_DIGITS) -> str | None:
    """A caller number as shown: short extensions stay, anything phone-like is masked."""
    return None if number is None else mask_text(number, min_digits=min_digits)


def mask_words(words: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Word timings (``{"word": ..., "start": ...}``) masked as their joined text would be.

    A recogniser may give a number one digit per word (1 3 9 ...); masking each word alone would
    leave every digit visible.
    """
    texts = [str(w.get("word", "")) for w in words]
    masked = mask_text(" ".join(texts))  # same length as its input
    out, pos = [], 0
    for w, t in zip(words, texts, strict=True):
        out.append({**w, "word": masked[pos : pos + len(t)]})
        pos += len(t) + 1
    return out


def mask_name(name: str | None) -> str | None:
    """A caller's name as shown: the first character kept (张**; J*** S****)."""
    if not name:
        return name
    out = []
    for i, word in enumerate(name.split(" ")):
        if not word or word.startswith("<"):  # <unknown>
            out.append(word)
        elif i == 0 or not re.search(f"[{_CJK_HINT}]", name):
            out.append(word[0] + MASK * (len(word) - 1))
        else:
            out.append(MASK * len(word))
    return " ".join(out)


class MaskingFilter(logging.Filter):
    """A logging filter that masks numbers in the formatted message, exception and stack text.

    Attach it to handlers (``install_log_masking``): a filter on a logger does not see records
    propagated from its children, a handler's filter sees them all.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def install_log_masking(logger: logging.Logger | None = None) -> MaskingFilter:
    """Add one ``MaskingFilter`` to every handler of ``logger`` (default: the root logger)."""
    logger = logger or logging.getLogger()
    for existing in logger.filters:
        if isinstance(existing, MaskingFilter):
            flt = existing
            break
    else:
        flt = MaskingFilter()
        logger.addFilter(flt)
    for handler in logger.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
