"""The flow schema: one frozen dataclass per verb, built from YAML with line numbers kept.

A flow file holds one flow per YAML document (``---`` separates several). A flow::

    flow: hotline            # name; AGI(agi://engine/hotline) runs it
    start: check_hours       # first node
    languages: [zh, en]      # prompt languages; the first is the default
    prompts: ../prompts      # optional prompt root (relative to the file)
    timezone: Asia/Shanghai  # default for hours nodes
    nodes:
      check_hours: {verb: hours, weekly: {mon-fri: "08:00-20:00"}, open: welcome, closed: closed}
      ...

Every node is a mapping with ``verb`` and that verb's fields (see ``VERBS`` and docs/flows.md).
Unknown verbs and unknown fields are errors, so a typo never silently changes a flow. Field
metadata says which fields name other nodes (``target``) and which name prompt files
(``prompts``): the loader checks both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ivr_flows.calendar import OpeningHours, parse_days, parse_range
from ivr_flows.checksums import VALIDATORS
from ivr_flows.yamlpos import Y

DIGITS = set("0123456789*#")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NODE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
PROMPT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
DATE_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FieldError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


# -- field parsers: (Y) -> value, raising FieldError with the value's line -------------------


def p_str(y: Y) -> str:
    if y.is_map or y.is_seq or y.value is None or isinstance(y.value, bool):
        raise FieldError(y.line, f"expected text, got {_show(y)}")
    return str(y.value)


def p_target(y: Y) -> str:
    value = p_str(y)
    if not NODE_ID.match(value):
        raise FieldError(y.line, f"{value!r} is not a node id")
    return value


def p_int(lo: int | None = None, hi: int | None = None) -> Callable[[Y], int]:
    def parse(y: Y) -> int:
        if not isinstance(y.value, int) or isinstance(y.value, bool):
            raise FieldError(y.line, f"expected a whole number, got {_show(y)}")
        if (lo is not None and y.value < lo) or (hi is not None and y.value > hi):
            raise FieldError(y.line, f"{y.value} is out of range [{lo}, {hi}]")
        return y.value

    return parse


def p_seconds(y: Y) -> float:
    if not isinstance(y.value, int | float) or isinstance(y.value, bool) or y.value < 0:
        raise FieldError(y.line, f"expected seconds (a number >= 0), got {_show(y)}")
    return float(y.value)


def p_bool(y: Y) -> bool:
    if not isinstance(y.value, bool):
        raise FieldError(y.line, f"expected true or false, got {_show(y)}")
    return y.value


def p_prompts(y: Y) -> tuple[str, ...]:
    items = y.seq if y.is_seq else [y]
    out = []
    for item in items:
        name = p_str(item)
        if not PROMPT_NAME.match(name) or name.endswith((".wav", ".gsm", ".sln", ".ulaw", ".alaw")):
            raise FieldError(item.line, f"prompt {name!r} must be a sound name without extension, e.g. hotline/welcome")
        out.append(name)
    if not out:
        raise FieldError(y.line, "empty prompt list")
    return tuple(out)


def p_digit(y: Y) -> str:
    value = p_str(y)
    if len(value) != 1 or value not in DIGITS:
        raise FieldError(y.line, f"expected one DTMF key (0-9, * or #), got {value!r}")
    return value


def _digit_key(key: str, line: int) -> str:
    if len(key) != 1 or key not in DIGITS:
        raise FieldError(line, f"choice key {key!r} must be one DTMF key (0-9, * or #); quote it in YAML")
    return key


def p_choices(y: Y) -> dict[str, str]:
    if not y.is_map or not y.items:
        raise FieldError(y.line, f"expected a mapping of DTMF key to node id, got {_show(y)}")
    return {_digit_key(k, y.key_lines[k]): p_target(v) for k, v in y.items.items()}


def p_speech(y: Y) -> dict[str, tuple[str, ...]]:
    if not y.is_map or not y.items:
        raise FieldError(y.line, "expected a mapping of DTMF key to a list of phrases")
    out = {}
    for k, v in y.items.items():
        key = _digit_key(k, y.key_lines[k])
        phrases = tuple(p_str(i) for i in (v.seq if v.is_seq else [v]))
        if not phrases or any(not p.strip() for p in phrases):
            raise FieldError(v.line, f"choice {key!r}: empty phrase")
        out[key] = phrases
    return out


def p_lang_choices(y: Y) -> dict[str, str]:
    if not y.is_map or not y.items:
        raise FieldError(y.line, "expected a mapping of DTMF key to language code")
    return {_digit_key(k, y.key_lines[k]): p_str(v) for k, v in y.items.items()}


def p_vars(y: Y) -> dict[str, str]:
    if not y.is_map or not y.items:
        raise FieldError(y.line, "expected a mapping of variable name to value")
    out = {}
    for k, v in y.items.items():
        if not VAR_NAME.match(k):
            raise FieldError(y.key_lines[k], f"{k!r} is not a valid channel variable name")
        if v.is_map or v.is_seq:
            raise FieldError(v.line, f"variable {k}: expected a plain value")
        out[k] = "" if v.value is None else str(v.value).lower() if isinstance(v.value, bool) else str(v.value)
    return out


def p_var_name(y: Y) -> str:
    value = p_str(y)
    if not VAR_NAME.match(value):
        raise FieldError(y.line, f"{value!r} is not a valid channel variable name")
    return value


def p_one_of(*options: str) -> Callable[[Y], str]:
    def parse(y: Y) -> str:
        value = p_str(y)
        if value not in options:
            raise FieldError(y.line, f"{value!r} is not one of {', '.join(options)}")
        return value

    return parse


def p_announce(y: Y) -> tuple[str, ...]:
    items = y.seq if y.is_seq else [y]
    out = tuple(p_one_of("position", "wait")(i) for i in items)
    return out


def p_weekly(y: Y) -> dict[int, tuple[tuple[int, int], ...]]:
    if not y.is_map:
        raise FieldError(y.line, 'expected a mapping like {mon-fri: "08:00-20:00", sat: "09:00-12:00"}')
    out: dict[int, tuple[tuple[int, int], ...]] = {}
    for k, v in (y.items or {}).items():
        try:
            days = parse_days(k)
        except ValueError as exc:
            raise FieldError(y.key_lines[k], str(exc)) from None
        ranges = _ranges(v)
        for d in days:
            out[d] = out.get(d, ()) + ranges
    return out


def _ranges(v: Y) -> tuple[tuple[int, int], ...]:
    items = v.seq if v.is_seq else [v]
    out = []
    for item in items:
        if item.value in ("closed", None) and not item.is_map and not item.is_seq:
            continue
        if not isinstance(item.value, str):
            raise FieldError(item.line, f'expected a quoted time range like "08:00-20:00", got {_show(item)}')
        try:
            out.append(parse_range(item.value))
        except ValueError as exc:
            raise FieldError(item.line, str(exc)) from None
    return tuple(out)


def _date(y: Y) -> dt.date:
    if isinstance(y.value, dt.date) and not isinstance(y.value, dt.datetime):
        return y.value
    if isinstance(y.value, str):
        try:
            return dt.date.fromisoformat(y.value)
        except ValueError as exc:
            if DATE_SHAPE.match(y.value):  # 2026-02-30: the shape of a date, but no such day
                raise FieldError(y.line, f"{y.value!r} is not a calendar date ({exc})") from None
    raise FieldError(y.line, f"expected a date like 2026-10-01, got {_show(y)}")


def p_dates(y: Y) -> frozenset[dt.date]:
    if not y.is_seq:
        raise FieldError(y.line, "expected a list of dates")
    return frozenset(_date(i) for i in y.seq or [])


def p_special(y: Y) -> dict[dt.date, tuple[tuple[int, int], ...]]:
    if not y.is_map:
        raise FieldError(y.line, 'expected a mapping of date to ranges, e.g. {2026-09-27: "08:00-17:00"}')
    out = {}
    for k, v in (y.items or {}).items():
        out[_date(Y(line=y.key_lines[k], value=k[:10]))] = _ranges(v)
    return out


def _show(y: Y) -> str:
    if y.is_map:
        return "a mapping"
    if y.is_seq:
        return "a list"
    return repr(y.value)


# -- nodes -------------------------------------------------------------------------------------


def fld(parse: Callable[[Y], Any], *, default: Any = dataclasses.MISSING, kind: str = "") -> Any:
    """A node field: its YAML parser, default (none = required) and kind (target/prompts)."""
    meta = {"parse": parse, "kind": kind}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    if isinstance(default, dict | list | set):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Node:
    id: str
    line: int
    field_lines: dict[str, int] = field(default_factory=dict, kw_only=True, compare=False, repr=False)
    verb: ClassVar[str] = ""
    terminal: ClassVar[bool] = False  # ends the run in the engine (the dialplan takes over)
    instant: ClassVar[bool] = False  # needs no caller input or playback

    def targets(self) -> list[tuple[str, str]]:
        """(field name or choice label, target node id) for every edge out of this node."""
        out: list[tuple[str, str]] = []
        for f in dataclasses.fields(self):
            if f.metadata.get("kind") != "target":
                continue
            value = getattr(self, f.name)
            if isinstance(value, dict):
                out.extend((f"{f.name}[{k}]", v) for k, v in value.items())
            elif value:
                out.append((f.name, value))
        return out

    def line_of(self, label: str) -> int:
        """The line of a field (or ``choices[1]`` entry), falling back to the node's line."""
        return self.field_lines.get(label, self.field_lines.get(label.split("[")[0], self.line))

    def prompts(self) -> list[tuple[str, str]]:
        """(field name, prompt name) for every prompt file this node plays."""
        out: list[tuple[str, str]] = []
        for f in dataclasses.fields(self):
            if f.metadata.get("kind") == "prompts":
                out.extend((f.name, p) for p in getattr(self, f.name) or ())
        return out

    def speaks_numbers(self) -> str:
        """The field that makes this node speak numbers (the ``hotline/numbers/*`` prompts of
        ``ivr_flows.numbers``); "" when it speaks none."""
        return ""


@dataclass(frozen=True)
class Play(Node):
    verb: ClassVar[str] = "play"
    prompt: tuple[str, ...] = fld(p_prompts, kind="prompts")
    next: str = fld(p_target, kind="target")
    barge_in: bool = fld(p_bool, default=False)  # a key stops the prompt and is kept for the next menu


@dataclass(frozen=True)
class Menu(Node):
    verb: ClassVar[str] = "menu"
    prompt: tuple[str, ...] = fld(p_prompts, kind="prompts")
    choices: dict[str, str] = fld(p_choices, kind="target")
    failed: str = fld(p_target, kind="target")  # after the last retry
    speech: dict[str, tuple[str, ...]] = fld(p_speech, default={})  # key -> phrases said instead
    retries: int = fld(p_int(0, 9), default=2)
    timeout: float = fld(p_seconds, default=5.0)
    timeout_prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")
    invalid_prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")


@dataclass(frozen=True)
class Collect(Node):
    verb: ClassVar[str] = "collect"
    prompt: tuple[str, ...] = fld(p_prompts, kind="prompts")
    var: str = fld(p_var_name)
    max_digits: int = fld(p_int(1, 32))
    next: str = fld(p_target, kind="target")
    failed: str = fld(p_target, kind="target")
    min_digits: int = fld(p_int(1, 32), default=1)
    terminator: str = fld(p_digit, default="#")
    validate: str = fld(p_one_of("length", *VALIDATORS), default="length")
    personal: bool = fld(p_bool, default=False)  # a phone or ID number: masked in run records
    retries: int = fld(p_int(0, 9), default=2)
    timeout: float = fld(p_seconds, default=8.0)
    timeout_prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")
    invalid_prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")


@dataclass(frozen=True)
class Intake(Node):
    verb: ClassVar[str] = "intake"
    next: str = fld(p_target, kind="target")
    prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")
    no_speech: str = fld(p_target, default="", kind="target")  # default: next
    var: str = fld(p_var_name, default="HOTLINE_TRANSCRIPT")
    max_seconds: float = fld(p_seconds, default=30.0)
    silence_ms: int = fld(p_int(200, 10000), default=1200)  # the pause that ends the caller's turn
    done_prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")


@dataclass(frozen=True)
class Hours(Node):
    verb: ClassVar[str] = "hours"
    instant: ClassVar[bool] = True
    weekly: dict[int, tuple[tuple[int, int], ...]] = fld(p_weekly)
    open: str = fld(p_target, kind="target")
    closed: str = fld(p_target, kind="target")
    timezone: str = fld(p_str, default="")  # default: the flow's
    holidays: frozenset[dt.date] = fld(p_dates, default=frozenset())
    special: dict[dt.date, tuple[tuple[int, int], ...]] = fld(p_special, default={})

    def calendar(self, default_tz: str) -> OpeningHours:
        return OpeningHours(self.timezone or default_tz, self.weekly, self.holidays, self.special)


@dataclass(frozen=True)
class Language(Node):
    verb: ClassVar[str] = "language"
    next: str = fld(p_target, kind="target")
    prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")
    choices: dict[str, str] = fld(p_lang_choices, default={})
    set: str = fld(p_str, default="")  # set without asking
    default: str = fld(p_str, default="")  # on timeout or invalid key; empty: keep the current
    timeout: float = fld(p_seconds, default=4.0)


@dataclass(frozen=True)
class Queue(Node):
    verb: ClassVar[str] = "queue"
    terminal: ClassVar[bool] = True
    queue: str = fld(p_str)
    priority: int = fld(p_int(0, 100), default=0)
    timeout: int = fld(p_int(0, 86400), default=0)  # seconds in Queue(); 0 = no limit
    announce: tuple[str, ...] = fld(p_announce, default=())  # position and/or wait
    prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")  # before the announcement
    position_prompt: tuple[str, ...] = fld(p_prompts, default=("hotline/position",), kind="prompts")
    wait_prompt: tuple[str, ...] = fld(p_prompts, default=("hotline/wait",), kind="prompts")
    minutes_prompt: tuple[str, ...] = fld(p_prompts, default=("hotline/minutes",), kind="prompts")
    callback_above: float = fld(p_seconds, default=0.0)  # offer a callback above this wait; 0 = never
    callback: str = fld(p_target, default="", kind="target")  # where an accepted offer goes
    offer_prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")
    offer_key: str = fld(p_digit, default="1")
    offer_timeout: float = fld(p_seconds, default=5.0)

    def prompts(self) -> list[tuple[str, str]]:
        """Announcement prompts count only when the announcement is configured."""
        unused = set()
        if "position" not in self.announce:
            unused.add("position_prompt")
        if "wait" not in self.announce:
            unused |= {"wait_prompt", "minutes_prompt"}
        return [(name, prompt) for name, prompt in super().prompts() if name not in unused]

    def speaks_numbers(self) -> str:
        return "announce" if self.announce else ""


@dataclass(frozen=True)
class Callback(Node):
    verb: ClassVar[str] = "callback"
    next: str = fld(p_target, kind="target")
    failed: str = fld(p_target, kind="target")
    confirm_prompt: tuple[str, ...] = fld(p_prompts, kind="prompts")  # "we will call you back at"
    confirm_menu_prompt: tuple[str, ...] = fld(p_prompts, kind="prompts")  # "1 to confirm, 2 to change"
    enter_prompt: tuple[str, ...] = fld(p_prompts, kind="prompts")
    booked_prompt: tuple[str, ...] = fld(p_prompts, kind="prompts")
    queue: str = fld(p_str, default="")  # default: the queue that offered the callback
    priority: int = fld(p_int(0, 100), default=0)
    min_digits: int = fld(p_int(1, 32), default=7)
    max_digits: int = fld(p_int(1, 32), default=12)
    retries: int = fld(p_int(0, 9), default=2)
    timeout: float = fld(p_seconds, default=8.0)
    invalid_prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")

    def speaks_numbers(self) -> str:
        return "confirm_prompt"  # the number is read back between confirm_prompt and the menu


@dataclass(frozen=True)
class Record(Node):
    verb: ClassVar[str] = "record"
    next: str = fld(p_target, kind="target")
    prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")
    max_seconds: float = fld(p_seconds, default=120.0)
    silence_seconds: float = fld(p_seconds, default=5.0)
    beep: bool = fld(p_bool, default=True)
    folder: str = fld(p_str, default="hotline-messages")  # under Asterisk's monitor/recording dir


@dataclass(frozen=True)
class Set(Node):
    verb: ClassVar[str] = "set"
    instant: ClassVar[bool] = True
    vars: dict[str, str] = fld(p_vars)
    next: str = fld(p_target, kind="target")


@dataclass(frozen=True)
class Goto(Node):
    verb: ClassVar[str] = "goto"
    instant: ClassVar[bool] = True
    target: str = fld(p_target, kind="target")


@dataclass(frozen=True)
class Transfer(Node):
    verb: ClassVar[str] = "transfer"
    terminal: ClassVar[bool] = True
    to: str = fld(p_str)  # dial string, e.g. PJSIP/operator or Local/100@operators
    prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")


@dataclass(frozen=True)
class Hangup(Node):
    verb: ClassVar[str] = "hangup"
    terminal: ClassVar[bool] = True
    prompt: tuple[str, ...] = fld(p_prompts, default=(), kind="prompts")


VERBS: dict[str, type[Node]] = {
    cls.verb: cls
    for cls in (Play, Menu, Collect, Intake, Hours, Language, Queue, Callback, Record, Set, Goto, Transfer, Hangup)
}


def node_fields(cls: type[Node]) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "parse" in f.metadata]


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: dict[str, Node]
    file: str
    line: int
    languages: tuple[str, ...] = ("zh",)
    timezone: str = "Asia/Shanghai"
    prompt_root: str = ""
    description: str = ""

    @property
    def default_language(self) -> str:
        return self.languages[0]
