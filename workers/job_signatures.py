"""SignedJobs: Dramatiq middleware that signs every job Kabar queues and skips any it did not.

A job written straight into Redis could otherwise make a worker act: a forged
``deliver_webhook`` job would have Kabar sign a body of the forger's choosing with a webhook's
secret and post it to the billing app. Each job is signed when it is queued over what it does
(its id, actor, arguments), not over where it waits or how often it was retried, so a retry, a
delayed job coming due or a requeue from the dashboard stays valid. A worker skips (acknowledges
without running) a job whose signature is missing or wrong, and logs it masked.

Jobs queued by a version before this one carry no signature: let the queues drain (stop the
web process and the scheduler, wait for the workers to go idle) before upgrading.
"""

from __future__ import annotations

import json
import logging

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from workers import signing

log = logging.getLogger(__name__)

OPTION = "kabar_sig"


def _payload(message) -> str:
    body = [message.message_id, message.actor_name, list(message.args), message.kwargs]
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


class SignedJobs(Middleware):
    def before_enqueue(self, broker, message, delay):
        message.options[OPTION] = signing.sign(signing.QUEUED_JOB, _payload(message))

    def before_process_message(self, broker, message):
        try:
            signing.verify(signing.QUEUED_JOB, _payload(message), message.options.get(OPTION))
        except (signing.BadSignature, TypeError, ValueError):
            log.warning(
                "skipped job %s (%s) that Kabar did not sign",
                message.message_id,
                message.actor_name,
            )
            raise SkipMessage("not signed by Kabar") from None
