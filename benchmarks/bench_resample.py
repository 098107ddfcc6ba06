"""CPU per second of audio for the resampling a leg at another rate than its model costs.

The project's ``engine.resample.Resampler`` (windowed sinc, 16 zero crossings, polyphase, in
numpy) as the speech path uses it:

* 20 ms frames: what the frame pump does with frames at a rate the VAD does not take (44.1 kHz)
  or after a mid-call change of rate;
* 1 s chunks: what a leg's decoder does with the utterance audio the gate lets through (jobs are
  a few hundred ms to a second of coalesced frames);

against its peer, ``scipy.signal.resample_poly`` (Kaiser-windowed polyphase FIR, compiled) over
the whole signal at once, which a live call cannot do, in the same run. Runs are interleaved
(every variant once per round, the order turned each round: ``benchmarks/_runs.py``) and the
median of the rounds is reported.

    .venv/bin/python benchmarks/bench_resample.py [--seconds 20] [--runs 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from math import gcd
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, ratios  # noqa: E402
from engine.resample import Resampler  # noqa: E402

PAIRS = [(8000, 16000), (16000, 8000), (44100, 16000), (48000, 16000)]


def signal(rate: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(rate)
    return np.clip(rng.normal(0, 4000, int(rate * seconds)), -32768, 32767).astype("<i2")


def ours(x: np.ndarray, rate_in: int, rate_out: int, chunk: int) -> float:
    pcm = x.tobytes()
    step = chunk * 2
    c0 = time.process_time()
    r = Resampler(rate_in, rate_out)
    for pos in range(0, len(pcm), step):
        r.process(pcm[pos : pos + step])
    r.flush()
    return time.process_time() - c0


def scipy_whole(x: np.ndarray, rate_in: int, rate_out: int) -> float:
    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    c0 = time.process_time()
    y = resample_poly(x.astype(np.float64), rate_out // g, rate_in // g)
    np.clip(np.round(y), -32768, 32767).astype(np.int16)
    return time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="audio per measurement (default 20)")
    add_runs_argument(p, default=7)
    args = p.parse_args(argv)
    load = Load()
    print(f"CPU ms per second of audio, {args.seconds:g} s per measurement; {load.header(args.runs)}")
    print("figures: median (min-max) over the runs; ratios: per run, against scipy in the same round")
    for rate_in, rate_out in PAIRS:
        x = signal(rate_in, args.seconds)
        got = alternate({"frame": lambda x=x, a=rate_in, b=rate_out: ours(x, a, b, a // 50),
                         "chunk": lambda x=x, a=rate_in, b=rate_out: ours(x, a, b, a),
                         "scipy": lambda x=x, a=rate_in, b=rate_out: scipy_whole(x, a, b)}, args.runs)
        ms = {k: Spread.of([t / args.seconds * 1000 for t in v]) for k, v in got.items()}
        print(f"{rate_in} -> {rate_out}: ours 20 ms frames {ms['frame'].fmt('.3f')}, ours 1 s chunks "
              f"{ms['chunk'].fmt('.3f')}, scipy whole {ms['scipy'].fmt('.3f')}; ratio 20 ms / scipy "
              f"{Spread.of(ratios(got['frame'], got['scipy'])).fmt('.1f', 'x')}, 1 s / scipy "
              f"{Spread.of(ratios(got['chunk'], got['scipy'])).fmt('.1f', 'x')}")
    print(load.footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
