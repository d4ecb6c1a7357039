"""The one back-off formula: doubling from a base up to a cap, with optional jitter."""

from __future__ import annotations

import random

from webapp.core.backoff import backoff, schedule


def test_doubles_from_the_base_up_to_the_cap():
    delays = [backoff(n, 2.0, 60.0, 1.0, rng=lambda: 0.0) for n in range(1, 9)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_attempts_below_one_count_as_the_first():
    assert backoff(0, 2.0, 60.0) == backoff(-3, 2.0, 60.0) == backoff(1, 2.0, 60.0) == 2.0


def test_absurd_attempts_do_not_overflow():
    assert backoff(10_000, 2.0, 60.0, 0.0) == 60.0
    assert backoff(10_000, 2_000, 60_000) == 60_000


def test_jitter_adds_up_to_its_amount():
    assert backoff(1, 2.0, 60.0, 1.5, rng=lambda: 1.0) == 3.5
    samples = [backoff(3, 2.0, 60.0, 1.0) for _ in range(500)]
    assert all(8.0 <= s < 9.0 for s in samples)
    assert len(set(samples)) > 1


def test_jitter_is_added_past_the_cap():
    assert backoff(20, 2.0, 60.0, 1.0, rng=lambda: 0.5) == 60.5


def test_without_jitter_no_random_number_is_drawn():
    def never() -> float:
        raise AssertionError("drew a random number")

    assert backoff(3, 2_000, 60_000, rng=never) == 8_000


def test_a_jitter_of_zero_still_draws_as_the_transports_always_did():
    drawn = []
    assert backoff(2, 2.0, 60.0, 0.0, rng=lambda: drawn.append(1) or 0.7) == 4.0
    assert drawn == [1]


def test_whole_numbers_in_give_whole_numbers_out():
    assert isinstance(backoff(4, 2_000, 60_000), int)


def test_uses_the_global_random_by_default():
    random.seed(7)
    first = backoff(1, 1.0, 10.0, 1.0)
    random.seed(7)
    assert backoff(1, 1.0, 10.0, 1.0) == first


def test_the_schedule_lists_each_wait_until_the_cap():
    assert schedule(2_000, 60_000) == [2_000, 4_000, 8_000, 16_000, 32_000, 60_000]
    assert schedule(100, 100) == [100]
    assert schedule(600_000, 1_000) == [1_000]  # a base above the cap waits the cap


def test_the_schedule_matches_backoff_for_every_streak():
    waits = schedule(1_500, 3_600_000)
    for streak in range(1, 100):
        assert waits[min(streak, len(waits)) - 1] == int(backoff(streak, 1_500, 3_600_000))
