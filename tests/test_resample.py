"""The shared resampler: a stream cut into any frames gives exactly the whole signal's result."""

from __future__ import annotations

import numpy as np
import pytest

from engine.resample import Resampler, resample, resample_pcm

PAIRS = [(8000, 16000), (16000, 8000), (44100, 16000), (16000, 48000), (12000, 8000), (192000, 16000)]


def noise(rate: int, seconds: float = 0.5, seed: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0.0, 6000.0, int(rate * seconds))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("rate_in,rate_out", PAIRS)
def test_a_stream_in_frames_equals_the_whole_signal(rate_in: int, rate_out: int) -> None:
    x = noise(rate_in)
    whole = resample(x, rate_in, rate_out)
    assert whole.size == -(-x.size * rate_out // rate_in)  # ceil(n * out / in)
    rng = np.random.default_rng(11)
    r = Resampler(rate_in, rate_out)
    parts, pos = [], 0
    while pos < x.size:  # random cuts, 20 ms frames and odd bits alike
        n = int(rng.choice([1, 7, rate_in // 50, rate_in // 50 + 3, 1000]))
        parts.append(r.process(x[pos : pos + n].tobytes()))
        pos += n
    parts.append(r.flush())
    assert np.array_equal(np.concatenate(parts), whole)


def test_flush_starts_a_new_stream_and_output_keeps_the_input_time_line() -> None:
    r = Resampler(8000, 16000)
    click = np.zeros(800, np.int16)
    click[400] = 20000  # at 50 ms
    first = np.concatenate([r.process(click), r.flush()])
    assert first.size == 1600 and int(np.argmax(first)) == 800  # still at 50 ms: no delay added
    second = np.concatenate([r.process(click), r.flush()])
    assert np.array_equal(first, second)  # nothing carried over from the first stream


def test_bytes_helper_and_bad_input() -> None:
    pcm = noise(16000, 0.1).tobytes()
    out = resample_pcm(pcm, 16000, 8000)
    assert len(out) == len(pcm) // 2
    assert resample_pcm(pcm, 8000, 8000) is pcm
    with pytest.raises(ValueError, match="whole 16-bit samples"):
        Resampler(8000, 16000).process(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="positive"):
        Resampler(0, 16000)
