"""Work Redis loses or a dead worker holds is found again, with the product's own settings: every
recipient of a bulk gets exactly one message. Figures are printed (run with -s to see them)."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.helpers import inboxes, link_numbers, phone, queue_bulk, statuses
from tests.polling import wait_for
from workers.queue import jobs

DONE = ("sent", "delivered", "read")


def count_done(app, ids) -> int:
    return sum(s in DONE for s in statuses(app, ids).values())


def assert_each_received_once(redis_client, count: int) -> None:
    received = inboxes(redis_client, range(count))
    assert all(len(entries) == 1 for entries in received.values()), {
        phone(n): len(e) for n, e in received.items() if len(e) != 1
    }


@pytest.fixture
def reconcile_soon(app):
    """The reconciler looks at jobs 2 s old (the product waits 60 s, for a slow enqueue)."""
    app.config["RECONCILE_AFTER_S"] = 2
    yield
    app.config["RECONCILE_AFTER_S"] = 60


def test_deleting_dramatiq_queue_keys_mid_bulk_still_sends_every_row_once(
    app, client, auth, redis_client, kabar_processes, reconcile_soon
):
    link_numbers(client, auth, 2, interval_ms=100)
    ids = queue_bulk(app, 120)
    wait_for(lambda: count_done(app, ids) >= 10, timeout=60)
    lost = [k for k in redis_client.scan_iter("dramatiq:*") if b"bulk" in k]
    redis_client.delete(*lost)  # the queue, its delay queue, their messages and worker sets
    remaining = len(ids) - count_done(app, ids)
    assert remaining > 0

    deadline = time.monotonic() + 120
    with app.app_context():
        while count_done(app, ids) < len(ids):
            assert time.monotonic() < deadline, statuses(app, ids)
            jobs.reconcile()  # what the scheduler runs every minute
            time.sleep(0.5)
    assert_each_received_once(redis_client, len(ids))
    print(f"\n{remaining} rows left when the queue keys were deleted; all sent once")


def test_a_killed_workers_jobs_move_on_within_seconds(
    app, client, auth, redis_client, kabar_processes
):
    kabar_processes.worker("victim", "bulk", threads=8, dramatiq_queue_prefetch="8")
    link_numbers(client, auth, 2, interval_ms=100)
    ids = queue_bulk(app, 400)
    wait_for(lambda: count_done(app, ids) >= 20, timeout=60)
    kabar_processes.stop("victim", signal.SIGKILL)
    killed = time.monotonic()
    done_at_kill = count_done(app, ids)

    wait_for(lambda: count_done(app, ids) == len(ids), timeout=120, interval=0.2)
    took = time.monotonic() - killed
    assert_each_received_once(redis_client, len(ids))
    # 2 numbers at 100 ms send 20 a second: the rest needs (len - done) / 20 s without the kill.
    undisturbed = (len(ids) - done_at_kill) / 20
    print(
        f"\nkill -9 of a worker: the bulk finished {took:.1f} s after it "
        f"({undisturbed:.1f} s of sending left)"
    )
    assert took < undisturbed + 30
