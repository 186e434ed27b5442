"""Fixtures of the Fluvius v3 face: the published spec (downloaded once, cached)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ..support.fluvius_spec import FluviusSpec, load_spec
from .v3_test_app import build_app, client_for


@pytest.fixture(scope="session")
def fluvius_spec() -> FluviusSpec:
    """The Fluvius ESP API v3 spec (raw and normalised), fetched into ``.datahub-test/``."""
    return load_spec()


@pytest.fixture
async def v3_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real app plus the test-only ``/v3`` router (no database)."""
    async for client in client_for(build_app()):
        yield client
