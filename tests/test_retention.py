"""Retention: ``hotline purge`` deletes old recordings (files and rows) and old transcripts, and
leaves recent ones, call records and files outside the audio directory alone; on both store
backends (the ``backend`` fixture: a SQLite file, a PostgreSQL URL in the config)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import load_config
from engine.store import StoredCallback
from engine.store.backend import open_store

DAY = 86400.0


@pytest.fixture
def site(tmp_path: Path, backend) -> tuple[Path, Path, Path]:
    """A store with an old call (100 days ago) and a recent one (2 days ago), each recorded and
    transcribed, and an old recording kept outside the audio directory."""
    audio = tmp_path / "audio"
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"RIFF-outside")
    now = time.time()
    with backend.open() as s:
        for cid, age in (("old", 100), ("recent", 2)):
            t0 = now - age * DAY
            s.upsert_call(cid, started_at=t0, ended_at=t0 + 60, queue="citizen", queue_joined_at=t0 + 5,
                          queue_answered_at=t0 + 10, outcome="answered", ivr_inputs={"intake": "路灯坏了"})
            s.add_event(cid, "ivr.input", t0 + 3, {"node": "intake", "input": "路灯坏了"})
            s.add_event(cid, "queue.join", t0 + 5, {"queue": "citizen"})
            s.add_segment(cid, "caller", 12.0, 14.0, f"{cid} 路灯坏了")
            for leg in ("caller", "agent"):
                rel = Path("2026/11") / f"{cid}-{leg}.wav"
                (audio / rel).parent.mkdir(parents=True, exist_ok=True)
                (audio / rel).write_bytes(b"RIFF" + bytes(1000))
                s.add_audio(cid, leg, rel.as_posix(), offset=10.0)
            # a callback booked on each, never dialled (the node was retired): its number is kept
            s.save_callback(StoredCallback(f"CB-{cid}", "n1", cid, "citizen", "13912345678", 0, t0 + 30, "waiting", 0))
        s.add_audio("old", "mixed", str(outside))
    config = tmp_path / "hotline.toml"
    config.write_text(f'[store]\n{backend.toml}\naudio_dir = "{audio}"\n'
                      "audio_retention_days = 30\ntranscript_retention_days = 60\n", encoding="utf-8")
    return config, audio, outside


def _state(config: Path) -> dict:
    with open_store(load_config(config), readonly=True) as s:
        return {
            "calls": sorted(c.id for c in s.list_calls(limit=10)),
            "audio": {cid: sorted(a.leg for a in s.audio(cid)) for cid in ("old", "recent")},
            "segments": {cid: len(s.segments(cid)) for cid in ("old", "recent")},
            "hits": sorted(h.call.id for h in s.search("路灯")),
            "inputs": {cid: s.get_call(cid).ivr_inputs for cid in ("old", "recent")},
            "events": {cid: sorted(i.kind for i in s.call_timeline(cid).items if i.kind != "speech")
                       for cid in ("old", "recent")},
            "callbacks": [c.id for c in s.pending_callbacks("n1")[0]],
        }


def test_purge_removes_old_audio_and_transcripts_and_keeps_recent_ones(site, capsys):
    config, audio, outside = site
    before = _state(config)
    assert main(["--config", str(config), "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete 3 (2 files" in out and "would delete 1 segments, 1 IVR inputs" in out
    assert "1 callback bookings" in out
    assert _state(config) == before and len(list(audio.rglob("*.wav"))) == 4

    assert main(["--config", str(config), "purge"]) == 0
    out = capsys.readouterr().out
    assert "keeping recordings 30 days, transcripts 60 days" in out
    assert "deleted 3 (2 files" in out and "1 files outside the audio directory were left on disk" in out
    after = _state(config)
    assert after["calls"] == ["old", "recent"]  # call records stay: statistics need them
    assert after["audio"] == {"old": [], "recent": ["agent", "caller"]}
    assert sorted(p.name for p in audio.rglob("*.wav")) == ["recent-agent.wav", "recent-caller.wav"]
    assert outside.exists()  # not ours to delete
    assert after["segments"] == {"old": 0, "recent": 1} and after["hits"] == ["recent"]  # index rows gone too
    assert after["inputs"] == {"old": None, "recent": {"intake": "路灯坏了"}}
    assert after["events"] == {"old": ["queue.join"], "recent": ["ivr.input", "queue.join"]}
    assert before["callbacks"] == ["CB-old", "CB-recent"] and after["callbacks"] == ["CB-recent"]

    assert main(["--config", str(config), "purge"]) == 0  # nothing left to do
    assert "deleted 0 (0 files" in capsys.readouterr().out


def test_zero_keeps_everything_and_flags_override_the_config(site, capsys):
    config, audio, _ = site
    before = _state(config)
    assert main(["--config", str(config), "purge", "--audio-days", "0", "--transcript-days", "0"]) == 0
    assert "keeping recordings for good, transcripts for good" in capsys.readouterr().out
    assert _state(config) == before
    assert main(["--config", str(config), "purge", "--audio-days", "1", "--transcript-days", "0"]) == 0
    after = _state(config)
    assert after["audio"] == {"old": [], "recent": []}  # the recent call is 2 days old: past 1 day
    assert list(audio.rglob("*.wav")) == [] and after["segments"] == before["segments"]


def test_a_negative_limit_is_one_line_and_changes_nothing(site, capsys):
    config, _, _ = site
    before = _state(config)
    assert main(["--config", str(config), "purge", "--audio-days", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "hotline purge: audio_retention_days must be a number of days >= 0 (0 keeps everything), got -1"
    assert _state(config) == before
