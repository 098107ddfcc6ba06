"""One call leg's speech path: VAD and endpointer gate the audio, Vosk decodes what passes.

It is split in two halves so a pool can run them on different threads:

* ``Gate`` (cheap, runs where frames arrive): cuts PCM into 20 ms frames on the call's time
  line, asks the VAD, feeds the ``Endpointer``, and turns its decisions into speech events
  (``SpeechStarted``, ``SpeechEnded``, ``BargeIn``, at once, never behind decoding) and into
  decode jobs: ``AudioJob`` (speech audio, with a short pre-roll so word onsets are not cut)
  and ``EndpointJob`` (an utterance ended: force the final result now).
* ``LegDecoder`` (expensive, one thread at a time): owns the recognizer (a ``KaldiRecognizer``, or
  the sherpa-onnx one in ``asr/sherpa.py`` that answers the same calls) and turns
  jobs into ``PartialTranscript`` (rate-limited by audio time) and ``FinalTranscript`` (word
  times in seconds from call start, confidences).

``SpeechStream`` glues both together synchronously (offline files, tests).

Silence costs little: only audio inside utterances (plus pre-roll and the trailing silence
that ends them) reaches Vosk. Kaldi's own endpointer is not waited for (0.8-1.8 s and it misses
short pauses): at each endpoint ``FinalResult()`` is called, which also drops the recognizer's
feature pipeline. Recognizers are expensive to warm and grow with use, so a leg borrows one
from a ``RecognizerCache`` only while an utterance is decoded; one that has decoded
``recycle_after`` seconds is dropped and glibc's ``malloc_trim(0)`` hands the freed heap back
to the OS (see ``docs/asr.md`` for the measurements).

Rates: the gate works at the leg's rate (one the VAD takes: 8, 16, 32 or 48 kHz); a model wants
its own (``--sample-frequency`` in its ``conf/mfcc.conf``, 16 kHz for most Vosk models). When the
two differ, the decoder resamples the leg's audio once, on its way to Vosk: only the speech the
gate lets through is resampled, with the shared polyphase filter (``engine/resample.py``), and
the recognizer is created at the model's rate, so no model depends on Kaldi's own resampler
(which refuses a rate unless the model's conf allows up- or downsampling).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asr.endpointer import Endpointer, EndpointerSettings
from asr.model import loaded_model_rate, new_recognizer
from asr.vad import VoiceDetector, make_vad
from engine.events.speech import (
    BargeIn,
    FinalTranscript,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    Word,
)
from engine.resample import Resampler

SpeechEvent = SpeechStarted | SpeechEnded | BargeIn | PartialTranscript | FinalTranscript


@dataclass(frozen=True)
class StreamSettings:
    """Everything tunable about one leg's speech path (defaults suit telephone audio)."""

    vad: str = "numba"  # numba | webrtc
    vad_mode: int = 2  # WebRTC aggressiveness 0-3
    second_stage: bool = True  # noise-robust check on frames the first stage calls speech
    frame_ms: int = 20  # VAD frame length: 10, 20 or 30
    start_frames: int = 6  # voiced frames in a row that start an utterance (see EndpointerSettings)
    trailing_silence: float = 0.300  # seconds of silence that end an utterance
    barge_in: float = 0.200  # seconds of speech during a prompt before BargeIn
    preroll: float = 0.300  # seconds of audio before the utterance start given to Vosk
    tail: float = 0.100  # seconds of the trailing silence given to Vosk (the rest is only waited for)
    partial_interval: float = 0.5  # seconds of decoded audio between partial results; 0 turns them off
    max_utterance: float = 30.0  # force a final (and go on) when one utterance runs this long
    gap_tolerance: float = 0.1  # arrival jitter (s) not yet counted as a gap in the frames
    recycle_after: float = 600.0  # seconds of decoded audio before a recognizer is dropped (at an endpoint)
    grammar: tuple[str, ...] | None = None  # restrict recognition to these phrases (IVR menus)
    words: bool = True  # word times and confidences in finals

    @classmethod
    def from_config(cls, asr_config: Any) -> StreamSettings:
        """From ``engine.config.AsrConfig`` (the ``[asr]`` section); the rest keeps its defaults."""
        return cls(
            vad=asr_config.vad,
            vad_mode=asr_config.vad_mode,
            second_stage=asr_config.second_stage,
            trailing_silence=asr_config.trailing_silence_ms / 1000,
        )

    def endpointer(self) -> EndpointerSettings:
        return EndpointerSettings(
            frame_s=self.frame_ms / 1000,
            start_frames=self.start_frames,
            trailing_silence=self.trailing_silence,
            barge_in=self.barge_in,
        )


@dataclass(frozen=True)
class AudioJob:
    """Contiguous utterance audio whose first sample is at call time ``t0``."""

    pcm: bytes
    t0: float
    start: float = 0.0  # the utterance start (VAD) this audio belongs to


@dataclass(frozen=True)
class EndpointJob:
    """Finish the utterance ``start``..``end`` now; ``last`` when the leg is closing."""

    start: float
    end: float
    last: bool = False


Job = AudioJob | EndpointJob


# -- the gate ------------------------------------------------------------------------------------


class Gate:
    """Frames, VAD and endpointer: speech events now, decode jobs for later."""

    def __init__(
        self,
        call_id: str,
        leg: str,
        rate: int,
        settings: StreamSettings | None = None,
        vad: VoiceDetector | None = None,
    ) -> None:
        self.settings = s = settings or StreamSettings()
        self.rate = rate
        self.vad = vad or make_vad(s.vad, rate, s.vad_mode, second_stage=s.second_stage)
        self.endpointer = Endpointer(call_id, leg, s.endpointer())
        self.frame_bytes = rate * s.frame_ms // 1000 * 2
        self.frame_s = s.frame_ms / 1000
        self._buf = bytearray()
        self._buf_t0: float | None = None  # call time of the first byte in _buf
        self._preroll: deque[tuple[float, bytes]] = deque(maxlen=max(1, round(s.preroll / self.frame_s)) + s.start_frames)
        self._fed_end: float | None = None  # call time where audio given to the decoder ends
        self._tail: list[tuple[float, bytes]] = []  # unvoiced frames inside an utterance, held back
        self._seg_start = 0.0
        self.frames = 0

    def feed(self, pcm: bytes, now: float) -> tuple[list[SpeechEvent], list[Job]]:
        """PCM (s16le mono at ``rate``) whose first sample is at call time ``now``."""
        if len(pcm) % 2:
            raise ValueError(f"PCM chunk of {len(pcm)} bytes: expected whole 16-bit samples")
        events: list[SpeechEvent] = []
        jobs: list[Job] = []
        expected = None if self._buf_t0 is None else self._buf_t0 + len(self._buf) / 2 / self.rate
        if expected is None:
            self._buf_t0 = now
        elif now - expected > self.settings.gap_tolerance:
            if self._buf:  # finish the cut frame with silence, then jump to the new time
                self._buf.extend(bytes(self.frame_bytes - len(self._buf)))
                self._frames(events, jobs)
            self._buf_t0 = now
        self._buf.extend(pcm)
        self._frames(events, jobs)
        return events, jobs

    def tick(self, now: float) -> tuple[list[SpeechEvent], list[Job]]:
        """Time passes with no audio (the phone stopped sending)."""
        events: list[SpeechEvent] = []
        jobs: list[Job] = []
        if self._buf and self._buf_t0 is not None and now - self._buf_t0 > self.frame_s + self.settings.gap_tolerance:
            self._buf.extend(bytes(self.frame_bytes - len(self._buf)))  # the cut last frame, before time moves on
            self._frames(events, jobs)
        if self._buf and self._buf_t0 is not None:
            # a partial frame is still waiting: time after its first sample is not yet known silence
            now = min(now, self._buf_t0)
        ended = self.endpointer.tick(now)
        events.extend(ended)
        self._after(ended, jobs, None, None)
        return events, jobs

    def set_prompt_playing(self, playing: bool, now: float) -> list[SpeechEvent]:
        return list(self.endpointer.set_prompt_playing(playing, now))

    def close(self, now: float | None = None) -> tuple[list[SpeechEvent], list[Job]]:
        """End of the audio: an open utterance ends at its last voiced frame; last job is marked."""
        events: list[SpeechEvent] = []
        jobs: list[Job] = []
        if self._buf and self._buf_t0 is not None:
            self._buf.extend(bytes(self.frame_bytes - len(self._buf)))
            self._frames(events, jobs)
        clock = now if now is not None else (self._buf_t0 or 0.0)
        ended = self.endpointer.flush(clock)
        events.extend(ended)
        self._after(ended, jobs, None, None)
        jobs.append(EndpointJob(0.0, 0.0, last=True))
        return events, jobs

    # -- internals ----------------------------------------------------------------------------

    def _frames(self, events: list[SpeechEvent], jobs: list[Job]) -> None:
        fb = self.frame_bytes
        n = len(self._buf) // fb
        assert self._buf_t0 is not None
        if n and self._buf_t0 < self.endpointer.clock:
            # audio stamped earlier than time already ticked (a late packet): it is placed at the
            # endpointer's clock rather than refused, so one late frame never ends the call's speech path
            self._buf_t0 = self.endpointer.clock
        for k in range(n):
            frame = bytes(self._buf[k * fb : (k + 1) * fb])
            t = self._buf_t0 + k * self.frame_s
            voiced = self.vad.is_speech(frame)
            self.frames += 1
            new = self.endpointer.feed(voiced, t, self.frame_s)
            events.extend(new)
            self._after(new, jobs, frame, t, voiced)
        if n:
            del self._buf[: n * fb]
            self._buf_t0 += n * self.frame_s

    def _after(
        self, new: list[Any], jobs: list[Job], frame: bytes | None, t: float | None, voiced: bool = False
    ) -> None:
        """Route one frame (or a tick) to the decoder according to the endpointer's events.

        Unvoiced frames inside an utterance go to Vosk for the first ``tail`` seconds; later ones
        are held back: if voice resumes they were a pause and go to Vosk, if the utterance ends
        they are never decoded (so the final waits only for ``FinalResult``).
        """
        ep = self.endpointer
        for ev in new:
            if isinstance(ev, SpeechEnded):
                self._preroll.extend(self._tail)  # silence beyond the tail: context for the next start
                self._tail.clear()
                jobs.append(EndpointJob(ev.start, ev.end))
                self._fed_end = None
            elif isinstance(ev, SpeechStarted):
                self._seg_start = ev.start
                self._emit_preroll(jobs, ev.start)
        if frame is None or t is None:
            return
        if not ep.in_speech:
            self._preroll.append((t, frame))
        elif voiced:
            for ft, f in self._tail:
                self._emit(jobs, f, ft)
            self._tail.clear()
            self._emit(jobs, frame, t)
        elif t < ep.last_voiced_end + self.settings.tail - 1e-6:
            self._emit(jobs, frame, t)  # the first bit of silence goes at once: less left to do at the end
        else:
            self._tail.append((t, frame))

    def _emit_preroll(self, jobs: list[Job], start: float) -> None:
        keep = [(t, f) for t, f in self._preroll if t >= start - self.settings.preroll - 1e-6]
        self._preroll.clear()
        for t, f in keep:
            self._emit(jobs, f, t)

    def _emit(self, jobs: list[Job], frame: bytes, t: float) -> None:
        if self._fed_end is not None and t - self._fed_end > 1e-6:
            gap = bytes(2 * round((t - self._fed_end) * self.rate))  # a short gap inside speech: silence
            self._append(jobs, gap, self._fed_end)
        self._append(jobs, frame, t)
        self._fed_end = t + len(frame) / 2 / self.rate

    def _append(self, jobs: list[Job], pcm: bytes, t: float) -> None:
        last = jobs[-1] if jobs else None
        if isinstance(last, AudioJob) and abs(last.t0 + len(last.pcm) / 2 / self.rate - t) < 1e-6:
            jobs[-1] = AudioJob(last.pcm + pcm, last.t0, last.start)  # coalesce contiguous audio
        else:
            jobs.append(AudioJob(pcm, t, self._seg_start))


# -- the decoder ---------------------------------------------------------------------------------


class _Trimmer:
    """``malloc_trim(0)`` at most every ``interval`` seconds, process-wide (glibc only)."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self._last = -1e9
        self._lock = threading.Lock()
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            self._trim = getattr(libc, "malloc_trim", None)
        except OSError:
            self._trim = None
        self.count = 0

    def maybe_trim(self, force: bool = False) -> bool:
        if self._trim is None:
            return False
        now = time.monotonic()  # resource housekeeping, not speech logic
        with self._lock:
            if not force and now - self._last < self.interval:
                return False
            self._last = now
        self._trim(0)
        self.count += 1
        return True


TRIMMER = _Trimmer()


class WarmRecognizer:
    """A ``KaldiRecognizer`` plus what it has decoded (its word times count from its creation)."""

    def __init__(self, rec: Any, rate: int, grammar: tuple[str, ...] | None) -> None:
        self.rec = rec
        self.rate = rate
        self.grammar = grammar
        self.samples = 0  # samples accepted since creation
        self.idle_since = 0.0  # when it was last given back (cache clock)

    @property
    def seconds(self) -> float:
        return self.samples / self.rate


class RecognizerCache:
    """Recognizers handed from utterance to utterance and from call to call, per model.

    A fresh recognizer is slow: its lookahead-composed graph (HCLr o Gr) starts with an empty
    cache, and its first seconds of audio cost about ten times the CPU of later ones. The cache
    is also what grows (about 100 MB): so a leg holds a recognizer only while an utterance is
    being decoded and gives it back at the endpoint (after ``FinalResult``, which also drops the
    feature pipeline and speaker adaptation, so nothing carries over to the next caller).
    Idle ones are kept up to the recent peak of recognizers in use (so legs that stop and start
    talking do not re-create them, each re-creation costing seconds of CPU), and at least
    ``max_idle``; one idle for ``idle_ttl`` seconds (the evening peak is over) or that has decoded
    ``max_audio`` seconds is dropped and glibc is asked to return the freed heap (``malloc_trim``).
    ``clock`` only paces this housekeeping; it is injectable for tests.
    """

    def __init__(
        self,
        model: Any,
        max_idle: int = 4,
        max_audio: float = 600.0,
        idle_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.max_idle = max_idle
        self.max_audio = max_audio
        self.idle_ttl = idle_ttl
        self.clock = clock
        self._idle: dict[tuple[int, tuple[str, ...] | None], list[WarmRecognizer]] = {}
        self._lock = threading.Lock()
        self.created = 0
        self.reused = 0
        self.dropped = 0
        self.in_use = 0
        self._recent_use: deque[int] = deque(maxlen=512)  # in_use at the latest takes

    def _expire(self) -> int:
        """Drop recognizers idle longer than ``idle_ttl`` (call with the lock held)."""
        cutoff = self.clock() - self.idle_ttl
        gone = 0
        for key, free in self._idle.items():
            keep = [w for w in free if w.idle_since >= cutoff]
            gone += len(free) - len(keep)
            self._idle[key] = keep
        self.dropped += gone
        return gone

    def take(self, rate: int, grammar: tuple[str, ...] | None = None, words: bool = True) -> WarmRecognizer:
        with self._lock:
            expired = self._expire()
            free = self._idle.get((rate, grammar))
            self.in_use += 1
            self._recent_use.append(self.in_use)
            warm = free.pop() if free else None
            if warm is not None:
                self.reused += 1
            else:
                self.created += 1
        if expired:
            TRIMMER.maybe_trim()
        if warm is not None:
            warm.rec.SetWords(words)
            return warm
        rec = new_recognizer(self.model, rate, grammar)
        rec.SetWords(words)
        return WarmRecognizer(rec, rate, grammar)

    def give(self, warm: WarmRecognizer, recycle: bool = False) -> None:
        """Return a recognizer whose utterance is finished (``FinalResult`` called)."""
        with self._lock:
            self.in_use -= 1
            expired = self._expire()
            warm.idle_since = self.clock()
            free = self._idle.setdefault((warm.rate, warm.grammar), [])
            limit = max(self.max_idle, max(self._recent_use, default=0) - self.in_use)
            keep = not recycle and warm.seconds < self.max_audio and self.idle_count() < limit
            if keep:
                free.append(warm)
            else:
                self.dropped += 1
        if not keep or expired:
            del warm
            TRIMMER.maybe_trim()

    def idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def warm_one(self, rate: int, pcm: bytes, grammar: tuple[str, ...] | None = None) -> None:
        """Create a recognizer, run ``pcm`` (any speech) through it and keep it idle.

        Speech in any language explores the common part of the graph: measured, the next
        utterance then costs about half the CPU it costs on a fresh recognizer.
        """
        with self._lock:
            self.max_idle = max(self.max_idle, self.idle_count() + 1)
        warm = self.take(rate, grammar)
        warm.rec.AcceptWaveform(pcm)
        warm.rec.FinalResult()
        warm.samples += len(pcm) // 2
        self.give(warm)

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()
        TRIMMER.maybe_trim(force=True)


_caches: dict[int, RecognizerCache] = {}
_caches_lock = threading.Lock()


def shared_cache(model: Any) -> RecognizerCache:
    """The process-wide ``RecognizerCache`` of ``model``."""
    with _caches_lock:
        cache = _caches.get(id(model))
        if cache is None or cache.model is not model:
            cache = _caches[id(model)] = RecognizerCache(model)
        return cache


@dataclass
class DecoderStats:
    decoded_seconds: float = 0.0
    finals: int = 0
    partials: int = 0
    recycles: int = 0
    decode_cpu: float = 0.0  # thread CPU seconds spent inside Vosk
    resample_cpu: float = 0.0  # thread CPU seconds spent bringing the leg's audio to the model's rate
    finalize_cpu: list[float] = field(default_factory=list)  # thread CPU s per FinalResult


class LegDecoder:
    """The Vosk side of one leg. Not thread-safe: one job at a time, in order.

    ``rate`` is the leg's (what jobs carry), ``model_rate`` the model's (None: the leg's); when
    they differ, each utterance's audio goes through one resampler, flushed at its endpoint.
    """

    def __init__(
        self,
        model: Any,
        call_id: str,
        leg: str,
        rate: int,
        settings: StreamSettings | None = None,
        recognizers: RecognizerCache | None = None,
        model_rate: int | None = None,
    ) -> None:
        self.model = model
        self.call_id = call_id
        self.leg = leg
        self.rate = rate
        self.model_rate = model_rate or rate
        self._resampler = Resampler(rate, self.model_rate) if self.model_rate != rate else None
        self.settings = settings or StreamSettings()
        self.recognizers = recognizers or shared_cache(model)
        self.stats = DecoderStats()
        self.partials_enabled = True  # a saturated pool turns partials off to keep finals on time
        self._warm: WarmRecognizer | None = None
        self._reset_segment()

    def _reset_segment(self) -> None:
        self._seg_t0: float | None = None  # call time of the segment's first sample
        self._seg_start = 0.0  # call time the utterance started (VAD), for partials
        self._seg_rec0 = 0.0  # recognizer time (s) of that sample
        self._seg_words: list[Word] = []
        self._seg_text: list[str] = []
        self._seg_audio = 0.0
        self._last_partial_at = 0.0
        self._last_partial = ""

    def handle(self, job: Job) -> list[SpeechEvent]:
        if isinstance(job, AudioJob):
            return self.accept(job.pcm, job.t0, job.start)
        if job.last:
            self.close()
            return []
        return self.endpoint(job.start, job.end)

    def accept(self, pcm: bytes, t0: float, start: float | None = None) -> list[SpeechEvent]:
        """Decode utterance audio; maybe a (rate-limited, changed) partial result."""
        s = self.settings
        if self._warm is None:
            self._warm = self.recognizers.take(self.model_rate, s.grammar, s.words)
        warm = self._warm
        if self._seg_t0 is None:
            self._seg_t0 = t0
            self._seg_start = t0 if start is None else max(t0, start)
            self._seg_rec0 = warm.seconds
        self._decode(warm, self._to_model_rate(pcm))
        n = len(pcm) // 2
        self._seg_audio += n / self.rate
        self.stats.decoded_seconds += n / self.rate
        out: list[SpeechEvent] = []
        if self.partials_enabled and s.partial_interval > 0 and self._seg_audio - self._last_partial_at >= s.partial_interval:
            self._last_partial_at = self._seg_audio
            partial = json.loads(warm.rec.PartialResult()).get("partial", "")
            text = " ".join([*self._seg_text, partial]).strip()
            if text and text != self._last_partial:
                self._last_partial = text
                self.stats.partials += 1
                out.append(PartialTranscript(self.call_id, self.leg, round(self._seg_start, 3), text))
        if s.max_utterance > 0 and self._seg_audio >= s.max_utterance:
            out += self.endpoint(self._seg_t0, self._seg_t0 + self._seg_audio)
        return out

    def endpoint(self, start: float, end: float) -> list[SpeechEvent]:
        """Force the final result of the current utterance (if any audio reached Vosk)."""
        warm = self._warm
        if warm is None or self._seg_t0 is None:
            self._reset_segment()
            return []
        if self._resampler is not None:  # what the resampler held back ends the utterance's audio
            self._decode(warm, self._resampler.flush().tobytes())
        c0 = time.thread_time()
        self._collect(json.loads(warm.rec.FinalResult()))
        spent = time.thread_time() - c0
        self.stats.decode_cpu += spent
        self.stats.finalize_cpu.append(spent)
        text = " ".join(self._seg_text).strip()
        seg_t0 = self._seg_t0
        words = tuple(self._seg_words)
        self._reset_segment()
        self._warm = None
        recycle = warm.seconds >= self.settings.recycle_after
        self.stats.recycles += recycle
        self.recognizers.give(warm, recycle=recycle)
        if not text:
            return []
        self.stats.finals += 1
        start = max(start, seg_t0)  # after a forced split the rest starts where its audio does
        start = min(start, words[0].start) if words else start
        end = max(end, words[-1].end) if words else end
        return [FinalTranscript(self.call_id, self.leg, round(start, 3), round(end, 3), text, words)]

    def _to_model_rate(self, pcm: bytes) -> bytes:
        if self._resampler is None:
            return pcm
        c0 = time.thread_time()
        out = self._resampler.process(pcm).tobytes()
        self.stats.resample_cpu += time.thread_time() - c0
        return out

    def _decode(self, warm: WarmRecognizer, pcm: bytes) -> None:
        """Audio at the model's rate into the recognizer (its word times count its samples)."""
        if not pcm:
            return
        c0 = time.thread_time()
        if warm.rec.AcceptWaveform(pcm):  # Kaldi's own endpoint inside our utterance: keep its words
            self._collect(json.loads(warm.rec.Result()))
        self.stats.decode_cpu += time.thread_time() - c0
        warm.samples += len(pcm) // 2

    def _collect(self, result: dict[str, Any]) -> None:
        text = result.get("text", "").strip()
        if text:
            self._seg_text.append(text)
        assert self._seg_t0 is not None
        shift = self._seg_t0 - self._seg_rec0  # recognizer time -> call time
        for w in result.get("result", ()):
            self._seg_words.append(
                Word(w["word"], round(w["start"] + shift, 3), round(w["end"] + shift, 3), round(float(w.get("conf", 1.0)), 4))
            )

    def close(self) -> None:
        """The leg is over; an unfinished utterance (none after the gate's close) is dropped."""
        if self._warm is not None:
            self._warm.rec.FinalResult()
            self.recognizers.give(self._warm)
            self._warm = None
        if self._resampler is not None:
            self._resampler.reset()
        self._reset_segment()


def match_phrase(text: str, phrases: tuple[str, ...] | list[str]) -> str | None:
    """The menu phrase a grammar result stands for: most words in common, ties to the earlier phrase.

    Vosk's grammar decoding may return part of a phrase (a word lost at the onset) or words of
    two phrases; an IVR menu wants one choice, or None when nothing matches.
    """
    heard = text.split()
    best, best_score = None, 0.0
    for phrase in phrases:
        words = phrase.split()
        common = sum(1 for w in words if w in heard)
        score = common / len(words) + (1.0 if heard[: len(words)] == words else 0.0)
        if common and score > best_score:
            best, best_score = phrase, score
    return best


# -- both halves, synchronously ----------------------------------------------------------------


class SpeechStream:
    """Gate + decoder in one thread: ``feed(pcm, now) -> events`` (offline use and tests).

    ``rate``: the audio's; ``model_rate``: the model's (default: read from its directory when
    it was loaded with ``load_model``)."""

    def __init__(
        self,
        model: Any,
        call_id: str = "",
        leg: str = "",
        rate: int = 8000,
        settings: StreamSettings | None = None,
        vad: VoiceDetector | None = None,
        recognizers: RecognizerCache | None = None,
        model_rate: int | None = None,
    ) -> None:
        self.gate = Gate(call_id, leg, rate, settings, vad)
        self.decoder = LegDecoder(model, call_id, leg, rate, self.gate.settings, recognizers,
                                  model_rate or loaded_model_rate(model))

    def _run(self, events: list[SpeechEvent], jobs: list[Job]) -> list[SpeechEvent]:
        out = list(events)
        for job in jobs:
            out.extend(self.decoder.handle(job))
        return out

    def feed(self, pcm: bytes, now: float) -> list[SpeechEvent]:
        return self._run(*self.gate.feed(pcm, now))

    def tick(self, now: float) -> list[SpeechEvent]:
        return self._run(*self.gate.tick(now))

    def set_prompt_playing(self, playing: bool, now: float) -> list[SpeechEvent]:
        return self.gate.set_prompt_playing(playing, now)

    def close(self, now: float | None = None) -> list[SpeechEvent]:
        return self._run(*self.gate.close(now))
