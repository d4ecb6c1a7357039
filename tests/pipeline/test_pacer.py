"""The pacer against the real Redis, with real threads competing for one number."""

from __future__ import annotations

import threading
import time

import pytest

from workers.pipeline.pacer import GiveBack, Pacer, ticket_score
from workers.queue import keys


def now_ms():
    return int(time.time() * 1000)


def test_no_two_slots_closer_than_the_interval(redis_client):
    pacer = Pacer(redis_client)
    granted = []
    lock = threading.Lock()

    def worker(n):
        for i in range(3):
            slot = pacer.acquire("s1", f"t{n}-{i}", ticket_score("bulk", 1, now_ms()), 100)
            with lock:
                granted.append(slot.granted_at_ms)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted.sort()
    assert len(granted) == 12
    gaps = [b - a for a, b in zip(granted, granted[1:], strict=False)]
    assert min(gaps) >= 100


def test_jitter_only_ever_widens_the_gap(redis_client):
    pacer = Pacer(redis_client)
    times = [pacer.acquire("s1", f"t{i}", i, 50, jitter_ms=30).granted_at_ms for i in range(6)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 50 and max(gaps) <= 50 + 30 + 20


def test_the_most_urgent_waiter_gets_the_next_slot(redis_client):
    pacer = Pacer(redis_client)
    pacer.acquire("s1", "first", 0, 400)  # the number is busy for 400 ms
    order = []
    bulk_waiting = threading.Event()

    def wait(ticket, band):
        if band == "urgent":
            bulk_waiting.wait(5)
        else:
            bulk_waiting.set()
        pacer.acquire("s1", ticket, ticket_score(band, 1, now_ms()), 400)
        order.append(ticket)

    bulk = threading.Thread(target=wait, args=("bulk", "bulk"))
    urgent = threading.Thread(target=wait, args=("urgent", "urgent"))
    bulk.start()
    urgent.start()
    bulk.join()
    urgent.join()
    assert order == ["urgent", "bulk"]


def test_a_waiter_too_far_behind_gives_its_message_back(redis_client):
    pacer = Pacer(redis_client)
    pacer.acquire("s1", "first", 0, 1000)
    with pytest.raises(GiveBack) as caught:
        pacer.acquire("s1", "late", 1, 1000, max_park_ms=200)
    assert 200 < caught.value.delay_ms <= 1000
    assert redis_client.zcard(keys.pace_queue("s1")) == 0


def test_a_dead_waiters_ticket_does_not_block_the_queue(redis_client):
    pacer = Pacer(redis_client)
    # A thread that queued first with the best score, then died without withdrawing.
    redis_client.zadd(keys.pace_queue("s1"), {"dead": 0})
    redis_client.hset(keys.pace_beats("s1"), "dead", now_ms() - 10_000)
    slot = pacer.acquire("s1", "alive", 5, 100, max_park_ms=1000)
    assert slot.waited_ms < 500
    assert redis_client.zcard(keys.pace_queue("s1")) == 0


def test_load_reports_wait_and_waiters(redis_client):
    pacer = Pacer(redis_client)
    pacer.acquire("s1", "a", 0, 1000)
    load = pacer.load(["s1", "s2"])
    assert 800 < load["s1"][0] <= 1000 and load["s1"][1] == 0
    assert load["s2"] == (0, 0)
