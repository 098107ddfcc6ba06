"""Shared test fixtures: where the Asterisk recordings are."""

from __future__ import annotations

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
