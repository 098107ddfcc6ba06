"""The AMI codec against the recordings: whole, byte by byte, and with a Chinese name cut mid-character."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.asterisk.ami_codec import (
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
