"""AudioSocket framing on the recording: the frames Asterisk sent, rebuilt from the JSON and the WAV."""

from __future__ import annotations

import random

import pytest

from engine.asterisk.audiosocket_codec import (
    AUDIO_RATES,
    CODEC_RATES,
    KIND_AUDIO,
    KIND_UUID,
    AudioSocketCodec,
    encode,
    encode_audio,
    encode_dtmf,
    encode_hangup,
    encode_uuid,
    frame_bytes,
    parse_uuid,
)
from engine.asterisk.errors import AudioSocketError
from tests.fixture_files import recorded_audiosocket_stream

RECORDED_UUID = "40325ec2-5efd-4bd3-805f-53576e581d13"  # dialplan/extensions.conf [audio]


def _feed(data: bytes, sizes) -> list:
    codec = AudioSocketCodec()
    pos = 0
    for n in sizes:
        codec.feed(data[pos : pos + n])
        pos += n
    codec.feed(data[pos:])
    assert codec.pending_bytes == 0
    return codec.messages()


@pytest.mark.parametrize("mode", ["whole", "bytewise", "random"])
def test_recorded_call(asterisk_fixtures, mode):
    data, pcm, frames = recorded_audiosocket_stream(asterisk_fixtures)
    if mode == "whole":
        sizes: list[int] = []
    elif mode == "bytewise":
        sizes = [1] * len(data)
    else:
        rng = random.Random(7)
        sizes = [rng.randint(1, 700) for _ in range(len(data) // 300)]
    messages = _feed(data, sizes)
    assert messages[0].kind == KIND_UUID and messages[0].uuid == RECORDED_UUID
    audio = messages[1:]
    assert len(audio) == 194 == sum(1 for f in frames if f.get("kind") == KIND_AUDIO)
    assert all(m.kind == KIND_AUDIO and m.rate == 8000 for m in audio)
    assert [len(m.payload) for m in audio[:-1]] == [320] * 193 and len(audio[-1].payload) == 212
    assert b"".join(m.payload for m in audio) == pcm
    assert frames[-1] == {"t": frames[-1]["t"], "eof_partial": 0}  # closed without a 0x00 hangup
    assert all(m.kind != 0x00 for m in messages)


def test_rates_match_asterisk_enum():
    assert AUDIO_RATES == {
        0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000,
        0x15: 44100, 0x16: 48000, 0x17: 96000, 0x18: 192000,
    }
    codec = AudioSocketCodec()
    codec.feed(encode_uuid(RECORDED_UUID) + encode_audio(bytes(640), 16000) + encode_dtmf("5") + encode_hangup())
    uuid_msg, audio, dtmf, hangup = codec.messages()
    assert audio.kind == 0x12 and audio.rate == 16000 and dtmf.digit == "5" and hangup.name == "hangup"
    assert parse_uuid("2f0a1c3e000040008000000000000001") == "2f0a1c3e-0000-4000-8000-000000000001"


UUID_FRAME = encode_uuid(RECORDED_UUID)


@pytest.mark.parametrize(
    "data, reason",
    [
        (encode_audio(bytes(320)), "first message must be the UUID"),
        (b"\x01\x00\x08" + bytes(8), "16 bytes"),
        (UUID_FRAME + b"\x42\x00\x01\x00", "unknown message kind 0x42"),
        (UUID_FRAME + b"\x10\x00\x00", "zero-length audio"),
        (UUID_FRAME + b"\x10\xff\xfe", "above the limit"),
        (UUID_FRAME + b"\x10\x00\x03abc", "odd length"),
        (UUID_FRAME + b"\x03\x00\x02ab", "DTMF message must carry 1 byte"),
        (UUID_FRAME + b"\x03\x00\x01\x00", "non-digit"),
        (UUID_FRAME + UUID_FRAME, "second UUID"),
        (b"GET / HTTP/1.1\r\n", "unknown message kind 0x47"),
    ],
)
def test_malformed_input(data, reason):
    codec = AudioSocketCodec()
    with pytest.raises(AudioSocketError, match=reason):
        codec.feed(data)


def test_messages_before_the_error_are_kept():
    codec = AudioSocketCodec()
    with pytest.raises(AudioSocketError):
        codec.feed(UUID_FRAME + encode_audio(bytes(320)) + b"\x99\x00\x00")
    kinds = [m.kind for m in codec.messages()]
    assert kinds == [KIND_UUID, KIND_AUDIO]


def test_partial_frame_is_pending():
    codec = AudioSocketCodec()
    codec.feed(UUID_FRAME + encode_audio(bytes(320))[:100])
    assert [m.kind for m in codec.messages()] == [KIND_UUID] and codec.pending_bytes == 100


def test_encode_rejects_what_asterisk_would():
    with pytest.raises(AudioSocketError):
        encode_audio(b"")
    with pytest.raises(AudioSocketError):
        encode_audio(bytes(320), rate=11025)
    with pytest.raises(AudioSocketError):
        encode(0x42)
    with pytest.raises(AudioSocketError):
        parse_uuid("not-a-uuid")


@pytest.mark.parametrize("kind, rate", sorted(AUDIO_RATES.items()))
def test_every_audio_kind_round_trips_with_its_rate(kind, rate):
    """20 ms frames of each kind (640 bytes for slin16), written and read back whole and byte by byte."""
    size = frame_bytes(rate)
    assert size == rate // 50 * 2
    frames = [bytes(random.Random(rate + i).randrange(256) for _ in range(size)) for i in range(3)]
    data = UUID_FRAME + b"".join(encode_audio(f, rate) for f in frames)
    assert data[len(UUID_FRAME)] == kind and data[len(UUID_FRAME) + 1 : len(UUID_FRAME) + 3] == size.to_bytes(2, "big")
    for sizes in ([], [1] * len(data)):
        audio = _feed(data, sizes)[1:]
        assert [(m.kind, m.rate, m.is_audio, m.name) for m in audio] == [(kind, rate, True, f"audio/{rate}")] * 3
        assert [m.payload for m in audio] == frames


def test_codec_names_are_asterisks_slin_formats():
    assert sorted(CODEC_RATES.values()) == sorted(AUDIO_RATES.values())
    assert CODEC_RATES["slin"] == 8000 and CODEC_RATES["slin16"] == 16000 and CODEC_RATES["slin44"] == 44100
