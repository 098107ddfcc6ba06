"""Shared test fixtures: where the Asterisk recordings are; a real PostgreSQL and the store backends."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("HOTLINE_FIXTURES", ROOT.parent / "shared" / "fixtures" / "asterisk"))


@pytest.fixture(scope="session")
def asterisk_fixtures() -> Path:
    """The recordings from a real Asterisk (read-only ground truth)."""
    assert FIXTURES.is_dir(), f"Asterisk recordings not found at {FIXTURES}; set HOTLINE_FIXTURES"
    return FIXTURES


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the whole session (tests/postgres_helpers.py), stopped and
    removed at its end; tests get a schema of their own from ``pg_url``."""
    from tests.postgres_helpers import Postgres

    server = Postgres()
    server.start()
    yield server
    server.stop()


_schemas = itertools.count(1)


@pytest.fixture
def pg_url(postgres) -> str:
    """A URL whose ``search_path`` is a fresh, empty schema (dropped after the test)."""
    name = f"test_{os.getpid()}_{next(_schemas)}"
    postgres.execute(f"CREATE SCHEMA {name}")
    yield postgres.url(schema=name)
    postgres.execute(f"DROP SCHEMA {name} CASCADE")


class Backend:
    """A store of one backend for a test: ``open(**kwargs)`` opens it (the same store each time),
    ``toml`` is its ``[store]`` line for a config file."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target

    def open(self, **kwargs):
        if self.name == "sqlite":
            from engine.store import Store

            return Store.open(self.target, **kwargs)
        from engine.store.pg_store import PgStore

        return PgStore.open(self.target, **kwargs)

    @property
    def toml(self) -> str:
        key = "path" if self.name == "sqlite" else "url"
        return f'{key} = "{self.target}"'

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> Backend:
    """Runs a test on each store backend: SQLite (a file in tmp_path) and PostgreSQL (a schema of
    the session's server)."""
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "h.sqlite"))
    return Backend("postgres", request.getfixturevalue("pg_url"))
