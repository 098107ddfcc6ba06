"""VAD accuracy and cost on call-like audio: Numba (+ second stage), webrtcvad, energy, Silero.

A seeded set is generated at run time: espeak-ng sentences in several languages (en, cmn, de,
es, fr, ru) with pauses of 0.5-6 s, mixed with white noise or babble (several other espeak
voices talking at once) at clean, 20, 10, 5 and 0 dB SNR (speech power over its active
frames), then sent through a telephone channel: 300-3400 Hz band-pass and a G.711 mu-law
round trip, at 8 kHz. Truth per 10 ms frame comes from the clean speech before mixing.

Prints frame F1 and false-alarm rate per VAD and condition (deterministic: one pass), and CPU
microseconds per 20 ms frame on one core: one call at a time and 1,000 calls batched (one tick
of all at once), as median (min-max) over ``--runs`` interleaved runs (``benchmarks/_runs.py``),
with per-run ratios against webrtcvad and Silero measured in the same run.

    .venv/bin/python benchmarks/bench_vad.py [--seconds 600] [--seed 1] [--calls 1000] [--runs 7]

Silero VAD is the accuracy peer (benchmark only): ``pip install -e '.[silero]'`` (CPU torch).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, ratios

FS = 8000
FRAME = 160  # 20 ms
TEN_MS = 80

PHRASES = {
    "en": [
        "Hello, the street light near the market has been broken for three days.",
        "I want to complain about the noise from the construction site at night.",
        "My water bill is much higher than last month, can you check it please?",
        "The bus number twelve did not stop at our station this morning.",
    ],
    "cmn": [
        "你好，我要反映一下小区门口的路灯坏了，已经三天了。",
        "晚上工地施工的噪音太大了，我们都睡不着觉。",
        "我想查询一下上个月的水费为什么这么高。",
        "十二路公交车今天早上没有在我们站停车。",
    ],
    "de": [
        "Guten Abend, ich möchte eine Beschwerde über den Lärm melden.",
        "Die Straßenlaterne vor unserem Haus ist seit einer Woche kaputt.",
    ],
    "es": [
        "Buenas noches, quiero informar de un problema con el agua.",
        "El autobús no pasó por nuestra parada esta mañana.",
    ],
    "fr": [
        "Bonsoir, je voudrais signaler un lampadaire cassé dans ma rue.",
        "Le bruit du chantier continue toute la nuit.",
    ],
    "ru": [
        "Добрый вечер, я хочу сообщить о проблеме с отоплением.",
        "Автобус сегодня утром не остановился на нашей остановке.",
    ],
}
TARGET_VOICES = ["", "+m3", "+f2", "+m1", "+f4"]
BABBLE_VOICES = ["+m2", "+f1", "+m4", "+f3", "+m6", "+f5", "+m7"]
CONDITIONS = [("clean", None)] + [(f"{kind} {snr} dB", (kind, snr)) for kind in ("white", "babble") for snr in (20, 10, 5, 0)]


# ---- data ------------------------------------------------------------------------------------
def _espeak(tmp: Path, voice: str, text: str, speed: int, pitch: int, idx: int) -> np.ndarray:
    out = tmp / f"u{idx}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
        check=True,
        capture_output=True,
    )
    with wave.open(str(out)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return resample_poly(x, FS, rate)


def _utterances(tmp: Path, rng: np.random.Generator, n: int, voices: list[str], start: int) -> list[np.ndarray]:
    langs = list(PHRASES)
    out = []
    for i in range(n):
        lang = langs[i % len(langs)] if i < len(langs) else str(rng.choice(langs))
        text = str(rng.choice(PHRASES[lang]))
        voice = lang + str(rng.choice(voices))
        x = _espeak(tmp, voice, text, int(rng.integers(130, 190)), int(rng.integers(25, 75)), start + i)
        out.append(x / (np.sqrt(np.mean(x[np.abs(x) > 50] ** 2)) + 1e-9))  # unit active level
    return out


def generate_set(seed: int, seconds: float) -> dict[str, np.ndarray]:
    """Clean target talk (float, 8 kHz), its truth per 10 ms, a babble track and white noise."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pool = _utterances(tmp, rng, 24, TARGET_VOICES, 0)
        babble_pool = _utterances(tmp, rng, 30, BABBLE_VOICES, 1000)
    n = int(seconds * FS)
    clean = np.zeros(n)
    truth = np.zeros(n // TEN_MS, dtype=bool)
    pos = 0
    while True:
        pos += int(rng.uniform(0.5, 6.0) * FS)
        u = pool[int(rng.integers(len(pool)))] * 10 ** (rng.uniform(-6, 6) / 20)
        if pos + u.size > n:
            break
        clean[pos : pos + u.size] = u
        # truth of this utterance
        f0 = pos // TEN_MS
        nf = u.size // TEN_MS
        e = 10 * np.log10((u[: nf * TEN_MS].reshape(nf, TEN_MS) ** 2).mean(axis=1) + 1e-12)
        act = e > e.max() - 40
        idx = np.flatnonzero(act)
        if idx.size:
            act[idx[0] : idx[-1] + 1] |= _close_gaps(act[idx[0] : idx[-1] + 1], 20)
        truth[f0 : f0 + nf] |= act
        pos += u.size
    # babble: 6 talkers, each talking without pause, equal power
    babble = np.zeros(n)
    for _ in range(6):
        track = []
        total = 0
        while total < n:
            u = babble_pool[int(rng.integers(len(babble_pool)))]
            track.append(u)
            track.append(np.zeros(int(rng.uniform(0.05, 0.3) * FS)))
            total += u.size + track[-1].size
        t = np.concatenate(track)
        off = int(rng.integers(0, FS * 3))
        babble += np.roll(t[:n], off)
    white = rng.normal(0, 1, n)
    return {"clean": clean, "truth": truth, "babble": babble, "white": white}


def _close_gaps(act: np.ndarray, max_gap: int) -> np.ndarray:
    out = act.copy()
    idx = np.flatnonzero(act)
    for a, b in zip(idx[:-1], idx[1:], strict=False):
        if 1 < b - a <= max_gap + 1:
            out[a:b] = True
    return out


def _mulaw_round_trip(x: np.ndarray) -> np.ndarray:
    """G.711 mu-law encode and decode of int16 samples (segment and 4-bit mantissa)."""
    s = np.clip(x, -32768, 32767).astype(np.int64)
    sign = s < 0
    q = s >> 2  # 14 bits (floor, as G.711 encoders do before taking the magnitude)
    mag = np.minimum(np.where(sign, -q, q), 8158) + 33  # magnitude plus bias
    seg = np.clip(np.floor(np.log2(mag)).astype(np.int64) - 5, 0, 7)
    mant = (mag >> (seg + 1)) & 0x0F
    dec = (((mant << 1) + 33) << seg) - 33  # mid-point of the quantisation step
    return np.where(sign, -dec, dec) * 4


_BANDPASS = butter(4, [300, 3400], btype="bandpass", fs=FS, output="sos")


def make_condition(data: dict[str, np.ndarray], cond: tuple[str, int] | None, level_db: float = -26.0) -> np.ndarray:
    """Talk at ``level_db`` dBFS active level plus noise at an SNR, through the phone channel."""
    clean = data["clean"]
    truth_s = np.repeat(data["truth"], TEN_MS)[: clean.size]
    p_speech = np.mean(clean[: truth_s.size][truth_s] ** 2)
    x = clean.copy()
    if cond is not None:
        kind, snr = cond
        noise = data[kind]
        x = x + noise * np.sqrt(p_speech / np.mean(noise**2) / 10 ** (snr / 10))
    x = x * (32768 * 10 ** (level_db / 20) / np.sqrt(p_speech))
    x = sosfilt(_BANDPASS, x)
    x = _mulaw_round_trip(np.round(x))
    return np.clip(x, -32768, 32767).astype(np.int16)


# ---- detectors -------------------------------------------------------------------------------
def run_numba(x: np.ndarray, mode: int) -> np.ndarray:
    from asr.vad.numba_vad import NumbaVad

    return NumbaVad(FS, mode).is_speech_frames(_frames(x, FRAME))


def run_second(x: np.ndarray, mode: int) -> np.ndarray:
    from asr.vad.second_stage import SecondStageBatch

    b = SecondStageBatch(1, FS, mode)
    return np.array([b.process(f[None, :])[0] for f in _frames(x, FRAME)])


def run_webrtc(x: np.ndarray, mode: int) -> np.ndarray:
    import webrtcvad

    v = webrtcvad.Vad(mode)
    return np.array([v.is_speech(f.tobytes(), FS) for f in _frames(x, FRAME)])


def run_energy(x: np.ndarray, mode: int) -> np.ndarray:
    from asr.vad.energy import EnergyVad

    v = EnergyVad(FS, mode)
    return np.array([v.is_speech(f) for f in _frames(x, FRAME)])


def _silero():
    import torch
    from silero_vad import load_silero_vad

    torch.set_num_threads(1)
    return torch, load_silero_vad()


def run_silero(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Silero's probability per 32 ms chunk (256 samples at 8 kHz), spread to 20 ms frames."""
    torch, model = _silero()
    model.reset_states()
    chunks = _frames(x, 256)
    t = torch.from_numpy(chunks.astype(np.float32) / 32768.0)
    with torch.no_grad():
        probs = np.array([float(model(t[i], FS)) for i in range(len(chunks))])
    per_sample = np.repeat(probs >= threshold, 256)
    centers = np.arange(x.size // FRAME) * FRAME + FRAME // 2
    centers = centers[centers < per_sample.size]
    return per_sample[centers]


def _frames(x: np.ndarray, n: int) -> np.ndarray:
    return x[: x.size // n * n].reshape(-1, n)


def score(decisions20: np.ndarray, truth10: np.ndarray) -> tuple[float, float]:
    """Frame F1 and false-alarm rate over 10 ms frames (a 20 ms decision covers two)."""
    d = np.repeat(decisions20, 2)
    n = min(d.size, truth10.size)
    d, t = d[:n], truth10[:n]
    tp = np.sum(d & t)
    fp = np.sum(d & ~t)
    fn = np.sum(~d & t)
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return float(f1), float(fp / max(np.sum(~t), 1))


# ---- cost ------------------------------------------------------------------------------------
def _per_frame(jobs: dict[str, tuple], runs: int) -> dict[str, list[float]]:
    """CPU microseconds per frame of each job (fn, n_frames) in each of ``runs`` interleaved
    runs (every job once per run, order turned each run), so that load from other processes on
    a shared machine hits all of them alike; one untimed run first (compiling, first-call costs)."""
    for fn, _ in jobs.values():
        fn()

    def timed(fn, n_frames: int):
        def go() -> float:
            t0 = time.process_time()
            fn()
            return (time.process_time() - t0) / n_frames * 1e6

        return go

    return alternate({k: timed(fn, n) for k, (fn, n) in jobs.items()}, runs)


def cost(x: np.ndarray, calls: int, mode: int, with_silero: bool, runs: int = 7) -> dict[tuple[str, int], list[float]]:
    """CPU microseconds per 20 ms frame of each (VAD, 0 = one call at a time | 1 = ``calls``
    calls batched), one figure per run."""
    import webrtcvad

    from asr.vad.energy import EnergyVad, EnergyVadBatch
    from asr.vad.numba_vad import NumbaVad, NumbaVadBatch
    from asr.vad.second_stage import SecondStage, SecondStageBatch

    frames = _frames(x, FRAME)[:1500]
    as_bytes = [f.tobytes() for f in frames]
    n = len(frames)
    rng = np.random.default_rng(0)
    ticks = 30
    starts = rng.integers(0, len(frames) - ticks, calls)
    tick_frames = [np.ascontiguousarray(frames[starts + t]) for t in range(ticks)]
    frame_list = list(frames)  # one array per frame, as they arrive

    def single(make):
        def go():
            v = make()
            for f in frame_list:
                v.is_speech(f)

        return go

    def batched(make):
        def go():
            b = make()
            for tf in tick_frames:
                b.process(tf)

        return go

    def web_single():
        v = webrtcvad.Vad(mode)
        for b in as_bytes:
            v.is_speech(b, FS)

    def web_batch():  # the C library has no batch form: a loop over calls per tick
        vads = [webrtcvad.Vad(mode) for _ in range(calls)]
        for tf in tick_frames:
            for v, f in zip(vads, tf, strict=True):
                v.is_speech(f.tobytes(), FS)

    nb = calls * ticks

    def numba_bytes():
        v = NumbaVad(FS, mode)
        for b in as_bytes:
            v.is_speech(b)

    jobs = {
        ("webrtcvad (C, from Python)", 0): (web_single, n),
        ("webrtcvad (C, from Python)", 1): (web_batch, nb),
        ("Numba", 0): (single(lambda: NumbaVad(FS, mode)), n),
        ("Numba", 1): (batched(lambda: NumbaVadBatch(calls, FS, mode)), nb),
        ("Numba, bytes in", 0): (numba_bytes, n),
        ("Numba + second stage", 0): (single(lambda: SecondStage(NumbaVad(FS, mode))), n),
        ("Numba + second stage", 1): (batched(lambda: SecondStageBatch(calls, FS, mode)), nb),
        ("NumPy energy", 0): (single(lambda: EnergyVad(FS, mode)), n),
        ("NumPy energy", 1): (batched(lambda: EnergyVadBatch(calls, FS)), nb),
    }
    if with_silero:
        torch, model = _silero()
        chunks = torch.from_numpy(_frames(x, 256)[:600].astype(np.float32) / 32768.0)

        def sil_single():
            model.reset_states()
            with torch.no_grad():
                for c in chunks:
                    model(c, FS)

        sil_ticks = 5
        big = torch.from_numpy(
            np.stack([_frames(x, 256)[starts % 600 + t] for t in range(sil_ticks)]).astype(np.float32) / 32768.0
        )

        def sil_batch():
            model.reset_states()
            with torch.no_grad():
                for t in range(sil_ticks):
                    model(big[t], FS)

        # Silero's chunk is 32 ms: count its cost per 20 ms of audio (frames of 20 ms it covers)
        jobs[("Silero VAD (torch, 1 thread)", 0)] = (sil_single, len(chunks) * 32 / 20)
        jobs[("Silero VAD (torch, 1 thread)", 1)] = (sil_batch, calls * sil_ticks * 32 / 20)
    return _per_frame(jobs, runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="length of the generated talk")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mode", type=int, default=2, help="aggressiveness of the WebRTC-type VADs")
    ap.add_argument("--calls", type=int, default=1000, help="calls in the batched timing")
    ap.add_argument("--no-silero", action="store_true")
    add_runs_argument(ap, default=7)
    args = ap.parse_args(argv)
    load = Load()
    print(load.header(args.runs))
    with_silero = not args.no_silero
    if with_silero:
        try:
            _silero()
        except ImportError:
            print("Silero VAD not installed (pip install -e '.[silero]'); running without it", file=sys.stderr)
            with_silero = False
    t0 = time.time()
    data = generate_set(args.seed, args.seconds)
    truth = data["truth"]
    print(f"set: seed {args.seed}, {args.seconds:.0f} s of talk at 8 kHz, {truth.mean():.0%} speech, "
          f"mode {args.mode} (generated in {time.time() - t0:.0f} s)")
    vads = {
        "Numba": lambda x: run_numba(x, args.mode),
        "Numba + second stage": lambda x: run_second(x, args.mode),
        "webrtcvad": lambda x: run_webrtc(x, args.mode),
        "NumPy energy": lambda x: run_energy(x, args.mode),
    }
    if with_silero:
        vads["Silero VAD"] = run_silero
    f1 = {name: {} for name in vads}
    fa = {name: {} for name in vads}
    exact = True
    for cname, cond in CONDITIONS:
        x = make_condition(data, cond)
        results = {name: fn(x) for name, fn in vads.items()}
        exact &= bool(np.array_equal(results["Numba"], results["webrtcvad"]))
        for name, d in results.items():
            f1[name][cname], fa[name][cname] = score(d, truth)
    names = list(vads)
    print("\nframe F1 (false-alarm rate) per condition")
    print("| condition | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for cname, _ in CONDITIONS:
        cells = [f"{f1[n][cname]:.3f} ({fa[n][cname]:.2f})" for n in names]
        print(f"| {cname} | " + " | ".join(cells) + " |")
    print(f"\nNumba decisions identical to webrtcvad in every condition: {exact}")
    if with_silero:
        for c in ("babble 10 dB", "white 0 dB"):
            d = f1["Numba + second stage"][c] - f1["Silero VAD"][c]
            print(f"second stage F1 minus Silero's at {c}: {d:+.3f} (goal >= -0.03)")
    x = make_condition(data, ("white", 10))
    costs = cost(x, args.calls, args.mode, with_silero, args.runs)
    web1 = costs[("webrtcvad (C, from Python)", 0)]
    print(f"\nCPU microseconds per 20 ms frame, one core (batched = {args.calls} calls per tick), "
          f"median (min-max) over {args.runs} interleaved runs; ratios per run")
    print("| VAD | one call | batched | webrtcvad one call / this one call | webrtcvad one call / this batched |")
    print("|---|---|---|---|---|")
    for name in dict.fromkeys(name for name, _ in costs):
        cells = []
        for col in (0, 1):
            us = costs.get((name, col))
            cells.append("-" if us is None else Spread.of(us).fmt())
        for col in (0, 1):
            us = costs.get((name, col))
            cells.append("-" if us is None else Spread.of(ratios(web1, us)).fmt(".2f", "x"))
        print(f"| {name} | " + " | ".join(cells) + " |")
    if with_silero:
        sil = "Silero VAD (torch, 1 thread)"
        for col, how in ((0, "one call at a time"), (1, "batched")):
            share = Spread.of(ratios(costs[("Numba + second stage", col)], costs[(sil, col)]))
            print(f"Numba + second stage costs {share.fmt('.3f')} of Silero's time {how}")
    print(load.footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
