"""The topic tree, in one place so publishers, subscribers and docs agree.

```
{root}/{site}/queues/{queue}              retained  queue snapshot (QoS 1)
{root}/{site}/agents/{agent}              retained  agent state (QoS 1)
{root}/{site}/calls/{call}/events                   call event (QoS 1)
{root}/{site}/calls/{call}/transcript               partial (QoS 0) and final (QoS 1) text
{root}/{site}/alerts                                alert (QoS 1)
{root}/{site}/asr/workers/{worker}                  ASR worker heartbeat (QoS 0), its last will (QoS 1)
{root}/{site}/asr/sessions/{uuid}                   one AudioSocket session on a worker: open, speech
                                                    events, closed (QoS 1; partials QoS 0); NOT masked
```

A segment comes from outside (queue names, agent interfaces such as
``Local/agent1@agents/n``, Uniqueids), so it is escaped: MQTT forbids ``+`` and ``#`` in
published topics and ``/`` would add a level. Escaping is percent-style and reversible.
"""

from __future__ import annotations

from dataclasses import dataclass

_ESCAPE = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\x00": "%00"}


def segment(value: str) -> str:
    """One topic level from arbitrary text (never empty, no wildcards, no ``/``)."""
    if not value:
        return "%"  # an empty level is legal MQTT but easy to miss; make it visible
    return "".join(_ESCAPE.get(ch, ch) for ch in value)


def unsegment(value: str) -> str:
    """Inverse of :func:`segment`."""
    if value == "%":
        return ""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "%" and value[i + 1 : i + 3].upper() in ("25", "2F", "2B", "23", "00"):
            out.append(chr(int(value[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class Topics:
    """Topic names under ``{root}/{site}``."""

    root: str = "hotline"
    site: str = "default"

    @property
    def base(self) -> str:
        return f"{segment(self.root)}/{segment(self.site)}"

    def queue(self, queue: str) -> str:
        return f"{self.base}/queues/{segment(queue)}"

    def agent(self, agent: str) -> str:
        return f"{self.base}/agents/{segment(agent)}"

    def call_events(self, call: str) -> str:
        return f"{self.base}/calls/{segment(call)}/events"

    def call_transcript(self, call: str) -> str:
        return f"{self.base}/calls/{segment(call)}/transcript"

    def alerts(self) -> str:
        return f"{self.base}/alerts"

    def asr_worker(self, worker: str) -> str:
        return f"{self.base}/asr/workers/{segment(worker)}"

    def asr_session(self, uuid: str) -> str:
        return f"{self.base}/asr/sessions/{segment(uuid)}"

    def asr_everything(self) -> str:
        """Subscription filter for what ASR workers publish (the engine's side of the link)."""
        return f"{self.base}/asr/#"

    def everything(self) -> str:
        """Subscription filter for the whole site."""
        return f"{self.base}/#"
