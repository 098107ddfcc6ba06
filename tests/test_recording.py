"""Recordings of tapped legs (engine.recording): WAV files on the call's clock, linked to the call."""

from __future__ import annotations

import wave
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from engine.recording import HEADER_EVERY, Recorder
from engine.store import Store

T0 = datetime(2026, 11, 28, 19, 42, 5, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
FRAME = 160  # samples: 20 ms at 8 kHz


def tone(n: int, value: int) -> bytes:
    return np.full(n, value, "<i2").tobytes()


def test_a_leg_becomes_a_wav_linked_to_its_call_with_gaps_as_silence(tmp_path):
    store = Store.open(":memory:")
    rec = Recorder(tmp_path / "audio", store, timezone="Asia/Shanghai", clock=lambda: T0)
    leg = rec.leg("1795881255.252", "caller", offset=44.0)
    now = 44.0
    for _ in range(50):  # 1 s of audio from call time 44.0
        now += 0.02
        leg.write(tone(FRAME, 1000), 8000, now)
    now += 0.5  # the phone sent nothing for half a second (silence suppression)
    for _ in range(25):
        now += 0.02
        leg.write(tone(FRAME, -1000), 8000, now)
    leg.close()
    (audio,) = store.audio("1795881255.252")
    assert audio.leg == "caller" and audio.offset == 44.0
    assert audio.path == "2026/11/28/1795881255.252-caller.wav"  # relative to audio_dir: the page serves it
    with wave.open(str(tmp_path / "audio" / audio.path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert len(x) == 8000 + 4000 + 4000  # 1 s, 0.5 s of silence, 0.5 s
    assert (x[:8000] == 1000).all() and (x[8000:12000] == 0).all() and (x[12000:] == -1000).all()


def test_the_header_is_kept_current_so_a_crash_leaves_a_playable_file(tmp_path):
    store = Store.open(":memory:")
    leg = Recorder(tmp_path, store, clock=lambda: T0).leg("c1", "agent", offset=0.0)
    frames = int((HEADER_EVERY + 1) / 0.02)
    for i in range(frames):
        leg.write(tone(FRAME, 7), 8000, 0.02 * (i + 1))
    # not closed (the process died): the file still says how much audio it holds, give or take HEADER_EVERY
    (audio,) = store.audio("c1")
    with wave.open(str(tmp_path / audio.path)) as w:
        assert HEADER_EVERY - 0.05 <= w.getnframes() / 8000 <= HEADER_EVERY + 1
    leg.close()
    with wave.open(str(tmp_path / audio.path)) as w:
        assert w.getnframes() == frames * FRAME


def test_the_same_leg_twice_gets_two_files_and_recording_off_writes_nothing(tmp_path):
    store = Store.open(":memory:")
    rec = Recorder(tmp_path, store, clock=lambda: T0)
    for _ in range(2):
        leg = rec.leg("c/1", "caller", offset=3.0)
        leg.write(tone(FRAME, 1), 8000, 5.0)  # first frame at call time 4.98: the file's offset
        leg.close()
    assert [(a.path, a.offset) for a in store.audio("c/1")] == [
        ("2026/11/28/c_1-caller.wav", 4.98), ("2026/11/28/c_1-caller-2.wav", 4.98)]
    unused = rec.leg("c2", "caller", offset=0.0)
    unused.close()  # no audio ever came: no file, no row
    off = Recorder(tmp_path / "off", store, clock=lambda: T0, enabled=False)
    leg = off.leg("c3", "caller", offset=0.0)
    leg.write(tone(FRAME, 1), 8000, 0.02)
    leg.close()
    assert store.audio("c2") == [] and store.audio("c3") == [] and not (tmp_path / "off").exists()


def test_a_failing_disk_stops_that_recording_not_the_tap(tmp_path, caplog):
    store = Store.open(":memory:")
    leg = Recorder(tmp_path, store, clock=lambda: T0).leg("c1", "caller", offset=0.0)
    leg.write(tone(FRAME, 1), 8000, 0.02)

    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    leg._file = Full()  # type: ignore[assignment]
    leg.write(tone(FRAME, 1), 8000, 0.04)  # no exception reaches the tap
    leg.write(tone(FRAME, 1), 8000, 0.06)
    leg.close()
    assert leg.failed
    assert [r.getMessage() for r in caplog.records] == ["recording of call c1 (caller) stopped: No space left on device"]
