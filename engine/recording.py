"""Recordings of real calls: the audio of each tapped leg, kept as a WAV file linked to its call.

The engine already receives both sides of an answered call (ChanSpy into AudioSocket, see
``engine.app``); the tap's ``FramePump`` hands every frame it feeds to ``on_pcm``, and this module
writes it out: one 16-bit mono WAV per tapped leg at
``<[store] audio_dir>/<YYYY>/<MM>/<DD>/<call id>-<side>.wav`` (the site's local date). The file is
linked to the call in the store (``Store.add_audio``, leg ``caller`` or ``agent``, with the call
time of its first sample as offset) when its first frame arrives, so the supervisor page's
player plays it in step with the transcript and ``hotline purge`` finds it.

The file follows the call's clock: a gap in the audio (a phone in silence suppression sends
nothing) is written as silence, so a moment on the timeline is the same moment in the file.
Frames are written to a buffered file on the event loop (a 20 ms frame is 320 bytes: far less
work than decoding it), and the WAV header's sizes are brought up to date every few seconds of
audio, so a crash leaves a playable file missing at most those seconds. A write that fails
(disk full) stops that leg's recording with one log line; the tap and its transcript go on.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

HEADER_EVERY = 5.0  # seconds of audio between header updates
MAX_GAP = 600.0  # a longer hole in the audio is not filled (a clock jump, not a pause)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def wav_header(rate: int, data_bytes: int) -> bytes:
    """The 44-byte header of a 16-bit mono PCM WAV holding ``data_bytes`` of samples."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


class LegRecording:
    """One tapped leg's file. ``write(pcm, rate, now)`` per frame (``now``: the call time at the
    frame's end, what ``FramePump.now`` is once it fed the frame), ``close()`` at the end."""

    def __init__(self, recorder: Recorder, call_id: str, side: str, offset: float) -> None:
        self._recorder = recorder
        self.call_id = call_id
        self.side = side
        self.offset = offset  # call time of the file's first sample
        self.path: Path | None = None
        self.rate = 0
        self.data_bytes = 0
        self.failed = False
        self._file: BinaryIO | None = None
        self._header_at = 0

    @property
    def seconds(self) -> float:
        return self.data_bytes / (2 * self.rate) if self.rate else 0.0

    def write(self, pcm: bytes, rate: int, now: float) -> None:
        if self.failed or not pcm:
            return
        try:
            if self._file is None:
                self.rate = rate
                self.offset = max(self.offset, now - len(pcm) / (2 * rate))
                self._file = self._recorder._open(self)
            gap = now - len(pcm) / (2 * self.rate) - (self.offset + self.seconds)
            if 0.06 < gap <= MAX_GAP:  # nothing came for a while: silence, so the file keeps the call's time
                self._append(bytes(2 * int(gap * self.rate)))
            self._append(pcm)
            if self.data_bytes - self._header_at >= HEADER_EVERY * 2 * self.rate:
                self._patch_header()
        except OSError as exc:
            self.failed = True
            log.error("recording of call %s (%s) stopped: %s", self.call_id, self.side, exc.strerror or exc)
            self._close_file()

    def _append(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self.data_bytes += len(data)

    def _patch_header(self) -> None:
        assert self._file is not None
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(wav_header(self.rate, self.data_bytes))
        self._file.seek(end)
        self._file.flush()
        self._header_at = self.data_bytes

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def close(self) -> None:
        """Final header, file closed. A leg that never received audio leaves no file."""
        if self._file is None:
            return
        try:
            self._patch_header()
        except OSError as exc:
            log.error("recording of call %s (%s): header not written: %s", self.call_id, self.side, exc.strerror or exc)
        self._close_file()


class _NotRecorded:
    """What a leg gets when recording is off: takes frames, keeps nothing."""

    def write(self, pcm: bytes, rate: int, now: float) -> None:
        pass

    def close(self) -> None:
        pass


class Recorder:
    """Makes :class:`LegRecording` files under ``audio_dir`` and links them in ``store`` (an
    ``AsyncStore``, written without waiting, or a plain ``Store``)."""

    def __init__(self, audio_dir: str | Path, store: Any, *, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float], enabled: bool = True) -> None:
        self.audio_dir = Path(audio_dir)
        self.store = store
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.enabled = enabled
        self.files = 0

    @classmethod
    def from_config(cls, cfg: Any, store: Any, clock: Callable[[], float]) -> Recorder:
        return cls(cfg.store.audio_dir, store, timezone=cfg.site.timezone, clock=clock, enabled=cfg.tap.record)

    def leg(self, call_id: str, side: str, offset: float) -> LegRecording | _NotRecorded:
        """A recording for one tapped leg (``side`` caller or agent) starting at call time ``offset``."""
        return LegRecording(self, call_id, side, offset) if self.enabled else _NotRecorded()

    def _open(self, rec: LegRecording) -> BinaryIO:
        day = datetime.fromtimestamp(self.clock(), self.tz).strftime("%Y/%m/%d")
        stem = f"{_UNSAFE.sub('_', rec.call_id)}-{rec.side}"
        folder = self.audio_dir / day
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}.wav"
        n = 1
        while path.exists():  # the same leg tapped again (a transfer): a new file
            n += 1
            path = folder / f"{stem}-{n}.wav"
        f = open(path, "xb")  # kept open for the leg's life; LegRecording.close() closes it
        f.write(wav_header(rec.rate, 0))
        rec.path = path
        self.files += 1
        relative = path.relative_to(self.audio_dir).as_posix()  # the page serves paths under audio_dir
        submit = getattr(self.store, "submit_audio", None) or self.store.add_audio
        submit(rec.call_id, rec.side, relative, round(rec.offset, 3))
        return f
