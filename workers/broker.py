"""The Dramatiq broker, bound to Redis at import as Dramatiq expects.

Creating the broker opens no connection; the first enqueue or consume does.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from workers import settings

# Queues by band. worker-urgent consumes URGENT alone so an urgent send always finds a thread.
URGENT = "urgent"
NORMAL = "normal"
BULK = "bulk"
EVENTS = "events"
MAINTENANCE = "maintenance"

broker = RedisBroker(url=settings.REDIS_URL)
dramatiq.set_broker(broker)


def enqueue(actor_name: str, queue_name: str, *args: object, **options: object) -> None:
    """Enqueue a message for ``actor_name`` without importing the actor's module.

    Lets the session host and the web app queue work for actors whose code they do not load.
    """
    broker.enqueue(
        dramatiq.Message(
            queue_name=queue_name,
            actor_name=actor_name,
            args=args,
            kwargs={},
            options=dict(options),
        )
    )
