"""SignedJobs: Dramatiq middleware that signs every job Kabar queues and skips any it did not.

A job written straight into Redis could otherwise make a worker act: a forged
``deliver_webhook`` job would have Kabar sign a body of the forger's choosing with a webhook's
secret and post it to the billing app. Each job is signed when it is queued over what it does
(its id, actor, arguments), not over where it waits or how often it was retried, so a retry or a
requeue from the dashboard stays valid. A worker runs no job whose signature is missing or
wrong: it moves it to the dead letters of its queue (counted on the queue page, kept for the
operator) and logs why, with no argument.

A delayed job (a retry, a job given back to wait) is queued again by the worker when it comes
due, without running it first: it is checked as the worker takes it off the delay queue, and
one that fails the check leaves unsigned, so it goes to the dead letters instead of running.

Jobs queued by a version before this one carry no signature: they land in the dead letters.
Let the queues drain (stop the web process and the scheduler, wait for the workers to go idle)
before upgrading: the admin's Dramatiq page refuses to requeue them, as a requeue through
Kabar's broker would sign them.
"""

from __future__ import annotations

import json
import logging

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from workers.queue import signing

log = logging.getLogger(__name__)

OPTION = "kabar_sig"
KEY_ID = "kabar_kid"
# Why a delayed job failed the check: it is not signed when the worker queues it again.
REFUSED = "kabar_refused"
UNSIGNED = "Kabar did not sign it"


def _payload(message) -> str:
    body = [message.message_id, message.actor_name, list(message.args), message.kwargs]
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def refusal(message) -> str | None:
    """Why ``message`` must not run (None: Kabar signed it with this process's key)."""
    if refused := message.options.get(REFUSED):
        # Only ever set to one of two texts here; nothing else a forger wrote reaches the log.
        return signing.OTHER_KEY if refused == signing.OTHER_KEY else UNSIGNED
    options = message.options
    try:
        signing.verify(
            signing.QUEUED_JOB, _payload(message), options.get(OPTION), kid=options.get(KEY_ID)
        )
    except signing.OtherKey as exc:
        return str(exc)
    except (signing.BadSignature, TypeError, ValueError):
        return UNSIGNED
    return None


class SignedJobs(Middleware):
    def before_enqueue(self, broker, message, delay):
        if message.options.get(REFUSED):
            message.options.pop(OPTION, None)
        else:
            message.options[OPTION] = signing.sign(signing.QUEUED_JOB, _payload(message))
            message.options[KEY_ID] = signing.key_id()

    def before_delay_message(self, broker, message):
        # The worker queues a due delayed job again itself (``before_enqueue`` signs it), and
        # never passes it through ``before_process_message`` on the way: check it here.
        if why := refusal(message):
            message.options[REFUSED] = why

    def before_process_message(self, broker, message):
        if why := refusal(message):
            log.warning(
                "skipped job %s (%s), moved to the dead letters of %s: %s",
                message.message_id,
                message.actor_name,
                message.queue_name,
                why,
            )
            message.fail()
            raise SkipMessage("not signed by Kabar")
