"""Actions on call-takers through the AMI client: log in with skills, log out, pause, resume.

Skills are queue penalties, as Asterisk routes them: a member with a lower penalty is offered
calls first, so an agent's best queue gets penalty 0. ``penalties_from_skills`` turns skill
levels (1 = novice ... 5 = expert) into penalties. The client is anything with the
``AmiClient`` action methods (``queue_add``, ``queue_remove``, ``queue_pause``,
``queue_status``), so tests and the simulator need no real Asterisk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agents_adapter.errors import AgentActionRefused, AgentRequestError
from engine.asterisk.errors import AmiActionError

REASON_ALIASES = {"acw": "after-call work", "after-call": "after-call work", "wrapup": "after-call work",
                  "lunch": "meal"}
MAX_SKILL = 5


class AmiActions(Protocol):
    async def queue_add(self, queue: str, interface: str, *, member_name: str | None = None,
                        penalty: int | None = None, paused: bool | None = None,
                        state_interface: str | None = None, reason: str | None = None) -> Any: ...

    async def queue_remove(self, queue: str, interface: str) -> Any: ...

    async def queue_pause(self, interface: str, paused: bool, *, queue: str | None = None,
                          reason: str | None = None) -> Any: ...

    async def queue_status(self, queue: str | None = None, member: str | None = None) -> Any: ...


@dataclass(frozen=True)
class ActionDone:
    action: str
    interface: str
    queue: str
    message: str


def normalise_reason(reason: str) -> str:
    text = " ".join(reason.strip().lower().split())
    if not text:
        raise AgentRequestError("a pause needs a reason (break, training, after-call work, ...)")
    return REASON_ALIASES.get(text, text)


def penalties_from_skills(skills: Mapping[str, int], max_level: int = MAX_SKILL) -> dict[str, int]:
    """``{"citizen": 5, "evening": 3}`` (skill levels) -> ``{"citizen": 0, "evening": 2}`` (penalties)."""
    out: dict[str, int] = {}
    for queue, level in skills.items():
        if not 1 <= int(level) <= max_level:
            raise AgentRequestError(f"skill level for {queue} must be 1..{max_level}, got {level}")
        out[queue] = max_level - int(level)
    return out


def parse_queue_specs(specs: Iterable[str]) -> dict[str, int]:
    """``["citizen", "evening:2"]`` -> ``{"citizen": 0, "evening": 2}``."""
    out: dict[str, int] = {}
    for spec in specs:
        name, sep, pen = spec.partition(":")
        name = name.strip()
        if not name:
            raise AgentRequestError(f"queue {spec!r}: expected NAME or NAME:PENALTY")
        if sep:
            if not pen.strip().isdigit():
                raise AgentRequestError(f"queue {spec!r}: the penalty must be a whole number >= 0")
            out[name] = int(pen)
        else:
            out[name] = 0
    return out


def _check_interface(interface: str) -> None:
    if not interface or "/" not in interface:
        raise AgentRequestError(f"interface {interface!r}: expected a channel like PJSIP/1001 or Local/1001@agents/n")


async def login(client: AmiActions, interface: str, queues: Mapping[str, int], *, name: str = "",
                paused: bool = False, reason: str = "") -> list[ActionDone]:
    """Add the agent to each queue with its penalty (its skill there)."""
    _check_interface(interface)
    if not queues:
        raise AgentRequestError("log in to which queue? give at least one")
    done = []
    for queue, penalty in queues.items():
        if penalty < 0:
            raise AgentRequestError(f"penalty for {queue} must be >= 0, got {penalty}")
        try:
            r = await client.queue_add(queue, interface, member_name=name or None, penalty=penalty,
                                       paused=paused or None, reason=normalise_reason(reason) if paused else None)
        except AmiActionError as exc:
            raise AgentActionRefused("QueueAdd", interface, exc.message) from None
        done.append(ActionDone("login", interface, queue, getattr(r, "message", "")))
    return done


async def member_queues(client: AmiActions, interface: str) -> list[str]:
    snap = await client.queue_status()
    return sorted({m.queue for m in snap.members if m.interface == interface})


async def logout(client: AmiActions, interface: str, queues: Iterable[str] | None = None) -> list[ActionDone]:
    """Remove the agent from ``queues`` (default: every queue it is in, from QueueStatus)."""
    _check_interface(interface)
    targets = list(queues) if queues else await member_queues(client, interface)
    if not targets:
        raise AgentRequestError(f"{interface} is not logged in to any queue")
    done = []
    for queue in targets:
        try:
            r = await client.queue_remove(queue, interface)
        except AmiActionError as exc:
            raise AgentActionRefused("QueueRemove", interface, exc.message) from None
        done.append(ActionDone("logout", interface, queue, getattr(r, "message", "")))
    return done


async def pause(client: AmiActions, interface: str, reason: str, queue: str | None = None) -> ActionDone:
    """Pause in one queue or in all (Asterisk applies a queue-less QueuePause to every queue)."""
    _check_interface(interface)
    why = normalise_reason(reason)
    try:
        r = await client.queue_pause(interface, True, queue=queue, reason=why)
    except AmiActionError as exc:
        raise AgentActionRefused("QueuePause", interface, exc.message) from None
    return ActionDone("pause", interface, queue or "*", getattr(r, "message", ""))


async def resume(client: AmiActions, interface: str, queue: str | None = None) -> ActionDone:
    _check_interface(interface)
    try:
        r = await client.queue_pause(interface, False, queue=queue)
    except AmiActionError as exc:
        raise AgentActionRefused("QueuePause", interface, exc.message) from None
    return ActionDone("resume", interface, queue or "*", getattr(r, "message", ""))
