"""The endpointer as a pure state machine on a fake clock."""

from __future__ import annotations

import pytest

from asr.endpointer import Endpointer, EndpointerSettings
from engine.events.speech import BargeIn, SpeechEnded, SpeechStarted

F = 0.02


def run(ep: Endpointer, pattern: str, t0: float = 0.0) -> tuple[list, float]:
    """Feed a pattern of frames: '1' voiced, '0' silent, '.' a missing frame (gap)."""
    events: list = []
    t = t0
    for ch in pattern:
        if ch != ".":
            events += ep.feed(ch == "1", t)
        t = round(t + F, 6)
    return events, t


def test_start_after_n_voiced_frames_and_end_after_trailing_silence() -> None:
    ep = Endpointer("c1", "caller", EndpointerSettings(start_frames=3))
    events, _ = run(ep, "0" * 10 + "11" + "0" + "1" * 20 + "0" * 20)
    assert events == [SpeechStarted("c1", "caller", 0.26), SpeechEnded("c1", "caller", 0.26, 0.66)]
    # the end fires on the frame that completes 300 ms of silence, not before
    ep2 = Endpointer(settings=EndpointerSettings(start_frames=3))
    events, _ = run(ep2, "111" + "0" * 14)
    assert not any(isinstance(e, SpeechEnded) for e in events)
    assert ep2.feed(False, 0.34) == [SpeechEnded("", "", 0.0, 0.06)]


def test_short_blips_do_not_start_speech() -> None:
    ep = Endpointer()
    events, _ = run(ep, "111110111110" * 5)
    assert events == []
    assert Endpointer().settings.start_frames == 6


def test_configurable_trailing_silence_and_start_frames() -> None:
    ep = Endpointer(settings=EndpointerSettings(start_frames=1, trailing_silence=0.1))
    events, _ = run(ep, "1" + "00000" + "1" + "0000")
    assert events == [SpeechStarted("", "", 0.0), SpeechEnded("", "", 0.0, 0.02), SpeechStarted("", "", 0.12)]


def test_gap_in_frames_counts_as_silence_by_time() -> None:
    ep = Endpointer()
    # 10 voiced frames, then the phone stops sending for 0.4 s, then a voiced frame arrives
    events, _ = run(ep, "1" * 10 + "." * 20 + "111111")
    assert events == [
        SpeechStarted("", "", 0.0),
        SpeechEnded("", "", 0.0, 0.2),  # ended by the gap, at the last voiced frame
        SpeechStarted("", "", 0.6),
    ]
    # a short gap (less than the trailing silence) keeps the utterance open
    ep = Endpointer()
    events, _ = run(ep, "1" * 10 + "." * 5 + "1" * 5 + "0" * 15)
    assert events == [SpeechStarted("", "", 0.0), SpeechEnded("", "", 0.0, 0.4)]


def test_tick_ends_an_utterance_when_no_frames_arrive() -> None:
    ep = Endpointer()
    run(ep, "1" * 6)
    assert ep.tick(0.4) == []
    assert ep.tick(0.43) == [SpeechEnded("", "", 0.0, 0.12)]
    assert ep.tick(5.0) == []


def test_a_gap_breaks_a_voiced_run() -> None:
    ep = Endpointer()
    events, _ = run(ep, "111.111")
    assert events == []


def test_barge_in_after_200ms_of_speech_while_prompt_plays_once_per_utterance() -> None:
    ep = Endpointer("c", "in")
    ep.set_prompt_playing(True, 0.0)
    events, t = run(ep, "1" * 15)
    assert events[0] == SpeechStarted("c", "in", 0.0)
    assert events[1:] == [BargeIn("c", "in", 0.2)]
    events, t = run(ep, "1" * 10 + "0" * 20, t)
    assert [type(e) for e in events] == [SpeechEnded]
    events, t = run(ep, "1" * 12, t)
    assert [type(e) for e in events] == [SpeechStarted, BargeIn]


def test_no_barge_in_without_prompt_and_late_prompt_start_fires() -> None:
    ep = Endpointer()
    events, t = run(ep, "1" * 20)
    assert [type(e) for e in events] == [SpeechStarted]
    assert ep.set_prompt_playing(True, t) == [BargeIn("", "", 0.4)]


def test_flush_closes_open_utterance() -> None:
    ep = Endpointer()
    run(ep, "1" * 6 + "00")
    assert ep.flush(0.16) == [SpeechEnded("", "", 0.0, 0.12)]
    assert ep.flush(0.2) == []


def test_time_going_backwards_is_an_error() -> None:
    ep = Endpointer()
    ep.feed(True, 1.0)
    with pytest.raises(ValueError, match="older"):
        ep.feed(True, 0.5)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="start_frames"):
        EndpointerSettings(start_frames=0)
    with pytest.raises(ValueError, match="trailing_silence"):
        EndpointerSettings(trailing_silence=0)
