"""MQTT bus throughput vs plain aiomqtt, and queue-monitor event rate vs bare event parsing.

Figure 1: messages/s through ``engine.bus.MqttPublisher`` (buffered, one in flight, PUBACK
awaited for QoS 1) against the peer, plain ``aiomqtt.Client.publish`` awaited in a loop, to the
same mosquitto in the same run (Debian ``mosquitto`` started on a free port).
Figure 2: AMI events/s through ``QueueMonitor.feed`` against the peer, turning the same
recorded bytes into event dataclasses only (``events_from_recording``), same run.

    .venv/bin/python benchmarks/bench_bus_monitor.py --messages 3000 --repeat 20
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

FIXTURE = ROOT.parent / "shared" / "fixtures" / "asterisk" / "ami_queue_day.txt"


async def bench_bus(n: int) -> dict[str, float]:
    import aiomqtt

    from engine.bus import MqttPublisher
    from engine.bus.payloads import build_payload, encode
    from tests.mosquitto_helpers import Mosquitto

    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="bench-mqtt-")))
    broker.start()
    out: dict[str, float] = {}
    try:
        for qos in (1, 0):
            data = {"leg": "caller", "start": 1.0, "text": "我家门口的路灯坏了，电话13912345678"}
            async with aiomqtt.Client("127.0.0.1", broker.port) as raw:
                t = time.perf_counter()
                for i in range(n):
                    payload = encode(build_payload("transcript_final", "s", float(i), data))
                    await raw.publish("hotline/s/calls/c1/transcript", payload, qos=qos)
                out[f"aiomqtt_qos{qos}"] = n / (time.perf_counter() - t)
            async with MqttPublisher("127.0.0.1", broker.port, site="s") as bus:
                await asyncio.sleep(0.2)
                t = time.perf_counter()
                for i in range(n):
                    if qos:
                        bus.transcript_final("c1", data, float(i))
                    else:
                        bus.transcript_partial("c1", data, float(i))
                assert await bus.wait_flushed(120)
                out[f"bus_qos{qos}"] = n / (time.perf_counter() - t)
    finally:
        broker.stop()
    return out


def bench_monitor(repeat: int) -> dict[str, float]:
    from engine.commands.monitor import events_from_recording
    from queueing.monitor import QueueMonitor

    data = FIXTURE.read_bytes()
    best_parse = best_feed = 0.0
    n = 0
    for _ in range(repeat):
        t = time.perf_counter()
        events = list(events_from_recording(data))
        parse = time.perf_counter() - t
        n = len(events)
        m = QueueMonitor()
        t = time.perf_counter()
        for e in events:
            m.feed(e)
        feed = time.perf_counter() - t
        best_parse = max(best_parse, n / parse)
        best_feed = max(best_feed, n / feed)
        assert m.queue_view("evening")["answered"] == 22
    return {"events": n, "parse_events_per_s": best_parse, "monitor_events_per_s": best_feed}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    bus = asyncio.run(bench_bus(args.messages))
    mon = bench_monitor(args.repeat)
    result = {
        **{k: round(v) for k, v in bus.items()},
        "ratio_bus_vs_aiomqtt_qos1": round(bus["bus_qos1"] / bus["aiomqtt_qos1"], 2),
        "ratio_bus_vs_aiomqtt_qos0": round(bus["bus_qos0"] / bus["aiomqtt_qos0"], 2),
        **{k: round(v) for k, v in mon.items()},
        "ratio_monitor_vs_parse": round(mon["monitor_events_per_s"] / mon["parse_events_per_s"], 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
