"""``hotline replay`` and ``hotline calls`` on a sample store: masked output, audio played in time."""

from __future__ import annotations

import json
import sys
import types
import wave

import pytest

from engine.cli import main
from engine.commands.replay import INSTALL_HINT, play_along
from engine.store import Store
from engine.store.render import clock
from engine.store.sample import MAIN_CALL, make_sample_audio, seed_sample_calls
from tests.number_forms import HIDDEN, NUMBER_FORMS


@pytest.fixture
def db(tmp_path, asterisk_fixtures):
    wav = make_sample_audio(asterisk_fixtures, tmp_path / "audio" / "main.wav")
    path = tmp_path / "h.sqlite"
    with Store.open(path) as s:
        seed_sample_calls(s, wav)
    return path


@pytest.mark.parametrize(("t", "digits", "shown"), [
    (0.0, 1, "0:00.0"), (-2.0, 1, "0:00.0"), (59.96, 1, "1:00.0"), (125.04, 1, "2:05.0"), (59.96, 2, "01:00.0"),
    (3600.0, 2, "60:00.0"),
])
def test_clock_rounds_before_it_splits_minutes(t, digits, shown):
    assert clock(t, minute_digits=digits) == shown


def test_replay_prints_the_masked_timeline(db, capsys):
    assert main(["replay", MAIN_CALL, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "caller 139****5678" in out and "13912345678" not in out
    assert "2026-11-28 19:42:05" in out  # the site's time zone (Asia/Shanghai)
    lines = out.splitlines()
    speech = [ln for ln in lines if "CALLER" in ln or "CALL-TAKER" in ln]
    assert len(speech) == 6 and "我的电话是139****5678" in speech[4]
    assert lines.index(next(ln for ln in lines if "queue.join" in ln)) < lines.index(speech[1])
    # any linked id finds the call; JSON output is masked too
    assert main(["replay", "1795881255.253", "--db", str(db), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["call"]["id"] == MAIN_CALL and body["call"]["caller_number"] == "139****5678"


def test_replay_masks_every_written_form_of_a_number(db, capsys):
    with Store.open(db) as s:
        s.upsert_call("forms", started_at=1795889999.0, caller_number=NUMBER_FORMS[1][0])
        for i, (said, _) in enumerate(NUMBER_FORMS):
            s.add_segment("forms", "caller", float(i), i + 0.5, f"我的电话是{said}")
            s.add_event("forms", "ivr.input", 1795889999.0 + i, {"node": "callback", "digits": said})
    assert main(["replay", "forms", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "caller 139.****.5678" in out
    for _, shown in NUMBER_FORMS:
        assert f"我的电话是{shown}" in out and f"digits={shown}" in out
    assert main(["replay", "forms", "--db", str(db), "--json"]) == 0
    out += capsys.readouterr().out
    assert not any(h in out for h in HIDDEN)


def test_replay_errors_are_one_clear_line(db, tmp_path, capsys, monkeypatch):
    assert main(["replay", "nope", "--db", str(db)]) == 1
    assert "no call 'nope'" in capsys.readouterr().err
    assert main(["replay", MAIN_CALL, "--db", str(tmp_path / "missing.sqlite")]) == 2
    assert "no store at" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # as if the audio extra were not installed
    assert main(["replay", MAIN_CALL, "--db", str(db), "--play"]) == 1
    err = capsys.readouterr().err
    assert INSTALL_HINT in err and "pip install -e '.[audio]'" in err


class FakeStream:
    def __init__(self, log):
        self.log = log

    def write(self, frames: bytes) -> None:
        self.log.append(("audio", len(frames)))

    def close(self) -> None:
        self.log.append(("closed", 0))


def test_play_along_prints_each_line_when_the_audio_reaches_it(tmp_path):
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000 * 2)  # 2 s
    log: list[tuple[str, object]] = []
    items = [(0.5, "before the recording"), (10.3, "at 0.3 s"), (11.0, "at 1.0 s"), (20.0, "after the end")]
    with wave.open(str(path), "rb") as reader:
        play_along(reader, 10.0, items, FakeStream(log), lambda s: log.append(("line", s)), chunk_seconds=0.1)
    audio_before = {}
    n = 0
    for kind, value in log:
        if kind == "audio":
            n += value
        else:
            audio_before[value] = n / 2 / 8000  # seconds of audio written before the line was printed
    assert n == 8000 * 2 * 2
    assert audio_before == {"before the recording": 0.0, "at 0.3 s": pytest.approx(0.3),
                            "at 1.0 s": pytest.approx(1.0), "after the end": 2.0}


def test_replay_play_uses_pyaudio(db, capsys, monkeypatch):
    log: list[tuple[str, object]] = []

    class FakePyAudio:
        def get_format_from_width(self, width):
            return ("format", width)

        def open(self, **kw):
            log.append(("open", kw))
            return FakeStream(log)

        def terminate(self):
            log.append(("terminate", 0))

    monkeypatch.setitem(sys.modules, "pyaudio", types.SimpleNamespace(PyAudio=FakePyAudio))
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert main(["replay", MAIN_CALL, "--db", str(db), "--play"]) == 0
    assert log[0] == ("open", {"format": ("format", 2), "channels": 1, "rate": 8000, "output": True})
    written = sum(v for k, v in log if k == "audio")
    with wave.open(str(db.parent / "audio" / "main.wav"), "rb") as w:
        assert written == w.getnframes() * 2
    assert log[-2:] == [("closed", 0), ("terminate", 0)]
    out = capsys.readouterr().out
    assert out.count("CALL-TAKER") == 3 and "13912345678" not in out


def test_calls_list_and_search(db, capsys):
    assert main(["calls", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "139****5678" in out and "0755-****3456" in out and "13912345678" not in out
    assert out.splitlines()[0].split()[:3] == ["started", "call", "caller"]
    assert main(["calls", "--db", str(db), "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)
    assert [c["outcome"] for c in calls] == ["callback", "abandoned", "answered"]
    assert main(["calls", "--db", str(db), "--search", "电话"]) == 0
    out = capsys.readouterr().out
    assert "我的电话是139****5678" in out and "13912345678" not in out
    assert main(["calls", "--db", str(db), "--search", "street", "--json"]) == 0
    (hit,) = json.loads(capsys.readouterr().out)
    assert hit["segment"]["leg"] == "caller"
    assert main(["calls", "--db", str(db), "--search", "elephant"]) == 0
    assert "no transcript line matches" in capsys.readouterr().out
    # the output is masked, and so is what the search matches: hidden digits find nothing
    assert main(["calls", "--db", str(db), "--search", "1391234*"]) == 0
    assert "no transcript line matches" in capsys.readouterr().out


def test_counts_for_a_report(db):
    from engine.store.sample import SAMPLE_START

    with Store.open(db) as s:
        assert s.counts() == {"calls": 3, "live": 0, "answered": 1, "abandoned": 1, "callbacks": 1,
                              "transcribed_calls": 2, "segments": 7, "recorded_calls": 1}
        assert s.counts(since=SAMPLE_START + 100)["calls"] == 1


def test_replay_latest_finds_the_newest_ended_call(db, tmp_path, capsys):
    with Store.open(db, readonly=True) as s:
        newest_ended = s.list_calls(limit=1, live=False)[0].id
    with Store.open(db) as s:  # a live call started after it is not the one shown
        s.upsert_call("still-talking", started_at=1795899999.0, caller_number="13912345678")
    assert main(["replay", "latest", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["call"]["id"] == newest_ended
    empty = tmp_path / "empty.sqlite"
    Store.open(empty).close()
    assert main(["replay", "latest", "--db", str(empty)]) == 1
    assert capsys.readouterr().err == f"hotline replay: no calls in {empty} yet\n"
