"""Masking of personal data: phone numbers, ID-card numbers and names, in any text and in logs.

The rule errs on the side of hiding: every run of 7 or more digits is masked, because a
transcript may hold a mobile number (139****5678), a landline with its area code
(0755-****5678), a local number, or an 18-digit resident ID (110***********123X, check digit X
included). A digit is an ASCII or full-width digit or a Chinese numeral as speech recognisers
write them (幺三九...), mixed freely (139一二三四5678); between two digits a run allows spaces,
a hyphen or dash with spaces around it (139 - 1234 - 5678) or a dot (139.1234.5678).

Left alone, because they are the identifiers logs are matched on or plainly not numbers: UUIDs
(with a hex letter, also cut short as in AudioSocket channel names), the sequence suffix of an
Asterisk channel name (``Local/s@hotline-in-00000003;2``), decimals and AMI Uniqueids
(``1795881255.252``, ``1795881255.1234567``; otherwise at most 10 digits before the point and 6
after it, unless below 100),
IPv4 addresses, dates (``2026-11-28``, ``2026.11.28``) and clock times.
Order numbers or dates written as long digit runs are masked; that is the price of never
leaking a number. Masking keeps the text's length, so character positions (search highlights,
word timings) stay valid.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

_CN_DIGITS = "零〇一二三四五六七八九幺两"
_ZEROS = "0０零〇"
_DIGIT = rf"[\d{_CN_DIGITS}]"
_SPACE = r"[ \t\u00a0\u3000]"
# what may stand between two digits of one number: spaces, a dash with spaces around it, a dot
_SEP = rf"(?:{_SPACE}{{1,3}}|{_SPACE}{{0,2}}[-\u2010-\u2014\uff0d]{_SPACE}{{0,2}}|[.\uff0e])"
_DIGIT_RUN = re.compile(
    rf"(?<!{_DIGIT})(?P<cc>(?:\+|00)86{_SEP}?)?(?P<num>{_DIGIT}+(?:{_SEP}{_DIGIT}+)*)"
    rf"(?P<x>[Xx](?![A-Za-z]))?(?!{_DIGIT})"
)
_ANY_DIGIT = re.compile(_DIGIT)

# Identifiers and values that look like digit runs but are not personal data (see the module doc).
_HEX = "[0-9A-Fa-f]"
_UUID = re.compile(rf"(?<!{_HEX}){_HEX}{{8}}(?:-{_HEX}{{4}}){{1,3}}(?:-{_HEX}{{12}})?(?!{_HEX})")
_CHANNEL_TECHS = (
    "Local|PJSIP|SIP|IAX2|DAHDI|AudioSocket|Snoop|UnicastRTP|Multicast|Message|WebSocket|Console|"
    "Motif|Skinny|MGCP|UNISTIM|H323|OOH323|Bridge|Announcer|Recorder|CBAnn|CBRec|Surrogate|Agent"
)
_CHANNEL_SEQ = re.compile(
    rf"(?<![A-Za-z0-9])(?i:{_CHANNEL_TECHS})/[^\s/,;'\"<>]*?-(?P<seq>{_HEX}{{8}})(?:;\d)?(?![0-9A-Za-z])"
)
# a Uniqueid (epoch seconds, then a counter that passes a million on a busy PBX) or an ordinary
# decimal; a phone number with one dot (139.12345678, 0755.12345678) is neither
_DECIMAL = re.compile(r"(?<![\d.])(?!0\d)(?:\d{10}\.\d{1,10}|\d{1,10}\.\d{1,6}|\d{1,2}\.\d+)(?!\.?\d)")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d)")
_DATE = re.compile(r"(?<![\d.\-/])(?P<y>[12]\d{3})(?P<s>[-./])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?![\d])")
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,6})?(?![\d:])")
_CJK_HINT = "\u4e00-\u9fff"
MIN_DIGITS = 7
MASK = "*"


def _is_digit(c: str) -> bool:
    return c.isdecimal() or c in _CN_DIGITS


def _identifier_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` that are identifiers or values, never masked (unsorted, may overlap)."""
    for m in _UUID.finditer(text):
        if re.search("[A-Fa-f]", m.group()):  # all digits: could be a number written 8-4-4
            yield m.span()
    for m in _CHANNEL_SEQ.finditer(text):
        yield m.span("seq")
    for rx in (_DECIMAL, _TIME):
        for m in rx.finditer(text):
            yield m.span()
    for m in _IPV4.finditer(text):
        if all(int(part) <= 255 for part in m.group().split(".")):
            yield m.span()
    for m in _DATE.finditer(text):
        if 1 <= int(m.group("m")) <= 12 and 1 <= int(m.group("d")) <= 31:
            yield m.span()


def _keep(n: int, first_group: int, starts_zero: bool) -> tuple[int, int]:
    """How many leading and trailing digits of an ``n``-digit number stay visible."""
    first = 4 if starts_zero and first_group == 4 else 3
    last = 4
    while n - first - last < 4 and first > 0:
        first -= 1
    while n - first - last < 4 and last > 0:
        last -= 1
    return first, last


def _mask_digits(chars: str) -> str:
    positions = [i for i, c in enumerate(chars) if _is_digit(c)]
    n = len(positions)
    first_group = next((i for i, c in enumerate(chars) if not _is_digit(c)), len(chars))
    first, last = _keep(n, first_group, chars[:1] in _ZEROS)
    hide = set(positions[first : n - last])
    return "".join(MASK if i in hide else c for i, c in enumerate(chars))


def _mask_run(m: re.Match[str], min_digits: int) -> str:
    num = m.group("num")
    x = m.group("x") or ""
    digits = sum(map(_is_digit, num))
    if digits < min_digits:
        return m.group(0)
    cc = m.group("cc") or ""
    if x and digits == 17:  # ID card with an X check digit: the X is its last character
        return cc + _mask_digits(num + "0")[:-1] + x
    return cc + _mask_digits(num) + x


def _mask_runs(text: str, min_digits: int) -> str:
    return _DIGIT_RUN.sub(lambda m: _mask_run(m, min_digits), text) if text else text


def mask_text(text: str, *, min_digits: int = MIN_DIGITS) -> str:
    """``text`` with every phone or ID-card number in it masked (same length).

    ``min_digits`` lowers the bar for text known to be typed digits (an IVR input), where a
    shorter run is still something personal; in free text shorter runs are extensions, room
    numbers and the hotline's own number, and stay.
    """
    if not text or len(_ANY_DIGIT.findall(text)) < min_digits:
        return text
    out: list[str] = []
    pos = 0
    for start, end in sorted(_identifier_spans(text)):
        if end <= pos:
            continue
        start = max(start, pos)
        out += [_mask_runs(text[pos:start], min_digits), text[start:end]]
        pos = end
    out.append(_mask_runs(text[pos:], min_digits))
    return "".join(out)


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


# LogRecord attributes that are not extra fields (``extra={...}``, which structured formatters print)
LOG_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class MaskingFilter(logging.Filter):
    """A logging filter that masks numbers in the formatted message, exception and stack text,
    and in extra fields (a JSON log line prints those too).

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
        for key, value in list(vars(record).items()):
            if key in LOG_RECORD_ATTRS or key.startswith("_") or isinstance(value, bool | float | None):
                continue
            text = value if isinstance(value, str) else str(value) if isinstance(value, int) else repr(value)
            shown = mask_text(text)
            if isinstance(value, str) or shown != text:
                setattr(record, key, shown)
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
