"""The flow loader: shipped flows load, each broken flow gives one clear message with file, line, node."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from ivr_flows import schema as s
from ivr_flows.calendar import OpeningHours
from ivr_flows.checksums import luhn_valid, mod11_valid, with_mod11
from ivr_flows.errors import FlowValidationError
from ivr_flows.loader import load_file, load_flows, load_text
from ivr_flows.yamlpos import MAX_ALIASES, MAX_DEPTH, MAX_VALUES

BROKEN = Path(__file__).parent / "data" / "flows_broken"

# file -> (line, node id or None, words the message must contain)
EXPECTED = {
    "yaml_syntax.yaml": (7, None, "YAML syntax error"),
    "unknown_verb.yaml": (5, "hello", "unknown verb 'plya' (did you mean 'play'?"),
    "unknown_field.yaml": (6, "hello", "unknown field 'promt' for verb play (did you mean 'prompt'?)"),
    "missing_target.yaml": (9, "menu", "choices[2] goes to 'complaints', which does not exist"),
    "unreachable.yaml": (8, "orphan", "unreachable"),
    "loop_no_exit.yaml": (4, "hello", "loop with no exit: hello -> menu"),
    "spin_loop.yaml": (4, "hours", "loop without any prompt or input: hours -> mark -> hours"),
    "missing_prompt.yaml": (6, "hello", "prompt file missing"),
    "bad_value.yaml": (8, "menu", "retries: expected a whole number, got 'many'"),
    "duplicate_node.yaml": (10, "hello", "node id defined twice"),
    "missing_start.yaml": (2, None, "start node 'welcome' does not exist"),
    "bad_timezone.yaml": (4, "hours", "unknown time zone 'Asia/Beijing'"),
    "bad_hours.yaml": (7, "hours", "ends before it starts"),
    "bad_language.yaml": (8, "lang", "language 'fr' is not in the flow's languages"),
    "speech_key.yaml": (4, "menu", "speech phrases for keys ['2']"),
    "bad_checksum_setup.yaml": (9, "number", "'crc32' is not one of length, luhn, mod11"),
}


def test_every_broken_file_is_covered() -> None:
    assert {p.name for p in BROKEN.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_flow_gives_one_clear_message(name: str) -> None:
    line, node, words = EXPECTED[name]
    with pytest.raises(FlowValidationError) as info:
        load_flows([BROKEN / name])
    errors = info.value.errors
    assert len(errors) == 1, [e.format() for e in errors]
    err = errors[0]
    assert err.file.endswith(name)
    assert err.line == line
    assert err.node == node
    assert words in err.message
    text = err.format()
    assert text.startswith(f"{err.file}:{line}:")
    if node:
        assert f"node '{node}'" in text


def test_all_broken_files_together_report_every_file() -> None:
    with pytest.raises(FlowValidationError) as info:
        load_flows([BROKEN])
    assert sorted(Path(e.file).name for e in info.value.errors) == sorted(EXPECTED)


def test_shipped_default_flow_loads() -> None:
    flows = load_flows()
    flow = flows["hotline"]
    assert flow.languages == ("zh", "en")
    verbs = {n.verb for n in flow.nodes.values()}
    assert {"hours", "language", "play", "menu", "collect", "intake", "queue", "callback", "record", "set",
            "hangup"} <= verbs
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, s.Menu) and set(menu.choices) == {"0", "1", "2", "3"}
    assert menu.line > 1 and menu.line_of("choices[1]") >= menu.line


def test_several_flows_in_one_file_and_duplicates_across_files(tmp_path: Path) -> None:
    text = """
flow: a
start: bye
nodes:
  bye: {verb: hangup, prompt: hotline/goodbye}
---
flow: b
start: t
nodes:
  t: {verb: transfer, to: PJSIP/operator}
"""
    flows = load_text(text, "two.yaml")
    assert [f.name for f in flows] == ["a", "b"]
    (tmp_path / "x.yaml").write_text(text)
    (tmp_path / "y.yaml").write_text(text.split("---")[0])
    with pytest.raises(FlowValidationError, match="flow 'a' is also defined in"):
        load_flows([tmp_path])


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(FlowValidationError, match="file not found"):
        load_file(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    with pytest.raises(FlowValidationError, match="no flow in file"):
        load_file(tmp_path / "empty.yaml")


def test_prompt_root_relative_to_file(tmp_path: Path) -> None:
    (tmp_path / "sounds" / "zh" / "my").mkdir(parents=True)
    (tmp_path / "sounds" / "zh" / "my" / "hi.wav").write_bytes(b"RIFF")
    text = "flow: f\nstart: h\nprompts: sounds\nnodes:\n  h: {verb: hangup, prompt: my/hi}\n"
    (tmp_path / "f.yaml").write_text(text)
    assert load_file(tmp_path / "f.yaml")[0].prompt_root == str(tmp_path / "sounds")
    (tmp_path / "g.yaml").write_text(text.replace("zh", "zh").replace("prompts: sounds", "prompts: sounds\n"
                                                                        "languages: [zh, en]"))
    with pytest.raises(FlowValidationError, match=r"en/my/hi.wav"):
        load_file(tmp_path / "g.yaml")


def test_queue_callback_fields_must_go_together() -> None:
    text = """flow: q
start: q
nodes:
  q: {verb: queue, queue: citizen, callback_above: 60}
"""
    with pytest.raises(FlowValidationError, match="callback_above needs 'callback'"):
        load_text(text, "q.yaml")


def test_check_digits() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    number = with_mod11("202611280")
    assert mod11_valid(number)
    for i in range(len(number)):  # every single-digit error is caught
        for d in "0123456789":
            if d != number[i]:
                assert not mod11_valid(number[:i] + d + number[i + 1:])
    for i in range(len(number) - 1):  # every adjacent swap of different digits is caught
        if number[i] != number[i + 1]:
            assert not mod11_valid(number[:i] + number[i + 1] + number[i] + number[i + 2:])


def test_opening_hours_with_holidays_special_days_and_dst() -> None:
    cal = OpeningHours("Asia/Shanghai", {d: ((480, 1200),) for d in range(5)},
                       frozenset({dt.date(2026, 10, 1)}), {dt.date(2026, 10, 10): ((540, 720),)})
    at = lambda y, m, d, h, mi=0: dt.datetime(y, m, d, h, mi, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()  # noqa: E731
    assert cal.is_open(at(2026, 11, 30, 8, 0))  # Monday 08:00
    assert not cal.is_open(at(2026, 11, 30, 7, 59))
    assert not cal.is_open(at(2026, 11, 30, 20, 0))  # end is exclusive
    assert not cal.is_open(at(2026, 11, 28, 10))  # Saturday
    assert not cal.is_open(at(2026, 10, 1, 10))  # holiday (a Thursday)
    assert cal.is_open(at(2026, 10, 10, 10)) and not cal.is_open(at(2026, 10, 10, 13))  # special Saturday
    berlin = OpeningHours("Europe/Berlin", {6: ((60, 180),)})  # Sunday 01:00-03:00 local
    # 2026-03-29 02:30 does not exist in Berlin; 00:30 UTC is 01:30 CET (open), 01:30 UTC is 03:30 CEST
    assert berlin.is_open(dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC).timestamp())
    assert not berlin.is_open(dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC).timestamp())


def test_announcement_prompts_are_needed_only_when_announcing(tmp_path: Path) -> None:
    (tmp_path / "zh" / "my").mkdir(parents=True)
    (tmp_path / "zh" / "my" / "hold.wav").write_bytes(b"RIFF")
    text = "flow: f\nstart: q\nnodes:\n  q: {verb: queue, queue: citizen, prompt: my/hold}\n"
    assert load_text(text, "f.yaml", prompt_root=tmp_path)[0].nodes["q"].prompts() == [("prompt", "my/hold")]
    with pytest.raises(FlowValidationError, match="position_prompt: prompt file missing"):
        load_text(text.replace("prompt: my/hold", "prompt: my/hold, announce: [position]"), "f.yaml",
                  prompt_root=tmp_path)


def test_number_prompts_are_checked_where_numbers_are_spoken(tmp_path: Path) -> None:
    """A queue that announces, or a callback that reads the number back, needs hotline/numbers/*
    in every language of the flow; a flow that speaks no number does not."""
    import shutil

    from ivr_flows.loader import DEFAULT_PROMPTS_DIR

    for lang in ("zh", "en"):
        shutil.copytree(DEFAULT_PROMPTS_DIR / lang, tmp_path / lang)
    text = ("flow: f\nstart: q\nlanguages: [zh, en]\nnodes:\n"
            "  q: {verb: queue, queue: citizen, announce: [position]}\n")
    load_text(text, "f.yaml", prompt_root=tmp_path)  # everything shipped is there
    (tmp_path / "en" / "hotline" / "numbers" / "13.wav").unlink()
    with pytest.raises(FlowValidationError) as info:
        load_text(text, "f.yaml", prompt_root=tmp_path)
    (err,) = info.value.errors
    assert err.line == 5 and err.node == "q"
    assert "announce: speaks numbers, but 1 number prompt file(s) are missing in" in err.message
    assert str(tmp_path / "en" / "hotline" / "numbers") in err.message and err.message.endswith(": 13")
    load_text(text.replace(", announce: [position]", ""), "f.yaml", prompt_root=tmp_path)  # no numbers spoken


def _one_error(path: Path) -> tuple[str, float]:
    """The single load error of ``path`` as ``file:line: message``, and the seconds it took."""
    started = time.perf_counter()
    with pytest.raises(FlowValidationError) as info:
        load_flows([path])
    took = time.perf_counter() - started
    (err,) = info.value.errors
    return err.format(), took


BILLION_LAUGHS = """flow: lol
start: a
nodes:
  a: {verb: hangup}
l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
l4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
l5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
l7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]
l8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]
"""


# Within the alias budget, a long list shared through a few aliases still cannot expand beyond MAX_VALUES.
FEW_WIDE_ALIASES = ("flow: f\nstart: a\nnodes:\n  a: {verb: hangup}\n"
                    "b0: &b0 [" + ", ".join(["x"] * 5000) + "]\n"
                    "b1: &b1 [*b0, *b0, *b0, *b0, *b0]\n"
                    "b2: &b2 [*b1, *b1, *b1, *b1, *b1]\n")


@pytest.mark.parametrize(("text", "line"), [(BILLION_LAUGHS, 9), (FEW_WIDE_ALIASES, 7)],
                         ids=["alias-bomb", "few-wide-aliases"])
def test_aliases_expanding_too_far_are_refused_at_once(tmp_path: Path, text: str, line: int) -> None:
    """Issue 10: a 400-byte alias bomb took 94 s and 1.27 GB. Now one line, at once (its l4
    would hold 10^5 strings)."""
    (tmp_path / "f.yaml").write_text(text)
    message, took = _one_error(tmp_path / "f.yaml")
    assert took < 1.0
    assert message == f"{tmp_path / 'f.yaml'}:{line}: YAML value expands to more than {MAX_VALUES} values " \
                      "(through aliases); refused"


def test_aliases_beyond_the_budget_are_refused(tmp_path: Path) -> None:
    aliases = ", ".join(["*x"] * (MAX_ALIASES + 1))
    (tmp_path / "many.yaml").write_text(f"flow: f\nstart: a\nnodes:\n  a: {{verb: hangup}}\nx: &x 1\n"
                                        f"many: [{aliases}]\n")
    message, _ = _one_error(tmp_path / "many.yaml")
    assert message == f"{tmp_path / 'many.yaml'}:6: more than {MAX_ALIASES} YAML aliases (*x); refused, " \
                      "so that a small file cannot expand without bound"


def test_a_structure_that_contains_itself_is_refused(tmp_path: Path) -> None:
    (tmp_path / "self.yaml").write_text("flow: f\nstart: a\nnodes:\n  a: {verb: hangup}\nloop: &me [1, *me]\n")
    message, _ = _one_error(tmp_path / "self.yaml")
    assert message.endswith(":5: YAML alias *me is inside the value it names (a structure that contains itself)")


@pytest.mark.parametrize("open_, close", [("[", "]"), ("{a: ", "}")], ids=["list", "mapping"])
def test_deep_nesting_is_a_load_error_not_a_recursion_error(tmp_path: Path, open_: str, close: str) -> None:
    """Issue 10: a 10,000-deep nested list ended in a RecursionError traceback."""
    (tmp_path / "deep.yaml").write_text("flow: f\nstart: a\nnodes:\n  a: {verb: hangup}\ndeep: "
                                        + open_ * 10_000 + close * 10_000 + "\n")
    message, took = _one_error(tmp_path / "deep.yaml")
    assert took < 1.0
    assert message == f"{tmp_path / 'deep.yaml'}:5: YAML nested more than {MAX_DEPTH} levels deep"


def test_a_few_aliases_still_work() -> None:
    text = """flow: f
start: menu
nodes:
  menu: {verb: menu, prompt: hotline/main_menu, choices: &to_bye {"1": bye, "2": bye}, failed: again}
  again: {verb: menu, prompt: hotline/main_menu, choices: *to_bye, failed: bye}
  bye: {verb: hangup}
"""
    (flow,) = load_text(text, "f.yaml", check_prompts=False)
    assert flow.nodes["again"].choices == flow.nodes["menu"].choices == {"1": "bye", "2": "bye"}


@pytest.mark.parametrize("dates", ["[2026-01-01, 2026-02-30]", "[2026-13-01]"])
def test_an_impossible_holiday_date_is_a_load_error(dates: str) -> None:
    """YAML itself reads 2026-02-30 as a date and raised a bare ValueError (a traceback)."""
    text = f"""flow: f
start: hours
nodes:
  hours:
    verb: hours
    weekly: {{mon-sun: "08:00-22:00"}}
    holidays: {dates}
    open: bye
    closed: bye
  bye: {{verb: hangup}}
"""
    with pytest.raises(FlowValidationError) as info:
        load_text(text, "h.yaml", check_prompts=False)
    (err,) = info.value.errors
    assert err.format().startswith("h.yaml:7: node 'hours': holidays: '2026-") and "is not a calendar date" in err.message
