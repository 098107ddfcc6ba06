"""Booked callbacks kept in the call store, so that an engine restart does not lose them.

A citizen who took the callback offer hung up on a promise; before this, the bookings lived in
the engine's memory only and a restart (a deploy, a crash) forgot every pending one. Now each
booking and each change of its status is written to the store (``callbacks`` table, one row per
node and callback id), and at start the engine restores its node's pending ones into the
callback manager. The number is kept only while the callback is pending.
"""

from __future__ import annotations

import logging
from typing import Any

from engine.store.records import StoredCallback
from ivr_flows.callback import CallbackManager, CallbackRequest

log = logging.getLogger(__name__)


class CallbackKeeper:
    """Writes ``manager``'s callbacks to ``store`` as they change; ``restore`` reads them back."""

    def __init__(self, store: Any, manager: CallbackManager, node: str) -> None:
        self.store = store
        self.manager = manager
        self.node = node
        manager.on_change = self.save

    def save(self, req: CallbackRequest, now: float) -> None:
        """The manager's ``on_change``: queued on the store's writer (a failed write is logged
        and counted there, never raised into the call path)."""
        self.store.submit_callback(StoredCallback(req.id, self.node, req.linkedid, req.queue, req.number,
                                                  req.priority, req.booked_at, req.status, req.attempts))

    async def restore(self, now: float) -> list[CallbackRequest]:
        """This node's pending callbacks, back in the manager (then saved as it changes them)."""
        stored, last_id = await self.store.pending_callbacks(self.node)
        restored = self.manager.restore(stored, last_id, now)
        if restored:
            log.info("callbacks: %d pending from before the restart restored (next after %s)", len(restored), last_id)
        return restored
