"""Waiting for something another process does: poll with a deadline, never a bare sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s; last value: {value!r}")
