"""The Dramatiq broker, bound to Redis at import as Dramatiq expects.

Creating the broker opens no connection; the first enqueue or consume does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name
from dramatiq.errors import ConnectionClosed
from dramatiq.message import generate_unique_id

import webapp.config as config
from workers.queue import keys, masking
from workers.queue.contracts import BANDS, QUEUES
from workers.queue.job_signatures import SignedJobs

# Dramatiq's log lines name messages with their arguments: masked (webhook bodies, texts).
masking.install_log_masking()


class QueueConnectionError(ConnectionClosed, redis.ConnectionError):
    """Redis did not answer a broker call. Both a Dramatiq connection error, which its worker
    threads survive by restarting their consumer, and a Redis error, which Kabar's callers
    (the API's 503, the outbox, the reconciler) already handle."""

    def __init__(self, message: str) -> None:
        redis.ConnectionError.__init__(self, message)
        self.message = message


class KabarRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, raising its calls' Redis connection errors as one of its own.

    Dramatiq's delay-queue thread moves due messages with ``enqueue``; a plain Redis error there
    (Redis down at that moment) killed the thread for good, and that worker's delayed messages,
    given-back sends among them, never moved again.
    """

    def _dispatch(self, command):
        dispatch = super()._dispatch(command)

        def guarded(queue_name, *args):
            try:
                return dispatch(queue_name, *args)
            except redis.ConnectionError as exc:
                raise QueueConnectionError(str(exc)) from exc

        return guarded


broker = KabarRedisBroker(
    url=config.REDIS_URL,
    # How long before the messages a dead worker had taken are handed to another worker.
    heartbeat_timeout=config.BROKER_HEARTBEAT_MS,
    maintenance_chance=config.BROKER_MAINTENANCE_CHANCE,
)
# First of all middleware: a job Kabar did not sign is skipped before anything looks at it.
broker.add_middleware(SignedJobs(), before=type(broker.middleware[0]))
dramatiq.set_broker(broker)
# Declared here, not only by the actors, so every process (and the dashboard) knows them all.
for _queue in QUEUES:
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
    """Enqueue a ledgered job (its row is committed already; ``whereabouts`` finds it later)."""
    broker.enqueue(job, delay=delay_ms)


# Where ``whereabouts`` finds a job.
WAITING = "waiting"  # in a queue, or in a delay queue before its time: it will be taken
TAKEN = "taken"  # fetched by a worker and not acknowledged: it may be running
STALLED = "stalled"  # delayed, and its time is long past: no worker is moving it
# A worker moves a delayed message within a second of its time; past this, none holds it (its
# delay-queue thread restarted after a Redis error and forgot what it had fetched).
DELAY_GRACE_MS = 30_000


def whereabouts(job_ids: Iterable[str]) -> dict[str, str]:
    """Where Redis holds each of these send jobs, read from Dramatiq's own keys: ``WAITING``,
    ``TAKEN`` or ``STALLED``; a job Redis does not hold at all (lost data, deleted keys, a retry
    Redis refused) is left out of the answer.

    Every message Dramatiq holds, queued, delayed or being processed, is in its queue's message
    hash until it is acknowledged, so a job absent from every send queue's hash is gone. The
    worker sets are read before the hashes: a job taken meanwhile shows as waiting, never lost.
    """
    wanted = set(job_ids)
    if not wanted:
        return {}
    client = broker.client
    taken: set[bytes] = set()
    for key in client.scan_iter(match=keys.dramatiq_taken_pattern(broker.namespace), count=500):
        taken |= client.smembers(key)
    now_ms = time.time() * 1000
    found: dict[str, str] = {}
    for band in BANDS:
        for queue in (band, dq_name(band)):
            messages = keys.dramatiq_messages(broker.namespace, queue)
            for redis_id, data in client.hscan_iter(messages, count=500):
                message = json.loads(data)
                job_id = message.get("message_id")
                if job_id not in wanted or found.get(job_id) == WAITING:
                    continue
                if queue == band:
                    found[job_id] = TAKEN if redis_id in taken else WAITING
                else:  # a delayed job waits legally until its time, taken or not
                    eta = message.get("options", {}).get("eta", 0)
                    found[job_id] = WAITING if eta > now_ms - DELAY_GRACE_MS else STALLED
    return found


def alive(job_ids: list[str]) -> set[str]:
    """Which of these job ids Redis still holds as queued, delayed or in flight."""
    return set(whereabouts(job_ids))
