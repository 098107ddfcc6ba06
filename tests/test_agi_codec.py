"""FastAGI codec on the recorded bytes: whole, byte by byte, and with a Chinese name cut mid-character."""

from __future__ import annotations

import pytest

from engine.asterisk.agi_codec import (
    AgiCodec,
    AgiHangupLine,
    AgiRequest,
    AgiResponse,
    Quoted,
    parse_reply_line,
    quote_arg,
    serialize_command,
    split_command,
)
from engine.asterisk.agi_recording import app_commands, asterisk_bytes
from engine.asterisk.errors import AgiProtocolError, LocalProtocolError


def _parse_all(data: bytes, chunks: list[int] | None = None) -> list:
    codec = AgiCodec()
    if chunks is None:
        codec.feed(data)
    else:
        pos = 0
        for n in chunks:
            codec.feed(data[pos : pos + n])
            pos += n
        codec.feed(data[pos:])
    return codec.items()


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_session_recording(asterisk_fixtures, mode):
    data = asterisk_bytes(asterisk_fixtures / "fastagi_session.txt")
    items = _parse_all(data, [1] * len(data) if mode == "bytewise" else None)
    req = items[0]
    assert isinstance(req, AgiRequest)
    assert req.network_script == "main_menu" and req.script == "main_menu" and req.query == ()
    assert req.request == "agi://127.0.0.1:4573/main_menu"
    assert req.channel == "Local/dtmf@caller-00000075;1"
    assert req.uniqueid == "1795881200.235"
    assert req.callerid == "13800000001" and req.calleridname == "Citizen A"
    assert req.language == "en" and req.context == "ivr" and req.extension == "s" and req.priority == "2"
    assert req.accountcode == "" and req.get("agi_threadid") == "140005464864448"
    assert req.get("network") == "yes"
    assert len(req.headers) == 22
    assert "13800000001" not in repr(req) and req.masked_callerid == "138****0001"
    replies = items[1:]
    assert all(isinstance(r, AgiResponse) for r in replies)
    assert [r.code for r in replies] == [200] * 5
    get_var, stream, wait, setvar, verbose = replies
    assert get_var.result == 1 and get_var.data == "13800000001"
    assert stream.result == 50 and chr(stream.result) == "2" and stream.endpos == 9760
    assert wait.result == 0 and wait.data is None
    assert setvar.result == 1 and verbose.result == 1


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_exec_audiosocket_recording(asterisk_fixtures, mode):
    path = asterisk_fixtures / "fastagi_exec_audiosocket.txt"
    data = asterisk_bytes(path)
    items = _parse_all(data, [1] * len(data) if mode == "bytewise" else None)
    req = items[0]
    assert req.script == "intake" and req.context == "ivr-speech"
    assert req.callerid == "unknown" and req.masked_callerid == "unknown"
    assert [(r.code, r.result) for r in items[1:]] == [(200, 0), (200, 1), (200, 0)]


@pytest.mark.parametrize("name", ["fastagi_session.txt", "fastagi_exec_audiosocket.txt"])
def test_serialize_reproduces_recorded_commands(asterisk_fixtures, name):
    recorded = app_commands(asterisk_fixtures / name)
    ours = {
        b"GET VARIABLE CALLERID(num)\n": serialize_command("GET VARIABLE", "CALLERID(num)"),
        b'STREAM FILE hotline/hello "0123456789"\n': serialize_command(
            "STREAM FILE", "hotline/hello", Quoted("0123456789")
        ),
        b"WAIT FOR DIGIT 5000\n": serialize_command("WAIT FOR DIGIT", 5000),
        b'SET VARIABLE IVR_CHOICE "2"\n': serialize_command("SET VARIABLE", "IVR_CHOICE", Quoted("2")),
        b'VERBOSE "ivr done" 1\n': serialize_command("VERBOSE", "ivr done", 1),
        b'EXEC AudioSocket "2f0a1c3e-0000-4000-8000-000000000001,127.0.0.1:9094"\n': serialize_command(
            "EXEC", "AudioSocket", Quoted("2f0a1c3e-0000-4000-8000-000000000001,127.0.0.1:9094")
        ),
        b'SET VARIABLE INTAKE "heard"\n': serialize_command("SET VARIABLE", "INTAKE", Quoted("heard")),
        b"GET VARIABLE AUDIOSOCKET_STATUS\n": serialize_command("GET VARIABLE", "AUDIOSOCKET_STATUS"),
    }
    assert recorded, "no commands found in the recording"
    for line in recorded:
        assert ours[line] == line


CHINESE_HEADER = (
    "agi_network: yes\n"
    "agi_network_script: main_menu?lang=zh&flow=a%20b\n"
    "agi_request: agi://127.0.0.1:4573/main_menu?lang=zh&flow=a%20b\n"
    "agi_channel: PJSIP/trunk-00000001\n"
    "agi_callerid: 13912345678\n"
    "agi_calleridname: 张三丰 市民\n"
    "agi_context: ivr\n"
    "agi_arg_1: first\n"
    "agi_arg_2: 二\n"
    "\n"
).encode() + "200 result=1 (张三)\n".encode()


def test_chinese_name_split_mid_character():
    name_at = CHINESE_HEADER.index("张".encode())
    for cut in (name_at + 1, name_at + 2, name_at + 4):
        items = _parse_all(CHINESE_HEADER, [cut])
        req = items[0]
        assert req.calleridname == "张三丰 市民"
        assert req.script == "main_menu" and req.params == {"lang": "zh", "flow": "a b"}
        assert req.args == ("first", "二")
        assert items[1].data == "张三"
    items = _parse_all(CHINESE_HEADER, [1] * len(CHINESE_HEADER))
    assert items[0].calleridname == "张三丰 市民"


def test_reply_kinds():
    codec = AgiCodec(expect_header=False)
    codec.feed(
        b"510 Invalid or unknown command\n"
        b"511 Command Not Permitted on a dead channel or intercept routine\n"
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n"
        b"   Send the given file.\n"
        b"520 End of proper usage.\n"
        b"HANGUP\n"
        b"520 Invalid command syntax.  Proper usage not available.\n"
        b"200 result= (timeout)\n"
        b"200 result=12 (timeout)\n"
        b"200 result=-1 endpos=0\n"
        b"200 result=1 (a (b) c)\n"
        b"200 result=0 (timeout) endpos=160\n"
        b"100 result=0 Trying...\n"
    )
    items = codec.items()
    assert [getattr(i, "code", "H") for i in items] == [510, 511, 520, "H", 520, 200, 200, 200, 200, 200, 100]
    assert isinstance(items[3], AgiHangupLine)
    assert "Usage: STREAM FILE" in items[2].usage and "Send the given file." in items[2].usage
    assert items[5].result is None and items[5].result_raw == "" and items[5].data == "timeout"
    assert items[6].result_raw == "12" and items[6].data == "timeout"
    assert items[7].result == -1 and items[7].endpos == 0
    assert items[8].data == "a (b) c"
    assert items[9].data == "timeout" and items[9].endpos == 160


def test_usage_reply_split_bytewise():
    data = b"520-Invalid command syntax.  Proper usage follows:\nUsage: X\n520 End of proper usage.\n200 result=1\n"
    codec = AgiCodec(expect_header=False)
    for b in data:
        codec.feed(bytes([b]))
    items = codec.items()
    assert [i.code for i in items] == [520, 200] and items[0].usage == "Usage: X"


@pytest.mark.parametrize(
    "line", ["garbage", "20 result=1", "200 foo", "200 result=1 (unclosed"]
)
def test_bad_reply_lines(line):
    with pytest.raises(AgiProtocolError):
        parse_reply_line(line)


def test_bad_header_line():
    codec = AgiCodec()
    with pytest.raises(AgiProtocolError, match="agi_key"):
        codec.feed(b"agi_network: yes\nGET / HTTP/1.0\n")


def test_overlong_line_rejected():
    codec = AgiCodec()
    with pytest.raises(AgiProtocolError, match="longer"):
        codec.feed(b"agi_x: " + b"a" * 20000)


def test_quoting_round_trip():
    for arg in ["plain", "with space", 'a "quote"', "back\\slash", "", "中文 名"]:
        line = serialize_command("SET VARIABLE", "X", arg).decode()
        assert split_command(line) == ["SET", "VARIABLE", "X", arg]
    assert quote_arg("abc") == "abc" and quote_arg("a b") == '"a b"' and quote_arg("") == '""'
    assert split_command('EXEC AudioSocket "u,h:1"') == ["EXEC", "AudioSocket", "u,h:1"]
    with pytest.raises(LocalProtocolError):
        serialize_command("VERBOSE", "two\nlines")
