"""The AMI codec against the recordings: whole, byte by byte, and with a Chinese name cut mid-character."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from engine.asterisk.ami_codec import (
    MAX_LINE,
    MAX_MESSAGE,
    AmiBanner,
    AmiCodec,
    AmiListResponse,
    AmiMessage,
    serialize_action,
)
from engine.asterisk.errors import AmiProtocolError
from tests.fixture_files import ami_server_bytes


def parse(data: bytes, chunk: int | None = None, group: bool = True) -> list:
    codec = AmiCodec(group_lists=group)
    out: list = []
    step = chunk or len(data) or 1
    for i in range(0, len(data), step):
        codec.feed(data[i : i + step])
        out.extend(codec.items())
    out.extend(codec.close())
    return out


def test_session_banner_and_counts(asterisk_fixtures):
    items = parse(ami_server_bytes(asterisk_fixtures / "ami_session.txt"))
    assert isinstance(items[0], AmiBanner) and items[0].version == "13.0.0"
    events = Counter(i.event for i in items if isinstance(i, AmiMessage) and i.is_event)
    assert events["QueueCallerAbandon"] == 1
    assert events["AgentConnect"] >= 1
    lists = [i for i in items if isinstance(i, AmiListResponse)]
    assert {lst.complete.event for lst in lists} >= {"QueueSummaryComplete", "QueueStatusComplete"}
    for lst in lists:
        assert lst.complete.get("EventList") == "Complete"
        assert all(e.action_id == lst.action_id for e in lst.events)
    errors = [i for i in items if isinstance(i, AmiMessage) and i.response == "Error"]
    assert any("NoSuchAction" in (e.get("Message") or "") for e in errors)


@pytest.mark.parametrize("name", ["ami_session.txt", "ami_queue_day.txt", "ami_chinese_callerid.txt", "ami_spy.txt", "ami_failed_login.txt"])
def test_byte_by_byte_equals_whole(asterisk_fixtures, name):
    data = ami_server_bytes(asterisk_fixtures / name)
    if len(data) > 100_000:
        data = data[:100_000]
    assert parse(data, chunk=1) == parse(data)


def test_queue_day_final_counters(asterisk_fixtures):
    items = parse(ami_server_bytes(asterisk_fixtures / "ami_queue_day.txt"))
    final = next(i for i in items if isinstance(i, AmiListResponse) and i.action_id == "final-status")
    params = next(e for e in final.events if e.event == "QueueParams")
    assert params["Completed"] == "22"
    assert params["Abandoned"] == "2"


def test_chinese_name_split_inside_a_character(asterisk_fixtures):
    data = ami_server_bytes(asterisk_fixtures / "ami_chinese_callerid.txt")
    name = "张三丰 市民".encode()
    at = data.index(name) + 1  # inside the first character's three bytes
    codec = AmiCodec()
    codec.feed(data[:at])
    codec.feed(data[at:])
    items = list(codec.items()) + codec.close()
    names = {i.get("CallerIDName") for i in items if isinstance(i, AmiMessage)}
    assert "张三丰 市民" in names


def test_case_insensitive_repeated_headers_and_lf():
    codec = AmiCodec()
    codec.feed(b"Event: VarSet\ncallerIDnum: 1\nVariable: a\nVariable: b\n\n")
    (msg,) = list(codec.items())
    assert msg.get("CallerIDNum") == "1"
    assert msg.get_all("variable") == ["a", "b"]


def test_serialize_action_round_trip():
    raw = serialize_action("Originate", {"Channel": "Local/s@ivr", "Variable": ["A=1", "B=2"]}, action_id="7")
    assert raw.endswith(b"\r\n\r\n")
    codec = AmiCodec()
    codec.feed(raw)
    (msg,) = list(codec.items())
    assert msg["Action"] == "Originate" and msg.action_id == "7"
    assert msg.get_all("Variable") == ["A=1", "B=2"]
    with pytest.raises(ValueError):
        serialize_action("Login", {"Secret": "x\r\nAction: Hangup"})


def test_overlong_line_is_an_error():
    codec = AmiCodec()
    with pytest.raises(AmiProtocolError):
        codec.feed(b"X" * (1100 * 1024))


def test_leading_blank_lines_and_missing_banner():
    codec = AmiCodec()
    codec.feed(b"\r\n\r\nEvent: A\r\nX: 1\r\n\r\n\nEvent: B\n\n")
    items = list(codec.items())
    assert [i.event for i in items] == ["A", "B"]
    assert items[0].get("x") == "1"


def test_lines_without_colon_and_odd_spacing_take_the_careful_path():
    codec = AmiCodec()
    codec.feed(b"Response: Follows\r\nPrivilege: Command\r\nAsterisk 20.0 built by root\r\nKey:value\r\n\r\n")
    (msg,) = list(codec.items())
    assert msg.get("Output") == "Asterisk 20.0 built by root"
    assert msg.get("key") == "value"
    codec.feed(b"Event: X\r\nA:  two spaces\r\n\r\n")
    (msg,) = list(codec.items())
    assert msg.get("A") == " two spaces"


def feed_all(codec: AmiCodec, data: bytes, chunk: int) -> tuple[list, list[str], float]:
    """Items, protocol errors and seconds taken, feeding ``data`` in ``chunk``-byte reads."""
    items: list = []
    errors: list[str] = []
    started = time.perf_counter()
    for i in range(0, len(data), chunk):
        try:
            codec.feed(data[i : i + chunk])
        except AmiProtocolError as exc:
            errors.append(str(exc))
        items.extend(codec.items())
    return items, errors, time.perf_counter() - started


def test_long_line_of_spaces_parses_in_linear_time():
    """Issue 10: the header regex backtracked quadratically on a long line without a colon
    (16 KB of spaces took over a second, 30 KB about four; in serve it froze outbound audio
    for 11 s). Now well under the limit: milliseconds."""
    spaces = b" " * 30_000
    for body, header in ((spaces, ("Output", spaces.decode())), (b"Key" + spaces + b": value", ("Key", "value"))):
        items, errors, took = feed_all(AmiCodec(), b"Event: X\r\n" + body + b"\r\n\r\n", 1 << 20)
        assert took < 0.5 and not errors
        (msg,) = items
        assert msg.headers == (("Event", "X"), header)


def test_a_message_fed_one_byte_at_a_time_costs_no_more_than_whole():
    """The old feed searched the whole unfinished buffer for a blank line at every read: a
    115 KB message in 1-byte reads took 7.6 s. Only the new bytes are searched now."""
    msg = b"Event: Big\r\n" + b"".join(b"Variable: v%d=%s\r\n" % (i, b"x" * 40) for i in range(2000)) + b"\r\n"
    items, errors, took = feed_all(AmiCodec(), msg, 1)
    assert took < 2.0 and not errors
    (big,) = items
    assert len(big.get_all("Variable")) == 2000


@pytest.mark.parametrize("chunk", [1 << 21, 4096], ids=["whole", "4k-reads"])
def test_overlong_line_is_refused_fast_and_the_next_message_parses(chunk):
    """A 1 MB line: one clear protocol error, its message dropped up to the blank line, then the
    codec is in step again (a transport closes the connection anyway)."""
    data = b"Event: A\r\nX: " + b" " * 1_000_000 + b"\r\n\r\nEvent: B\r\n\r\n"
    items, errors, took = feed_all(AmiCodec(), data, chunk)
    assert took < 1.0
    assert len(errors) == 1 and f"AMI line longer than {MAX_LINE}" in errors[0]
    assert [m.event for m in items] == ["B"]


def test_line_and_message_limits():
    longest = b"X: " + b"y" * (MAX_LINE - 3)
    for chunk in (1 << 20, 1000):
        items, errors, _ = feed_all(AmiCodec(), b"Event: A\r\n" + longest + b"\r\n\r\n", chunk)
        assert not errors and items[0]["X"] == "y" * (MAX_LINE - 3)
        _, errors, _ = feed_all(AmiCodec(), b"Event: A\r\n" + longest + b"z\r\n\r\n", chunk)
        assert len(errors) == 1 and "line longer" in errors[0]
    many = b"Event: Many\r\n" + b"".join(b"V: %s\r\n" % (b"x" * 1000) for _ in range(MAX_MESSAGE // 1000))
    for chunk in (1 << 21, 4096):
        items, errors, _ = feed_all(AmiCodec(), many + b"\r\nEvent: After\r\n\r\n", chunk)
        assert len(errors) == 1 and f"AMI message longer than {MAX_MESSAGE}" in errors[0]
        assert [m.event for m in items] == ["After"]
