"""Errors of the call-taker package, split by whose fault they are."""

from __future__ import annotations

from engine.errors import HotlineError


class AgentsError(HotlineError):
    """Root of ``agents_adapter`` errors."""


class AgentRequestError(AgentsError):
    """The request was wrong (unknown queue, bad penalty, empty interface): our side."""


class AgentActionRefused(AgentsError):
    """Asterisk refused the action (``Response: Error``); the message is Asterisk's own."""

    def __init__(self, action: str, interface: str, message: str) -> None:
        super().__init__(f"{action} {interface}: Asterisk refused: {message}")
        self.action = action
        self.interface = interface
        self.message = message
