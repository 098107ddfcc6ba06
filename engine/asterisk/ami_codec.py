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
MAX_HEADERS = 4096
# One ``Key: Value`` line (the space after the colon is optional).
_HEADER = re.compile(r"^ *([^:\n]*[^:\n ]) *: ?(.*)$", re.MULTILINE)


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

    @property
    def by_name(self) -> Mapping[str, str]:
        """First value of each header by lower-cased name (read-only use)."""
        return self._index

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
    _out: deque[AmiItem] = field(default_factory=deque)
    _open_lists: dict[str, tuple[AmiMessage, list[AmiMessage]]] = field(default_factory=dict)
    _seen_banner: bool = False

    def feed(self, data: bytes) -> None:
        """Take bytes as they came off the socket; complete messages become items.

        Everything up to the last blank line in the buffer is cut at the byte level and
        decoded at once, so a UTF-8 character split across reads is always joined again;
        the unfinished tail waits for more bytes.
        """
        buf = self._buf
        buf += data
        pos = 0
        if not self._seen_banner:
            nl = buf.find(b"\n")
            if nl < 0:
                self._check_size()
                return
            if buf.startswith(BANNER_PREFIX_BYTES):
                self._out.append(AmiBanner(bytes(buf[:nl]).rstrip(b"\r").decode("utf-8", "replace")))
                pos = nl + 1
            self._seen_banner = True  # without a banner (a recording cut after it) parse on
        end = max(buf.rfind(b"\n\n", pos), buf.rfind(b"\n\r\n", pos))
        if end < 0:
            if pos:
                del buf[:pos]
            self._check_size()
            return
        cut = end + (2 if buf[end + 1] == 0x0A else 3)
        text = buf[pos:cut].decode("utf-8", "replace")
        del buf[:cut]
        self._blocks(text)

    def _check_size(self) -> None:
        if len(self._buf) > MAX_MESSAGE:
            raise AmiProtocolError(f"AMI message longer than {MAX_MESSAGE} bytes without an end")

    def _blocks(self, text: str) -> None:
        if "\r" in text:
            text = text.replace("\r", "")
        for block in text.split("\n\n"):
            self._block(block)

    def _block(self, text: str) -> None:
        text = text.strip("\n")
        if not text:
            return
        pairs = _HEADER.findall(text)
        if len(pairs) != text.count("\n") + 1:  # a line without a colon: the careful way
            pairs = []
            for line in text.split("\n"):
                key, sep, value = line.partition(":")
                if not sep:
                    # Old-style ``Response: Follows`` command output lines carry no colon; keep them.
                    key, value = "Output", line
                elif value[:1] == " ":
                    value = value[1:]
                pairs.append((key.strip(), value))
        if len(pairs) > MAX_HEADERS:
            raise AmiProtocolError(f"AMI message with more than {MAX_HEADERS} headers")
        self._message(AmiMessage(tuple(pairs)))

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
            self._blocks(bytes(self._buf).decode("utf-8", errors="replace"))
        self._buf.clear()
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


def serialize_message(message: AmiMessage | Mapping[str, object] | Iterable[tuple[str, object]]) -> bytes:
    """Any message (a simulator's event or response) in wire form; header pairs in order will
    do, no need to build an ``AmiMessage`` (and its index) just to write it."""
    if isinstance(message, AmiMessage):
        pairs: Iterable[tuple[str, object]] = message.headers
    elif isinstance(message, Mapping):
        pairs = message.items()
    else:
        pairs = message
    return ("".join(f"{_clean(k)}: {_clean(v)}\r\n" for k, v in pairs) + "\r\n").encode("utf-8")
