"""``GET /metrics``: Prometheus text exposition format 0.0.4, written by hand (no client library).

:func:`render` is pure: :class:`Metric` families in, text out. The composition root sets
``app[METRICS]`` to a callable returning the families (``engine.metrics.engine_metrics``); the
page alone (``hotline web``) has no engine, so ``/metrics`` answers 404 there.

Access: like ``/healthz``, ``/metrics`` needs no supervisor token (it holds counts and queue
names, never a number, a call id or a transcript, and a scraper must not hold a token that
opens transcripts). When ``[web] metrics_token_env`` names a variable that is set, the scrape
must send ``Authorization: Bearer <that value>`` (Prometheus: ``authorization.credentials_file``).
"""

from __future__ import annotations

import hmac
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from engine.web import auth

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS = web.AppKey("metrics", object)  # () -> list[Metric], set by the composition root
METRICS_TOKEN = web.AppKey("metrics_token", str)  # "" = no token asked

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("counter", "gauge")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Metric:
    """One metric family: a name, its type, a help line and its samples (labels -> value).

    A value of ``None`` is left out (a KPI with nothing to measure yet, such as the service
    level of a queue that has answered no call): no sample rather than a made-up 0.
    """

    name: str
    type: str
    help: str
    samples: tuple[tuple[Labels, float | None], ...] = field(default=())

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"metric name {self.name!r} is not valid")
        if self.type not in TYPES:
            raise ValueError(f"metric {self.name}: type {self.type!r} is not one of {TYPES}")
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        for labels, _ in self.samples:
            for key, _value in labels:
                if not _LABEL.match(key) or key.startswith("__"):
                    raise ValueError(f"metric {self.name}: label name {key!r} is not valid")


def metric(name: str, type_: str, help_: str, value: float | None = None, *,
           by: str = "", values: Mapping[str, float | None] | None = None) -> Metric:
    """A family with one unlabelled ``value``, or one sample per key of ``values`` labelled ``by``."""
    if values is None:
        return Metric(name, type_, help_, (((), value),))
    return Metric(name, type_, help_, tuple((((by, str(k)),), v) for k, v in values.items()))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(families: Iterable[Metric]) -> str:
    """The exposition text: ``# HELP``, ``# TYPE``, then ``name{label="value"} number`` lines."""
    out: list[str] = []
    seen: set[str] = set()
    for fam in families:
        if fam.name in seen:
            raise ValueError(f"metric {fam.name} given twice")
        seen.add(fam.name)
        out.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        out.append(f"# TYPE {fam.name} {fam.type}")
        for labels, value in fam.samples:
            if value is None:
                continue
            label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
            out.append(f"{fam.name}{{{label_text}}} {format_value(value)}" if labels
                       else f"{fam.name} {format_value(value)}")
    return "\n".join(out) + "\n"


async def metrics_handler(request: web.Request) -> web.Response:
    token = request.app.get(METRICS_TOKEN, "")
    if token:
        given = auth.bearer_token(request) or ""
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(status=401, text="metrics token required\n",
                                headers={"WWW-Authenticate": 'Bearer realm="hotline-metrics"'})
    source = request.app.get(METRICS)
    if not callable(source):
        return web.Response(status=404, text="no engine here: /metrics is served by hotline serve\n")
    collect: Callable[[], Iterable[Metric]] = source
    try:
        body = render(collect())
    except Exception as exc:  # a scrape must answer, whatever broke; the failure shows as a down target
        log.error("metrics: collecting failed: %s: %s", type(exc).__name__, exc)
        return web.Response(status=500, text="metrics collection failed\n")
    return web.Response(body=body.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})
