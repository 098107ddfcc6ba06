"""One FastAGI session seen from an IVR flow: typed commands over the AGI codec.

Why not panoramisk's ``Request.send_command``: it cannot read a multi-line 520 reply, hangs or
raises a bare ValueError at EOF, and does not see the asynchronous ``HANGUP`` line. Every
way a caller can vanish (EOF, ``HANGUP``, 511, or a ``result=-1`` followed by either) ends
here as :class:`AgiHangup`, so a flow needs one ``except`` and never waits forever.

Times are in seconds on this API (converted to Asterisk's milliseconds on the wire).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from engine.asterisk.agi_codec import (
    AgiCodec,
    AgiHangupLine,
    AgiRequest,
    AgiResponse,
    Quoted,
    serialize_command,
)
from engine.asterisk.errors import AgiCommandError, AgiHangup

log = logging.getLogger(__name__)

READ_SIZE = 4096


class _Reader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class _Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def is_closing(self) -> bool: ...


@dataclass(frozen=True)
class GetDataResult:
    """What GET DATA collected: the digits, and whether it ended by timeout (not by # or max)."""

    digits: str
    timed_out: bool


class AgiChannel:
    """Commands an IVR flow needs, each one waiting for its reply.

    Raises :class:`AgiHangup` when the caller is gone, :class:`AgiCommandError` when
    Asterisk rejected the command (510 unknown, 520 usage, or a failure that was not a
    hangup). ``request`` is the ``agi_*`` header of the session.
    """

    def __init__(
        self,
        request: AgiRequest,
        reader: _Reader,
        writer: _Writer,
        codec: AgiCodec | None = None,
        *,
        hangup_grace: float = 0.3,
        command_timeout: float | None = None,
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._codec = codec or AgiCodec(expect_header=False)
        self._hangup_grace = hangup_grace
        self._command_timeout = command_timeout
        self.hung_up = False
        self.caller_hung_up = False  # the caller left (not the flow's own HANGUP)
        self.commands_sent = 0

    # -- plumbing ---------------------------------------------------------------------------

    async def _next_item(self, timeout: float | None) -> AgiResponse | AgiHangupLine | None:
        """Next reply or HANGUP line; None at EOF. ``asyncio.TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            while True:
                item = self._codec.next_item()
                if item is not None:
                    assert not isinstance(item, AgiRequest)
                    return item
                try:
                    data = await self._reader.read(READ_SIZE)
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    return None
                self._codec.feed(data)

    def _gone(self, why: str) -> AgiHangup:
        self.hung_up = True
        self.caller_hung_up = True
        # uniqueid, not the channel name: a channel name can carry the caller's number
        return AgiHangup(f"caller hung up ({why}) on call {self.request.uniqueid or '?'}")

    async def command(self, command: str, *args: str | int | float) -> AgiResponse:
        """Send one command, return its ``200`` reply (``100 Trying`` skipped)."""
        if self.hung_up:
            raise AgiHangup(f"call {self.request.uniqueid or '?'} already hung up; {command} not sent")
        line = serialize_command(command, *args)
        try:
            self._writer.write(line)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise self._gone(f"connection lost while sending {command}: {exc.__class__.__name__}") from None
        self.commands_sent += 1
        while True:
            try:
                item = await self._next_item(self._command_timeout)
            except TimeoutError:
                raise AgiCommandError(
                    f"{command}: no reply within {self._command_timeout} s"
                ) from None
            if item is None:
                raise self._gone(f"EOF during {command}")
            if isinstance(item, AgiHangupLine):
                raise self._gone(f"HANGUP during {command}")
            if item.code == 100:
                continue
            if item.code == 200:
                return item
            if item.code == 511:
                raise self._gone(f"511 dead channel on {command}")
            if item.code == 520:
                raise AgiCommandError(f"{command}: invalid syntax (520). {item.usage.strip()}".strip())
            if item.code == 510:
                raise AgiCommandError(f"{command}: invalid or unknown command (510)")
            raise AgiCommandError(f"{command}: unexpected reply {item.line!r}")

    async def _failed(self, command: str, response: AgiResponse) -> AgiCommandError:
        """``result=-1`` means failure *or* hangup; Asterisk sends HANGUP right after a hangup.

        Wait briefly for it (or EOF): then it is :class:`AgiHangup`, else a command error.
        """
        try:
            item = await self._next_item(self._hangup_grace)
        except TimeoutError:
            item = AgiResponse(code=0, line="")
        if item is None or isinstance(item, AgiHangupLine):
            raise self._gone(f"{command} returned -1, then {'EOF' if item is None else 'HANGUP'}")
        return AgiCommandError(f"{command} failed ({response.line})")

    async def _checked(self, command: str, *args: str | int | float) -> AgiResponse:
        response = await self.command(command, *args)
        if response.result is not None and response.result < 0:
            raise await self._failed(command, response)
        return response

    # -- commands --------------------------------------------------------------------------

    async def answer(self) -> None:
        await self._checked("ANSWER")

    async def stream_file(self, name: str, escape_digits: str = "") -> tuple[str | None, int]:
        """Play ``name`` (no extension); returns (digit pressed or None, end position in samples)."""
        response = await self._checked("STREAM FILE", name, Quoted(escape_digits))
        digit = chr(response.result) if response.result else None
        return digit, response.endpos or 0

    async def get_data(
        self, prompt: str, timeout: float | None = None, max_digits: int | None = None
    ) -> GetDataResult:
        """Play ``prompt`` and collect digits (``#`` ends input). ``timeout`` in seconds."""
        args: list[str | int] = [prompt]
        if timeout is not None or max_digits is not None:
            args.append(int(round((timeout or 0) * 1000)))
        if max_digits is not None:
            args.append(max_digits)
        response = await self.command("GET DATA", *args)
        if response.result_raw == "-1":
            raise await self._failed("GET DATA", response)
        return GetDataResult(response.result_raw, response.data == "timeout")

    async def wait_for_digit(self, timeout: float | None) -> str | None:
        """A digit, or None after ``timeout`` seconds (None waits forever)."""
        ms = -1 if timeout is None else int(round(timeout * 1000))
        response = await self._checked("WAIT FOR DIGIT", ms)
        return chr(response.result) if response.result else None

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        response = await self._checked("SAY DIGITS", digits, Quoted(escape_digits))
        return chr(response.result) if response.result else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, Quoted(value))

    async def get_variable(self, name: str) -> str | None:
        """The value, or None when the variable is not set (``result=0``)."""
        response = await self.command("GET VARIABLE", name)
        return response.data if response.result == 1 else None

    async def exec(self, app: str, args: str = "") -> int:
        """Run a dialplan application; returns its result (0 normally). -2: no such application."""
        response = await (self.command("EXEC", app, Quoted(args)) if args else self.command("EXEC", app))
        result = response.result if response.result is not None else 0
        if result == -2:
            raise AgiCommandError(f"EXEC {app}: no such application in Asterisk")
        if result < 0:
            raise await self._failed(f"EXEC {app}", response)
        return result

    async def audiosocket(self, uuid: str, target: str) -> int:
        """Hand the caller's audio to an AudioSocket server (``EXEC AudioSocket "uuid,host:port"``).

        Returns when that server sends a hangup message or closes; the flow then goes on.
        """
        return await self.exec("AudioSocket", f"{uuid},{target}")

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", Quoted(message), level)

    async def hangup(self) -> None:
        """Hang up the caller. Later commands raise AgiHangup without being sent."""
        if self.hung_up:
            return
        await self.command("HANGUP")
        self.hung_up = True
