"""Numbers read from the shipped prompts: the pure number -> prompt names mapping (zh, en), and
every prompt that mapping can name exists, small, in both languages."""

from __future__ import annotations

import wave

import pytest

from ivr_flows import protocol as p
from ivr_flows.loader import DEFAULT_PROMPTS_DIR, prompt_path
from ivr_flows.numbers import (
    LIMITS,
    WORDS,
    digit_prompts,
    digit_words,
    number_prompts,
    number_words,
    part_prompts,
    prompt_names,
)


def zh(value: int, *, measure: bool = False) -> str:
    return "".join(WORDS["zh"][w] for w in number_words(value, "zh", measure=measure))


def en(value: int) -> str:
    return " ".join(WORDS["en"][w] for w in number_words(value, "en"))


@pytest.mark.parametrize(("value", "said"), [
    (0, "零"), (1, "一"), (2, "二"), (7, "七"), (10, "十"), (11, "十一"), (15, "十五"), (20, "二十"),
    (22, "二十二"), (71, "七十一"), (99, "九十九"), (100, "一百"), (105, "一百零五"), (110, "一百一十"),
    (115, "一百一十五"), (200, "两百"), (201, "两百零一"), (222, "两百二十二"), (1000, "一千"),
    (1005, "一千零五"), (1050, "一千零五十"), (1200, "一千二百"), (2000, "两千"), (2222, "两千二百二十二"),
    (10000, "一万"), (10005, "一万零五"), (10010, "一万零一十"), (10500, "一万零五百"), (12000, "一万两千"),
    (20000, "两万"), (22000, "两万两千"), (100000, "十万"), (100500, "十万零五百"), (150000, "十五万"),
    (1001000, "一百万一千"), (1010000, "一百零一万"), (20000000, "两千万"), (100000000, "一亿"),
    (100000005, "一亿零五"), (100001000, "一亿零一千"), (110000000, "一亿一千万"),
    (123456789, "一亿两千三百四十五万六千七百八十九"), (200000000, "两亿"), (300020000, "三亿零二万"),
])
def test_mandarin_reading(value: int, said: str) -> None:
    assert zh(value) == said


def test_mandarin_two_before_a_measure_word() -> None:
    assert zh(2, measure=True) == "两" and zh(2) == "二"  # 两分钟, but position 二
    assert zh(12, measure=True) == "十二" and zh(20, measure=True) == "二十"  # only a bare 2 changes
    assert number_prompts(2, "zh", measure=True) == ("hotline/numbers/liang",)


@pytest.mark.parametrize(("value", "said"), [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (71, "seventy one"), (100, "one hundred"),
    (105, "one hundred five"), (999, "nine hundred ninety nine"), (1000, "one thousand"),
    (2013, "two thousand thirteen"), (10000, "ten thousand"), (1000001, "one million one"),
    (123456789, "one hundred twenty three million four hundred fifty six thousand seven hundred eighty nine"),
])
def test_english_reading(value: int, said: str) -> None:
    assert en(value) == said
    assert number_words(value, "en", measure=True) == number_words(value, "en")


def test_prompt_names() -> None:
    assert number_prompts(71, "zh") == ("hotline/numbers/7", "hotline/numbers/10", "hotline/numbers/1")
    assert number_prompts(105, "zh") == ("hotline/numbers/1", "hotline/numbers/100", "hotline/numbers/0",
                                         "hotline/numbers/5")
    assert number_prompts(71, "en") == ("hotline/numbers/70", "hotline/numbers/1")


def test_digits_one_by_one() -> None:
    assert digit_words("12345", "zh") == ("yao", "2", "3", "4", "5")  # 幺二三四五, as on the phone
    assert digit_prompts("2026110", "en") == tuple(f"hotline/numbers/{d}" for d in "2026110")


def test_parts_of_a_run() -> None:
    assert part_prompts(p.Number(3), "zh") == ("hotline/numbers/3",)
    assert part_prompts(p.Number(2, measure=True), "zh") == ("hotline/numbers/liang",)
    assert part_prompts(p.Digits("0571"), "en") == tuple(f"hotline/numbers/{d}" for d in "0571")
    assert part_prompts(p.Number(3), "fr") is None  # no number prompts: Asterisk's SAY NUMBER


@pytest.mark.parametrize(("call", "message"), [
    (lambda: number_words(-1, "zh"), "from 0 to"),
    (lambda: number_words(10**12, "zh"), "from 0 to"),
    (lambda: number_words(10**9, "en"), "from 0 to"),
    (lambda: number_words(True, "en"), "whole number"),
    (lambda: number_words(3, "fr"), "no number prompts for language 'fr'"),
    (lambda: digit_words("12#", "zh"), "other than 0-9"),
    (lambda: digit_words("١٢", "en"), "other than 0-9"),  # Arabic-Indic digits are isdigit() too
])
def test_what_cannot_be_read_is_refused(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_number_prompt_is_shipped_small(language: str) -> None:
    names = prompt_names(language)
    assert len(names) == len(WORDS[language])
    for name in names:
        path = prompt_path(DEFAULT_PROMPTS_DIR, language, name)
        assert path is not None, name
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert 0.1 < w.getnframes() / 8000 < 1.5, name  # one word
    values = [*range(0, 100_000, 7), LIMITS[language] - 1]  # the largest says every unit word
    used = {w for v in values for w in number_words(v, language)}
    used |= set(digit_words("0123456789", language)) | set(number_words(2, language, measure=True))
    assert used == set(WORDS[language])  # every shipped word is used, and none is missing
