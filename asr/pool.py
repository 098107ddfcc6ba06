"""A bounded pool of decoding threads with one ordered lane per call leg.

``AcceptWaveform`` and ``FinalResult`` release the GIL, so threads give real parallelism; the
pool has one thread per core (more would only make every call late at once). Each call leg
gets a ``Lane``: its jobs run in order, one at a time, never two threads on one recognizer.
A lane holds at most one task in the executor; after ``slice_audio`` seconds of audio it
yields to other lanes, so one long monologue cannot starve the other calls.

When the pool is saturated nothing blocks the caller: ``Lane.submit`` only appends to a
queue. Audio is kept (never dropped), work waits, and the lane reports its backlog (seconds of
audio not yet decoded) to ``on_lag`` when it crosses ``lag_threshold`` and when it recovers;
while behind, a lane skips partial results to spend the CPU on finals.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from asr.stream import AudioJob, Job, LegDecoder, SpeechEvent

log = logging.getLogger(__name__)

Deliver = Callable[[list[SpeechEvent]], None]
OnLag = Callable[["Lane", float, bool], None]  # lane, seconds behind, lagging now


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class DecodePool:
    """Threads shared by every lane (call leg) of a process.

    Lanes wait in two queues: lanes holding an endpoint (a final result someone is waiting for)
    go first, so end-of-utterance latency does not grow with the number of busy calls as long
    as the pool keeps up overall; the others take turns in arrival order.
    """

    def __init__(self, workers: int = 0, slice_audio: float = 1.0, lag_threshold: float = 2.0) -> None:
        self.workers = workers if workers > 0 else default_workers()
        self.slice_audio = slice_audio
        self.lag_threshold = lag_threshold
        self._lanes: set[Lane] = set()
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._urgent: deque[Lane] = deque()
        self._normal: deque[Lane] = deque()
        self.closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"asr-decode-{i}", daemon=True) for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def lane(self, decoder: LegDecoder, deliver: Deliver, on_lag: OnLag | None = None) -> Lane:
        if self.closed:
            raise RuntimeError("decode pool is shut down")
        lane = Lane(self, decoder, deliver, on_lag)
        with self._lock:
            self._lanes.add(lane)
        return lane

    def backlog(self) -> float:
        """Seconds of audio queued over all lanes (how far decoding is behind, summed)."""
        with self._lock:
            lanes = list(self._lanes)
        return sum(lane.backlog for lane in lanes)

    def _forget(self, lane: Lane) -> None:
        with self._lock:
            self._lanes.discard(lane)

    def _schedule(self, lane: Lane, urgent: bool) -> None:
        with self._cond:
            (self._urgent if urgent else self._normal).append(lane)
            self._cond.notify()

    def _promote(self, lane: Lane) -> None:
        """A waiting lane got an endpoint: move it to the front queue."""
        with self._cond:
            try:
                self._normal.remove(lane)
            except ValueError:
                return  # running right now (it re-queues itself as urgent) or already urgent
            self._urgent.append(lane)
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not (self._urgent or self._normal or self.closed):
                    self._cond.wait()
                if self._urgent:
                    lane = self._urgent.popleft()
                elif self._normal:
                    lane = self._normal.popleft()
                else:
                    return  # closed and nothing left
            try:
                lane._drain()
            except Exception:  # never lose a worker thread
                log.exception("speech decoding lane failed")

    def shutdown(self, wait: bool = True) -> None:
        """Stop the threads once the queued work is done (``wait``: join them)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()


class Lane:
    """The ordered job queue of one call leg; ``done`` resolves after the last job."""

    def __init__(self, pool: DecodePool, decoder: LegDecoder, deliver: Deliver, on_lag: OnLag | None) -> None:
        self.pool = pool
        self.decoder = decoder
        self.deliver = deliver
        self.on_lag = on_lag
        self.done: Future[None] = Future()
        self.max_backlog = 0.0
        self.errors = 0
        self._jobs: deque[Job] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._endpoints = 0  # endpoint jobs queued (someone waits for a final)
        self._backlog = 0.0
        self._lagging = False

    @property
    def backlog(self) -> float:
        return self._backlog

    @property
    def lagging(self) -> bool:
        return self._lagging

    def submit(self, jobs: list[Job]) -> None:
        """Queue jobs (never blocks); schedules the lane when it is idle."""
        if not jobs:
            return
        with self._lock:
            new_endpoint = False
            for job in jobs:
                self._jobs.append(job)
                if isinstance(job, AudioJob):
                    self._backlog += len(job.pcm) / 2 / self.decoder.rate
                else:
                    self._endpoints += 1
                    new_endpoint = True
            self.max_backlog = max(self.max_backlog, self._backlog)
            start = not self._scheduled
            self._scheduled = True
            urgent = self._endpoints > 0
        self._check_lag()
        if start:
            self.pool._schedule(self, urgent)
        elif new_endpoint:
            self.pool._promote(self)

    def _check_lag(self) -> None:
        """Report crossing ``lag_threshold`` upwards, and falling under half of it again."""
        threshold = self.pool.lag_threshold
        with self._lock:  # called from the loop thread (submit) and the worker (drain)
            behind = self._backlog
            if not self._lagging and behind > threshold:
                self._lagging = True
            elif self._lagging and behind < threshold / 2:
                self._lagging = False
            else:
                return
            lagging = self._lagging
        if self.on_lag is not None:
            self.on_lag(self, behind, lagging)

    def _drain(self) -> None:
        """Run queued jobs for up to ``slice_audio`` seconds of audio, then yield to other lanes."""
        budget = self.pool.slice_audio
        while True:
            with self._lock:
                if not self._jobs:
                    self._scheduled = False
                    return
                if budget <= 0:
                    break
                job = self._jobs.popleft()
            seconds = len(job.pcm) / 2 / self.decoder.rate if isinstance(job, AudioJob) else 0.0
            self.decoder.partials_enabled = not self._lagging
            try:
                events = self.decoder.handle(job)
            except Exception:  # a broken recognizer must not take the pool down
                self.errors += 1
                log.exception("decoding failed for a call leg; job dropped")
                events = []
            with self._lock:
                self._backlog = max(0.0, self._backlog - seconds)
                if not isinstance(job, AudioJob):
                    self._endpoints -= 1
            budget -= seconds
            if events:
                try:
                    self.deliver(events)
                except Exception:  # e.g. the leg's event loop is gone: the other lanes go on
                    log.exception("could not deliver speech events of a call leg")
            self._check_lag()
            if not isinstance(job, AudioJob) and job.last:
                self.pool._forget(self)
                if not self.done.done():
                    self.done.set_result(None)
        with self._lock:
            urgent = self._endpoints > 0
        self.pool._schedule(self, urgent)  # more work: back of the line (the front one if a final waits)
