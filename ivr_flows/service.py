"""Wiring for the composition root: flows from config, services, FastAGI routes.

A host that runs flows does::

    flows = load_configured_flows(cfg)                      # fails at start-up on a bad flow
    info = live_queue_info(cfg)                             # feed it AMI events: info.feed(ev, now)
    services = services_from_config(cfg, audiosocket=as_server, pipeline=pipeline, queue_info=info,
                                    on_call=note_call, on_record=store_run)
    register_flows(agi_server, flows, services)             # AGI(agi://engine/<flow name>)

``hotline serve`` (engine/app) uses the first three and registers its own route per flow (the
same ``run_flow``, wrapped to count the flows running for ``/healthz``); ``register_flows`` is
for hosts that need no more (tools, tests).
"""

from __future__ import annotations

from typing import Any

from ivr_flows.agi_adapter import FlowServices, run_flow
from ivr_flows.callback import CallbackManager, LiveQueueInfo
from ivr_flows.loader import load_flows
from ivr_flows.schema import Flow


def load_configured_flows(cfg: Any) -> dict[str, Flow]:
    """The flows of ``[flows] paths`` (default: the shipped ones); raises FlowValidationError."""
    return load_flows(cfg.flows.paths or None, prompt_root=cfg.flows.prompts or None)


def live_queue_info(cfg: Any, **kwargs: Any) -> LiveQueueInfo:
    f = cfg.flows
    manager = CallbackManager(max_attempts=f.callback_attempts, retry_delay=f.callback_retry_seconds,
                              channel_template=f.callback_channel, context=f.callback_context)
    return LiveQueueInfo(manager, **kwargs)


def services_from_config(cfg: Any, **kwargs: Any) -> FlowServices:
    a = cfg.audiosocket
    target = a.advertise or f"{a.host}:{a.port}"
    kwargs.setdefault("audiosocket_target", target)
    kwargs.setdefault("speech_menus", cfg.flows.speech_menus)
    kwargs.setdefault("recordings_dir", cfg.store.audio_dir)
    return FlowServices(**kwargs)


def register_flows(agi_server: Any, flows: dict[str, Flow], services: FlowServices) -> None:
    """One FastAGI route per flow name."""
    for name, flow in flows.items():
        agi_server.route(name, _handler(flow, services))


def _handler(flow: Flow, services: FlowServices):  # noqa: ANN202 - an async route
    async def handler(channel: Any) -> None:
        await run_flow(channel, flow, services)

    return handler
