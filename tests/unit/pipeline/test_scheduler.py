"""What the scheduler queues, and how often."""

from __future__ import annotations

from workers.pipeline import scheduler
from workers.queue import broker
from workers.queue.contracts import Band


def test_the_scheduler_relays_the_outbox_every_30_seconds():
    from workers.pipeline import actors

    assert ("relay_outbox", Band.MAINTENANCE, 30.0) in scheduler.JOBS
    assert broker.broker.get_actor("relay_outbox") is actors.relay_outbox
