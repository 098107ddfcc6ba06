"""The whole engine in this process against the PBX simulator: the world on the hotline flow's
evening, the engine's config pointing at it, an intake turn, and waiting for a condition. Shared by
the tests that run calls through the engine (Local channels, taps, ASR workers, callbacks)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from engine.config import Config, load_config
from engine.demo import SpeechBank, evening_start, sim_queues
from engine.pbxsim.clock import ScaledClock
from engine.pbxsim.world import PbxWorld
from ivr_flows.dryrun import lead_in_prompts
from ivr_flows.loader import load_flows

SECRET = "pw"  # the simulator's AMI secret, and the engine's


class NoSpeech:
    """Stands in for the speech pipeline where no step speaks (the operator branch, taps off)."""

    settings = None
    legs: set = set()

    def backlog(self) -> float:
        return 0.0


async def until(predicate: Any, timeout: float, what: str) -> None:
    """Wait until ``predicate()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def evening_world(speed: float, *, agents: int = 2, **kwargs: Any) -> tuple[PbxWorld, ScaledClock]:
    """A PBX world (not started) whose clock runs ``speed`` times real time from 19:00 on a day
    the hotline flow is open, with ``agents`` call-takers and the flow's lead-in prompts silent."""
    flow = load_flows()["hotline"]
    clock = ScaledClock(speed=speed, start=evening_start(flow, "Asia/Shanghai"))
    world = PbxWorld(sim_queues(agents, 20), clock=clock, secret=SECRET,
                     lead_ins=dict.fromkeys(lead_in_prompts(flow), ""), **kwargs)
    return world, clock


def engine_config(tmp: Path, world: PbxWorld, toml: str = "", **overrides: Any) -> Config:
    """The engine's config for ``world``: AMI there, FastAGI and AudioSocket on any free port, the
    store in ``tmp/h.sqlite``; ``toml`` is the config file's text, ``overrides`` dotted keys."""
    (tmp / "hotline.toml").write_text(toml, encoding="utf-8")
    return load_config(tmp / "hotline.toml", {
        "ami.port": world.ami_port, "ami.secret": SECRET, "ami.reconnect_min": 0.1, "agi.port": 0,
        "audiosocket.port": 0, "store.path": str(tmp / "h.sqlite"), **overrides})


def intake_turn(bank: SpeechBank, topic: str) -> bytes:
    """What a caller says at the intake step: 0.15 s of silence, the line, 1.6 s of silence, in
    whole 20 ms frames."""
    pcm = b"".join([bytes(2400), bank.intake[topic].tobytes(), bytes(25600)])
    return pcm + bytes(-len(pcm) % 320)
