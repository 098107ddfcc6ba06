"""Retention: recordings and transcripts are kept for a configured number of days, then purged.

``[store] audio_retention_days`` and ``transcript_retention_days`` (0 keeps them for good) are
applied by ``hotline purge`` (run it daily: cron or a systemd timer). Age is the call's start. A
purge deletes, for calls older than the audio limit, the recording files (only those under
``audio_dir``: a path elsewhere is unlinked from the call but its file is left alone) and their
rows; for calls older than the transcript limit, the transcript segments with their search index
rows, what the caller typed or said in the IVR, and callback bookings (with their numbers). Call
records stay (statistics need them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from engine.store.sql_store import SqlStore

log = logging.getLogger(__name__)
DAY = 86400.0


@dataclass
class PurgeReport:
    audio_rows: int = 0
    audio_files: int = 0
    audio_bytes: int = 0
    missing_files: int = 0  # rows whose file was already gone
    outside_files: int = 0  # rows pointing outside audio_dir: unlinked, file left alone
    transcripts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        out = [f"recordings: {verb} {self.audio_rows} ({self.audio_files} files, {self.audio_bytes / 1e6:.1f} MB)"]
        if self.missing_files:
            out.append(f"  {self.missing_files} files were already gone")
        if self.outside_files:
            out.append(f"  {self.outside_files} files outside the audio directory were left on disk")
        if self.transcripts:
            t = self.transcripts
            out.append(f"transcripts: {verb} {t.get('segments', 0)} segments, {t.get('ivr_input_events', 0)} IVR "
                       f"inputs ({t.get('calls_with_ivr_inputs', 0)} calls), {t.get('callbacks', 0)} callback bookings")
        return out


def purge(store: SqlStore, *, now: float, audio_dir: str | Path, audio_days: float, transcript_days: float,
          dry_run: bool = False) -> PurgeReport:
    """Apply both retention limits as of ``now`` (epoch seconds); a limit of 0 keeps everything."""
    report = PurgeReport(dry_run=dry_run)
    root = Path(audio_dir).resolve()
    if audio_days > 0:
        old = store.audio_before(now - audio_days * DAY)
        report.audio_rows = len(old)
        gone: list[int] = []
        for a in old:
            path = Path(a.path)
            path = (root / path if not path.is_absolute() else path).resolve()
            if not path.is_relative_to(root):
                report.outside_files += 1
            elif not path.is_file():
                report.missing_files += 1
            else:
                report.audio_files += 1
                report.audio_bytes += path.stat().st_size
                if not dry_run:
                    try:
                        path.unlink()
                    except OSError as exc:  # kept linked, so the next purge tries again
                        log.error("purge: cannot delete recording %d: %s", a.id, exc.strerror or exc)
                        continue
            gone.append(a.id)
        if not dry_run:
            store.delete_audio(gone)
    if transcript_days > 0:
        cutoff = now - transcript_days * DAY
        report.transcripts = store.delete_transcripts(cutoff, dry_run=dry_run)
    return report
