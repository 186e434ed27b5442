"""Fixtures of the Fluvius v3 face: the published spec (downloaded once, cached)."""

from __future__ import annotations

import pytest

from ..fluvius_spec import FluviusSpec, load_spec


@pytest.fixture(scope="session")
def fluvius_spec() -> FluviusSpec:
    """The Fluvius ESP API v3 spec (raw and normalised), fetched into ``.datahub-test/``."""
    return load_spec()
