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


def settled(read: Callable[[], object], quiet: float = 1.0, timeout: float = 30.0):
    """Poll ``read`` until its value has not changed for ``quiet`` seconds; return that value.

    For "nothing more happens" checks: work already in flight (a send past its last check) is
    waited out however loaded the machine is, instead of guessing a fixed pause."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return value
    raise AssertionError(f"still changing after {timeout} s; last value: {value!r}")
