"""FastAGI framing without I/O: feed bytes, take the request header and replies; serialize commands.

Why a codec of our own rather than panoramisk's ``parse_agi_result``: that parser drops the
last character of each line, reads ``(data)`` with a greedy regex, cannot read a multi-line
520 usage reply, and raises on an empty line at EOF. Here bytes are cut into lines first and
each complete line is decoded, so a UTF-8 caller name split across TCP reads arrives intact.

Wire facts (Asterisk ``res/res_agi.c``, and ``fastagi_session.txt``):
- The request header is ``agi_key: value`` lines ended by one blank line; ``agi_network`` and
  ``agi_network_script`` come first, AGI() arguments follow as ``agi_arg_N``.
- A reply is one line ``200 result=N [(data)] [key=value ...]``, or ``510 Invalid or unknown
  command``, ``511 Command Not Permitted on a dead channel or intercept routine``, or a 520
  usage reply (one line, or ``520-...`` lines ending with ``520 End of proper usage.``).
- ``HANGUP`` is sent on its own line when the channel hangs up (AGISIGHUP), at any moment.
- Arguments are split on blanks; double quotes group, backslash escapes the next character.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from engine.asterisk.errors import AgiProtocolError, LocalProtocolError
from engine.privacy import mask_number

MAX_LINE = 16 * 1024
MAX_HEADER_LINES = 256
MAX_USAGE_LINES = 200

_KV_TAIL = re.compile(r"^(?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*\s*$")
_KV = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\S*)")


@dataclass(frozen=True)
class AgiRequest:
    """The ``agi_*`` header of one FastAGI session.

    ``script`` is the bare script name (``main_menu`` for ``agi://host/main_menu?lang=zh``),
    ``query`` its parameters; every raw header is kept in ``headers``. Caller number and name
    are left out of ``repr`` (personal data); ``masked_callerid`` is safe to show.
    """

    headers: tuple[tuple[str, str], ...] = field(repr=False)
    network_script: str = ""
    script: str = ""
    query: tuple[tuple[str, str], ...] = ()
    request: str = ""
    channel: str = ""
    language: str = ""
    type: str = ""
    uniqueid: str = ""
    version: str = ""
    callerid: str = field(default="", repr=False)
    calleridname: str = field(default="", repr=False)
    callingpres: str = ""
    dnid: str = field(default="", repr=False)
    rdnis: str = field(default="", repr=False)
    context: str = ""
    extension: str = ""
    priority: str = ""
    enhanced: str = ""
    accountcode: str = ""
    threadid: str = ""
    args: tuple[str, ...] = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        """A raw header by name, with or without the ``agi_`` prefix."""
        key = name if name.startswith("agi_") else "agi_" + name
        for k, v in self.headers:
            if k == key:
                return v
        return default

    @property
    def params(self) -> dict[str, str]:
        """The ``?query`` parameters as a dict (last value wins)."""
        return dict(self.query)

    @property
    def masked_callerid(self) -> str:
        return mask_number(self.callerid) or ""

    @classmethod
    def from_headers(cls, headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> AgiRequest:
        h = dict(headers)
        network_script = h.get("agi_network_script", "")
        script, _, query = network_script.partition("?")
        args = []
        n = 1
        while f"agi_arg_{n}" in h:
            args.append(h[f"agi_arg_{n}"])
            n += 1
        return cls(
            headers=tuple(headers),
            network_script=network_script,
            script=script.strip("/"),
            query=tuple(parse_qsl(query, keep_blank_values=True)),
            request=h.get("agi_request", ""),
            channel=h.get("agi_channel", ""),
            language=h.get("agi_language", ""),
            type=h.get("agi_type", ""),
            uniqueid=h.get("agi_uniqueid", ""),
            version=h.get("agi_version", ""),
            callerid=h.get("agi_callerid", ""),
            calleridname=h.get("agi_calleridname", ""),
            callingpres=h.get("agi_callingpres", ""),
            dnid=h.get("agi_dnid", ""),
            rdnis=h.get("agi_rdnis", ""),
            context=h.get("agi_context", ""),
            extension=h.get("agi_extension", ""),
            priority=h.get("agi_priority", ""),
            enhanced=h.get("agi_enhanced", ""),
            accountcode=h.get("agi_accountcode", ""),
            threadid=h.get("agi_threadid", ""),
            args=tuple(args),
        )

    def to_bytes(self) -> bytes:
        """The header as Asterisk sends it (for the PBX simulator)."""
        lines = [f"{k}: {v}\n" for k, v in self.headers]
        return ("".join(lines) + "\n").encode("utf-8")


@dataclass(frozen=True)
class AgiResponse:
    """One reply to a command.

    ``code`` is 200, 510, 511, 520 (or 100 for ``Trying...``). For 200, ``result_raw`` is the
    text after ``result=`` (GET DATA returns digits, so it is not always a number), ``result`` the
    integer when it is one, ``data`` the text in parentheses (``13800000001`` for GET VARIABLE,
    ``timeout`` for GET DATA), ``fields`` the ``key=value`` pairs (``endpos``). ``usage`` is the
    usage text of a 520 reply.
    """

    code: int
    line: str
    result_raw: str = ""
    data: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    usage: str = ""

    @property
    def result(self) -> int | None:
        try:
            return int(self.result_raw)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return self.code == 200

    def field(self, name: str) -> str | None:
        for k, v in self.fields:
            if k == name:
                return v
        return None

    @property
    def endpos(self) -> int | None:
        value = self.field("endpos")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None


@dataclass(frozen=True)
class AgiHangupLine:
    """The ``HANGUP`` line Asterisk sends when the caller hangs up (may arrive at any moment)."""


AgiItem = AgiRequest | AgiResponse | AgiHangupLine


def parse_reply_line(line: str) -> AgiResponse | AgiHangupLine:
    """Parse one complete reply line (not the 520 continuation lines)."""
    text = line.rstrip("\r\n")
    if text.strip() == "HANGUP":
        return AgiHangupLine()
    code_text, _, rest = text.partition(" ")
    if len(code_text) != 3 or not code_text.isdigit():
        raise AgiProtocolError(f"AGI reply does not start with a 3-digit code: {text[:80]!r}")
    code = int(code_text)
    if code not in (100, 200):
        return AgiResponse(code=code, line=text)
    if not rest.startswith("result="):
        raise AgiProtocolError(f"AGI {code} reply without result=: {text[:80]!r}")
    rest = rest[len("result="):]
    result_raw, sep, tail = rest.partition(" ")
    if not sep:
        return AgiResponse(code=code, line=text, result_raw=result_raw)
    data = None
    kv_text = " " + tail
    stripped = tail.lstrip()
    if stripped.startswith("("):
        # data may itself hold parentheses or blanks: take the last ')' after which only
        # key=value pairs follow.
        body = stripped[1:]
        pos = len(body)
        while True:
            pos = body.rfind(")", 0, pos)
            if pos < 0:
                break
            if _KV_TAIL.match(body[pos + 1:]):
                data = body[:pos]
                kv_text = body[pos + 1:]
                break
        if data is None:
            raise AgiProtocolError(f"AGI reply with unclosed '(': {text[:80]!r}")
    fields = tuple(_KV.findall(kv_text))
    return AgiResponse(code=code, line=text, result_raw=result_raw, data=data, fields=fields)


class AgiCodec:
    """Incremental FastAGI reader, for either side.

    ``AgiCodec()`` reads what Asterisk sends: the request header first (one ``AgiRequest``),
    then replies. ``AgiCodec(expect_header=False)`` reads replies only.
    """

    def __init__(self, *, expect_header: bool = True) -> None:
        self._buf = bytearray()
        self._items: deque[AgiItem] = deque()
        self._in_header = expect_header
        self._header: list[tuple[str, str]] = []
        self._usage: list[str] | None = None
        self._usage_first = ""

    @property
    def header_done(self) -> bool:
        return not self._in_header

    def feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > MAX_LINE:
                    raise AgiProtocolError(f"AGI line longer than {MAX_LINE} bytes")
                return
            raw = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            self._line(raw.decode("utf-8", errors="replace"))

    def _line(self, line: str) -> None:
        if self._in_header:
            if line == "":
                if not self._header:
                    return  # stray blank line before the header
                self._in_header = False
                self._items.append(AgiRequest.from_headers(self._header))
                return
            key, sep, value = line.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiProtocolError(f"AGI request header line is not 'agi_key: value': {line[:80]!r}")
            if len(self._header) >= MAX_HEADER_LINES:
                raise AgiProtocolError(f"AGI request header longer than {MAX_HEADER_LINES} lines")
            self._header.append((key, value[1:] if value.startswith(" ") else value))
            return
        if self._usage is not None:
            if line.startswith("520 "):
                self._items.append(
                    AgiResponse(code=520, line=self._usage_first, usage="\n".join(self._usage))
                )
                self._usage = None
            else:
                if len(self._usage) >= MAX_USAGE_LINES:
                    raise AgiProtocolError("AGI 520 usage reply never ends")
                self._usage.append(line)
            return
        if line.startswith("520-"):
            self._usage = []
            self._usage_first = line
            return
        if line == "":
            return  # Asterisk never sends empty reply lines; tolerate them
        self._items.append(parse_reply_line(line))

    def next_item(self) -> AgiItem | None:
        return self._items.popleft() if self._items else None

    def items(self) -> list[AgiItem]:
        out = list(self._items)
        self._items.clear()
        return out

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)


class Quoted(str):
    """An argument that is always sent in double quotes (as Asterisk's own examples do)."""


def quote_arg(arg: str | int | float, *, force: bool = False) -> str:
    """One AGI argument as res_agi's ``parse_args`` will read it back."""
    text = str(arg)
    if "\n" in text or "\r" in text or "\0" in text:
        raise LocalProtocolError(f"AGI argument may not contain a line break or NUL: {text[:40]!r}")
    needs = force or isinstance(arg, Quoted) or text == "" or any(c in text for c in ' \t"\\')
    if not needs:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_command(command: str, *args: str | int | float) -> bytes:
    """``serialize_command("STREAM FILE", "hotline/hello", Quoted("0123456789"))``."""
    if not command or "\n" in command or "\r" in command:
        raise LocalProtocolError(f"bad AGI command: {command!r}")
    parts = [command] + [quote_arg(a) for a in args]
    return (" ".join(parts) + "\n").encode("utf-8")


def split_command(line: str) -> list[str]:
    """Split a command line as res_agi's ``parse_args`` does (for the PBX simulator)."""
    argv: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    in_word = False
    for ch in line.rstrip("\r\n"):
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and not in_word:
                in_word = True
            continue
        if ch in " \t" and not quoted and not escaped:
            if in_word:
                argv.append("".join(cur))
                cur = []
                in_word = False
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        in_word = True
        cur.append(ch)
        escaped = False
    if in_word:
        argv.append("".join(cur))
    return argv


def format_reply(result: int | str, data: str | None = None, **fields: object) -> bytes:
    """A ``200 result=...`` line as Asterisk writes it (for the PBX simulator)."""
    text = f"200 result={result}"
    if data is not None:
        text += f" ({data})"
    for k, v in fields.items():
        text += f" {k}={v}"
    return (text + "\n").encode("utf-8")


INVALID_COMMAND = b"510 Invalid or unknown command\n"
DEAD_CHANNEL = b"511 Command Not Permitted on a dead channel or intercept routine\n"
HANGUP_LINE = b"HANGUP\n"


def usage_reply(usage: str) -> bytes:
    return ("520-Invalid command syntax.  Proper usage follows:\n" + usage.rstrip("\n") + "\n520 End of proper usage.\n").encode(
        "utf-8"
    )
