"""AMI framing without I/O: feed bytes, take messages; serialize actions.

Why a codec of our own: panoramisk decodes each TCP chunk on its own, so a UTF-8 caller
name cut by a read boundary loses bytes. Here bytes are split into lines first and each
complete line is decoded, so a character can never be cut. The banner arrives with no
blank line after it (see the recordings), header names are case-insensitive, repeated
headers are kept, and CRLF or bare LF both end a line.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from engine.asterisk.errors import AmiProtocolError

BANNER_PREFIX = "Asterisk Call Manager/"
MAX_MESSAGE = 1024 * 1024
BANNER_PREFIX_BYTES = BANNER_PREFIX.encode()
# A blank line ends a message; leading blank lines between messages are skipped.
_BLOCK_END = re.compile(rb"\r?\n\r?\n")
MAX_HEADERS = 4096


@dataclass(frozen=True)
class AmiBanner:
    """The greeting line, e.g. ``Asterisk Call Manager/13.0.0``."""

    text: str

    @property
    def version(self) -> str:
        return self.text[len(BANNER_PREFIX):] if self.text.startswith(BANNER_PREFIX) else ""


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message: ordered headers, names compared case-insensitively."""

    headers: tuple[tuple[str, str], ...]
    _index: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # first value of each header by lower-cased name (reversed, so the first one wins)
        object.__setattr__(self, "_index", {k.lower(): v for k, v in reversed(self.headers)})

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._index.get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [value for key, value in self.headers if key.lower() == low]

    def to_dict(self) -> dict[str, str]:
        """First value of each header, keyed by the name as Asterisk cased it."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key, value)
        return out

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    @property
    def is_event(self) -> bool:
        return self.event is not None

    @property
    def is_response(self) -> bool:
        return self.response is not None

    @property
    def is_success(self) -> bool:
        return (self.response or "").lower() in ("success", "goodbye", "follows")


@dataclass(frozen=True)
class AmiListResponse:
    """A list action's answer: the response, its events, and the closing ``...Complete`` event."""

    response: AmiMessage
    events: tuple[AmiMessage, ...]
    complete: AmiMessage | None

    @property
    def action_id(self) -> str | None:
        return self.response.action_id

    @property
    def is_success(self) -> bool:
        return self.response.is_success


AmiItem = AmiBanner | AmiMessage | AmiListResponse


@dataclass
class AmiCodec:
    """Incremental AMI parser.

    ``group_lists``: when true, a response carrying ``EventList: start`` is held back and the
    events with its ActionID are gathered until ``EventList: Complete``; then one
    :class:`AmiListResponse` comes out. Other events pass through as they arrive.
    """

    group_lists: bool = True
    _buf: bytearray = field(default_factory=bytearray)
    _lines: list[tuple[str, str]] = field(default_factory=list)
    _out: deque[AmiItem] = field(default_factory=deque)
    _open_lists: dict[str, tuple[AmiMessage, list[AmiMessage]]] = field(default_factory=dict)
    _seen_banner: bool = False

    def feed(self, data: bytes) -> None:
        """Take bytes as they came off the socket; complete messages become items.

        A message block (up to its blank line) is cut at the byte level first and decoded
        whole, so a UTF-8 character split across reads is always joined again.
        """
        buf = self._buf
        buf += data
        pos = 0
        size = len(buf)
        while pos < size:
            if not self._seen_banner and not self._lines:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    break
                if buf.startswith(BANNER_PREFIX_BYTES, pos):
                    self._seen_banner = True
                    self._out.append(AmiBanner(bytes(buf[pos:nl]).rstrip(b"\r").decode("utf-8", "replace")))
                    pos = nl + 1
                    continue
                self._seen_banner = True  # no banner (a recording cut after it): parse on
            end = _BLOCK_END.search(buf, pos)
            if end is None:
                break
            block = bytes(buf[pos : end.start()])
            pos = end.end()
            self._block(block.decode("utf-8", "replace"))
        del buf[:pos]
        if len(buf) > MAX_MESSAGE:
            raise AmiProtocolError(f"AMI message longer than {MAX_MESSAGE} bytes without an end")

    def _block(self, text: str) -> None:
        if "\r" in text:
            text = text.replace("\r", "")
        lines = self._lines
        for line in text.split("\n"):
            if not line:
                self._line(line)
                lines = self._lines
                continue
            key, sep, value = line.partition(":")
            if not sep:
                # Old-style ``Response: Follows`` command output lines carry no colon; keep them.
                key, value = "Output", line
            elif value[:1] == " ":
                value = value[1:]
            lines.append((key.strip(), value))
        if len(lines) > MAX_HEADERS:
            raise AmiProtocolError(f"AMI message with more than {MAX_HEADERS} headers")
        self._line("")

    def _line(self, line: str) -> None:
        if not line:
            if self._lines:
                message = AmiMessage(tuple(self._lines))
                self._lines = []
                self._message(message)
            return
        key, sep, value = line.partition(":")
        if not sep:
            # Old-style ``Response: Follows`` command output lines carry no colon; keep them.
            key, value = "Output", line
        elif value[:1] == " ":
            value = value[1:]
        if len(self._lines) >= MAX_HEADERS:
            raise AmiProtocolError(f"AMI message with more than {MAX_HEADERS} headers")
        self._lines.append((key.strip(), value))

    def _message(self, message: AmiMessage) -> None:
        if not self.group_lists:
            self._out.append(message)
            return
        aid = message.action_id
        marker = (message.get("EventList") or "").lower()
        if message.is_response and marker == "start" and aid is not None:
            self._open_lists[aid] = (message, [])
            return
        if message.is_event and aid is not None and aid in self._open_lists:
            response, events = self._open_lists[aid]
            if marker == "complete":
                del self._open_lists[aid]
                self._out.append(AmiListResponse(response, tuple(events), message))
            else:
                events.append(message)
            return
        self._out.append(message)

    def next_item(self) -> AmiItem | None:
        return self._out.popleft() if self._out else None

    def items(self) -> Iterator[AmiItem]:
        while self._out:
            yield self._out.popleft()

    def close(self) -> list[AmiItem]:
        """End of stream: flush a final unterminated message and any unfinished lists."""
        if self._buf.strip():
            self._block(bytes(self._buf).decode("utf-8", errors="replace"))
        self._buf.clear()
        self._line("")
        for response, events in self._open_lists.values():
            self._out.append(AmiListResponse(response, tuple(events), None))
        self._open_lists.clear()
        return list(self.items())


def _clean(value: object) -> str:
    text = str(value)
    if "\r" in text or "\n" in text:
        raise ValueError(f"AMI header value may not contain a line break: {text!r}")
    return text


def serialize_action(
    action: str,
    headers: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    *,
    action_id: str | None = None,
) -> bytes:
    """``Action: X`` + headers + blank line, CRLF, UTF-8. Lists of values repeat the header
    (``Variable: a=1`` twice), as Originate needs."""
    lines = [f"Action: {_clean(action)}"]
    if action_id is not None:
        lines.append(f"ActionID: {_clean(action_id)}")
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if v is None:
                continue
            lines.append(f"{_clean(key)}: {_clean(v)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def serialize_message(message: AmiMessage | Mapping[str, object]) -> bytes:
    """Any message (a simulator's event or response) in wire form."""
    pairs = message.headers if isinstance(message, AmiMessage) else message.items()
    return ("".join(f"{_clean(k)}: {_clean(v)}\r\n" for k, v in pairs) + "\r\n").encode("utf-8")
