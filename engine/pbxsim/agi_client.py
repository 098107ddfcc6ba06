"""PBX simulator: the Asterisk side of a FastAGI session, playing a scripted caller.

It connects to the engine's FastAGI server as Asterisk's ``AGI(agi://host:port/script)`` does,
sends a realistic ``agi_*`` header (same keys and order as ``fastagi_session.txt``), then
answers each command the way Asterisk would for a caller who presses the scripted digits:
``STREAM FILE`` interrupted by an escape digit gives ``200 result=<ASCII> endpos=<n>``, ``GET
DATA`` gives the digits or ``(timeout)``, ``EXEC AudioSocket "<uuid>,host:port"`` really
connects to that AudioSocket server and streams the caller's audio, replying ``200 result=0``
when the server hangs up or the audio ends. Hanging up at command N answers like Asterisk does
(``200 result=-1`` for a media command, then ``HANGUP``; 511 for later commands), or closes
the socket (``hangup_style="eof"``). Every command and reply is kept in ``transcript``.

API (``hotline pbxsim`` wires this in)::

    caller = CallerScript(dtmf=["2", "1234#"], hangup_at=None, audio_file="caller.wav", audio_pace=1.0)
    client = AgiClient("127.0.0.1", agi_port, "main_menu", caller=caller,
                       query="lang=zh", callerid="13800000001", calleridname="张三丰 市民")
    result = await client.run()      # ends when the engine closes the session (or timeout)
    result.transcript                # [(command line, reply text), ...]
    result.audiosocket               # AudioSocketCallResult of each EXEC AudioSocket
    result.variables                 # channel variables after SET VARIABLE

Digits: ``dtmf_by_prompt`` maps a prompt name to what the caller presses during it; otherwise
``dtmf`` is consumed in order by each command that listens for digits ("" = press nothing).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from engine.asterisk.agi_codec import (
    DEAD_CHANNEL,
    HANGUP_LINE,
    INVALID_COMMAND,
    format_reply,
    split_command,
    usage_reply,
)
from engine.asterisk.errors import AudioSocketError
from engine.pbxsim.audiosocket_client import AudioSocketCallResult, AudioSocketClient

MEDIA_COMMANDS = ("ANSWER", "STREAM FILE", "GET DATA", "WAIT FOR DIGIT", "SAY DIGITS", "EXEC", "GET OPTION")
DEAD_OK = ("VERBOSE", "SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "NOOP", "HANGUP")
VERBS = MEDIA_COMMANDS + DEAD_OK
# (verb, its words), longest first so GET FULL VARIABLE wins over GET VARIABLE's prefix
_VERB_WORDS = sorted(((verb, verb.split()) for verb in VERBS), key=lambda vw: -len(vw[1]))
USAGE = {
    "STREAM FILE": " Usage: STREAM FILE <filename> <escape_digits> [sample offset]",
    "GET DATA": " Usage: GET DATA <file to be streamed> [timeout] [max digits]",
    "WAIT FOR DIGIT": " Usage: WAIT FOR DIGIT <timeout>",
    "SAY DIGITS": " Usage: SAY DIGITS <number> <escape digits>",
    "SET VARIABLE": " Usage: SET VARIABLE <variablename> <value>",
    "GET VARIABLE": " Usage: GET VARIABLE <variablename>",
    "EXEC": " Usage: EXEC <application> <options>",
    "VERBOSE": " Usage: VERBOSE <message> <level>",
}
_SEQ = itertools.count(0x75)


@dataclass
class CallerScript:
    """What the simulated caller does."""

    dtmf: list[str] = field(default_factory=list)
    dtmf_by_prompt: dict[str, str] = field(default_factory=dict)
    hangup_at: int | None = None  # 1-based number of the command during which the caller hangs up
    hangup_style: str = "asterisk"  # "asterisk" | "eof" | "hangup_line"
    audio: bytes = b""  # caller's voice for EXEC AudioSocket (slin 8 kHz)
    audio_rate: int = 8000
    audio_file: str = ""  # or a mono 16-bit WAV to stream instead (read at EXEC time)
    audio_pace: float = 1.0  # 1.0 real time; higher is faster; 0 as fast as possible
    audiosocket_linger: float = 2.0  # after the audio ends, wait this long for the server's hangup
    prompt_samples: int = 8000  # endpos reported for a prompt played to the end
    wait_scale: float = 0.0  # fraction of a command's timeout really waited when no digit comes
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class AgiCallResult:
    transcript: list[tuple[str, str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    audiosocket: list[AudioSocketCallResult] = field(default_factory=list)
    caller_hung_up: bool = False
    engine_closed: bool = False
    timed_out: bool = False

    @property
    def commands(self) -> list[str]:
        return [c for c, _ in self.transcript if c]


def _verb(argv: list[str]) -> tuple[str, list[str]]:
    upper = [a.upper() for a in argv]
    for verb, words in _VERB_WORDS:
        if upper[: len(words)] == words:
            return verb, argv[len(words):]
    return "", argv


class AgiClient:
    """One simulated call into the engine's FastAGI server."""

    def __init__(
        self,
        host: str,
        port: int,
        script: str = "main_menu",
        *,
        caller: CallerScript | None = None,
        query: str = "",
        args: tuple[str, ...] = (),
        callerid: str = "13800000001",
        calleridname: str = "Citizen A",
        context: str = "ivr",
        extension: str = "s",
        language: str = "en",
        uniqueid: str | None = None,
        channel: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        seq = next(_SEQ)
        self.host = host
        self.port = port
        self.caller = caller or CallerScript()
        self.timeout = timeout
        network_script = script + (f"?{query}" if query else "")
        self.uniqueid = uniqueid or f"1795881200.{seq}"
        self.channel = channel or f"Local/dtmf@caller-{seq:08x};1"
        headers = [
            ("agi_network", "yes"),
            ("agi_network_script", network_script),
            ("agi_request", f"agi://{host}:{port}/{network_script}"),
            ("agi_channel", self.channel),
            ("agi_language", language),
            ("agi_type", self.channel.split("/", 1)[0]),
            ("agi_uniqueid", self.uniqueid),
            ("agi_version", "GIT-master-f0c1c1a7b7"),
            ("agi_callerid", callerid),
            ("agi_calleridname", calleridname),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", context),
            ("agi_extension", extension),
            ("agi_priority", "2"),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""),
            ("agi_threadid", str(140005464864448 + seq)),
        ]
        headers += [(f"agi_arg_{i}", a) for i, a in enumerate(args, 1)]
        self.headers = headers
        self._dtmf = list(self.caller.dtmf)
        self.variables: dict[str, str] = {
            "CALLERID(num)": callerid,
            "CALLERID(name)": calleridname,
            "UNIQUEID": self.uniqueid,
            "CHANNEL": self.channel,
            **self.caller.variables,
        }

    def header_bytes(self) -> bytes:
        return ("".join(f"{k}: {v}\n" for k, v in self.headers) + "\n").encode("utf-8")

    def _digits_for(self, prompt: str | None) -> str:
        if prompt is not None and prompt in self.caller.dtmf_by_prompt:
            return self.caller.dtmf_by_prompt[prompt]
        return self._dtmf.pop(0) if self._dtmf else ""

    async def _wait(self, timeout_ms: int) -> None:
        if self.caller.wait_scale > 0 and timeout_ms > 0:
            await asyncio.sleep(timeout_ms / 1000 * self.caller.wait_scale)

    async def run(self) -> AgiCallResult:
        result = AgiCallResult()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(self.header_bytes())
            await writer.drain()
            await asyncio.wait_for(self._serve(reader, writer, result), self.timeout)
        except TimeoutError:
            result.timed_out = True
        except (ConnectionError, OSError):
            result.engine_closed = True
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            result.variables = dict(self.variables)
        return result

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, result: AgiCallResult) -> None:
        dead = False
        n = 0
        while True:
            raw = await reader.readline()
            if not raw:
                result.engine_closed = True
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line.strip():
                continue
            n += 1
            if not dead and self.caller.hangup_at is not None and n >= self.caller.hangup_at:
                dead = True
                result.caller_hung_up = True
                style = self.caller.hangup_style
                if style == "eof":
                    result.transcript.append((line, "<EOF>"))
                    return
                if style == "hangup_line":
                    reply = HANGUP_LINE
                else:
                    verb, _ = _verb(split_command(line))
                    if verb in MEDIA_COMMANDS:
                        minus = b"200 result=-1 endpos=0\n" if verb == "STREAM FILE" else b"200 result=-1\n"
                        reply = minus + HANGUP_LINE
                    else:
                        reply = HANGUP_LINE + await self._answer(line, result, dead=True)
                writer.write(reply)
                await writer.drain()
                result.transcript.append((line, reply.decode("utf-8").rstrip("\n")))
                continue
            reply = await self._answer(line, result, dead=dead)
            writer.write(reply)
            await writer.drain()
            result.transcript.append((line, reply.decode("utf-8").rstrip("\n")))
            if line.strip().upper() == "HANGUP" and not dead:
                dead = True  # the channel is gone now: Asterisk says so asynchronously
                writer.write(HANGUP_LINE)
                await writer.drain()
                result.transcript.append(("", "HANGUP"))

    async def _answer(self, line: str, result: AgiCallResult, *, dead: bool) -> bytes:
        verb, args = _verb(split_command(line))
        if not verb:
            return INVALID_COMMAND
        if dead and verb not in DEAD_OK:
            return DEAD_CHANNEL
        try:
            return await self._command(verb, args, result)
        except (IndexError, ValueError):
            return usage_reply(USAGE.get(verb, f" Usage: {verb}"))

    async def _command(self, verb: str, args: list[str], result: AgiCallResult) -> bytes:
        caller = self.caller
        if verb in ("ANSWER", "NOOP"):
            return format_reply(0)
        if verb == "STREAM FILE":
            if len(args) < 2:
                raise IndexError
            name, escape = args[0], args[1]
            # a prompt without escape digits cannot be interrupted: it uses up no scripted digit
            pressed = self._digits_for(name) if escape or name in caller.dtmf_by_prompt else ""
            if pressed and pressed[0] in escape:
                return format_reply(ord(pressed[0]), endpos=caller.prompt_samples // 2)
            return format_reply(0, endpos=caller.prompt_samples)
        if verb == "GET DATA":
            prompt = args[0]
            timeout_ms = int(args[1]) if len(args) > 1 else 0
            max_digits = int(args[2]) if len(args) > 2 else 1024
            pressed = self._digits_for(prompt)
            digits = pressed.split("#", 1)[0][:max_digits]
            if "#" in pressed or len(digits) >= max_digits:
                return format_reply(digits)
            await self._wait(timeout_ms)
            return format_reply(digits, "timeout")
        if verb == "WAIT FOR DIGIT":
            timeout_ms = int(args[0])
            pressed = self._digits_for(None)
            if pressed:
                return format_reply(ord(pressed[0]))
            await self._wait(timeout_ms)
            return format_reply(0)
        if verb == "SAY DIGITS":
            if len(args) < 2:
                raise IndexError
            int(args[0])
            pressed = self._digits_for(None) if args[1] else ""
            return format_reply(ord(pressed[0]) if pressed and pressed[0] in args[1] else 0)
        if verb == "SET VARIABLE":
            self.variables[args[0]] = args[1]
            return format_reply(1)
        if verb in ("GET VARIABLE", "GET FULL VARIABLE"):
            value = self.variables.get(args[0])
            return format_reply(1, value) if value is not None else format_reply(0)
        if verb == "VERBOSE":
            return format_reply(1)
        if verb == "HANGUP":
            return format_reply(1)
        if verb == "EXEC":
            app = args[0]
            data = args[1] if len(args) > 1 else ""
            if app.lower() == "audiosocket":
                return await self._audiosocket(data, result)
            if app.lower() in ("wait", "playback", "noop", "set", "verbose"):
                return format_reply(0)
            return format_reply(-2)
        return INVALID_COMMAND

    async def _audiosocket(self, data: str, result: AgiCallResult) -> bytes:
        """What app_audiosocket does: connect, stream the caller, return when either side ends."""
        uuid, _, target = data.partition(",")
        host, _, port = target.rpartition(":")
        caller = self.caller
        try:
            client = AudioSocketClient(
                host or "127.0.0.1",
                int(port),
                uuid,
                pace=caller.audio_pace,
                linger=caller.audiosocket_linger,
            )
            if caller.audio_file:
                call = await client.stream_wav(caller.audio_file)
            else:
                call = await client.stream(caller.audio or bytes(320), caller.audio_rate)
        except (ValueError, OSError, TimeoutError, AudioSocketError):
            return format_reply(-1)  # Asterisk: "Failed to connect to AudioSocket service"
        result.audiosocket.append(call)
        return format_reply(0)
