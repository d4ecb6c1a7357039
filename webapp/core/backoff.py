"""Capped exponential back-off: how long to wait after the n-th failure in a row.

One formula for every retry loop in Kabar: a transport reconnecting, the session host restarting
a crashed client, routing resting a number after send errors. Each keeps its own numbers (base,
cap, jitter, units); only the shape is shared.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Past this exponent the cap has long been reached; it keeps ``2 ** n`` from overflowing a float.
MAX_EXPONENT = 60


def backoff(
    attempt: int,
    base: float,
    cap: float,
    jitter: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """The wait after failed attempt number ``attempt`` (1-based; less counts as 1).

    Doubles from ``base`` up to ``cap``, plus ``rng() * jitter`` so that sessions dropped together
    do not all retry in the same instant. ``jitter=None``: no random part (``rng`` is not called),
    and ints in give an int out. The unit is the caller's (seconds or milliseconds).
    """
    exponent = min(max(attempt, 1) - 1, MAX_EXPONENT)
    delay = min(base * 2**exponent, cap)
    if jitter is None:
        return delay
    return delay + rng() * jitter


def schedule(base: int, cap: int) -> list[int]:
    """Every distinct whole wait of ``backoff`` without jitter, from attempt 1 until the cap: the
    wait after attempt n is ``schedule[min(n, len(schedule)) - 1]`` (for code that cannot call
    Python, such as a Lua script in Redis)."""
    waits = []
    for attempt in range(1, MAX_EXPONENT + 2):
        waits.append(int(backoff(attempt, base, cap)))
        if waits[-1] >= cap:
            break
    return waits
