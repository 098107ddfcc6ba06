"""Errors of the call-record store, split by whose fault they are."""

from __future__ import annotations

from engine.errors import HotlineError


class StoreError(HotlineError):
    """Root of the store's errors."""


class StoreInputError(StoreError):
    """The caller passed something the store cannot keep (unknown leg, end before start, bad field)."""


class SchemaError(StoreError):
    """The database file is not one this program can use (newer schema, not a hotline store)."""
