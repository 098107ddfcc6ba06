"""The supervisor web app under aiohttp's test client, shared by the web API tests: the two
tokens, their header, and a started client over a store file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from engine.store import AsyncStore
from engine.web import LiveHub, WebSettings, create_app
from engine.web.app import WALLBOARD

TOKEN = "viewer-token-123"
PRIV = "privileged-token-456"


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def start_client(db: Path, *, readonly: bool = False, hub: LiveHub | None = None, wallboard: Any = None,
                       **settings: Any) -> tuple[TestClient, AsyncStore]:
    """A started test client of the app over the store ``db`` (close both when done); ``settings``
    are ``WebSettings`` fields besides the two tokens."""
    store = await AsyncStore.open(db, readonly=readonly)
    app = create_app(store, WebSettings(token=TOKEN, privileged_token=PRIV, **settings), hub)
    if wallboard is not None:
        app[WALLBOARD] = wallboard
    client = TestClient(TestServer(app))
    await client.start_server()
    return client, store
