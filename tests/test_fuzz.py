"""Bounded, seeded fuzzing of what crosses the engine's edges: AMI bytes, AudioSocket bytes (the
codec and a live server) and flow files.

Each input may be refused only with the component's own error (``AmiProtocolError``,
``AudioSocketError``, ``FlowValidationError``); any other exception is a bug. Inputs are random
bytes and the recordings (or the shipped flow) with random edits. Every test draws from a
``random.Random`` with a fixed seed, so a failure repeats and names its round; the round counts
keep the whole file to a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid as uuid_mod
from collections.abc import Callable
from pathlib import Path

from engine.asterisk.ami_codec import AmiCodec, AmiListResponse, AmiMessage
from engine.asterisk.audiosocket_codec import (
    AUDIO_RATES,
    KIND_ERROR,
    AudioSocketCodec,
    encode,
    encode_audio,
    encode_dtmf,
    encode_hangup,
    encode_uuid,
)
from engine.asterisk.audiosocket_server import AudioSocketServer, AudioSocketSession
from engine.asterisk.errors import AmiProtocolError, AudioSocketError
from engine.events.ami import QueueSnapshot, event_from_message
from engine.pbxsim.audiosocket_client import AudioSocketClient
from ivr_flows.errors import FlowValidationError
from ivr_flows.loader import default_flow_files, load_file, load_text
from tests.fixture_files import ami_server_bytes, recorded_audiosocket_stream

SEED = 10_2026

AMI_RECORDINGS = ("ami_session.txt", "ami_queue_day.txt", "ami_chinese_callerid.txt",
                  "ami_ivr_queue_local.txt", "ami_spy.txt", "ami_failed_login.txt")
AMI_TOKENS = [
    b"\r\n", b"\n", b"\n\n", b"\r\n\r\n", b"\r", b":", b": ", b" ", b"\x00", b"\xff\xfe", "张三丰".encode(),
    "张".encode()[:2], b"Asterisk Call Manager/13.0.0\r\n", b"Response: Success\r\n", b"Response: Follows\r\n",
    b"EventList: start\r\n", b"EventList: Complete\r\n", b"ActionID: fz\r\n", b"Event: QueueParams\r\n",
    b"Event: QueueMember\r\n", b"Event: QueueEntry\r\n", b"Event: AgentComplete\r\n", b"HoldTime: 1e400\r\n",
    b"Position: -1\r\n", b"TalkTime: nan\r\n", b"Timestamp: 1e20\r\n", b"Paused: maybe\r\n", b"Status: 99\r\n",
    b"Calls: 99999999999999999999\r\n", b"Output: x\r\n", b"no colon here\r\n", b": empty key\r\n",
    b" " * 70_000, b"x" * 70_000,  # a line over the codec's limit
]
AUDIOSOCKET_TOKENS = [
    encode_hangup(), encode(KIND_ERROR, b"\x01"), encode_dtmf("5"), encode_uuid(uuid_mod.UUID(int=7)),
    b"\x03\x00\x01x", b"\x10\x00\x00", b"\x10\x00\x03abc", b"\x10\xff\xff", b"\x42\x00\x00", b"\x01\x00\x0f",
    b"GET / HTTP/1.1\r\n\r\n",
]


def mutate(rng: random.Random, data: bytes, tokens: list[bytes]) -> bytes:
    """A few random edits: flip a bit, insert random bytes or a token, delete, repeat a slice, cut."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 2:
            del buf[pos : pos + rng.randint(1, 64)]
        elif op == 3:
            buf[pos:pos] = buf[max(0, pos - rng.randint(1, 512)) : pos]
        elif op in (4, 5):
            buf[pos:pos] = rng.choice(tokens)
        elif rng.random() < 0.3:
            del buf[pos:]
    return bytes(buf)


def chunks(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` in reads of random sizes: single bytes, small and large ones."""
    out, pos = [], 0
    while pos < len(data):
        n = rng.choice((1, rng.randint(1, 64), rng.randint(1, 4096), rng.randint(1, 70_000)))
        out.append(data[pos : pos + n])
        pos += n
    return out


def check_rounds(rounds: int, seed: int, one_round: Callable[[random.Random, int], None]) -> None:
    """Run ``one_round(rng, i)`` with one seeded generator; any failure (an assertion or an
    exception that is not the component's own) names its round."""
    rng = random.Random(seed)
    for i in range(rounds):
        try:
            one_round(rng, i)
        except Exception as exc:
            raise AssertionError(f"seed {seed}, round {i}: {type(exc).__name__}: {exc}") from exc


# -- AMI codec --------------------------------------------------------------------------------


def parse_ami(pieces: list[bytes], group_lists: bool) -> tuple[list[object], list[str]]:
    """Items and protocol errors of one stream; every message also goes through the event layer
    as the client does (which must not raise either)."""
    codec = AmiCodec(group_lists=group_lists)
    items: list[object] = []
    errors: list[str] = []
    for piece in pieces:
        try:
            codec.feed(piece)
        except AmiProtocolError as exc:
            errors.append(str(exc))
        items.extend(codec.items())
    try:
        items.extend(codec.close())
    except AmiProtocolError as exc:
        errors.append(str(exc))
    for item in items:
        if isinstance(item, AmiMessage):
            event_from_message(item, 1.0)
        elif isinstance(item, AmiListResponse):
            QueueSnapshot.of(1.0, [event_from_message(m, 1.0) for m in item.events])
    return items, errors


def test_ami_codec_on_random_and_mutated_streams(asterisk_fixtures: Path) -> None:
    recordings = [ami_server_bytes(asterisk_fixtures / name) for name in AMI_RECORDINGS]

    def one_round(rng: random.Random, i: int) -> None:
        kind = i % 3
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 4000))
        elif kind == 1:
            data = b"".join(rng.choice(AMI_TOKENS[:-2]) for _ in range(rng.randint(1, 200)))
        else:
            recording = rng.choice(recordings)
            start = 0 if rng.random() < 0.3 else rng.randrange(len(recording))
            data = mutate(rng, recording[start : start + rng.randint(1, 30_000)], AMI_TOKENS)
        group = rng.random() < 0.5
        whole = parse_ami([data], group)
        cut = parse_ami(chunks(rng, data), group)
        if not whole[1] and not cut[1]:  # no limit hit: how the bytes were read changes nothing
            assert whole[0] == cut[0], "whole and chunked parses differ"

    check_rounds(600, SEED, one_round)


# -- AudioSocket codec ------------------------------------------------------------------------


def valid_audiosocket_stream(rng: random.Random) -> bytes:
    out = [encode_uuid(uuid_mod.UUID(int=rng.getrandbits(128)))]
    for _ in range(rng.randint(0, 30)):
        pick = rng.random()
        if pick < 0.7:
            rate = rng.choice(list(AUDIO_RATES.values()))
            out.append(encode_audio(rng.randbytes(2 * rng.randint(1, 400)), rate))
        elif pick < 0.9:
            out.append(encode_dtmf(rng.choice("0123456789*#")))
        else:
            out.append(rng.choice((encode_hangup(), encode(KIND_ERROR, b"\x02"))))
    return b"".join(out)


def parse_audiosocket(pieces: list[bytes], max_payload: int) -> tuple[list[object], str]:
    """Messages up to the first error, and its text: a server closes the session there."""
    codec = AudioSocketCodec(max_payload=max_payload)
    messages: list[object] = []
    for piece in pieces:
        try:
            codec.feed(piece)
        except AudioSocketError as exc:
            return messages + codec.messages(), str(exc)
        messages.extend(codec.messages())
    return messages, ""


def test_audiosocket_codec_on_random_and_mutated_streams(asterisk_fixtures: Path) -> None:
    recorded, _, _ = recorded_audiosocket_stream(asterisk_fixtures)

    def one_round(rng: random.Random, i: int) -> None:
        kind = i % 3
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 2000))
        elif kind == 1:
            data = mutate(rng, valid_audiosocket_stream(rng), AUDIOSOCKET_TOKENS)
        else:
            data = mutate(rng, recorded[: rng.randint(1, len(recorded))], AUDIOSOCKET_TOKENS)
        max_payload = rng.choice((320, 8192, 32768))
        whole = parse_audiosocket([data], max_payload)
        assert parse_audiosocket(chunks(rng, data), max_payload) == whole, "whole and chunked parses differ"

    check_rounds(1000, SEED + 1, one_round)


# -- a live AudioSocket server ----------------------------------------------------------------


async def test_live_audiosocket_server_keeps_serving_through_garbage(asterisk_fixtures: Path) -> None:
    """Garbage connections come and go while a good call streams: each ends its own session
    only, nothing escapes the server's tasks, and a new call is served afterwards."""
    rng = random.Random(SEED + 2)
    recorded, pcm, _ = recorded_audiosocket_stream(asterisk_fixtures)
    loop = asyncio.get_running_loop()
    escaped: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: escaped.append(context))
    try:
        async with AudioSocketServer(port=0, uuid_timeout=0.5) as server:
            good_uuid = str(uuid_mod.UUID(int=rng.getrandbits(128)))
            good_session = asyncio.ensure_future(server.wait_session(good_uuid, 5))
            await asyncio.sleep(0)
            good = AudioSocketClient("127.0.0.1", server.port, good_uuid, pace=1.5, linger=0.0)
            good_run = asyncio.ensure_future(good.stream(pcm[: 8000 * 2]))  # 1 s of the recorded caller
            garbage = 40
            for i in range(garbage):
                if i % 4 == 0:
                    data = rng.randbytes(rng.randint(1, 3000))
                elif i % 4 == 1:
                    data = mutate(rng, recorded[: rng.randint(1, 20_000)], AUDIOSOCKET_TOKENS)
                else:
                    data = mutate(rng, valid_audiosocket_stream(rng), AUDIOSOCKET_TOKENS)
                await _send_and_hang_up(data, server.port, chunks(rng, data))
            result = await good_run
            session: AudioSocketSession = await good_session
            assert session.close_reason.startswith("eof") and session.stats.frames_in == result.frames_sent
            assert not result.server_closed and not result.error
            await _until(lambda: not server._connections)
            ended = server.stats
            assert ended["connections"] == garbage + 1 and not server.sessions
            again = str(uuid_mod.uuid4())
            waiting = asyncio.ensure_future(server.wait_session(again, 5))
            await asyncio.sleep(0)
            after = await AudioSocketClient("127.0.0.1", server.port, again, pace=0, linger=0.0).stream(bytes(3200))
            assert (await waiting).stats.frames_in == after.frames_sent == 10
    finally:
        loop.set_exception_handler(None)
    assert escaped == []


async def _send_and_hang_up(data: bytes, port: int, pieces: list[bytes]) -> None:
    """One garbage caller: its bytes in pieces, then EOF; waits until the server closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError):
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        writer.write_eof()
        await asyncio.wait_for(reader.read(), 3)  # the server's silence, then its close
    writer.close()


async def _until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


# -- flow files -------------------------------------------------------------------------------

YAML_TOKENS = [
    ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "<<: *a", "&b [*a, *a]", "!!binary ", "!!python/object:os.system ",
    "!!set ", "!!omap ", "'", '"', "\t", "# ", "\n---\n", "\n...\n", "? ", "|\n", ">\n", "%YAML 1.1\n", "null", "~",
    "true", "1e400", "-1", "0x10", ".nan", "2026-02-30", "25:61", "99999999999999999999", "\\x00", "\x00", "\ufeff",
    "\U0001f600", "张三丰", "verb: ", "next: ", "choices: ", "prompt: ", "hours: ", "{a: " * 60,
]


ODD_VALUES = [
    "", "null", "[]", "{}", "-1", "0", "1e400", ".nan", "true", "[1, 2]", "{x: 1}", "'2026-02-30'", "2026-02-30",
    "99999999999999999999", "张三丰", "25:61", "08:00-07:00", "hotline/no_such_prompt", "*a", "&a x", "[*a]",
]


def mutate_flow(rng: random.Random, text: str) -> str:
    """Edits a person (or a bad merge) could make: values replaced by odd ones, lines deleted,
    doubled, swapped or re-indented, YAML syntax inserted, one word put in place of another."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        at = rng.randrange(len(lines))
        key, sep, _ = lines[at].partition(": ")
        if op in (0, 1, 2) and sep:
            lines[at] = f"{key}{sep}{rng.choice(ODD_VALUES)}"
        elif op == 3 and len(lines) > 1:
            del lines[at]
        elif op == 4:
            lines.insert(at, lines[rng.randrange(len(lines))])
        elif op == 5:
            lines[at] = (" " * rng.choice((1, 2, 4)) + lines[at]) if rng.random() < 0.5 else lines[at].lstrip()
        elif op == 6:
            pos = rng.randint(0, len(lines[at]))
            lines[at] = lines[at][:pos] + rng.choice(YAML_TOKENS) + lines[at][pos:]
        else:
            words, mine = lines[rng.randrange(len(lines))].split(), lines[at].split()
            if words and mine:
                lines[at] = lines[at].replace(rng.choice(mine), rng.choice(words), 1)
    return "\n".join(lines)


def test_mutated_flow_files_load_or_fail_with_a_flow_error(tmp_path: Path) -> None:
    shipped = [p.read_text(encoding="utf-8") for p in default_flow_files()]

    def one_round(rng: random.Random, i: int) -> None:
        text = mutate_flow(rng, rng.choice(shipped))
        try:
            if i % 5 == 0:  # as bytes from disk: a bit flipped may leave no valid UTF-8
                path = tmp_path / "fuzz.yaml"
                path.write_bytes(mutate(rng, text.encode(), [b"\xff", b"\xc3", b"\x00"]))
                load_file(path)
            else:
                load_text(text, "fuzz.yaml")
        except FlowValidationError as exc:
            assert exc.errors and all(e.format().startswith(str(e.file)) for e in exc.errors)

    check_rounds(300, SEED + 3, one_round)
