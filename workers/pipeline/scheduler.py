"""``python -m workers.pipeline.scheduler``: timers that enqueue maintenance actors, nothing else.

Several schedulers may run; only the one holding the ``scheduler`` lease enqueues, so each job
runs once per period.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

import redis

import webapp.config as config
from workers.queue import broker
from workers.queue.contracts import Actor, Band
from workers.session_host.leases import Leases

log = logging.getLogger(__name__)

# (actor name, queue, period in seconds)
JOBS = (
    (Actor.SYNC_SESSIONS, Band.MAINTENANCE, 30.0),
    # The session host wakes a folder for every event; this catches any wake-up that was lost.
    (Actor.FOLD_SESSION_EVENTS, Band.EVENTS, 10.0),
    (Actor.RECONCILE_MESSAGES, Band.MAINTENANCE, 60.0),
    # Retention (workers.pipeline.retention): once at start, then daily.
    (Actor.PURGE_OLD_DATA, Band.MAINTENANCE, 86_400.0),
    # Each day's figures outlive its messages (workers.pipeline.metrics).
    (Actor.ROLLUP_METRICS, Band.MAINTENANCE, 600.0),
    # Scheduled bulk sends start within this period of their time (webapp.intake.bulk).
    (Actor.BULK_MAINTENANCE, Band.MAINTENANCE, 5.0),
    (Actor.RELAY_OUTBOX, Band.MAINTENANCE, 30.0),  # jobs Redis missed at their commit (outbox)
)
TICK_S = 1.0


def run(stop: threading.Event) -> None:
    client = redis.Redis.from_url(config.REDIS_URL)
    leases = Leases(client, f"{socket.gethostname()}-{os.getpid()}", ttl_ms=int(TICK_S * 5000))
    due = {name: 0.0 for name, _, _ in JOBS}
    while not stop.wait(TICK_S):
        try:
            if not leases.hold("scheduler"):
                continue
            now = time.monotonic()
            for name, queue, period in JOBS:
                if now >= due[name]:
                    broker.enqueue(name, queue)
                    due[name] = now + period
        except redis.RedisError as exc:
            log.warning("Redis unreachable: %s", exc)
    leases.release("scheduler")


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [scheduler] %(name)s: %(message)s"
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(stop)


if __name__ == "__main__":
    main()
