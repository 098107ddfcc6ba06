"""The second stage: it must reject white noise the first stage calls speech, keep clean speech.

Audio comes from the benchmark's generator (espeak-ng talk in several languages with pauses,
telephone band-pass and mu-law), a different seed from the one the stage was tuned on.
"""

from __future__ import annotations

import numpy as np
import pytest

from asr.vad import make_vad, second_stage
from asr.vad.numba_vad import NumbaVad
from asr.vad.second_stage import SecondStage, SecondStageBatch
from benchmarks.bench_vad import generate_set, make_condition, score

FS = 8000


@pytest.fixture(scope="module")
def talk():
    return generate_set(seed=7, seconds=90)


def _frames(x: np.ndarray, n: int = 160) -> np.ndarray:
    return x[: x.size // n * n].reshape(-1, n)


def _run(vad, x: np.ndarray, n: int = 160) -> np.ndarray:
    return np.array([vad.is_speech(f) for f in _frames(x, n)])


def _truth20(truth10: np.ndarray, n: int) -> np.ndarray:
    return (truth10[0 : 2 * n : 2] | truth10[1 : 2 * n : 2])[:n]


def test_rejects_white_noise_at_0_db(talk):
    x = make_condition(talk, ("white", 0))
    first = NumbaVad(FS, 2).is_speech_frames(_frames(x))
    second = _run(SecondStage(NumbaVad(FS, 2)), x)
    truth = _truth20(talk["truth"], len(first))
    noise_only = ~truth
    # the first stage calls (nearly) all of the noise speech; the second stage very little
    assert first[noise_only].mean() > 0.9
    assert second[noise_only].mean() < 0.1
    f1_first, _ = score(first, talk["truth"])
    f1_second, fa_second = score(second, talk["truth"])
    assert f1_second > 0.7 and fa_second < 0.1
    assert second.sum() > 0.3 * truth.sum()  # speech is still found


def test_rejects_pure_white_noise():
    rng = np.random.default_rng(3)
    noise = np.clip(rng.normal(0, 2000, FS * 20), -32768, 32767).astype(np.int16)
    first = NumbaVad(FS, 3).is_speech_frames(_frames(noise))
    second = _run(SecondStage(NumbaVad(FS, 3)), noise)
    assert first.mean() > 0.9
    assert second[50:].mean() < 0.05


@pytest.mark.parametrize(("rate", "ms"), [(8000, 20), (8000, 10), (16000, 30)])
def test_keeps_clean_speech(talk, rate, ms):
    x = make_condition(talk, None)
    if rate != FS:
        from scipy.signal import resample_poly

        x = np.clip(resample_poly(x.astype(float), rate // FS, 1), -32768, 32767).astype(np.int16)
    n = rate * ms // 1000
    first = NumbaVad(rate, 2).is_speech_frames(_frames(x, n))
    second = _run(SecondStage(NumbaVad(rate, 2)), x, n)
    assert not (second & ~first).any()  # it only ever removes
    t10 = talk["truth"]
    truth = np.repeat(t10, 10)[:: ms][: len(first)]  # truth at each frame start
    kept = second[truth & first].mean()
    assert kept > 0.97, kept


def test_batch_equals_per_call(talk):
    xs = [make_condition(talk, c) for c in (None, ("white", 5), ("babble", 10), ("white", 0))]
    frames = [_frames(x)[i * 200 :] for i, x in enumerate(xs)]
    n_ticks = min(len(f) for f in frames)
    batch = SecondStageBatch(4, FS, 2)
    singles = [SecondStage(NumbaVad(FS, 2)) for _ in range(4)]
    for t in range(0, n_ticks):
        tick = np.stack([f[t] for f in frames])
        got = batch.process(tick).tolist()
        assert got == [v.is_speech(tick[i]) for i, v in enumerate(singles)], t


def test_jitted_equals_py_func(talk):
    x = _frames(make_condition(talk, ("babble", 5)))[300:420]
    first = NumbaVad(FS, 2).is_speech_frames(x)
    outs = []
    for fn in (second_stage.process_batch, second_stage.process_batch.py_func):
        st = np.zeros((1, second_stage.STATE_SIZE))
        second_stage.init_state(st[0])
        out = np.zeros(1, dtype=bool)
        got = []
        for i, f in enumerate(x):
            fn(st, f[None, :], FS, first[i : i + 1], second_stage.DEFAULT_PARAMS, out)
            got.append(bool(out[0]))
        outs.append(got)
    assert outs[0] == outs[1]
    assert any(outs[0]) and not all(outs[0])


def test_factory_and_reset():
    v = make_vad("numba", 8000, 2, second_stage=True)
    assert isinstance(v, SecondStage) and v.sample_rate == 8000 and v.mode == 2
    rng = np.random.default_rng(1)
    frames = np.clip(rng.normal(0, 3000, (100, 160)), -32768, 32767).astype(np.int16)
    a = [v.is_speech(f) for f in frames]
    v.reset()
    assert [v.is_speech(f) for f in frames] == a
    with pytest.raises(ValueError, match="params"):
        SecondStage(NumbaVad(8000, 2), params=np.zeros(3))


def test_follows_noise_that_starts_late():
    """A call that begins in digital silence, then line noise: rejected again within ~4 s."""
    rng = np.random.default_rng(4)
    x = np.concatenate([np.zeros(FS * 5), rng.normal(0, 1500, FS * 20)])
    x = np.clip(x, -32768, 32767).astype(np.int16)
    first = NumbaVad(FS, 2).is_speech_frames(_frames(x))
    second = _run(SecondStage(NumbaVad(FS, 2)), x)
    later = slice(50 * 9, None)  # from 9 s on
    assert first[later].mean() > 0.9
    assert second[later].mean() < 0.05


def test_bad_frames_are_refused_after_good_ones():
    """Frames of the accepted length skip re-validation; any other length is still checked."""
    v = make_vad("numba", 8000, 2, second_stage=True)
    good = np.zeros(160, dtype=np.int16).tobytes()
    assert v.is_speech(good) is False and v.is_speech(good) is False
    with pytest.raises(ValueError, match="odd number of bytes"):
        v.is_speech(good[:-1])
    with pytest.raises(ValueError, match="25 ms"):
        v.is_speech(bytes(400))
    with pytest.raises(ValueError, match="15 ms"):
        v.is_speech(bytes(240))
    assert v.is_speech(bytes(480)) is False  # 30 ms: another valid length, checked then accepted
