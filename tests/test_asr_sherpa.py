"""The sherpa-onnx backend with the tiny transducer of ``tests/sherpa_helpers.py``: the same speech
path (gate, pool, cache, resampling, word times on the call's clock) as Vosk, the CLI, and the
errors a wrong model directory gets before sherpa-onnx could end the process."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from asr.model import ModelNotFoundError, load_model, model_for_config
from asr.pipeline import SpeechPipeline
from asr.sherpa import SherpaModel, SherpaModelError, _words, transducer_files
from asr.stream import RecognizerCache, SpeechStream, match_phrase
from engine.cli import main
from engine.config import AsrConfig, ConfigError, load_config
from engine.events.speech import FinalTranscript, PartialTranscript
from tests.asr_helpers import write_wav
from tests.sherpa_helpers import HIGH_HZ, LOW_HZ, build_tiny_transducer, silence, tone


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_transducer(tmp_path_factory.mktemp("sherpa") / "tiny")


def _tones(rate: int) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """low tone at 0.5 s, high tone at 2.1 s, with silence around: (samples, [(token, onset)])."""
    parts = [silence(0.5, rate), tone(LOW_HZ, 0.6, rate), silence(1.0, rate), tone(HIGH_HZ, 0.6, rate), silence(1.0, rate)]
    return np.concatenate(parts), [("低", 0.5), ("高", 2.1)]


def _run(stream: SpeechStream, samples: np.ndarray, rate: int, t0: float = 0.0) -> list:
    step = rate // 50
    events = []
    for i in range(0, samples.size, step):
        events += stream.feed(samples[i : i + step].tobytes(), t0 + i / rate)
    return events + stream.close(t0 + samples.size / rate)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_tones_are_heard_as_tokens_at_their_call_times(tiny_dir: Path, rate: int) -> None:
    model = load_model(tiny_dir, "sherpa-onnx")
    assert isinstance(model, SherpaModel) and load_model(tiny_dir, "sherpa-onnx") is model  # loaded once
    samples, truth = _tones(rate)
    events = _run(SpeechStream(model, "c1", "caller", rate), samples, rate, t0=10.0)
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert [f.text for f in finals] == [tok for tok, _ in truth]
    for final, (tok, onset) in zip(finals, truth, strict=True):
        (word,) = final.words
        # the second utterance is decoded on a new sherpa stream: its times still count from the call's start
        assert word.word == tok and word.start == pytest.approx(10.0 + onset, abs=0.08)
        assert final.start <= word.start < word.end <= final.end and 0.5 < word.conf <= 1.0
    assert any(isinstance(e, PartialTranscript) and e.text == "低" for e in events)


def test_a_recognizer_handed_to_the_next_leg_keeps_that_legs_times(tiny_dir: Path) -> None:
    model = load_model(tiny_dir, "sherpa-onnx")
    cache = RecognizerCache(model)
    samples, truth = _tones(8000)
    starts = []
    for leg in range(2):
        events = _run(SpeechStream(model, f"c{leg}", "caller", 8000, recognizers=cache), samples, 8000)
        starts.append([f.words[0].start for f in events if isinstance(f, FinalTranscript)])
    assert cache.reused >= 3 and cache.created == 1  # one recognizer served all four utterances
    assert starts[0] == starts[1] == pytest.approx([onset for _, onset in truth], abs=0.08)


async def test_pipeline_from_config_warms_up_and_serves_a_menu_leg(tiny_dir: Path) -> None:
    cfg = AsrConfig(backend="sherpa-onnx", model=str(tiny_dir), workers=1)
    pipeline = SpeechPipeline.from_config(cfg)
    assert isinstance(pipeline.model, SherpaModel) and pipeline.model_rate == 16000
    pipeline.prepare()  # the engine's warm-up at start
    assert pipeline.recognizers.idle_count() >= 1
    samples, _ = _tones(8000)
    menu = ["低", "高"]  # no grammars in sherpa-onnx: decoded freely, then matched to the menu
    leg = pipeline.open_leg("c", "caller", 8000, grammar=menu)
    task = asyncio.create_task(_collect(leg))
    for i in range(0, samples.size, 160):
        leg.feed(samples[i : i + 160].tobytes(), i / 8000)
    await leg.close(samples.size / 8000)
    finals = [e for e in await asyncio.wait_for(task, 30) if isinstance(e, FinalTranscript)]
    assert [match_phrase(f.text, menu) for f in finals] == ["低", "高"]
    await pipeline.aclose()


async def _collect(leg) -> list:
    return [e async for e in leg.events()]


def test_transcribe_cli_with_the_sherpa_backend(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    samples, truth = _tones(8000)
    wav = write_wav(tmp_path / "tones.wav", samples, 8000)
    assert main(["transcribe", "--backend", "sherpa-onnx", "--model", str(tiny_dir), "--json", str(wav)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["低", "高"]
    assert [r["words"][0]["start"] for r in rows] == pytest.approx([onset for _, onset in truth], abs=0.08)
    # the backend from the config file instead of the flag
    (tmp_path / "h.toml").write_text(f'[asr]\nbackend = "sherpa-onnx"\nmodel = "{tiny_dir}"\n', encoding="utf-8")
    assert main(["transcribe", "--config", str(tmp_path / "h.toml"), str(wav)]) == 0
    assert "低" in capsys.readouterr().out


def test_an_unknown_backend_and_a_missing_model_are_one_line_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "h.toml").write_text('[asr]\nbackend = "kaldi"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"asr.*backend.*expected one of vosk, sherpa-onnx"):
        load_config(tmp_path / "h.toml")
    wav = write_wav(tmp_path / "s.wav", silence(0.5, 8000), 8000)
    assert main(["transcribe", "--backend", "sherpa-onnx", str(wav)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sherpa-onnx: give --model DIR or set asr.model" in err
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        model_for_config(AsrConfig(backend="sherpa-onnx", model=str(tmp_path / "nowhere")))


def test_a_directory_that_is_not_a_streaming_transducer_is_refused_before_sherpa_loads_it(
    tiny_dir: Path, tmp_path: Path
) -> None:
    half = tmp_path / "paraformer-like"
    half.mkdir()
    shutil.copy(tiny_dir / "encoder.onnx", half / "encoder.onnx")
    with pytest.raises(SherpaModelError, match=r"missing decoder\*\.onnx, joiner\*\.onnx, tokens\.txt.*paraformer"):
        transducer_files(half)
    # each of these ended the test process inside sherpa-onnx (exit or segfault) before the check
    for name, source, problem in [
        ("garbage", None, "not a readable ONNX model"),
        ("untyped", "joiner.onnx", "no model_type in its metadata"),
        ("undecoded", "encoder.onnx", "vocab_size, context_size missing"),
    ]:
        bad = tmp_path / name
        shutil.copytree(tiny_dir, bad)
        if source is None:
            (bad / "encoder.onnx").write_bytes(b"\x1b[0m not protobuf \xff\xff")
        elif name == "untyped":
            shutil.copy(tiny_dir / source, bad / "encoder.onnx")
        else:
            shutil.copy(tiny_dir / source, bad / "decoder.onnx")
        with pytest.raises(SherpaModelError, match=problem):
            load_model(bad, "sherpa-onnx")


def test_the_int8_export_is_preferred_when_both_are_there(tiny_dir: Path, tmp_path: Path) -> None:
    both = shutil.copytree(tiny_dir, tmp_path / "both")
    for part in ("encoder", "decoder", "joiner"):
        shutil.copy(both / f"{part}.onnx", both / f"{part}-epoch-99-avg-1.int8.onnx")
    files = transducer_files(both)
    assert [p.name for p in (files.encoder, files.decoder, files.joiner)] == [
        "encoder-epoch-99-avg-1.int8.onnx", "decoder-epoch-99-avg-1.int8.onnx", "joiner-epoch-99-avg-1.int8.onnx"]


def test_check_config_reports_the_backend_and_its_model(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    from tests.test_check_config import _config, _lines

    good = _config(tmp_path, f'[asr]\nbackend = "sherpa-onnx"\nmodel = "{tiny_dir}"\n')
    main(["check-config", "--config", str(good)])
    assert _lines(capsys.readouterr().out)["asr model"] == [f"ok {tiny_dir} (sherpa-onnx)"]
    bad = _config(tmp_path, f'[asr]\nbackend = "sherpa-onnx"\nmodel = "{tmp_path}"\n')
    assert main(["check-config", "--config", str(bad)]) == 1
    (line,) = _lines(capsys.readouterr().out)["asr model"]
    assert line.startswith("FAIL") and "not a sherpa-onnx streaming transducer" in line


def test_tokens_become_words_as_a_bilingual_model_writes_them() -> None:
    """CJK characters are words of their own; BPE pieces join until the next word mark (U+2581)."""
    tokens = ["我", "要", "\u2581HE", "LLO", "\u2581WORLD", "路", "灯"]
    starts = [0.0, 0.2, 0.4, 0.5, 0.8, 1.2, 1.4]
    words = _words(tokens, starts, [0.0] * 6 + [-0.7], end=1.5)
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        ("我", 0.0, 0.2), ("要", 0.2, 0.4), ("HELLO", 0.4, 0.8), ("WORLD", 0.8, 1.2), ("路", 1.2, 1.4), ("灯", 1.4, 1.5)]
    assert words[0]["conf"] == 1.0 and words[-1]["conf"] == pytest.approx(0.4966, abs=1e-4)
