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

Each part runs ``--runs`` times, ours and the peer alternating (``benchmarks/_runs.py``); figures
are median (min-max) over the runs.

    .venv/bin/python benchmarks/bench_wire.py [--sessions 200] [--seconds 3] [--frames 150] [--ami-repeat 6] [--runs 5]
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

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, column, pair_lines  # noqa: E402
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


def bench_ami(repeat: int, runs: int) -> None:
    data = ami_input(repeat)
    res = alternate({"own": lambda: run_own(data), "panoramisk": lambda: run_panoramisk(data)}, runs)
    rates = {k: [events / secs for secs, events, _ in v] for k, v in res.items()}
    print(f"AMI: {len(data) / 1e6:.1f} MB of recorded AMI bytes in {CHUNK}-byte reads")
    print("\n".join(pair_lines("  events/s", "own AmiCodec", rates["own"], "panoramisk", rates["panoramisk"])))
    for name, v in res.items():
        counts = {(events, names) for _, events, names in v}
        assert len(counts) == 1, (name, counts)  # the same events every run
        events, names = counts.pop()
        print(f"  {name}: {events} events, {names} intact Chinese names")
async def _realtime(sessions: int, seconds: float) -> dict[str, float]:
    """One run of ``sessions`` callers streaming ``seconds`` at real pace; its figures."""
    prompt = bytes(range(256)) * int(seconds * 16000 / 256 + 1)

    async def on_session(session: AudioSocketSession) -> None:
        session.play(prompt[: int(seconds * 16000) // 320 * 320])
        async for _ in session.audio():
            pass

    async with AudioSocketServer(on_session, port=0, max_queued_frames=1000) as server:
        pcm = bytes(int(seconds * 16000))
        clients = [AudioSocketClient("127.0.0.1", server.port, pace=1.0, linger=0.0) for _ in range(sessions)]
        cpu = time.process_time()
        results = await asyncio.gather(*(c.stream(pcm) for c in clients))
        cpu = time.process_time() - cpu
        await asyncio.sleep(0.1)
        recent = [server.sessions.get(c.uuid) or server.ended(c.uuid) for c in clients]  # .stats of each
    gaps = []
    for r in results:
        ts = r.audio_times()
        gaps += [b - a for a, b in zip(ts, ts[1:], strict=False)]
    gaps.sort()
    per_in = [s.stats.frames_in / r.duration for s, r in zip(recent, results, strict=True)]
    per_out = [len(r.audio_messages()) / r.duration for r in results]
    return {
        "in": sum(per_in),  # frames/s received by the server, all calls at once
        "out": sum(per_out),  # frames/s the callers got back
        "gap_median_ms": statistics.median(gaps) * 1000,
        "gap_p99_ms": gaps[int(len(gaps) * 0.99)] * 1000,
        "gap_max_ms": gaps[-1] * 1000,
        "resyncs": sum(s.stats.resyncs for s in recent),
        "cpu_ms_per_call_s": cpu / (sessions * seconds) * 1000,
    }


def bench_realtime(sessions: int, seconds: float, runs: int) -> None:
    res = [asyncio.run(_realtime(sessions, seconds)) for _ in range(runs)]
    need = sessions * 50
    col = {k: Spread.of(column(res, k)) for k in res[0]}
    print(f"AudioSocket real time: {sessions} sessions x {seconds:g} s, median (min-max) over {runs} runs "
          f"(callers and server in one process)")
    print(f"  frames/s received by the server, all calls at once: {col['in'].fmt(',.0f')}, "
          f"{Spread.of([v / need for v in column(res, 'in')]).fmt('.2f', 'x')} the {need:,} that live calls send")
    print(f"  frames/s sent back (paced prompt + silence): {col['out'].fmt(',.0f')}, "
          f"{Spread.of([v / need for v in column(res, 'out')]).fmt('.2f', 'x')} of {need:,} needed")
    print(f"  gaps between frames at the callers, ms: median {col['gap_median_ms'].fmt('.1f')}, "
          f"p99 {col['gap_p99_ms'].fmt('.1f')}, max {col['gap_max_ms'].fmt('.1f')}; pacer resyncs "
          f"{col['resyncs'].fmt('.0f')}")
    cpu = col["cpu_ms_per_call_s"]
    print(f"  CPU, server and callers together: {cpu.fmt('.1f')} ms per call-second = about "
          f"{1000 / cpu.median:.0f} concurrent calls per core ({1000 / cpu.hi:.0f}-{1000 / cpu.lo:.0f})")


async def _flat_out(sessions: int, frames: int, bare: bool) -> float:
    """Frames/s received flat out by ``AudioSocketServer``, or by a bare asyncio server that
    only counts bytes (the peer), from ``sessions`` callers sending ``frames`` frames each."""
    pcm = bytes(320 * frames)

    async def run_clients(port: int) -> float:
        clients = [AudioSocketClient("127.0.0.1", port, pace=0, linger=0.0) for _ in range(sessions)]
        t = time.perf_counter()
        await asyncio.gather(*(c.stream(pcm) for c in clients))
        return time.perf_counter() - t

    if bare:
        counted = 0

        async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal counted
            while data := await reader.read(65536):
                counted += len(data)
            writer.close()

        server = await asyncio.start_server(count, "127.0.0.1", 0)
        wall = await run_clients(server.sockets[0].getsockname()[1])
        server.close()
        await server.wait_closed()
        return counted // 323 / wall

    async with AudioSocketServer(port=0, max_queued_frames=frames + 10) as own:
        wall = await run_clients(own.port)
        await asyncio.sleep(0.1)
    got = own.stats
    assert not got["dropped_in"] and not got["malformed"], got
    return sessions * frames / wall


def bench_flat_out(sessions: int, frames: int, runs: int) -> None:
    res = alternate({"server": lambda: asyncio.run(_flat_out(sessions, frames, bare=False)),
                     "bare": lambda: asyncio.run(_flat_out(sessions, frames, bare=True))}, runs)
    print("\n".join(pair_lines(f"AudioSocket flat out: {sessions} sessions x {frames} frames, frames/s received",
                               "AudioSocketServer", res["server"], "bare asyncio peer", res["bare"],
                               ratio_name="server / bare")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--ami-repeat", type=int, default=6)
    add_runs_argument(parser)
    args = parser.parse_args(argv)
    load = Load()
    print(load.header(args.runs))
    bench_ami(args.ami_repeat, args.runs)
    bench_realtime(args.sessions, args.seconds, args.runs)
    bench_flat_out(args.sessions, args.frames, args.runs)
    print(load.footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
