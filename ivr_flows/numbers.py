"""Numbers spoken from shipped prompts: a number or a digit string -> the prompt names to play.

Why not Asterisk's ``SAY NUMBER``/``SAY DIGITS``: stock Asterisk ships no Mandarin digit sounds
(``File digits/1 does not exist``), so a Mandarin caller heard nothing where a position, a wait or
a number read back belonged. The engine ships one short prompt per word instead
(``hotline/numbers/<word>``, 8 kHz mono, built by ``ivr_flows.prompts.build`` from ``WORDS``) and
plays them with ``STREAM FILE``. A word's prompt is named by its value: ``hotline/numbers/7``,
``hotline/numbers/100`` (百 / hundred); Mandarin's two special readings are ``liang`` (两) and
``yao`` (幺).

Mandarin reading (decided here, see docs/flows.md):

- sections of four digits, each read with 千 百 十, followed by 万 or 亿: 12,0000 = 十二万,
  1,2345,6789 = 一亿两千三百四十五万六千七百八十九; up to 9999,9999,9999;
- zeros inside a number are read once as 零, trailing zeros not at all: 105 = 一百零五,
  1005 = 一千零五, 1050 = 一千零五十, 10005 = 一万零五, 10,0500 = 十万零五百 (a section under
  一千 after something was said starts with 零), 1,0000,1000 = 一亿零一千 (so does one after an
  all-zero section), but 100,1000 = 一百万一千 (the zeros end a section: not read);
- 十 starts a number without 一 (10 = 十, 15 = 十五, 15,0000 = 十五万) but not inside one
  (110 = 一百一十, 10010 = 一万零一十);
- 两 instead of 二: before 千 (两千, 一万两千); as the first word before 百, 万 or 亿 (两百,
  两万, 两亿); and for a bare 2 followed by a measure word (``measure=True``: 两分钟). Every
  other 2 is 二 (二十, 十二, 一千二百, a position 2 = 二);
- digit strings (phone and work-order numbers read back) use 幺 for 1, as Chinese telephone
  operators do: 12345 = 幺二三四五.

English (American, no "and"): 105 = one hundred five, 2,013 = two thousand thirteen, up to
999,999,999; digits 0-9 as zero ... nine.

Pure: no I/O; ``WORDS`` holds what each prompt says, for the prompt build.
"""

from __future__ import annotations

from ivr_flows import protocol as p

PREFIX = "hotline/numbers/"

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        **dict(zip("0123456789", "零一二三四五六七八九", strict=True)),
        "liang": "两", "yao": "幺", "10": "十", "100": "百", "1000": "千", "10000": "万", "100000000": "亿",
    },
    "en": {
        **{str(i): w for i, w in enumerate(
            ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
             "fifteen sixteen seventeen eighteen nineteen").split())},
        **{str(10 * i): w for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)},
        "100": "hundred", "1000": "thousand", "1000000": "million",
    },
}

LIMITS = {"zh": 10**12, "en": 10**9}  # numbers read up to (not including) these
# A language not in WORDS has no number prompts: the adapter falls back to Asterisk's SAY NUMBER.


def prompt_names(language: str) -> tuple[str, ...]:
    """Every number prompt ``language`` can use (what the flow loader checks); () when none."""
    return tuple(PREFIX + word for word in WORDS.get(language, {}))


def number_words(value: int, language: str, *, measure: bool = False) -> tuple[str, ...]:
    """The words (``WORDS`` keys) that read ``value``; ``measure``: a measure word follows (zh 两)."""
    if language not in WORDS:
        raise ValueError(f"no number prompts for language {language!r} (have: {', '.join(WORDS)})")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < LIMITS[language]:
        raise ValueError(f"cannot read {value!r} in {language}: a whole number from 0 to {LIMITS[language] - 1}")
    if language == "zh":
        return _zh(value, measure)
    return _en(value)


def digit_words(digits: str, language: str) -> tuple[str, ...]:
    """The words that read ``digits`` one by one (a phone or work-order number)."""
    if language not in WORDS:
        raise ValueError(f"no number prompts for language {language!r} (have: {', '.join(WORDS)})")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("cannot read a digit string with characters other than 0-9")  # the value may be personal
    return tuple("yao" if d == "1" and language == "zh" else d for d in digits)


def number_prompts(value: int, language: str, *, measure: bool = False) -> tuple[str, ...]:
    return tuple(PREFIX + w for w in number_words(value, language, measure=measure))


def digit_prompts(digits: str, language: str) -> tuple[str, ...]:
    return tuple(PREFIX + w for w in digit_words(digits, language))


def part_prompts(part: p.Number | p.Digits, language: str) -> tuple[str, ...] | None:
    """The prompts that speak a runner's ``Number``/``Digits`` part; None when ``language`` has
    no number prompts. Raises ValueError for a value that cannot be read."""
    if language not in WORDS:
        return None
    if isinstance(part, p.Digits):
        return digit_prompts(part.value, language)
    return number_prompts(part.value, language, measure=part.measure)


# -- Mandarin ----------------------------------------------------------------------------------

_ZH_SECTION_UNITS = ("100000000", "10000", "")  # 亿, 万, (none), highest first
_ZH_PLACES = ((1000, "1000"), (100, "100"), (10, "10"), (1, ""))


def _zh(value: int, measure: bool) -> tuple[str, ...]:
    if value == 0:
        return ("0",)
    if value == 2 and measure:
        return ("liang",)
    sections = []
    while value:
        sections.append(value % 10000)
        value //= 10000
    sections.reverse()
    out: list[str] = []
    zero_between = False  # an all-zero section after something said: the next one starts with 零
    for section, unit in zip(sections, _ZH_SECTION_UNITS[-len(sections):], strict=True):
        if section == 0:
            zero_between = bool(out)
            continue
        if out and (zero_between or section < 1000):
            out.append("0")
        _zh_section(section, out, before_unit=bool(unit))
        if unit:
            out.append(unit)
        zero_between = False
    return tuple(out)


def _zh_section(section: int, out: list[str], *, before_unit: bool) -> None:
    """千百十个 of one section (1..9999), appended to ``out``; zeros inside read once as 零."""
    at_start = not out  # nothing said yet: 十 without 一, 两 before 百/万/亿
    said = False
    zero = False
    for size, unit in _ZH_PLACES:
        d = section // size % 10
        if d == 0:
            zero = zero or said
            continue
        if zero:
            out.append("0")
            zero = False
        first = at_start and not said
        if not (size == 10 and d == 1 and first):  # 十五, not 一十五
            liang = d == 2 and (size == 1000 or (first and (size == 100 or (size == 1 and before_unit))))
            out.append("liang" if liang else str(d))
        if unit:
            out.append(unit)
        said = True


# -- English -----------------------------------------------------------------------------------


def _en(value: int) -> tuple[str, ...]:
    if value == 0:
        return ("0",)
    out: list[str] = []
    for size, unit in ((1_000_000, "1000000"), (1000, "1000")):
        if value >= size:
            _en_below_1000(value // size, out)
            out.append(unit)
            value %= size
    _en_below_1000(value, out)
    return tuple(out)


def _en_below_1000(n: int, out: list[str]) -> None:
    if n >= 100:
        out += [str(n // 100), "100"]
        n %= 100
    if n >= 20:
        out.append(str(n // 10 * 10))
        n %= 10
    if n:
        out.append(str(n))
