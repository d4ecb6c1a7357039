"""How a number is paced for a batch: how far apart its sends go and how many one call carries."""

from __future__ import annotations

import pytest

from workers.pipeline.routing import Route
from workers.pipeline.sending import MAX_CHUNK, pace


@pytest.mark.parametrize(
    ("interval_ms", "jitter_ms", "typing_ms", "left_today", "expected"),
    [
        (0, 0, 0, None, (0, MAX_CHUNK)),  # unpaced: the whole chunk in one call
        (0, 200, 0, None, (0, 1)),  # jitter: each send its own random wait
        (1000, 0, 0, None, (1000, 1)),  # paced: one message per slot
        (1000, 0, 2500, None, (2500, 1)),  # typing longer than the interval sets the pace
        (0, 0, 0, 3, (0, 3)),  # never past what the day still allows
    ],
)
def test_the_pace_of_a_number(interval_ms, jitter_ms, typing_ms, left_today, expected):
    route = Route("session-1", interval_ms, jitter_ms, left_today)
    assert pace(route, typing_ms) == expected
