"""What the runner asks for (commands) and what it is told (events): small frozen dataclasses.

The runner never touches a socket: it returns commands, an adapter (FastAGI, the dry-run
channel, a test) carries them out in order and answers the last one when it ``awaits`` a result.
Commands that do not await (``SetVar``, ``SetLanguage``) are fire-and-forget; a command list ends
either with one awaiting command or with a terminal one (``EnterQueue``, ``Transfer``,
``Hangup``), after which the run is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

# -- pieces of audio a Play is made of ------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    name: str  # Asterisk sound name without extension, e.g. hotline/welcome


@dataclass(frozen=True)
class Number:
    value: int  # spoken as a number in the run's language (ivr_flows.numbers)
    measure: bool = False  # a measure word follows ("minutes"): Mandarin says 两, not 二, for 2


@dataclass(frozen=True)
class Digits:
    value: str  # spoken digit by digit (ivr_flows.numbers)


Part = Prompt | Number | Digits


# -- commands ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    awaits: ClassVar[bool] = False
    terminal: ClassVar[bool] = False


@dataclass(frozen=True)
class Play(Command):
    """Play parts in order; answered with PlaybackDone (``digit`` set when barged in)."""

    awaits: ClassVar[bool] = True
    parts: tuple[Part, ...]
    barge_in: bool = False


@dataclass(frozen=True)
class GetDigits(Command):
    """Play the parts (interruptible) then collect up to ``max_digits`` keys.

    Answered with DigitsReceived (terminator stripped), Timeout (nothing pressed), or, when
    ``phrases`` is given and the adapter can listen, SpeechRecognized.
    """

    awaits: ClassVar[bool] = True
    parts: tuple[Part, ...]
    max_digits: int
    timeout: float  # seconds of silence after the prompt before giving up
    terminator: str = "#"
    phrases: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (choice key, phrases) for a speech menu


@dataclass(frozen=True)
class StartIntake(Command):
    """Let the caller speak (EXEC AudioSocket); answered with TranscriptReady."""

    awaits: ClassVar[bool] = True
    parts: tuple[Part, ...]
    max_seconds: float
    silence_ms: int
    language: str


@dataclass(frozen=True)
class RecordMessage(Command):
    """Record a message after the prompt; answered with RecordingDone."""

    awaits: ClassVar[bool] = True
    parts: tuple[Part, ...]
    folder: str
    max_seconds: float
    silence_seconds: float
    beep: bool


@dataclass(frozen=True)
class QueryQueue(Command):
    """Ask for the caller's position and estimated wait; answered with QueueInfo."""

    awaits: ClassVar[bool] = True
    queue: str
    priority: int


@dataclass(frozen=True)
class BookCallback(Command):
    """Book a callback keeping the caller's virtual place; answered with CallbackBooked."""

    awaits: ClassVar[bool] = True
    queue: str
    number: str
    priority: int


@dataclass(frozen=True)
class SetVar(Command):
    name: str
    value: str


@dataclass(frozen=True)
class SetLanguage(Command):
    language: str


@dataclass(frozen=True)
class EnterQueue(Command):
    """Hand the caller to Asterisk's Queue() (via the dialplan); the run ends here."""

    terminal: ClassVar[bool] = True
    queue: str
    priority: int
    timeout: int


@dataclass(frozen=True)
class Transfer(Command):
    terminal: ClassVar[bool] = True
    destination: str


@dataclass(frozen=True)
class Hangup(Command):
    terminal: ClassVar[bool] = True


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class PlaybackDone(Event):
    digit: str = ""  # the key that stopped a barge-in prompt


@dataclass(frozen=True)
class DigitsReceived(Event):
    digits: str


@dataclass(frozen=True)
class SpeechRecognized(Event):
    text: str
    choice: str = ""  # the choice key whose phrase matched; empty when nothing matched


@dataclass(frozen=True)
class Timeout(Event):
    pass


@dataclass(frozen=True)
class TranscriptReady(Event):
    text: str  # empty when the caller said nothing
    intake_id: str = ""  # the AudioSocket session / transcript key


@dataclass(frozen=True)
class RecordingDone(Event):
    path: str
    seconds: float = 0.0


@dataclass(frozen=True)
class QueueInfo(Event):
    position: int  # 1 = next to be answered; counts pending callbacks ahead
    wait: float | None  # estimated seconds; None when unknown (no agents staffed)
    agents_available: int = 0


@dataclass(frozen=True)
class CallbackBooked(Event):
    ref: str


@dataclass(frozen=True)
class CommandFailed(Event):
    """The adapter could not carry out the awaited command (e.g. AudioSocket never connected)."""

    reason: str


@dataclass(frozen=True)
class HungUp(Event):
    pass
