"""The asyncio face of the speech path: ``SpeechPipeline`` and one ``SpeechLeg`` per call leg.

    pipeline = SpeechPipeline(model)                  # or SpeechPipeline.from_config(cfg.asr)
    leg = pipeline.open_leg(call_id, "caller", 8000)  # on the event loop
    leg.feed(pcm_bytes, now)                          # never blocks; now = call time of 1st sample
    async for event in leg.events(): ...              # or open_leg(..., on_event=callback)
    await leg.close()                                 # finishes the last final, ends events()

``feed`` runs the VAD and endpointer right away on the loop thread (microseconds per frame), so
``SpeechStarted``, ``SpeechEnded`` and ``BargeIn`` are never late; decoding goes to the
``DecodePool`` and its events come back to the loop with ``call_soon_threadsafe``. Every method
of ``SpeechLeg`` must be called from the loop thread that opened it.

A leg is opened at the rate of its audio (one the VAD takes); the model's rate
(``model_rate``, read from the model's directory) is reached by each leg's decoder, which
resamples the speech it decodes (see ``asr/stream.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import numpy as np

from asr.model import loaded_model_rate
from asr.pool import DecodePool, Lane
from asr.stream import Gate, Job, LegDecoder, SpeechEvent, StreamSettings, shared_cache
from engine.events.speech import TranscriptionLag
from engine.resample import resample_pcm

PipelineEvent = SpeechEvent | TranscriptionLag
OnEvent = Callable[[PipelineEvent], None]

_END = object()


class SpeechPipeline:
    """One shared model and decode pool for all call legs of the process."""

    def __init__(
        self,
        model: Any,
        settings: StreamSettings | None = None,
        *,
        workers: int = 0,
        lag_threshold: float = 2.0,
        pool: DecodePool | None = None,
        max_idle_recognizers: int = 8,
        model_rate: int | None = None,
    ) -> None:
        self.model = model
        self.model_rate = model_rate or loaded_model_rate(model)  # None: recognizers take each leg's rate
        self.settings = settings or StreamSettings()
        self.pool = pool or DecodePool(workers, lag_threshold=lag_threshold)
        self.recognizers = shared_cache(model)  # warm recognizers, shared with offline use in the process
        self.recognizers.max_idle = max(self.recognizers.max_idle, max_idle_recognizers)
        self.legs: set[SpeechLeg] = set()

    @classmethod
    def from_config(cls, asr_config: Any, model_dir: str | None = None, **kwargs: Any) -> SpeechPipeline:
        """Build from ``engine.config.AsrConfig`` (model lookup: ``model_dir``, ``asr.model``, package)."""
        from asr.model import load_model, model_for_config

        model = load_model(model_for_config(asr_config, model_dir), asr_config.backend)
        return cls(model, StreamSettings.from_config(asr_config), workers=asr_config.workers, **kwargs)

    def open_leg(
        self,
        call_id: str,
        leg: str,
        rate: int = 8000,
        *,
        on_event: OnEvent | None = None,
        grammar: list[str] | tuple[str, ...] | None = None,
        settings: StreamSettings | None = None,
        partials: bool = True,
    ) -> SpeechLeg:
        """A new leg; ``grammar`` restricts recognition to those phrases (IVR speech menus);
        ``partials=False``: finals only (``[tap] partials``, the demo's intake steps)."""
        s = settings or self.settings
        if grammar is not None:
            s = replace(s, grammar=tuple(grammar))
        if not partials:
            s = replace(s, partial_interval=0.0)
        opened = SpeechLeg(self, call_id, leg, rate, s, on_event)
        self.legs.add(opened)
        return opened

    def prepare(self, rate: int = 8000) -> None:
        """Compile the VAD (Numba: seconds on a machine with no cache yet) and warm one recognizer
        before calls come. Blocking; run it on a thread. Left to the first call, the compile would
        stall the event loop (and every call on it) while that caller speaks."""
        noise = np.random.default_rng(0).normal(0.0, 2000.0, rate).clip(-32768, 32767).astype("<i2").tobytes()
        gate = Gate("prepare", "prepare", rate, self.settings)
        gate.feed(noise + bytes(rate), 0.0)
        gate.close(2.0)
        self.warm_one(noise, rate)

    def warm_one(self, pcm: bytes, rate: int) -> None:
        """One warmed recognizer at the rate legs will take them at (the model's); blocking."""
        target = self.model_rate or rate
        self.recognizers.warm_one(target, resample_pcm(pcm, rate, target))

    async def warm_up(self, count: int, pcm: bytes, rate: int = 8000) -> None:
        """Prepare ``count`` recognizers with some speech (e.g. a prompt recording) before calls come.

        A fresh recognizer's first utterance costs about twice the CPU of one on a warmed
        recognizer; warming runs on threads (the GIL is released), in parallel up to the cores.
        """
        loop = asyncio.get_running_loop()
        for start in range(0, count, self.pool.workers):
            batch = range(start, min(count, start + self.pool.workers))
            await asyncio.gather(*(loop.run_in_executor(None, self.warm_one, pcm, rate) for _ in batch))

    def backlog(self) -> float:
        """Seconds of audio waiting for decoding over all legs."""
        return self.pool.backlog()

    async def aclose(self) -> None:
        """Close every open leg (finishing their finals), then stop the threads."""
        for leg in list(self.legs):
            await leg.close()
        await asyncio.get_running_loop().run_in_executor(None, self.pool.shutdown)


class SpeechLeg:
    """One call leg (e.g. the caller, or the call-taker); see the module docstring."""

    def __init__(
        self,
        pipeline: SpeechPipeline,
        call_id: str,
        leg: str,
        rate: int,
        settings: StreamSettings,
        on_event: OnEvent | None,
    ) -> None:
        self.pipeline = pipeline
        self.call_id = call_id
        self.leg = leg
        self.rate = rate
        self.loop = asyncio.get_running_loop()
        self.gate = Gate(call_id, leg, rate, settings)
        self.decoder = LegDecoder(pipeline.model, call_id, leg, rate, settings, pipeline.recognizers,
                                  pipeline.model_rate)
        self.lane: Lane = pipeline.pool.lane(self.decoder, self._from_worker, self._lag)
        self._on_event = on_event
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    # -- input (loop thread) --------------------------------------------------------------------

    def feed(self, pcm: bytes, now: float) -> None:
        """Audio whose first sample is at call time ``now`` (s16le mono at the leg's rate)."""
        if self.closed:
            raise RuntimeError(f"leg {self.leg!r} of call {self.call_id!r} is closed")
        self._route(*self.gate.feed(pcm, now))

    def tick(self, now: float) -> None:
        """Time passes with no audio (the phone stopped sending): lets an utterance end on time."""
        if not self.closed:
            self._route(*self.gate.tick(now))

    def set_prompt_playing(self, playing: bool, now: float) -> None:
        """Tell the endpointer a prompt plays to this leg (speech during it raises ``BargeIn``)."""
        for event in self.gate.set_prompt_playing(playing, now):
            self._emit(event)

    async def close(self, now: float | None = None) -> None:
        """End of audio: the open utterance is finalized; ``events()`` ends after its final."""
        if not self.closed:
            self.closed = True
            self._route(*self.gate.close(now))
        # shielded: a caller cancelled while waiting (a tap's runner at shutdown) must not cancel
        # the decoder's completion, which wrap_future would pass on to the lane
        await asyncio.shield(asyncio.wrap_future(self.lane.done))
        if self in self.pipeline.legs:
            self.pipeline.legs.discard(self)
            self._emit(_END)

    @property
    def backlog(self) -> float:
        """Seconds of this leg's audio not yet decoded."""
        return self.lane.backlog

    # -- output -----------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[PipelineEvent]:
        """Every event of this leg in order, until ``close()`` has finished."""
        if self._on_event is not None:
            raise RuntimeError("this leg delivers events to its on_event callback")
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            yield item

    def _route(self, events: list[SpeechEvent], jobs: list[Job]) -> None:
        for event in events:
            self._emit(event)
        self.lane.submit(jobs)

    def _emit(self, event: Any) -> None:
        if self._on_event is not None:
            if event is not _END:
                self._on_event(event)
        else:
            self._queue.put_nowait(event)

    def _from_worker(self, events: list[SpeechEvent]) -> None:  # worker thread
        for event in events:
            self.loop.call_soon_threadsafe(self._emit, event)

    def _lag(self, lane: Lane, behind: float, lagging: bool) -> None:  # either thread
        del lane
        event = TranscriptionLag(self.call_id, self.leg, round(behind, 3), lagging)
        try:
            if asyncio.get_running_loop() is self.loop:
                self._emit(event)
                return
        except RuntimeError:
            pass
        self.loop.call_soon_threadsafe(self._emit, event)
