"""The Numba VAD against the C library: decision by decision, per mode, frame length and rate.

Signals are generated at test time (espeak-ng speech with pauses at several levels, white
noise with level steps, full-scale random samples, silence and dither, sine sweeps, clipped
speech) and one stream longer than 11 minutes. Over 1,000,000 frames are compared in total.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import webrtcvad
from scipy.signal import resample_poly

from asr.vad import make_vad, webrtc_core
from asr.vad.base import VadError
from asr.vad.numba_vad import NumbaVad, NumbaVadBatch

RATES = (8000, 16000, 32000, 48000)
PHRASES = [
    ("en", "Hello, the street light near the market has been broken for three days."),
    ("cmn", "你好，我要反映一下小区门口的路灯坏了，已经三天了。"),
    ("de", "Guten Abend, ich möchte eine Beschwerde über den Lärm melden."),
    ("es", "Buenas noches, quiero informar de un problema con el agua."),
]
COUNTED: dict[str, int] = {}


def _espeak(tmp: Path, voice: str, text: str, i: int) -> np.ndarray:
    out = tmp / f"p{i}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(out), text], check=True)
    with wave.open(str(out)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return resample_poly(x, 48000, rate)  # scipy reduces the ratio (22050 Hz -> 160/147)


@pytest.fixture(scope="module")
def signals48(tmp_path_factory) -> dict[str, np.ndarray]:
    """Test signals at 48 kHz (float, int16 range), about 280 s in all."""
    tmp = tmp_path_factory.mktemp("vad_speech")
    rng = np.random.default_rng(20241128)
    speech = [_espeak(tmp, v, t, i) for i, (v, t) in enumerate(PHRASES)]
    fs = 48000
    parts = []
    # speech with pauses over low noise, at levels from very quiet to clipped
    for gain in (0.02, 0.2, 1.0, 4.0):
        for s in speech:
            pause = rng.uniform(0.3, 2.5)
            parts.append(rng.normal(0, 30 * gain, int(pause * fs)))
            parts.append(s * gain + rng.normal(0, 30 * gain, s.size))
    talk = np.concatenate(parts)
    n = 60 * fs
    steps = np.repeat(10 ** rng.uniform(0.5, 4.0, 60), fs)  # noise level changes every second
    noise = rng.normal(0, 1, n) * steps
    full = rng.integers(-32768, 32768, 8 * fs).astype(np.float64)
    full[fs : 2 * fs] = np.where(rng.random(fs) < 0.5, -32768, 32767)  # square-ish full scale
    silence = np.concatenate([np.zeros(5 * fs), rng.integers(-1, 2, 5 * fs), rng.normal(0, 3, 5 * fs)])
    t = np.arange(30 * fs) / fs
    sweep = 6000 * np.sin(2 * np.pi * (60 * t + 95 * t**2)) * (np.sin(2 * np.pi * 0.4 * t) > -0.3)
    sweep += rng.normal(0, 20, t.size)
    bursts = rng.normal(0, 1, 40 * fs) * np.repeat(np.where(rng.random(400) < 0.4, 8000, 50), fs // 10)
    return {"talk": talk, "noise": noise, "full": full, "silence": silence, "sweep": sweep, "bursts": bursts}


def _at(x48: np.ndarray, rate: int) -> np.ndarray:
    y = x48 if rate == 48000 else resample_poly(x48, rate // 8000, 6)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def _frames(x: np.ndarray, rate: int, ms: int) -> np.ndarray:
    n = rate * ms // 1000
    return x[: x.size // n * n].reshape(-1, n)


def _webrtc(frames: np.ndarray, rate: int, mode: int) -> np.ndarray:
    v = webrtcvad.Vad(mode)
    return np.fromiter((v.is_speech(f.tobytes(), rate) for f in frames), dtype=bool, count=len(frames))


def _assert_equal(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    bad = np.flatnonzero(ours != theirs)
    assert bad.size == 0, f"{what}: {bad.size} of {ours.size} decisions differ, first at frame {bad[0]}"
    COUNTED[what] = ours.size


@pytest.mark.parametrize("rate", RATES)
def test_bit_exact_all_modes_and_frame_lengths(signals48, rate):
    x = np.concatenate([_at(s, rate) for s in signals48.values()])
    for ms in (10, 20, 30):
        frames = _frames(x, rate, ms)
        for mode in range(4):
            theirs = _webrtc(frames, rate, mode)
            assert 0.05 < theirs.mean() < 0.95  # the signal set exercises both decisions
            ours = NumbaVad(rate, mode).is_speech_frames(frames)
            _assert_equal(ours, theirs, f"{rate} Hz {ms} ms mode {mode}")


def test_long_stream_over_11_minutes():
    """65,536 frames of 10 ms is 10.9 minutes: the 16-bit age counters would wrap around here."""
    rng = np.random.default_rng(7)
    fs = 8000
    seconds = 12 * 60
    level = np.repeat(np.where(rng.random(seconds * 2) < 0.45, 3000.0, 60.0), fs // 2)
    hum = 400 * np.sin(2 * np.pi * 50 * np.arange(seconds * fs) / fs)
    x = np.clip(rng.normal(0, 1, seconds * fs) * level + hum, -32768, 32767).astype(np.int16)
    frames = _frames(x, fs, 10)
    assert frames.shape[0] > 65536
    for mode in range(4):
        theirs = _webrtc(frames, fs, mode)
        ours = NumbaVad(fs, mode).is_speech_frames(frames)
        _assert_equal(ours, theirs, f"long stream mode {mode}")


def test_total_frames_compared_is_over_a_million(signals48):
    """The equality tests above cover over 1,000,000 frames (counted the way they cut them)."""
    total = 4 * (12 * 60 * 100)  # the long stream, 10 ms frames, four modes
    for rate in RATES:
        n = sum(_at(s, rate).size for s in signals48.values())
        total += 4 * sum(n // (rate * ms // 1000) for ms in (10, 20, 30))
    assert total >= 1_000_000, total
    if len(COUNTED) == len(RATES) * 3 * 4 + 4:  # all equality tests ran: they saw this many
        assert sum(COUNTED.values()) == total, (sum(COUNTED.values()), total)


@pytest.mark.parametrize(("rate", "ms"), [(8000, 20), (8000, 30), (16000, 10)])
def test_batch_equals_per_call(signals48, rate, ms):
    streams = [_frames(_at(s, rate), rate, ms) for s in signals48.values()]
    n_ticks = min(len(s) for s in streams)
    n_calls = 40  # more than one block of the vectorised 8 kHz path
    modes = np.arange(n_calls) % 4
    src = [streams[i % len(streams)][(i * 37) % 50 :][: n_ticks - 50] for i in range(n_calls)]
    batch = NumbaVadBatch(n_calls, rate, modes)
    singles = [NumbaVad(rate, int(m)) for m in modes]
    for t in range(n_ticks - 50):
        if t == 300:  # a slot reused for a new call
            batch.reset(5)
            singles[5].reset()
        tick = np.stack([s[t] for s in src])
        got = batch.process(tick)
        want = [v.is_speech(tick[i]) for i, v in enumerate(singles)]
        assert got.tolist() == want, f"tick {t}"


def test_jitted_equals_py_func_in_process(signals48):
    rate = 16000
    frames = _frames(_at(signals48["talk"], rate), rate, 20)[200:260]
    out_jit = np.zeros(len(frames), dtype=bool)
    out_py = np.zeros(len(frames), dtype=bool)
    for fn, out in ((webrtc_core.process_stream, out_jit), (webrtc_core.process_stream.py_func, out_py)):
        st = np.zeros(webrtc_core.STATE_SIZE, dtype=np.int64)
        webrtc_core.init_state(st, 3)
        fn(st, frames, rate, np.zeros(webrtc_core.WORK_SIZE, dtype=np.int64), out)
    assert out_jit.tolist() == out_py.tolist()


_PURE = """
import json, sys
import numpy as np
from asr.vad.numba_vad import NumbaVad, NumbaVadBatch
data = np.load(sys.argv[1])
out = {}
for key in data.files:
    rate, mode = (int(v) for v in key.split("_")[1:])
    v = NumbaVad(rate, mode)
    out[key] = [bool(v.is_speech(f)) for f in data[key]]
    if rate == 8000:  # the vectorised batch path, two calls fed the same frames
        b = NumbaVadBatch(2, rate, mode)
        out["batch_" + key] = [bool(b.process(np.stack([f, f]))[1]) for f in data[key]]
print(json.dumps(out))
"""


def test_pure_python_equals_jitted(signals48, tmp_path):
    """With NUMBA_DISABLE_JIT=1 the whole kernel runs as Python: same decisions."""
    cases = {
        "f_16000_3": _frames(_at(signals48["talk"], 16000), 16000, 20)[150:230],
        "f_48000_1": _frames(_at(signals48["full"], 48000), 48000, 30)[30:40],
        "f_8000_0": _frames(_at(signals48["noise"], 8000), 8000, 10)[95:135],
    }
    np.savez(tmp_path / "cases.npz", **cases)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run(
        [sys.executable, "-c", _PURE, str(tmp_path / "cases.npz")], env=env, capture_output=True, text=True, timeout=240
    )
    assert res.returncode == 0, res.stderr
    pure = json.loads(res.stdout)
    for key, frames in cases.items():
        rate, mode = (int(v) for v in key.split("_")[1:])
        jitted = NumbaVad(rate, mode).is_speech_frames(frames).tolist()
        assert pure[key] == jitted, key
        if rate == 8000:
            assert pure["batch_" + key] == jitted, key
        assert jitted == _webrtc(frames, rate, mode).tolist(), key


def test_one_frame_paths_match_the_stream_path(signals48):
    """is_speech with arrays, with bytes, and is_speech_frames give the same decisions."""
    rate = 8000
    frames = _frames(_at(signals48["talk"], rate), rate, 10)[:3000]
    a, b = NumbaVad(rate, 1), NumbaVad(rate, 1)
    got_a = [a.is_speech(f) for f in frames]
    got_b = [b.is_speech(f.tobytes()) for f in frames]
    want = NumbaVad(rate, 1).is_speech_frames(frames).tolist()
    assert got_a == want and got_b == want
    assert all(type(v) is bool for v in got_a[:5] + got_b[:5])


def test_interface_and_errors():
    v = make_vad("numba", 8000, 2)
    assert isinstance(v, NumbaVad)
    frame = np.zeros(160, dtype=np.int16)
    assert v.is_speech(frame) is False
    assert v.is_speech(frame.tobytes()) is False
    assert v.is_speech(bytearray(frame.tobytes())) is False
    assert v.is_speech(frame[::-1]) is False  # a non-contiguous view
    with pytest.raises(VadError, match="15 ms"):
        v.is_speech(np.zeros(120, dtype=np.int16))
    with pytest.raises(VadError, match="15 ms"):
        v.is_speech(bytes(240))
    with pytest.raises(VadError, match="odd number of bytes"):
        v.is_speech(bytes(321))
    with pytest.raises(VadError, match="dtype"):
        v.is_speech(np.zeros(160, dtype=np.float32))
    with pytest.raises(VadError, match="sample rate"):
        NumbaVad(11025, 1)
    with pytest.raises(VadError, match="mode"):
        NumbaVadBatch(3, 8000, 4)
    with pytest.raises(VadError, match="shape"):
        NumbaVadBatch(3, 8000, 1).process(np.zeros((2, 160), dtype=np.int16))


def test_batches_on_threads_equal_sequential(signals48):
    """The kernels release the GIL; two batches on two threads decide as they do one by one."""
    from concurrent.futures import ThreadPoolExecutor

    rate = 8000
    frames = _frames(_at(signals48["talk"], rate), rate, 20)
    ticks = [np.ascontiguousarray(np.stack([frames[(t + 7 * i) % len(frames)] for i in range(64)])) for t in range(300)]

    def run(batch: NumbaVadBatch) -> list[list[bool]]:
        return [batch.process(t).tolist() for t in ticks]

    want = run(NumbaVadBatch(64, rate, 2))
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(run, [NumbaVadBatch(64, rate, 2), NumbaVadBatch(64, rate, 2)]))
    assert got[0] == want and got[1] == want


def test_webrtc_backend_bytes_and_arrays_and_errors(signals48):
    """The ``webrtc`` backend: bytes (checked once per length) and arrays decide like the library."""
    rate = 8000
    frames = _frames(_at(signals48["talk"], rate), rate, 20)[:1500]
    want = _webrtc(frames, rate, 2).tolist()
    by_bytes, by_array = make_vad("webrtc", rate, 2), make_vad("webrtc", rate, 2)
    assert [by_bytes.is_speech(f.tobytes()) for f in frames] == want
    assert [by_array.is_speech(f) for f in frames] == want
    with pytest.raises(VadError, match="odd number of bytes"):
        by_bytes.is_speech(bytes(321))
    with pytest.raises(VadError, match="15 ms"):
        by_bytes.is_speech(bytes(240))
