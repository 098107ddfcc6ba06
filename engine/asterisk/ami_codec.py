"""AMI framing without I/O: feed bytes, take messages; serialize actions.

Why a codec of our own: panoramisk decodes each TCP chunk on its own, so a UTF-8 caller
name cut by a read boundary loses bytes. Here bytes are split into lines first and each
complete line is decoded, so a character can never be cut. The banner arrives with no
blank line after it (see the recordings), header names are case-insensitive, repeated
headers are kept, and CRLF or bare LF both end a line.

Work is linear in the bytes fed: each byte is searched for line ends once (no rescans of a
growing buffer), and headers are split with ``str.partition``, not a regular expression (the
one this replaced backtracked quadratically on a long line of spaces: 16 KB took seconds).
A line longer than ``MAX_LINE`` or a message longer than ``MAX_MESSAGE`` is an
:class:`AmiProtocolError`; the codec then drops that message up to the next blank line and
goes on, and a transport closes the connection (the peer is out of step).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from engine.asterisk.errors import AmiProtocolError

BANNER_PREFIX = "Asterisk Call Manager/"
BANNER_PREFIX_BYTES = BANNER_PREFIX.encode()
# Limits on what a peer may send. Asterisk's longest lines are channel variables and Command
# output, far below these. Bytes while a message is still arriving; characters once it is
# whole (the same for ASCII).
MAX_LINE = 64 * 1024
MAX_MESSAGE = 1024 * 1024
MAX_HEADERS = 4096


def _past_blank_line(buf: bytearray, end: int) -> int:
    """Where the message after the blank line found at ``end`` (LF LF or LF CR LF) begins."""
    return end + (2 if buf[end + 1] == 0x0A else 3)


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
    _line_start: int = 0  # where the unfinished last line of ``_buf`` starts
    _skipping: bool = False  # after an over-long message: dropping bytes up to the next blank line

    def feed(self, data: bytes) -> None:
        """Take bytes as they came off the socket; complete messages become items.

        Everything up to the last blank line in the buffer is cut at the byte level and
        decoded at once, so a UTF-8 character split across reads is always joined again;
        the unfinished tail waits for more bytes. Only the new bytes are searched (the tail
        holds no blank line), so a message fed one byte at a time costs no more than whole.
        Raises :class:`AmiProtocolError` for a message over the limits, after queueing every
        good message of ``data``.
        """
        buf = self._buf
        start = max(len(buf) - 2, 0)  # a line end or blank line in the new bytes starts here or later
        buf += data
        if self._skipping:
            if not self._resync(start):
                return
            start = 0
        if not self._seen_banner:
            nl = buf.find(b"\n", start)
            if nl < 0:
                self._check_tail()
                return
            if buf.startswith(BANNER_PREFIX_BYTES):
                self._out.append(AmiBanner(bytes(buf[:nl]).rstrip(b"\r").decode("utf-8", "replace")))
                del buf[: nl + 1]
                start = 0
            self._seen_banner = True  # without a banner (a recording cut after it) parse on
        nl = buf.rfind(b"\n", start)
        if nl >= 0:
            self._line_start = nl + 1
        end = max(buf.rfind(b"\n\n", start), buf.rfind(b"\n\r\n", start))
        text = ""
        if end >= 0:
            cut = _past_blank_line(buf, end)
            text = buf[:cut].decode("utf-8", "replace")
            del buf[:cut]
            self._line_start -= cut
        try:
            self._blocks(text)
        finally:
            self._check_tail()

    def _check_tail(self) -> None:
        """The unfinished message may not outgrow the limits while it waits for its end."""
        buf = self._buf
        if len(buf) - self._line_start > MAX_LINE:
            problem = f"AMI line longer than {MAX_LINE} bytes"
        elif len(buf) > MAX_MESSAGE:
            problem = f"AMI message longer than {MAX_MESSAGE} bytes without an end"
        else:
            return
        self._seen_banner = self._skipping = True
        del buf[:-2]  # the last bytes may begin the blank line that ends the bad message
        self._line_start = 0
        raise AmiProtocolError(problem)

    def _resync(self, start: int) -> bool:
        """Drop bytes up to and with the next blank line; False while there is none yet."""
        buf = self._buf
        ends = [i for i in (buf.find(b"\n\n", start), buf.find(b"\n\r\n", start)) if i >= 0]
        if not ends:
            del buf[:-2]
            return False
        end = min(ends)
        del buf[: _past_blank_line(buf, end)]
        self._skipping = False
        self._line_start = 0
        return True

    def _blocks(self, text: str) -> None:
        """Parse every message of ``text``; a bad one is dropped and reported after the others."""
        if "\r" in text:
            text = text.replace("\r", "")
        error: AmiProtocolError | None = None
        for block in text.split("\n\n"):
            try:
                self._block(block)
            except AmiProtocolError as exc:
                error = error or exc
        if error is not None:
            raise error

    def _block(self, text: str) -> None:
        text = text.strip("\n")
        if not text:
            return
        if len(text) > MAX_LINE:
            if len(text) > MAX_MESSAGE:
                raise AmiProtocolError(f"AMI message longer than {MAX_MESSAGE} characters")
            if max(map(len, text.split("\n"))) > MAX_LINE:
                raise AmiProtocolError(f"AMI line longer than {MAX_LINE} characters")
        pairs = []
        for line in text.split("\n"):
            key, sep, value = line.partition(":")
            if not sep:
                # Old-style ``Response: Follows`` command output lines carry no colon; keep them.
                pairs.append(("Output", line))
            else:
                pairs.append((key.strip(), value[1:] if value[:1] == " " else value))
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
        if self._buf.strip() and not self._skipping:
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
