"""The Dramatiq broker, bound to Redis at import as Dramatiq expects.

Creating the broker opens no connection; the first enqueue or consume does.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.message import generate_unique_id

from workers import keys, settings

# Queues by band. worker-urgent consumes URGENT alone so an urgent send always finds a thread.
URGENT = "urgent"
NORMAL = "normal"
BULK = "bulk"
EVENTS = "events"
MAINTENANCE = "maintenance"

BANDS = (URGENT, NORMAL, BULK)
# One send actor per band: Dramatiq orders a worker's prefetched messages by actor priority.
SEND_ACTORS = {URGENT: "send_urgent", NORMAL: "send_normal", BULK: "send_bulk"}

broker = RedisBroker(
    url=settings.REDIS_URL,
    # How long before the messages a dead worker had taken are handed to another worker.
    heartbeat_timeout=settings.BROKER_HEARTBEAT_MS,
    maintenance_chance=settings.BROKER_MAINTENANCE_CHANCE,
)
dramatiq.set_broker(broker)
# Declared here, not only by the actors, so every process (and the dashboard) knows them all.
for _queue in (URGENT, NORMAL, BULK, EVENTS, MAINTENANCE):
    broker.declare_queue(_queue)


def message(
    actor_name: str, queue_name: str, *args: object, job_id: str | None = None, **options: object
):
    """Build (not send) a Dramatiq message for ``actor_name``; its ``message_id`` is the job id
    (``job_id`` when the caller chose it already)."""
    return dramatiq.Message(
        queue_name=queue_name,
        actor_name=actor_name,
        args=args,
        kwargs={},
        options=dict(options),
        message_id=job_id or generate_unique_id(),
    )


def enqueue(actor_name: str, queue_name: str, *args: object, **options: object) -> None:
    """Enqueue a message for ``actor_name`` without importing the actor's module.

    Lets the session host and the web app queue work for actors whose code they do not load.
    """
    broker.enqueue(message(actor_name, queue_name, *args, **options))


def enqueue_job(job: dramatiq.Message, delay_ms: int | None = None) -> None:
    """Enqueue a ledgered job, marking it live in Redis until it completes or fails.

    The mark lives in the same Redis as the queues, so if Redis loses its data the mark goes
    with it and the reconciler knows the job is gone (Dramatiq's own keys are per enqueue and
    cannot be looked up by job id).
    """
    broker.client.sadd(keys.JOBS_LIVE, job.message_id)
    broker.enqueue(job, delay=delay_ms)


def forget(job_id: str) -> None:
    broker.client.srem(keys.JOBS_LIVE, job_id)


def alive(job_ids: list[str]) -> set[str]:
    """Which of these job ids Redis still holds as queued, delayed or in flight."""
    if not job_ids:
        return set()
    found = broker.client.smismember(keys.JOBS_LIVE, job_ids)
    return {job_id for job_id, here in zip(job_ids, found, strict=True) if here}
