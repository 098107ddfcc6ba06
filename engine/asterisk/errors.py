"""Errors of the Asterisk wire layer, split by whose fault they are (as h11 does).

``RemoteProtocolError``: the peer (Asterisk or a caller's channel) sent something wrong.
``LocalProtocolError``: this side asked for something the protocol does not allow.
Foreign exceptions (panoramisk, OSError) are translated into these at the boundary.
"""

from __future__ import annotations


class AsteriskError(Exception):
    """Root of the wire layer's errors."""


class RemoteProtocolError(AsteriskError):
    """The peer broke the protocol (bad framing, unexpected reply)."""


class LocalProtocolError(AsteriskError):
    """We tried to send something the protocol does not allow."""


class AmiProtocolError(RemoteProtocolError):
    """AMI bytes that cannot be parsed."""


class AmiAuthError(AsteriskError):
    """Login refused (wrong user or secret). Asterisk closes the connection after it."""


class AmiConnectionError(AsteriskError):
    """Could not reach the AMI server, or it went away."""


class AmiActionError(AsteriskError):
    """An action answered ``Response: Error``; ``message`` is Asterisk's own text."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI action {action} failed: {message}")
        self.action = action
        self.message = message


class AgiError(AsteriskError):
    """Root of FastAGI errors."""


class AgiHangup(AgiError):
    """The caller hung up (511, HANGUP, or EOF) while a command was running."""


class AgiCommandError(AgiError):
    """A command was rejected (510 invalid, 520 usage)."""


class AgiProtocolError(AgiError, RemoteProtocolError):
    """FastAGI bytes that cannot be parsed (bad header line, reply without a code)."""


class AudioSocketError(RemoteProtocolError):
    """Malformed AudioSocket framing; closes that one session."""


class AudioSocketSessionEnded(AsteriskError):
    """``wait_session()`` for a UUID whose session already ended: only its counters are kept."""
