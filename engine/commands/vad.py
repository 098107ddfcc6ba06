"""``hotline vad FILE.wav [--json]``: speech segments of recordings (VAD + endpointer, no decoding)."""

from __future__ import annotations

import argparse

HELP = "print the speech segments of WAV files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE.wav", help="WAV files (any rate and channel count)")
    parser.add_argument("--vad", choices=("numba", "webrtc"), help="VAD backend (default: config asr.vad)")
    parser.add_argument("--mode", type=int, choices=(0, 1, 2, 3), help="aggressiveness (default: config asr.vad_mode)")
    parser.add_argument("--json", action="store_true", help='one JSON object per segment: {"start","end"}')


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from asr.audio import AudioFileError
    from asr.offline import vad_file
    from asr.stream import StreamSettings
    from engine.commands._common import config_from_args

    cfg = config_from_args(args, **{"asr.vad": args.vad, "asr.vad_mode": args.mode})
    settings = StreamSettings.from_config(cfg.asr)
    failed = 0
    many = len(args.files) > 1
    for path in args.files:
        try:
            segments = vad_file(path, settings)
        except AudioFileError as exc:
            failed += 1
            print(f"hotline vad: {exc}", file=sys.stderr)
            continue
        for seg in segments:
            if args.json:
                obj = {"file": path} if many else {}
                print(json.dumps({**obj, "start": seg.start, "end": seg.end}))
            else:
                print(f"{path}\t{seg.start:.2f}\t{seg.end:.2f}" if many else f"{seg.start:.2f}\t{seg.end:.2f}")
    if failed:
        print(f"hotline vad: {failed} of {len(args.files)} files failed", file=sys.stderr)
        return 1
    return 0
