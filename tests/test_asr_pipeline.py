"""The asyncio pipeline: legs, ordered events, close, barge-in, the recorded AudioSocket audio, saturation."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from asr.audio import read_wav
from asr.pipeline import SpeechPipeline
from asr.pool import DecodePool
from asr.stream import StreamSettings
from engine.events.speech import (
    BargeIn,
    FinalTranscript,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    TranscriptionLag,
)
from tests.asr_helpers import SAY_1, SAY_2, asr_model, make_call  # noqa: F401


async def collect(leg) -> list:
    return [e async for e in leg.events()]


async def test_events_in_order_and_close_finishes_the_final(asr_model) -> None:  # noqa: F811
    call = make_call([("silence", 0.5), ("say", SAY_2), ("silence", 0.5), ("say", SAY_1)])  # ends mid-breath
    pipeline = SpeechPipeline(asr_model, workers=1)
    leg = pipeline.open_leg("call-7", "caller", call.rate)
    task = asyncio.create_task(collect(leg))
    for pcm, t in call.frames():
        leg.feed(pcm, t)
        await asyncio.sleep(0)
    await leg.close(call.duration)
    events = await asyncio.wait_for(task, 30)
    kinds = [type(e) for e in events if isinstance(e, SpeechStarted | SpeechEnded)]
    assert kinds == [SpeechStarted, SpeechEnded] * 2  # the 2nd ended by close()
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(finals) == 2
    for end, final in zip(ends, finals, strict=True):  # a final never overtakes its SpeechEnded
        assert events.index(final) > events.index(end) and final.start == pytest.approx(end.start, abs=0.35)
    assert all(f.call_id == "call-7" and f.leg == "caller" and f.text for f in finals)
    assert finals[1].start == pytest.approx(call.speech[1][0], abs=0.12)
    assert pipeline.backlog() == 0 and not pipeline.legs
    with pytest.raises(RuntimeError, match="closed"):
        leg.feed(b"\0" * 320, 99.0)
    await pipeline.aclose()


async def test_barge_in_and_callback_delivery(asr_model) -> None:  # noqa: F811
    call = make_call([("silence", 0.4), ("say", SAY_2), ("silence", 0.4)])
    pipeline = SpeechPipeline(asr_model, StreamSettings(partial_interval=0), workers=1)
    got: list = []
    leg = pipeline.open_leg("c", "caller", call.rate, on_event=got.append)
    leg.set_prompt_playing(True, 0.0)
    for pcm, t in call.frames():
        leg.feed(pcm, t)
    barge = [e for e in got if isinstance(e, BargeIn)]  # delivered synchronously, not behind decoding
    assert len(barge) == 1 and barge[0].at == pytest.approx(call.speech[0][0] + 0.2, abs=0.12)
    await leg.close()
    assert [type(e) for e in got if not isinstance(e, TranscriptionLag)] == [
        SpeechStarted,
        BargeIn,
        SpeechEnded,
        FinalTranscript,
    ]
    with pytest.raises(RuntimeError, match="callback"):
        await anext(leg.events())
    await pipeline.aclose()


@pytest.mark.parametrize("name", ["audiosocket_received.wav", "spy_received.wav"])
async def test_recorded_audiosocket_audio(asr_model, asterisk_fixtures, name: str) -> None:  # noqa: F811
    """English espeak-ng speech recorded from Asterisk, through the Korean model: check timing, not text."""
    audio = read_wav(asterisk_fixtures / name)
    assert audio.rate == 8000
    pcm = audio.samples.tobytes()
    x = np.abs(audio.samples.astype(np.int32))
    loud = np.flatnonzero(x > 500)
    truth = (loud[0] / 8000, loud[-1] / 8000)
    pipeline = SpeechPipeline(asr_model, workers=1)
    leg = pipeline.open_leg("uuid-1", "caller", 8000)
    task = asyncio.create_task(collect(leg))
    for i in range(0, len(pcm), 320):  # AudioSocket's 320-byte frames, the last one short
        leg.feed(pcm[i : i + 320], i / 2 / 8000)
    await leg.close(audio.duration)
    events = await task
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    assert ends and finals
    assert ends[0].start == pytest.approx(truth[0], abs=0.12)
    assert ends[-1].end == pytest.approx(truth[1], abs=0.15)
    for f in finals:
        assert f.text and len(f.words) >= 3
        assert all(truth[0] - 0.35 <= w.start < w.end <= truth[1] + 0.35 for w in f.words)
    await pipeline.aclose()


async def test_saturated_pool_degrades_without_stalling(asr_model) -> None:  # noqa: F811
    """Four legs at once on one worker thread: feed() never blocks, lag is reported, nothing is lost."""
    call = make_call([("silence", 0.3), ("say", SAY_2), ("silence", 0.8), ("say", SAY_2), ("silence", 0.4)])
    pipeline = SpeechPipeline(asr_model, workers=1, pool=DecodePool(1, slice_audio=0.3, lag_threshold=0.6))
    legs = [pipeline.open_leg(f"c{i}", "caller", call.rate) for i in range(4)]
    tasks = [asyncio.create_task(collect(leg)) for leg in legs]
    feeding = 0.0
    for pcm, t in call.frames():
        t0 = time.perf_counter()
        for leg in legs:
            leg.feed(pcm, t)
        feeding += time.perf_counter() - t0
        await asyncio.sleep(0)
    # feed() only queued: all audio went in well before one thread could decode it (no stall);
    # a stalling feed() would have taken at least the decoding time of the backlog
    assert pipeline.backlog() > 3.0
    assert feeding < 1.0, feeding
    for leg in legs:
        await leg.close(call.duration)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 120)
    for events in results:
        lags = [e for e in events if isinstance(e, TranscriptionLag)]
        assert lags and lags[0].lagging and lags[0].behind >= 0.6
        assert not lags[-1].lagging  # and it caught up
        assert len([e for e in events if isinstance(e, FinalTranscript)]) == 2  # no audio dropped
    texts = {tuple(e.text for e in ev if isinstance(e, FinalTranscript)) for ev in results}
    assert len(texts) == 1  # same audio, same words in every lane, whatever the interleaving
    assert pipeline.backlog() == 0
    await pipeline.aclose()


async def test_from_config_and_grammar_leg(asr_model) -> None:  # noqa: F811
    from asr.stream import match_phrase
    from engine.config import AsrConfig
    from tests.asr_helpers import nodither_model_dir

    cfg = AsrConfig(model=str(nodither_model_dir()), vad="webrtc", trailing_silence_ms=400, workers=1)
    pipeline = SpeechPipeline.from_config(cfg)
    assert pipeline.model is asr_model  # loaded once per process
    assert pipeline.settings.vad == "webrtc" and pipeline.settings.trailing_silence == 0.4
    assert pipeline.pool.workers == 1
    menu = ["민원 접수", "요금 문의", "상담원 연결"]
    call = make_call([("silence", 0.4), ("say", "상담원 연결"), ("silence", 0.6)])
    leg = pipeline.open_leg("c", "caller", call.rate, grammar=menu)
    task = asyncio.create_task(collect(leg))
    for pcm, t in call.frames():
        leg.feed(pcm, t)
    await leg.close()
    finals = [e for e in await task if isinstance(e, FinalTranscript)]
    assert len(finals) == 1 and match_phrase(finals[0].text, menu) == "상담원 연결"
    await pipeline.aclose()


def test_a_lane_whose_loop_is_gone_does_not_stop_the_pool(asr_model) -> None:  # noqa: F811
    """A leg left open when its event loop closed: its events cannot be delivered, other legs go on."""
    call = make_call([("silence", 0.3), ("say", SAY_2), ("silence", 0.5)])
    pipeline_box = {}

    async def abandon() -> None:
        pipeline = SpeechPipeline(asr_model, StreamSettings(partial_interval=0), workers=1)
        pipeline_box["p"] = pipeline
        leg = pipeline.open_leg("gone", "caller", call.rate)
        for pcm, t in call.frames():
            leg.feed(pcm, t)  # decoding continues after this loop is closed

    asyncio.run(abandon())
    pool = pipeline_box["p"].pool

    async def after() -> list:
        pipeline = SpeechPipeline(asr_model, StreamSettings(partial_interval=0), pool=pool)
        leg = pipeline.open_leg("next", "caller", call.rate)
        task = asyncio.create_task(collect(leg))
        for pcm, t in call.frames():
            leg.feed(pcm, t)
        await leg.close()
        return await asyncio.wait_for(task, 60)

    events = asyncio.run(after())
    assert any(isinstance(e, FinalTranscript) for e in events)
    pool.shutdown()


async def test_warm_up_prepares_recognizers_that_legs_then_reuse(asr_model, asterisk_fixtures) -> None:  # noqa: F811
    from asr.stream import RecognizerCache

    speech = read_wav(asterisk_fixtures / "audiosocket_received.wav").samples.tobytes()
    pipeline = SpeechPipeline(asr_model, StreamSettings(partial_interval=0), workers=1)
    pipeline.recognizers = cache = RecognizerCache(asr_model)  # a private cache, to count
    await pipeline.warm_up(1, speech, 8000)
    assert cache.created == 1 and cache.idle_count() == 1
    call = make_call([("silence", 0.3), ("say", SAY_2), ("silence", 0.5)])
    leg = pipeline.open_leg("c", "caller", call.rate)
    task = asyncio.create_task(collect(leg))
    for pcm, t in call.frames():
        leg.feed(pcm, t)
    await leg.close()
    finals = [e for e in await task if isinstance(e, FinalTranscript)]
    assert finals and finals[0].words[0].start >= call.speech[0][0] - 0.35  # warm-up audio does not shift times
    assert cache.created == 1 and cache.reused == 1
    await pipeline.aclose()


def test_prepare_compiles_the_vad_and_warms_a_recognizer_before_any_call(tmp_path):
    """On a machine with no Numba cache, the first frame of the first call compiled the VAD on the
    event loop (the demo's first callers waited on it); ``prepare`` does it beforehand, on a thread."""
    import os
    import subprocess
    import sys

    code = (
        "from asr.pipeline import SpeechPipeline\n"
        "from engine.config import AsrConfig\n"
        "from asr.vad import webrtc_core as core, second_stage as ss\n"
        "p = SpeechPipeline.from_config(AsrConfig())\n"
        "before = (len(core.process_one.signatures), len(ss.process_frame.signatures))\n"
        "p.prepare()\n"
        "after = (len(core.process_one.signatures), len(ss.process_frame.signatures))\n"
        "print(before, after, p.recognizers.idle_count())\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}  # cold: nothing compiled yet
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         check=True).stdout.split()
    assert out[:2] == ["(0,", "0)"]
    after = (int(out[2].strip("(,")), int(out[3].strip(")")))
    assert after[0] >= 1 and after[1] >= 1 and int(out[4]) >= 1


async def test_a_close_cut_short_by_cancellation_leaves_shutdown_clean(asr_model) -> None:  # noqa: F811
    """A tap's runner cancelled while its leg's close() waits for the decoder (the AudioSocket
    server stopping): that cancellation must not cancel the decoder's own completion, or the later
    pipeline.aclose() of the engine's stop ends in CancelledError (seen on a cold `make demo`)."""
    call = make_call([("silence", 0.3), ("say", SAY_2), ("silence", 0.2)])
    pipeline = SpeechPipeline(asr_model, StreamSettings(partial_interval=0), workers=1)
    got: list = []
    leg = pipeline.open_leg("c", "caller", call.rate, on_event=got.append)
    for pcm, t in call.frames():
        leg.feed(pcm, t)
    closing = asyncio.create_task(leg.close(call.duration))
    await asyncio.sleep(0)  # close() is now waiting for the decoder
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.wait_for(pipeline.aclose(), 30)  # no CancelledError here
    assert [e for e in got if isinstance(e, FinalTranscript)], "the utterance was still decoded"
    assert not pipeline.legs


async def test_a_leg_opened_without_partials_sends_finals_only(asr_model) -> None:  # noqa: F811
    """``open_leg(partials=False)``: what ``[tap] partials = false`` asks for, on the pipeline's
    own settings (which do send partials)."""
    call = make_call([("silence", 0.4), ("say", SAY_2), ("silence", 0.6)])
    pipeline = SpeechPipeline(asr_model, StreamSettings(partial_interval=0.2), workers=1)
    kinds: dict[bool, list[type]] = {}
    for partials in (True, False):
        leg = pipeline.open_leg("c", "caller", call.rate, partials=partials)
        task = asyncio.create_task(collect(leg))
        for pcm, t in call.frames():
            leg.feed(pcm, t)
            await asyncio.sleep(0)
        await leg.close(call.duration)
        kinds[partials] = [type(e) for e in await asyncio.wait_for(task, 30)]
    await pipeline.aclose()
    assert PartialTranscript in kinds[True] and FinalTranscript in kinds[True]
    assert PartialTranscript not in kinds[False] and FinalTranscript in kinds[False]
