"""The record every IVR run leaves: path, inputs, timings, outcome, joined to the AMI identity.

Personal data stays out: the caller's number is masked here, numbers typed at ``personal``
collect nodes and callback numbers are masked when they are recorded as inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from engine.privacy import mask_number as _mask_number

OUTCOMES = ("queued", "callback_booked", "self_served", "abandoned_in_ivr", "transferred", "message_left")

TYPED_MIN_DIGITS = 5  # typed digits of 5 or more are masked, even where free text keeps them


def mask_number(number: str) -> str:
    """A number as a record shows it, with the project's rule (``engine.privacy``): ``139****5678``.

    The bar is lower than in free text (``TYPED_MIN_DIGITS``): what a record holds is something a
    caller typed or dialled from, never an extension or a room number.
    """
    return _mask_number(number, min_digits=TYPED_MIN_DIGITS) or ""


@dataclass(frozen=True)
class Visit:
    node: str
    verb: str
    entered: float
    left: float | None = None
    result: str = ""  # what decided the way out: "choice 2", "open", "invalid", "timeout", ...


@dataclass(frozen=True)
class Input:
    node: str
    kind: str  # digits, timeout, speech, transcript, recording, queue, callback, error
    value: str
    at: float


@dataclass(frozen=True)
class RunRecord:
    flow: str
    uniqueid: str
    linkedid: str
    channel: str
    caller: str  # masked
    started: float
    ended: float
    outcome: str
    end_node: str
    language: str
    path: tuple[Visit, ...]
    inputs: tuple[Input, ...]
    transcript: str = ""
    queue: str = ""
    priority: int = 0
    callback_ref: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    hung_up: bool = False  # the channel is gone (the caller hung up, or the flow hung up on them)

    @property
    def duration(self) -> float:
        return self.ended - self.started

    @property
    def node_path(self) -> list[str]:
        return [v.node for v in self.path]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["duration"] = round(self.duration, 3)
        return out
