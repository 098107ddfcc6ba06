"""``hotline monitor``: live queue KPIs from AMI, or the final state of a recorded AMI stream.

Live: ``hotline monitor --ami HOST:PORT --user U [--secret-env VAR] [--json] [--once]``
Replay: ``hotline monitor --replay FILE [--json]`` (a server-side recording as in
``shared/fixtures/asterisk/ami_queue_day.txt``; ``### >>> sent`` blocks are skipped).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

HELP = "watch queues: waiting callers, service level, agents (live over AMI, or --replay a recording)"

SENT = "### >>> sent"
RECEIVED = "### <<<"
_UNIQUEID = re.compile(r"^(\d{9,11})\.\d+$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.commands._common import add_ami_options, number

    src = parser.add_mutually_exclusive_group()
    add_ami_options(parser, ami_into=src)
    src.add_argument("--replay", metavar="FILE", help="read a recorded AMI stream and print the final state")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per queue)")
    parser.add_argument("--once", action="store_true", help="live: print one snapshot and exit")
    parser.add_argument("--refresh", type=number(float, gt=0), default=2.0, help="live: seconds between refreshes")
    parser.add_argument("--queue", action="append", help="only these queues (repeatable)")
    parser.add_argument("--sl", type=number(float, ge=0), help="service-level threshold in seconds "
                        "(default: the queue's ServiceLevel from QueueStatus, else queueing.sl_seconds)")
    parser.add_argument("--interval", type=int, choices=(15, 30, 60), help="interval minutes for --intervals")
    parser.add_argument("--intervals", action="store_true", help="include per-interval and per-day tables")
    parser.add_argument("--wrapup", type=number(float, ge=0), default=0.0, help="queue wrap-up seconds (AMI does not report it)")
    parser.add_argument("--surge-history", metavar="FILE.json",
                        help="offered calls of past days per interval: read for the surge baseline, "
                        "written back with today's counts at the end")


# -- replay ---------------------------------------------------------------------------------


LATEST = 32503680000.0  # 3000-01-01 UTC: a recorded "time" beyond it (or before 1970) is corrupt


class ImpossibleTime(Exception):
    """A ``Timestamp`` or ``EventTV`` header that parses but is no time (``1e20``, ``nan``, ``-5``)."""


def _stated_time(key: str, value: str, headers: tuple[tuple[str, str], ...]) -> float:
    """``Timestamp``/``EventTV`` as epoch seconds: ValueError when it does not parse,
    ImpossibleTime (naming the header, value and event) when it parses to no time."""
    if key.lower() == "timestamp":
        t = float(value)
    else:
        t = datetime.fromisoformat(value.replace("+0000", "+00:00")).timestamp()
    if not 0.0 <= t < LATEST:  # nan fails too
        event = next((v for h, v in headers if h.lower() == "event"), "an")
        raise ImpossibleTime(f"{key} {value!r} of {event} event is not a time "
                             "(expected epoch seconds between 1970 and 3000)")
    return t


class ReplayClock:
    """Estimates the time of recorded events, which carry no timestamps of their own.

    Uses, when present, ``Timestamp`` (``timestampevents = yes``) and ``EventTV``; otherwise
    the creation time in Uniqueids (``1795881255.252``: epoch seconds) and members' ``LastCall``
    / ``LastPause``; never goes backwards. Hold and talk times come from the events themselves,
    so only waits-so-far and interval placement depend on this estimate. Headers that do not
    parse are skipped; a ``Timestamp``/``EventTV`` outside 1970-3000 raises ``ImpossibleTime``
    (the clock never goes back, so it would carry every later event with it).
    """

    def __init__(self) -> None:
        self.now = 0.0

    def see(self, headers: tuple[tuple[str, str], ...]) -> float:
        best = 0.0
        for key, value in headers:
            k = key.lower()
            try:
                if k in ("timestamp", "eventtv"):
                    best = max(best, _stated_time(key, value, headers))
                elif k in ("uniqueid", "linkedid", "destuniqueid"):
                    m = _UNIQUEID.match(value)
                    if m:
                        best = max(best, float(m.group(1)))
                elif k in ("lastcall", "lastpause"):
                    v = float(value or 0)
                    if 1e9 < v < LATEST:
                        best = max(best, v)
            except ValueError:
                continue
        self.now = max(self.now, best)
        return self.now


def recording_side(data: bytes, *, sent: bool = False) -> bytes:
    """One side of a recording: what the server sent (client blocks ``### >>> sent`` ...
    ``### <<<`` removed), or with ``sent=True`` only those client blocks. A file recorded on
    the server side only has no markers: all of it is the server's."""
    if SENT.encode() not in data:
        return b"" if sent else data
    out = bytearray()
    sending = False
    for line in data.splitlines(keepends=True):
        marker = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if marker == SENT:
            sending = True
        elif marker == RECEIVED:
            sending = False
        elif sending == sent:
            out += line
    return bytes(out)


def events_from_recording(data: bytes) -> Iterator[Any]:
    """AMI events (``engine.events.ami``) and QueueStatus answers (``QueueSnapshot``) in order."""
    from engine.asterisk.ami_codec import AmiCodec, AmiListResponse, AmiMessage
    from engine.events.ami import QueueParams, QueueSnapshot, event_from_message

    codec = AmiCodec(group_lists=True)
    codec.feed(recording_side(data))
    clock = ReplayClock()
    for item in [*codec.items(), *codec.close()]:
        if isinstance(item, AmiListResponse):
            for ev in item.events:
                clock.see(ev.headers)
            now = clock.now
            parsed = [event_from_message(ev, now) for ev in item.events]
            if any(isinstance(e, QueueParams) for e in parsed):
                yield QueueSnapshot.of(now, parsed)
            else:
                yield from (e for e in parsed if e is not None)
        elif isinstance(item, AmiMessage) and item.is_event:
            now = clock.see(item.headers)
            event = event_from_message(item, now)
            if event is not None:
                yield event


def replay(path: str | Path, monitor: Any) -> float:
    """Feed a recording into ``monitor``; returns the estimated time of its end."""
    from engine.asterisk.errors import AmiProtocolError
    from engine.errors import UsageError

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--replay {path}: cannot read ({exc.strerror or exc})") from None
    end = 0.0
    seen = 0
    try:
        for event in events_from_recording(data):
            seen += 1
            monitor.feed(event)
            end = max(end, getattr(event, "received", 0.0) or getattr(event, "taken_at", 0.0))
    except AmiProtocolError as exc:  # a line or message over the codec's limits
        raise UsageError(f"--replay {path}: not a readable AMI stream: {exc}") from None
    except ImpossibleTime as exc:
        raise UsageError(f"--replay {path}: {exc}") from None
    if not seen:
        raise UsageError(f"--replay {path}: no AMI events in it (expected a recorded AMI stream "
                         "such as ami_queue_day.txt)")
    return end


# -- output ---------------------------------------------------------------------------------


def render_table(views: list[dict[str, Any]], *, connected: bool = True) -> str:
    head = f"{'queue':<14}{'wait':>5}{'longest':>8}{'offered':>8}{'answ':>6}{'aband':>6}{'SL%':>7}{'ASA':>7}" \
           f"{'agents':>7}{'avail':>6}{'ring':>5}{'talk':>5}{'wrap':>5}{'pause':>6}"
    lines = [head, "-" * len(head)]
    for v in views:
        a = v["agents"]
        sl = "-" if v["service_level_pct"] is None else f"{v['service_level_pct']:.1f}"
        asa = "-" if v["asa"] is None else f"{v['asa']:.1f}"
        lines.append(
            f"{v['queue'][:13]:<14}{v['waiting']:>5}{v['longest_wait']:>8.0f}{v['offered']:>8}{v['answered']:>6}"
            f"{v['abandoned']:>6}{sl:>7}{asa:>7}{a.get('logged_in', 0):>7}{a.get('available', 0):>6}{a.get('ringing', 0):>5}"
            f"{a.get('talking', 0):>5}{a.get('wrap_up', 0):>5}{a.get('paused', 0):>6}"
        )
    for v in views:
        if "intervals" not in v:
            continue
        lines += ["", f"{v['queue']} by interval", f"{'interval':<24}{'offered':>8}{'answ':>6}{'aband':>6}{'SL%':>7}{'ASA':>7}"]
        for row in [*v["intervals"], *({"interval": d["day"], **d} for d in v["days"])]:
            sl = "-" if row["service_level_pct"] is None else f"{row['service_level_pct']:.1f}"
            asa = "-" if row["asa"] is None else f"{row['asa']:.1f}"
            lines.append(f"{row['interval']:<24}{row['offered']:>8}{row['answered']:>6}{row['abandoned']:>6}{sl:>7}{asa:>7}")
    lines += render_agent_stats(views)
    if not connected:
        lines.append("(AMI connection lost; reconnecting)")
    return "\n".join(lines)


_AGENT_COLS = (("calls", "calls", 6), ("talk_seconds", "talk s", 8), ("wrap_up_seconds", "wrap s", 8),
               ("paused_seconds", "paused s", 9), ("missed_rings", "missed", 7))


def render_agent_stats(views: list[dict[str, Any]]) -> list[str]:
    """Lines of the per-call-taker table (``agent_stats`` of ``--intervals``), or none.

    A call-taker's statistics cover all its queues, so one in two queues is listed once (with
    its queues), not once per queue. Interfaces and names go through ``mask_text``: a remote
    call-taker's interface may hold a phone number (``Local/13912345678@remote``).
    """
    from engine.privacy import mask_text

    agents: dict[str, dict[str, Any]] = {}
    queues: dict[str, list[str]] = {}
    for v in views:
        for a in v.get("agent_stats", ()):
            agents.setdefault(a["interface"], a)
            queues.setdefault(a["interface"], []).append(v["queue"])
    if not agents:
        return []
    head = f"{'interval':<24}{'call-taker':<28}{'name':<14}" + "".join(f"{t:>{w}}" for _, t, w in _AGENT_COLS) + "  queues"
    lines = ["", "call-takers by interval (each across all its queues)", head]

    def row(label: str, who: str, name: str, cell: dict[str, Any], tail: str = "") -> str:
        return f"{label[:23]:<24}{who[:27]:<28}{name[:13]:<14}" + "".join(
            f"{round(cell.get(k, 0)):>{w}}" for k, _, w in _AGENT_COLS) + (f"  {tail}" if tail else "")

    for iface, a in agents.items():
        who, name = mask_text(iface), mask_text(a.get("name", ""))
        for cell in a["intervals"]:
            if any(cell.get(k) for k, _, _ in _AGENT_COLS):  # only intervals with something to show
                lines.append(row(cell["interval"], who, name, cell))
        lines.append(row("total", who, name, a["total"], ", ".join(queues[iface])))
    return lines


def _load_history(path: str | None) -> dict[str, Any]:
    if not path or not Path(path).exists():
        return {}
    from engine.errors import UsageError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected an object {queue: {day: {HH:MM: count}}}")
        return data
    except (OSError, ValueError) as exc:
        raise UsageError(f"--surge-history {path}: {exc}") from None


def _save_history(path: str | None, old: dict[str, Any], monitor: Any) -> None:
    if not path:
        return
    merged = {q: dict(days) for q, days in old.items()}
    for q, days in monitor.history().items():
        merged.setdefault(q, {}).update(days)
    Path(path).write_text(json.dumps(merged, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


def _monitor_from(args: argparse.Namespace, cfg: Any, history: dict[str, Any]) -> Any:
    from engine.errors import UsageError
    from queueing.monitor import QueueMonitor
    from queueing.surge import SurgeDetector

    surge = SurgeDetector()
    minutes = args.interval or cfg.queueing.interval_minutes
    try:
        surge.load(history, minutes)
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"--surge-history {args.surge_history}: {exc}") from None
    return QueueMonitor(
        surge=surge,
        sl_seconds=args.sl,
        default_sl_seconds=cfg.queueing.sl_seconds,
        interval_minutes=minutes,
        timezone=cfg.site.timezone,
        wrapup_seconds=args.wrapup,
        queues=args.queue,
    )


def run(args: argparse.Namespace) -> int:
    from engine.commands._common import config_from_args

    cfg = config_from_args(args)
    if args.replay:
        history = _load_history(args.surge_history)
        monitor = _monitor_from(args, cfg, history)
        end = replay(args.replay, monitor)
        monitor.board.close_spans(end)
        for alert in monitor.alerts:
            print(f"ALERT surge in {alert.queue}: {alert.offered} calls in {alert.interval_label} "
                  f"(usual {alert.baseline_median:g}, threshold {alert.threshold:.1f})", file=sys.stderr)
        _save_history(args.surge_history, history, monitor)
        views = monitor.views(end, intervals=args.intervals)
        for v in views:
            for what, n in v["malformed_events"].items():
                print(f"{v['queue']}: {n} malformed event{'s' if n != 1 else ''} skipped ({what})", file=sys.stderr)
        if args.json:
            json.dump(views, sys.stdout, ensure_ascii=False, indent=2)
            sys.stdout.write("\n")
        else:
            print(render_table(views))
        return 0
    import asyncio

    return asyncio.run(run_live(args, cfg, _monitor_from(args, cfg, _load_history(args.surge_history))))


# -- live -----------------------------------------------------------------------------------


def _print_views(views: list[dict[str, Any]], as_json: bool, *, connected: bool = True, clear: bool = False) -> None:
    if as_json:
        sys.stdout.write(json.dumps(views, ensure_ascii=False) + "\n")
    else:
        if clear:
            sys.stdout.write("\x1b[H\x1b[2J")
        sys.stdout.write(render_table(views, connected=connected) + "\n")
    sys.stdout.flush()


async def run_live(args: argparse.Namespace, cfg: Any, monitor: Any) -> int:
    import asyncio
    import time

    from engine.asterisk.ami_client import AmiClient
    from engine.bus import bus_from_config
    from engine.bus.bridge import publish_event
    from engine.commands._common import ami_target
    from engine.events.ami import AmiConnected
    from queueing.monitor import AgentStateChanged, SurgeDetected

    host, port, user, secret = ami_target(args, cfg)
    client = AmiClient(host, port, user, secret, connect_timeout=cfg.ami.connect_timeout,
                       reconnect_min=cfg.ami.reconnect_min, reconnect_max=cfg.ami.reconnect_max,
                       ping_interval=cfg.ami.ping_interval)
    bus = bus_from_config(cfg)
    stream = client.events()  # before connect(): AmiConnected brings the first QueueStatus, no gap after it
    try:
        await client.connect()
    except BaseException:
        stream.aclose()
        raise
    await bus.start()

    def handle(facts: list[Any]) -> None:
        for fact in facts:
            if isinstance(fact, SurgeDetected):
                bus.alert(fact.as_dict(), fact.at)
                print(f"ALERT surge in {fact.queue}: {fact.offered} calls in {fact.interval_label} "
                      f"(usual {fact.baseline_median:g})", file=sys.stderr)
            elif isinstance(fact, AgentStateChanged):
                agent = monitor.board.agents.get(fact.interface)
                if agent is not None:
                    bus.agent_state(fact.interface, agent.view(fact.at), fact.at)

    try:
        while True:  # up to the first snapshot; connect() has put it in the stream already
            event = await stream.get(timeout=cfg.ami.connect_timeout)
            publish_event(bus, event, time.time())
            handle(monitor.feed(event, time.time()))
            if isinstance(event, AmiConnected):
                break
        if args.once:
            _print_views(monitor.views(time.time(), intervals=args.intervals), args.json)
            return 0
        clear = sys.stdout.isatty() and not args.json
        next_refresh = 0.0
        while True:
            now = time.time()
            if now >= next_refresh:
                views = monitor.views(now, intervals=args.intervals)
                _print_views(views, args.json, connected=client.connected, clear=clear)
                for v in views:
                    bus.queue_snapshot(v["queue"], v, now)
                next_refresh = now + args.refresh
            try:
                event = await stream.get(timeout=max(next_refresh - time.time(), 0.05))
            except TimeoutError:
                handle(monitor.board.tick(time.time()))
                continue
            publish_event(bus, event, time.time())
            handle(monitor.feed(event, time.time()))
    except asyncio.CancelledError:
        return 130
    finally:
        stream.aclose()
        await client.close()
        await bus.close()
        _save_history(getattr(args, "surge_history", None), _load_history(getattr(args, "surge_history", None)),
                      monitor)
