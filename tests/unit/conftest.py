"""Pure tests: neither PostgreSQL nor Redis. ``pytest tests/unit`` runs on a machine with neither.

The root conftest's per-test clean-up empties tables and a Redis database; here there are none,
so it is replaced by one that does nothing, and the fixtures that would reach a service fail at
once, naming the rule, rather than time out against the nowhere addresses a unit-only run sets.
"""

from __future__ import annotations

import pytest

NEEDS_SERVICES = "tests in tests/unit use neither PostgreSQL nor Redis; this test belongs outside"


@pytest.fixture(autouse=True)
def clean_state():
    """Nothing to clean: no table and no Redis database is used here."""
    yield


@pytest.fixture(scope="session")
def app():
    pytest.fail(NEEDS_SERVICES)


@pytest.fixture
def redis_client():
    pytest.fail(NEEDS_SERVICES)
