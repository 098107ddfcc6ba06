"""Frames from a live stream into a speech leg, on the call's clock (one pump for taps and IVR turns).

A frame's call time is its place in the audio, or the clock's time since the pump started when
that is later (audio that arrives late, or after a pause); never earlier, so audio arriving
faster than real time (a simulator) keeps its own time line. Phones in silence suppression (DTX)
send nothing at all: when a whole ``gap`` of real time passes without a frame, the clock time since
the last frame is counted as silence (``leg.tick``), so an utterance still ends.

The clock is passed in (``time.monotonic`` for a real PBX; the simulator's scaled clock in the
demo, so that a pause is measured in the call's seconds, not the wall's). Frames are anything
with ``pcm`` (signed 16-bit little-endian mono) and ``rate``. The leg is opened at the first
frame's rate when the VAD takes it, else at 16 kHz (``vad_rate``); frames at another rate than
the leg's (such a rate, or the channel changing its format mid-call) go through one resampler
kept for their rate, so no audio is lost and the call's time line holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from asr.vad.base import vad_rate
from engine.resample import Resampler

GAP = 0.1  # real seconds without frames after which the missing time counts as silence


class FramePump:
    """``await pump.run(frames)`` feeds ``leg`` until the frames end (or ``max_seconds`` of audio);
    ``await pump.close()`` closes the leg at the time reached, so its open utterance is decoded.

    ``offset``: call time of the pump's first sample (a tap that starts mid-call). ``open_leg``:
    makes the leg from the first frame's rate, when ``leg`` is not given. ``on_pcm``: sees every
    fed frame (a recording step keeps the audio).
    """

    def __init__(self, leg: Any = None, *, open_leg: Callable[[int], Any] | None = None, offset: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, gap: float = GAP,
                 max_seconds: float | None = None, on_pcm: Callable[[bytes], None] | None = None) -> None:
        if leg is None and open_leg is None:
            raise ValueError("FramePump needs a leg or open_leg")
        self.leg = leg
        self._open_leg = open_leg
        self.offset = offset
        self._clock = clock
        self.gap = gap
        self.max_seconds = max_seconds
        self._on_pcm = on_pcm
        self.t = 0.0  # stream time reached (seconds since the pump's first sample)
        self.resampled_frames = 0  # frames that came at another rate than the leg's
        self._resampler: Resampler | None = None  # for the rate such frames came at
        self._t0 = clock()
        self._last_clock = self._t0  # the clock when the last frame came (or the last gap was counted)
        self._fed = False  # a frame came since the gap ticker last looked

    @property
    def now(self) -> float:
        """Call time reached: what ``leg.feed``/``tick``/``close`` were given last."""
        return self.offset + self.t

    def _full(self) -> bool:
        return self.max_seconds is not None and self.t >= self.max_seconds

    async def run(self, frames: AsyncIterator[Any]) -> None:
        """Until the stream ends (the caller hung up) or ``max_seconds`` of call time is reached."""
        feeder = asyncio.ensure_future(self._feed(frames))
        ticker = asyncio.ensure_future(self._gaps())
        try:
            await asyncio.wait({feeder, ticker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (feeder, ticker):
                task.cancel()
            await asyncio.gather(feeder, ticker, return_exceptions=True)
        if not feeder.cancelled() and feeder.exception() is not None:
            raise feeder.exception()  # type: ignore[misc]

    async def _feed(self, frames: AsyncIterator[Any]) -> None:
        async for frame in frames:
            if self.leg is None:
                self.leg = self._open_leg(vad_rate(frame.rate))  # type: ignore[misc]
            pcm = self._at_leg_rate(frame.pcm, frame.rate)
            self._last_clock = self._clock()  # once per frame: no real-time reading here
            self.t = max(self.t, self._last_clock - self._t0)
            self._feed_pcm(pcm)
            self._fed = True
            if self._full():
                return

    def _feed_pcm(self, pcm: bytes) -> None:
        if not pcm:
            return
        self.leg.feed(pcm, self.now)
        self.t += len(pcm) / (2 * self.leg.rate)
        if self._on_pcm is not None:
            self._on_pcm(pcm)

    def _at_leg_rate(self, pcm: bytes, rate: int) -> bytes:
        """``pcm`` at the leg's rate: as it came, or through the resampler for its rate (what the
        one for an earlier rate still held comes first)."""
        held = b""
        if self._resampler is not None and self._resampler.rate_in != rate:
            held = self._resampler.flush().tobytes()
            self._resampler = None
        if rate == self.leg.rate:
            return held + pcm
        self.resampled_frames += 1
        if self._resampler is None:
            self._resampler = Resampler(rate, self.leg.rate)
        return held + self._resampler.process(pcm).tobytes()

    async def _gaps(self) -> None:
        while not self._full():
            await asyncio.sleep(self.gap)
            if self.leg is None or self._fed:  # a frame came within the last ``gap`` real seconds
                self._fed = False
                continue
            now = self._clock()
            self.t += max(0.0, now - self._last_clock)
            self._last_clock = now
            self.leg.tick(self.now)

    async def close(self) -> None:
        if self.leg is not None:
            if self._resampler is not None and not self.leg.closed:
                self._feed_pcm(self._resampler.flush().tobytes())
                self._resampler = None
            await self.leg.close(self.now)
