"""Endpointing: a pure state machine over per-frame VAD decisions.

It turns "this 20 ms frame is speech / is not" into the facts the rest of the engine acts on:
``SpeechStarted`` after ``start_frames`` voiced frames in a row, ``SpeechEnded`` after
``trailing_silence`` seconds without a voiced frame, and ``BargeIn`` once per utterance when the
caller has spoken ``barge_in`` seconds while a prompt plays.

Time is passed in, never read from a clock: every frame carries ``now``, the call time (seconds
from call start) of its first sample. Silence is measured by time, not by frame count, because
phones stop sending frames in silence (DTX, comfort noise): a gap between frames is silence, and
``tick(now)`` lets time pass when no frame arrives at all, so an utterance still ends on time.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.events.speech import BargeIn, SpeechEnded, SpeechStarted

SpeechEvent = SpeechStarted | SpeechEnded | BargeIn

_EPS = 1e-6  # float slack when comparing times built from sums of frame lengths


@dataclass(frozen=True)
class EndpointerSettings:
    """How eager the endpointer is; defaults suit 20 ms telephone frames."""

    frame_s: float = 0.020  # length of one frame in seconds
    start_frames: int = 6  # voiced frames in a row that start an utterance (WebRTC's VAD calls the
    # first 4-5 frames of every stream speech while its noise model settles: 6 ignores that)
    trailing_silence: float = 0.300  # seconds without voice that end an utterance
    barge_in: float = 0.200  # seconds of speech while a prompt plays before BargeIn

    def __post_init__(self) -> None:
        if self.frame_s <= 0:
            raise ValueError(f"frame_s must be positive, got {self.frame_s}")
        if self.start_frames < 1:
            raise ValueError(f"start_frames must be at least 1, got {self.start_frames}")
        if self.trailing_silence <= 0:
            raise ValueError(f"trailing_silence must be positive, got {self.trailing_silence}")
        if self.barge_in < 0:
            raise ValueError(f"barge_in must not be negative, got {self.barge_in}")


class Endpointer:
    """One per call leg. Feed it one decision per frame, in time order; it returns events.

    ``in_speech`` tells a caller (the audio gate) whether an utterance is open; ``run_start``
    is the time the current voiced run began (the would-be utterance start).
    """

    def __init__(self, call_id: str = "", leg: str = "", settings: EndpointerSettings | None = None) -> None:
        self.call_id = call_id
        self.leg = leg
        self.settings = settings or EndpointerSettings()
        self.prompt_playing = False
        self.in_speech = False
        self.utterance_start = 0.0  # valid while in_speech
        self.last_voiced_end = 0.0  # end time of the latest voiced frame
        self.run_start: float | None = None  # first frame of the current voiced run
        self._run_frames = 0
        self._run_end = 0.0  # end of the last frame of the current run
        self._barged = False
        self._clock = 0.0  # latest time seen (frame end or tick)

    # -- input -------------------------------------------------------------------------------

    def set_prompt_playing(self, playing: bool, now: float) -> list[SpeechEvent]:
        """A prompt started or stopped playing to this leg; may fire BargeIn at once."""
        self.prompt_playing = playing
        return self._check_barge_in(now)

    def feed(self, voiced: bool, now: float, frame_s: float | None = None) -> list[SpeechEvent]:
        """One frame's decision. ``now`` is the time of the frame's first sample."""
        length = self.settings.frame_s if frame_s is None else frame_s
        if now + _EPS < self._clock:
            raise ValueError(f"frame at {now:.3f} s is older than time already seen ({self._clock:.3f} s)")
        events = self.tick(now)  # the gap before this frame (if any) is silence
        end = now + length
        self._clock = end
        if voiced:
            if self._run_frames and now - self._run_end > _EPS + length / 2:
                self._run_frames = 0  # a gap broke the run: voiced frames must be contiguous
            if self._run_frames == 0:
                self.run_start = now
            self._run_frames += 1
            self._run_end = end
            if self.in_speech:
                self.last_voiced_end = end
            elif self._run_frames >= self.settings.start_frames:
                assert self.run_start is not None
                self.in_speech = True
                self.utterance_start = self.run_start
                self.last_voiced_end = end
                self._barged = False
                events.append(SpeechStarted(self.call_id, self.leg, round(self.utterance_start, 6)))
            events.extend(self._check_barge_in(end))
        else:
            self._run_frames = 0
            self.run_start = None
            events.extend(self._check_end(end))
        return events

    @property
    def clock(self) -> float:
        """The latest time seen (a frame's end or a tick)."""
        return self._clock

    def tick(self, now: float) -> list[SpeechEvent]:
        """Let time pass with no frame (none arrived); ends an utterance whose silence is long enough."""
        if now > self._clock:
            self._clock = now
        return self._check_end(self._clock)

    def flush(self, now: float) -> list[SpeechEvent]:
        """The stream ended (hangup): close an open utterance at its last voiced frame."""
        events = self.tick(now)
        if self.in_speech:
            events.append(self._end())
        self._run_frames = 0
        self.run_start = None
        return events

    # -- internals -----------------------------------------------------------------------------

    def _check_end(self, now: float) -> list[SpeechEvent]:
        if self.in_speech and now - self.last_voiced_end + _EPS >= self.settings.trailing_silence:
            return [self._end()]
        return []

    def _end(self) -> SpeechEnded:
        self.in_speech = False
        return SpeechEnded(self.call_id, self.leg, round(self.utterance_start, 6), round(self.last_voiced_end, 6))

    def _check_barge_in(self, now: float) -> list[SpeechEvent]:
        if (
            self.in_speech
            and self.prompt_playing
            and not self._barged
            and self.last_voiced_end - self.utterance_start + _EPS >= self.settings.barge_in
        ):
            self._barged = True
            return [BargeIn(self.call_id, self.leg, round(max(now, self.last_voiced_end), 6))]
        return []
