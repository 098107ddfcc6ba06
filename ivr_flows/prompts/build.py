"""Speak the default prompts with espeak-ng into 8 kHz mono 16-bit WAV (Asterisk's ``.wav``).

Run: ``python -m ivr_flows.prompts.build [--force] [--out DIR]``. Texts come from
``texts.yaml`` next to this file, and the number words (``hotline/numbers/<word>``) from
``ivr_flows.numbers.WORDS``; output is ``DIR/<lang>/hotline/<name>.wav`` (the layout of
Asterisk's sounds folder, so the folder can be copied there as is). The generated files are
committed (about 3 MB), so a fresh clone needs no espeak-ng; this script regenerates them after
a text changes, and only writes files that are missing unless ``--force``. A hotline replaces
them with its own recordings (same names) and never needs this script.

Mandarin uses espeak-ng's ``cmn-latn-pinyin`` voice: the plain ``cmn`` voice (espeak-ng 1.51)
reads the pinyin its dictionary gives for most characters as English words ("san one" for 三).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
import yaml

from asr.audio import read_wav, resample
from ivr_flows.numbers import PREFIX, WORDS

HERE = Path(__file__).resolve().parent
RATE = 8000
VOICES = {"zh": "cmn-latn-pinyin", "en": "en"}  # texts.yaml pieces name a language or a voice
GAP = np.zeros(int(0.15 * RATE), dtype=np.int16)


def speak(text: str, voice: str, *, speed: int = 165) -> np.ndarray:
    """espeak-ng's speech for ``text`` as int16 samples at 8 kHz."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(out), text], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        audio = read_wav(out)
    return trim(resample(audio.samples, audio.rate, RATE))


def trim(x: np.ndarray, threshold: int = 200) -> np.ndarray:
    """Drop espeak-ng's leading and trailing silence (the prompt adds its own short gaps)."""
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > threshold)
    if len(loud) == 0:
        return x
    pad = int(0.05 * RATE)
    return x[max(0, loud[0] - pad): loud[-1] + pad]


def write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def build(out_dir: Path = HERE, *, force: bool = False, texts_file: Path = HERE / "texts.yaml") -> list[Path]:
    texts = yaml.safe_load(texts_file.read_text(encoding="utf-8"))
    written = []
    for name, by_lang in texts.items():
        for lang, text in by_lang.items():
            target = out_dir / lang / "hotline" / f"{name}.wav"
            if target.exists() and not force:
                continue
            pieces = text if isinstance(text, list) else [[lang, text]]
            audio = [GAP]
            for voice, piece in pieces:
                audio += [speak(piece, VOICES.get(voice, voice)), GAP]
            write_wav(target, np.concatenate(audio))
            written.append(target)
    for lang, words in WORDS.items():  # one word each, played back to back: no added gaps
        for word, text in words.items():
            target = out_dir / lang / f"{PREFIX}{word}.wav"
            if target.exists() and not force:
                continue
            write_wav(target, speak(text, VOICES[lang]))
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--force", action="store_true", help="regenerate files that exist")
    args = parser.parse_args(argv)
    try:
        written = build(args.out, force=args.force)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"prompt build failed: {exc}", file=sys.stderr)
        return 1
    print(f"{len(written)} prompt file(s) written under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
