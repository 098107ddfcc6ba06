"""Wire-layer throughput: AMI parsing and AudioSocket frames through the server.

1. AMI events parsed per second: the project's ``AmiCodec`` against panoramisk 1.4's own
   parser (``AMIProtocol.data_received`` -> ``Message.from_line``, what ``Manager`` runs),
   same bytes (the recorded ``ami_queue_day.txt`` + ``ami_session.txt`` +
   ``ami_chinese_callerid.txt`` server bytes, repeated), same 4 KiB chunks, same run. Also
   counts how many Chinese caller names each one got intact (panoramisk decodes per chunk).
2. AudioSocket through ``AudioSocketServer`` with N concurrent sessions on loopback (clients
   from ``engine.pbxsim.audiosocket_client`` in the same process, so they share the CPU):
   a) real time: each caller streams 20 ms frames at real pace while the server sends paced
      audio back; reports frames/s both ways against what N live calls need, and the pacing
      the callers saw (gaps between frames);
   b) flat out: callers send as fast as they can; frames/s received by the server against a
      bare asyncio server that only counts bytes (same clients, same run).

    .venv/bin/python benchmarks/bench_wire.py [--sessions 200] [--seconds 3] [--frames 150] [--ami-repeat 6]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.asterisk.ami_codec import AmiCodec, AmiMessage  # noqa: E402
from engine.asterisk.audiosocket_server import AudioSocketServer, AudioSocketSession  # noqa: E402
from engine.commands.monitor import recording_side  # noqa: E402
from engine.pbxsim.audiosocket_client import AudioSocketClient  # noqa: E402

FIXTURES = Path(os.environ.get("HOTLINE_FIXTURES", ROOT.parent / "shared" / "fixtures" / "asterisk"))
CHUNK = 4096
NAME = "张三丰 市民"


def ami_input(repeat: int) -> bytes:
    # without the client's own lines of the session recording (### >>> sent ... ### <<<)
    names = ("ami_queue_day.txt", "ami_chinese_callerid.txt", "ami_session.txt")
    return b"".join(recording_side((FIXTURES / name).read_bytes()) for name in names) * repeat


def run_own(data: bytes) -> tuple[float, int, int]:
    t = time.perf_counter()
    codec = AmiCodec(group_lists=False)
    events = names = 0
    for pos in range(0, len(data), CHUNK):
        codec.feed(data[pos : pos + CHUNK])
        for item in codec.items():
            if isinstance(item, AmiMessage) and item.is_event:
                events += 1
                if item.get("CallerIDName") == NAME:
                    names += 1
    return time.perf_counter() - t, events, names


class _Factory:
    def __init__(self) -> None:
        self.events = 0
        self.names = 0

    def dispatch(self, message) -> None:
        self.events += 1
        if message.get("CallerIDName") == NAME:
            self.names += 1


class _NullTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def run_panoramisk(data: bytes) -> tuple[float, int, int]:
    proto = AMIProtocol()
    proto.connection_made(_NullTransport())
    proto.encoding = "utf8"  # what panoramisk.Manager sets
    factory = _Factory()
    proto.factory = factory
    t = time.perf_counter()
    for pos in range(0, len(data), CHUNK):
        proto.data_received(data[pos : pos + CHUNK])
    return time.perf_counter() - t, factory.events, factory.names


def bench_ami(repeat: int) -> None:
    data = ami_input(repeat)
    best: dict[str, tuple[float, int, int]] = {}
    for _ in range(3):
        for name, fn in (("own AmiCodec", run_own), ("panoramisk", run_panoramisk)):
            res = fn(data)
            if name not in best or res[0] < best[name][0]:
                best[name] = res
    print(f"AMI: {len(data) / 1e6:.1f} MB of recorded AMI bytes in {CHUNK}-byte reads (best of 3)")
    for name, (secs, events, names) in best.items():
        print(f"  {name:14s} {events / secs:12,.0f} events/s  ({events} events, {names} intact Chinese names)")
    own, pano = best["own AmiCodec"], best["panoramisk"]
    print(f"  ratio own/panoramisk: {(own[1] / own[0]) / (pano[1] / pano[0]):.2f}x")


async def _realtime(sessions: int, seconds: float) -> None:
    prompt = bytes(range(256)) * int(seconds * 16000 / 256 + 1)

    async def on_session(session: AudioSocketSession) -> None:
        session.play(prompt[: int(seconds * 16000) // 320 * 320])
        async for _ in session.audio():
            pass

    async with AudioSocketServer(on_session, port=0, max_queued_frames=1000) as server:
        pcm = bytes(int(seconds * 16000))
        clients = [AudioSocketClient("127.0.0.1", server.port, pace=1.0, linger=0.0) for _ in range(sessions)]
        t, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(c.stream(pcm) for c in clients))
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        await asyncio.sleep(0.1)
        recent = [server.sessions.get(c.uuid) or server.ended(c.uuid) for c in clients]  # .stats of each
    frames_in = sum(s.stats.frames_in for s in recent)
    frames_out = sum(s.stats.frames_out + s.stats.silence_out for s in recent)
    resyncs = sum(s.stats.resyncs for s in recent)
    gaps = []
    for r in results:
        ts = r.audio_times()
        gaps += [b - a for a, b in zip(ts, ts[1:], strict=False)]
    gaps.sort()
    need = sessions * 50
    durations = sorted(r.duration for r in results)
    print(f"AudioSocket real time: {sessions} sessions x {seconds:.0f} s, wall {wall:.2f} s "
          f"(connects spread over the start; each caller's stream took median {statistics.median(durations):.2f} s, "
          f"max {durations[-1]:.2f} s)")
    print(f"  CPU (server + {sessions} simulated callers, one process): {cpu:.2f} s = "
          f"{cpu / (sessions * seconds) * 1000:.1f} ms per call-second -> about "
          f"{sessions * seconds / cpu:.0f} concurrent calls per core, callers included")
    per_in = [s.stats.frames_in / r.duration for s, r in zip(recent, results, strict=True)]
    per_out = [len(r.audio_messages()) / r.duration for r in results]
    print(f"  per call: server received {statistics.median(per_in):.1f} frames/s, callers got "
          f"{statistics.median(per_out):.1f} frames/s back (median; a live call needs 50 each way)")
    print(f"  all calls at once: {sum(per_in):,.0f} frames/s in, {sum(per_out):,.0f} frames/s out "
          f"(need {need:,}) -> {sum(per_in) / need:.2f}x in, {sum(per_out) / need:.2f}x out; "
          f"over the whole wall time incl. connect ramp: {frames_in / wall:,.0f} in, {frames_out / wall:,.0f} out")
    print(f"  gaps between frames at the callers: median {statistics.median(gaps) * 1000:.1f} ms, "
          f"p99 {gaps[int(len(gaps) * 0.99)] * 1000:.1f} ms, max {gaps[-1] * 1000:.1f} ms; pacer resyncs {resyncs}")


async def _flat_out(sessions: int, frames: int) -> None:
    pcm = bytes(320 * frames)

    async def run_clients(port: int) -> float:
        clients = [AudioSocketClient("127.0.0.1", port, pace=0, linger=0.0) for _ in range(sessions)]
        t = time.perf_counter()
        await asyncio.gather(*(c.stream(pcm) for c in clients))
        return time.perf_counter() - t

    # bare peer: read and count bytes, nothing else
    counted = 0

    async def bare(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal counted
        while data := await reader.read(65536):
            counted += len(data)
        writer.close()

    bare_server = await asyncio.start_server(bare, "127.0.0.1", 0)
    bare_wall = await run_clients(bare_server.sockets[0].getsockname()[1])
    bare_server.close()
    await bare_server.wait_closed()
    bare_frames = counted // 323

    async with AudioSocketServer(port=0, max_queued_frames=frames + 10) as server:
        wall = await run_clients(server.port)
        await asyncio.sleep(0.1)
    got = server.stats
    total = sessions * frames
    print(f"AudioSocket flat out: {sessions} sessions x {frames} frames")
    print(f"  AudioSocketServer  {total / wall:12,.0f} frames/s (dropped in {got['dropped_in']}, malformed {got['malformed']})")
    print(f"  bare asyncio peer  {bare_frames / bare_wall:12,.0f} frames/s")
    print(f"  ratio server/bare: {(total / wall) / (bare_frames / bare_wall):.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--ami-repeat", type=int, default=6)
    args = parser.parse_args(argv)
    bench_ami(args.ami_repeat)
    asyncio.run(_realtime(args.sessions, args.seconds))
    asyncio.run(_flat_out(args.sessions, args.frames))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
