"""JobLedger: Dramatiq middleware that records each send job's life in PostgreSQL.

Pending is written by the service that queues the job; this middleware writes started (with the
attempt number), completed, retrying and failed, with the error. A job given back to wait for a
free slot is pending again: waiting is not an attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dramatiq import Middleware

from workers.queue import jobs
from workers.queue.contracts import SEND_ACTORS

log = logging.getLogger(__name__)

GAVE_BACK = "kabar_gave_back"


class JobLedger(Middleware):
    """``app_factory`` returns the Flask app whose context the ledger writes in."""

    def __init__(self, app_factory: Callable) -> None:
        self.app_factory = app_factory
        self.actors = set(SEND_ACTORS.values())

    def _write(self, what: str, *args) -> None:
        try:
            with self.app_factory().app_context():
                getattr(jobs, what)(*args)
        except Exception:  # the ledger must never cost a send
            log.exception("job ledger could not record %s for %s", what, args[0])

    def after_worker_boot(self, broker, worker):
        self.app_factory()  # build the app before the first message, not while it waits

    def before_process_message(self, broker, message):
        if message.actor_name in self.actors:
            self._write("started", message.message_id, message.options.get("retries", 0) + 1)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if message.actor_name not in self.actors:
            return
        if exception is None:
            gave_back = message.options.pop(GAVE_BACK, False)
            self._write("given_back" if gave_back else "completed", message.message_id)
        elif message.failed:
            self._write("failed", message.message_id, str(exception))
        else:
            self._write("retrying", message.message_id, str(exception))
