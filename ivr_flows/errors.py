"""Errors of ``ivr_flows``, split by whose fault they are.

``FlowLoadError``: the flow file is wrong (the author's fault); it names the file, the line
and the node id so that operations staff can fix it without reading code.
``FlowRuntimeError``: the runner was driven wrongly (an event that does not fit the state):
a programming error on the adapter's side, never the caller's.
"""

from __future__ import annotations

from engine.errors import HotlineError


class FlowError(HotlineError):
    """Root of the IVR flow errors."""


class FlowLoadError(FlowError):
    """One defect in a flow file, with where it is."""

    def __init__(self, file: str, line: int | None, message: str, node: str | None = None) -> None:
        self.file = file
        self.line = line
        self.node = node
        self.message = message
        super().__init__(self.format())

    def format(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        who = f" node '{self.node}':" if self.node else ""
        return f"{where}:{who} {self.message}"


class FlowValidationError(FlowError):
    """Every defect found in one or more flow files (each a ``FlowLoadError``)."""

    def __init__(self, errors: list[FlowLoadError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(e.format() for e in self.errors))


class FlowRuntimeError(FlowError):
    """The runner got an event that does not fit its state (the driver's bug)."""
