"""``hotline replay CALL_ID|latest [--db PATH] [--play]``: a stored call's timeline in the terminal.

Prints both legs' transcripts, IVR steps and queue events on one clock (numbers masked). With
``--play`` the call's recording plays through PyAudio and each line is printed when the audio
reaches it.
"""

from __future__ import annotations

import argparse
import sys
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from engine.commands._common import DB_HELP
from engine.errors import HotlineError

HELP = "print a stored call's timeline (masked); --play plays its audio in time with it"

INSTALL_HINT = (
    "--play needs PyAudio, which is not installed. Install the 'audio' extra: "
    ".venv/bin/pip install -e '.[audio]' (on Debian first: apt-get install portaudio19-dev)"
)


class ReplayError(HotlineError):
    """The call, its audio or the audio device is not there."""


LATEST = "latest"  # never an Asterisk id (those are epoch.sequence)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("call_id", metavar="CALL_ID",
                        help=f"call id (Linkedid) or any id linked to it; {LATEST!r}: the newest call that has ended")
    parser.add_argument("--db", help=DB_HELP)
    parser.add_argument("--play", action="store_true", help="play the recording with PyAudio, lines in time with it")
    parser.add_argument("--leg", choices=("mixed", "caller", "agent"), help="which recording to play (default: mixed, else the first)")
    parser.add_argument("--json", action="store_true", help="print the timeline as JSON (masked)")


class Sink(Protocol):
    def write(self, frames: bytes) -> Any: ...


def play_along(
    reader: wave.Wave_read,
    offset: float,
    items: Sequence[tuple[float, str]],
    sink: Sink,
    emit: Callable[[str], None],
    *,
    chunk_seconds: float = 0.1,
) -> None:
    """Write the audio to ``sink`` chunk by chunk (a blocking write paces it) and ``emit`` each
    line once the audio has reached its time. Lines before the recording starts come first,
    lines after it ends come last."""
    rate = reader.getframerate()
    chunk = max(1, int(rate * chunk_seconds))
    pending = sorted(items, key=lambda x: x[0])
    i = 0
    played = 0
    total = reader.getnframes()
    while played < total:
        now = offset + played / rate
        while i < len(pending) and pending[i][0] <= now + 1e-9:
            emit(pending[i][1])
            i += 1
        frames = reader.readframes(chunk)
        if not frames:
            break
        sink.write(frames)
        played += len(frames) // (reader.getsampwidth() * reader.getnchannels())
    for _, line in pending[i:]:
        emit(line)


def _open_audio(path: Path) -> wave.Wave_read:
    try:
        return wave.open(str(path), "rb")
    except FileNotFoundError:
        raise ReplayError(f"audio file {path} is missing") from None
    except (wave.Error, EOFError) as exc:
        raise ReplayError(f"audio file {path}: not a WAV file PyAudio can play ({exc})") from None


def run(args: argparse.Namespace) -> int:
    import json

    from engine.commands._common import config_from_args, existing_store
    from engine.store import StoreError
    from engine.store.backend import open_store
    from engine.store.render import timeline_lines
    from engine.web.present import timeline_json

    cfg = config_from_args(args)
    if args.play:
        try:
            import pyaudio  # type: ignore[import-not-found]
        except ImportError:
            raise ReplayError(INSTALL_HINT) from None
    db = existing_store(args, cfg)
    try:
        store = open_store(cfg, db=db, readonly=True)
    except StoreError as exc:
        raise ReplayError(str(exc)) from None
    with store:
        call_id = args.call_id
        if call_id == LATEST:  # the newest ended call (a live one's timeline is still growing), else the newest
            newest = store.list_calls(limit=1, live=False) or store.list_calls(limit=1)
            if not newest:
                raise ReplayError(f"no calls in {db} yet")
            call_id = newest[0].id
        tl = store.call_timeline(call_id)
    if tl is None:
        raise ReplayError(f"no call {call_id!r} in {store.path}")
    if args.json:
        print(json.dumps(timeline_json(tl, reveal=False), ensure_ascii=False, indent=2))
        return 0
    head, lines = timeline_lines(tl, cfg.site.timezone)
    print("\n".join(head))
    print()
    if not args.play:
        print("\n".join(lines))
        return 0

    if not tl.audio:
        raise ReplayError(f"call {tl.call.id} has no recording to play")
    wanted = args.leg or "mixed"
    audio = next((a for a in tl.audio if a.leg == wanted), None)
    if audio is None:
        if args.leg:
            raise ReplayError(f"call {tl.call.id} has no {args.leg} recording (has: {', '.join(a.leg for a in tl.audio)})")
        audio = tl.audio[0]
    path = Path(audio.path)
    if not path.is_absolute():
        path = Path(cfg.store.audio_dir) / path
    reader = _open_audio(path)
    pa = pyaudio.PyAudio()
    try:
        stream = pa.open(
            format=pa.get_format_from_width(reader.getsampwidth()),
            channels=reader.getnchannels(),
            rate=reader.getframerate(),
            output=True,
        )
    except OSError as exc:
        pa.terminate()
        raise ReplayError(f"cannot open an audio output device: {exc}") from None
    try:
        play_along(reader, audio.offset, [(i.t, line) for i, line in zip(tl.items, lines, strict=True)], stream,
                   lambda s: print(s, flush=True))
        time.sleep(0.2)  # let the device drain the last chunk
    except KeyboardInterrupt:
        print("\n(stopped)", file=sys.stderr)
    finally:
        stream.close()
        pa.terminate()
        reader.close()
    return 0
