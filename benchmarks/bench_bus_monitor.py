"""MQTT bus throughput vs plain aiomqtt, and queue-monitor event rate vs bare event parsing.

Figure 1: messages/s through ``engine.bus.MqttPublisher`` (buffered, one in flight, PUBACK
awaited for QoS 1) against the peer, plain ``aiomqtt.Client.publish`` awaited in a loop, to the
same mosquitto in the same run (Debian ``mosquitto`` started on a free port).
Figure 2: AMI events/s through ``QueueMonitor.feed`` against the peer, turning the same
recorded bytes into event dataclasses only (``events_from_recording``), same run.
Each figure runs ``--runs`` times, ours and the peer alternating (``benchmarks/_runs.py``).

    .venv/bin/python benchmarks/bench_bus_monitor.py --messages 3000 --repeat 20 [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._runs import Load, Spread, add_runs_argument, alternate, pair_lines, ratios  # noqa: E402

FIXTURE = ROOT.parent / "shared" / "fixtures" / "asterisk" / "ami_queue_day.txt"


def bench_bus(n: int, runs: int) -> dict[str, list[float]]:
    """Messages/s of the bus and of plain aiomqtt per QoS, alternating, one run each per round."""
    import aiomqtt

    from engine.bus import MqttPublisher
    from engine.bus.payloads import build_payload, encode
    from tests.mosquitto_helpers import Mosquitto

    data = {"leg": "caller", "start": 1.0, "text": "我家门口的路灯坏了，电话13912345678"}

    async def raw(qos: int) -> float:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            t = time.perf_counter()
            for i in range(n):
                payload = encode(build_payload("transcript_final", "s", float(i), data))
                await client.publish("hotline/s/calls/c1/transcript", payload, qos=qos)
            return n / (time.perf_counter() - t)

    async def bus(qos: int) -> float:
        async with MqttPublisher("127.0.0.1", broker.port, site="s") as publisher:
            await asyncio.sleep(0.2)
            t = time.perf_counter()
            for i in range(n):
                if qos:
                    publisher.transcript_final("c1", data, float(i))
                else:
                    publisher.transcript_partial("c1", data, float(i))
            assert await publisher.wait_flushed(120)
            return n / (time.perf_counter() - t)

    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="bench-mqtt-")))
    broker.start()
    out: dict[str, list[float]] = {}
    try:
        with asyncio.Runner() as runner:
            for qos in (1, 0):
                res = alternate({"bus": lambda qos=qos: runner.run(bus(qos)),
                                 "aiomqtt": lambda qos=qos: runner.run(raw(qos))}, runs)
                out[f"bus_qos{qos}"], out[f"aiomqtt_qos{qos}"] = res["bus"], res["aiomqtt"]
    finally:
        broker.stop()
    return out


def bench_monitor(repeat: int, runs: int) -> dict[str, list[float]]:
    """Events/s of parsing the recorded bytes into events (the peer) and of ``QueueMonitor.feed``
    on those events, ``repeat`` passes per run, alternating."""
    from engine.commands.monitor import events_from_recording
    from queueing.monitor import QueueMonitor

    data = FIXTURE.read_bytes()
    events = list(events_from_recording(data))

    def parse() -> float:
        t = time.perf_counter()
        for _ in range(repeat):
            got = list(events_from_recording(data))
        assert len(got) == len(events)
        return repeat * len(events) / (time.perf_counter() - t)

    def feed() -> float:
        elapsed = 0.0
        for _ in range(repeat):
            m = QueueMonitor()
            t = time.perf_counter()
            for e in events:
                m.feed(e)
            elapsed += time.perf_counter() - t
            assert m.queue_view("evening")["answered"] == 22
        return repeat * len(events) / elapsed

    return {"events": [float(len(events))], **alternate({"monitor": feed, "parse": parse}, runs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=20, help="passes over the recording per run (monitor)")
    add_runs_argument(ap)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON (median, min, max of each)")
    args = ap.parse_args()
    load = Load()
    print(load.header(args.runs))
    bus = bench_bus(args.messages, args.runs)
    mon = bench_monitor(args.repeat, args.runs)
    for qos in (1, 0):
        print("\n".join(pair_lines(f"MQTT QoS {qos}, {args.messages} messages, msg/s", "bus", bus[f"bus_qos{qos}"],
                                   "aiomqtt", bus[f"aiomqtt_qos{qos}"])))
    print("\n".join(pair_lines(f"queue monitor, {mon['events'][0]:.0f} events x {args.repeat} passes per run, events/s",
                               "QueueMonitor.feed", mon["monitor"], "parse to events", mon["parse"])))
    print(load.footer())
    if args.json:
        result = {k: Spread.of(v).as_dict() for k, v in {**bus, **mon}.items() if k != "events"}
        for qos in (1, 0):
            result[f"ratio_bus_vs_aiomqtt_qos{qos}"] = Spread.of(
                ratios(bus[f"bus_qos{qos}"], bus[f"aiomqtt_qos{qos}"])).as_dict()
        result["ratio_monitor_vs_parse"] = Spread.of(ratios(mon["monitor"], mon["parse"])).as_dict()
        print(json.dumps({**result, **load.as_dict()}, indent=2))
    return 0

if __name__ == "__main__":
    sys.exit(main())
