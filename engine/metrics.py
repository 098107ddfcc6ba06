"""What ``hotline serve`` exposes on ``/metrics``: the engine's numbers as Prometheus families.

:func:`engine_metrics` reads a running engine (its ``health()`` report, ``stats``, the call
core, the queue monitor) and returns :class:`engine.web.metrics.Metric` families; the web page
renders them (``engine.web.metrics.render``). Names follow Prometheus habits: a ``hotline_``
prefix, seconds and ratios (0-1) as units, ``_total`` for counters. Counters count since the
engine started (a restart starts them again, which Prometheus' ``rate()`` handles). No caller
number, call id or transcript is ever a label: queue names and fixed words only. The table of
every family is in docs/serve.md.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from engine import __version__
from engine.web.metrics import METRICS, Metric, metric

__all__ = ["METRICS", "engine_metrics"]


def _queue_families(views: list[dict[str, Any]]) -> list[Metric]:
    def per_queue(name: str, type_: str, help_: str, get: Callable[[dict[str, Any]], float | None]) -> Metric:
        return Metric(name, type_, help_, tuple(((("queue", str(v["queue"])),), get(v)) for v in views))

    agents = Metric("hotline_queue_agents", "gauge", "Call-takers of the queue by state (logged_in: all of them).",
                    tuple(((("queue", str(v["queue"])), ("state", str(state))), n)
                          for v in views for state, n in sorted(v.get("agents", {}).items())))
    return [
        per_queue("hotline_queue_waiting_calls", "gauge", "Callers waiting in the queue now.", itemgetter("waiting")),
        per_queue("hotline_queue_longest_wait_seconds", "gauge", "Wait so far of the longest-waiting caller.",
                  itemgetter("longest_wait")),
        per_queue("hotline_queue_offered_total", "counter", "Callers who joined the queue.", itemgetter("offered")),
        per_queue("hotline_queue_answered_total", "counter", "Callers answered by a call-taker.",
                  itemgetter("answered")),
        per_queue("hotline_queue_abandoned_total", "counter", "Callers who hung up while waiting.",
                  itemgetter("abandoned")),
        per_queue("hotline_queue_answered_within_sl_total", "counter",
                  "Callers answered within the service-level threshold.", itemgetter("answered_within_sl")),
        per_queue("hotline_queue_service_level_seconds", "gauge", "The queue's service-level threshold.",
                  itemgetter("sl_seconds")),
        per_queue("hotline_queue_service_level_ratio", "gauge",
                  "Answered within the threshold / answered, since the engine started (absent before an answer).",
                  lambda v: v["answered_within_sl"] / v["answered"] if v["answered"] else None),
        per_queue("hotline_queue_asa_seconds", "gauge",
                  "Average speed of answer (mean wait of answered callers whose wait was seen).", itemgetter("asa")),
        agents,
    ]


def engine_metrics(engine: Any) -> list[Metric]:
    """Every family, read from ``engine`` (an ``engine.app.Engine`` that has started)."""
    h = engine.health()
    stats = engine.stats
    calls = engine.calls
    out = [
        metric("hotline_build_info", "gauge", "Always 1; the version is a label.", values={__version__: 1},
               by="version"),
        metric("hotline_component_up", "gauge", "1 when the component is ok (as /healthz says), else 0.",
               values={name: bool(c.get("ok")) for name, c in h.items()}, by="component"),
        # calls
        metric("hotline_calls_live", "gauge", "Calls in progress (first channel seen, not ended).",
               len(calls.live_calls)),
        metric("hotline_calls_started_total", "counter", "Calls seen starting.", calls.started_total),
        metric("hotline_calls_ended_total", "counter",
               "Calls ended (also those first seen at their hang-up).", calls.ended_total),
        metric("hotline_ivr_runs_total", "counter", "IVR flow runs finished, by outcome.",
               values=dict(sorted(stats.ivr_outcomes.items())), by="outcome"),
        metric("hotline_callbacks_originated_total", "counter", "Callback dial attempts.",
               stats.callbacks_originated),
        metric("hotline_callbacks_answered_total", "counter", "Callbacks the citizen answered.",
               stats.callbacks_answered),
        metric("hotline_callbacks_pending", "gauge", "Booked callbacks not yet done.",
               engine.pending_callbacks() if engine.queue_info is not None else 0),
    ]
    if engine.monitor is not None:
        out += _queue_families(engine.monitor.views(engine.clock()))
    a, agi, sock, asr, taps, store, bus = (h[k] for k in ("ami", "agi", "audiosocket", "asr", "taps", "store", "bus"))
    server = engine.audiosocket
    dropped = {"in": 0, "out": 0}
    if server is not None:  # ended sessions are in the server's totals, open ones in their own
        for way in dropped:
            dropped[way] = server.stats[f"dropped_{way}"] + sum(
                getattr(s.stats, f"dropped_{way}") for s in list(server.sessions.values()))
    out += [
        # speech
        metric("hotline_asr_backlog_seconds", "gauge", "Seconds of audio waiting for decoding.",
               asr["backlog_seconds"]),
        metric("hotline_asr_max_backlog_seconds", "gauge", "Worst decoding backlog seen since start.",
               round(stats.max_backlog, 1)),
        metric("hotline_asr_legs", "gauge", "Speech legs open (IVR speech steps and tapped legs).", asr["legs"]),
        metric("hotline_transcripts_final_total", "counter", "Final transcript segments.", stats.finals),
        # taps
        metric("hotline_taps_active_legs", "gauge", "Tapped legs running now.", taps["active_legs"]),
        metric("hotline_taps_started_total", "counter", "Answered calls tapped.", stats.taps_started),
        metric("hotline_tap_legs_started_total", "counter", "Tap legs started (one or two per call).",
               stats.tap_legs),
        metric("hotline_taps_skipped_total", "counter", "Answered calls not tapped, by reason.",
               values={"max_legs": stats.taps_skipped_busy, "sample": stats.taps_sampled_out,
                       "backlog": stats.taps_skipped_lag}, by="reason"),
        metric("hotline_taps_failed_total", "counter", "Taps Asterisk refused or never connected.",
               stats.taps_failed),
        # AMI
        metric("hotline_ami_connected", "gauge", "1 while logged in to Asterisk's AMI.", bool(a["ok"])),
        metric("hotline_ami_reconnects_total", "counter", "AMI reconnections after a lost connection.",
               a["reconnects"]),
        # AudioSocket
        metric("hotline_audiosocket_sessions", "gauge", "AudioSocket sessions open.", sock["sessions"]),
        metric("hotline_audiosocket_sessions_total", "counter", "AudioSocket sessions opened.",
               server.stats["sessions"] if server is not None else 0),
        metric("hotline_audiosocket_malformed_total", "counter", "AudioSocket sessions closed on malformed input.",
               server.stats["malformed"] if server is not None else 0),
        metric("hotline_audiosocket_dropped_frames_total", "counter",
               "20 ms frames dropped: in = a slow consumer, out = audio to play that did not fit.",
               values=dropped, by="direction"),
        # FastAGI
        metric("hotline_fastagi_sessions_active", "gauge", "IVR flows running now.", agi["active"]),
        metric("hotline_fastagi_sessions_total", "counter", "FastAGI sessions accepted.", agi.get("sessions", 0)),
        metric("hotline_fastagi_hangups_total", "counter", "FastAGI sessions ended by the caller hanging up.",
               agi.get("hangups", 0)),
        metric("hotline_fastagi_errors_total", "counter", "FastAGI sessions that failed, by kind.",
               values={k: agi.get(k, 0) for k in ("command_errors", "handler_errors", "no_route", "bad_header")},
               by="kind"),
        # store
        metric("hotline_store_pending_writes", "gauge", "Store writes queued, not yet committed.",
               store["pending_writes"]),
        metric("hotline_store_failed_writes_total", "counter", "Store writes that failed (logged, data lost).",
               store["failed_writes"]),
        # MQTT bus
        metric("hotline_bus_enabled", "gauge", "1 when [mqtt] host is set.", bool(bus["enabled"])),
        metric("hotline_bus_connected", "gauge", "1 while connected to the MQTT broker.",
               bool(bus["enabled"] and bus["ok"])),
        metric("hotline_bus_buffered_messages", "gauge", "Messages waiting for the broker.", bus.get("buffered", 0)),
        metric("hotline_bus_dropped_total", "counter", "Messages lost (buffer full, or still queued at close).",
               bus.get("dropped", 0)),
    ]
    return out
