"""Bulk sends: accepted at once as one ``bulk_jobs`` row, expanded by an actor into messages.

``submit`` stores the request (recipients included) and answers; the ``expand_bulk`` actor turns
it into message rows in batches of ``BATCH``: each batch's rows, their ledger jobs and the job's
progress are one transaction, and the batch's jobs are queued after its commit. A crashed
expansion is run again (by Dramatiq's retries or the maintenance sweep) and goes on from the
last committed batch.

Per recipient: the number is normalised, ``templateData`` merged with the recipient's ``data``
(the recipient wins) and the template rendered. A number already sent to by this job, an
impossible number or a missing variable is recorded in ``errors`` (at most ``MAX_ERRORS``
listed, all counted) and the others go on. With the setting ``check_on_whatsapp``, a number
WhatsApp says has no account is recorded there too (``not_on_whatsapp``) and gets no message;
numbers that cannot be checked are sent (see ``reachability``).

States: ``scheduled`` (waits for ``schedule_at``) -> ``pending`` (an expansion is queued) ->
``expanding`` -> ``running`` (every row exists) -> ``completed`` (none left to send); ``paused``
and ``cancelled`` from any of them. Pausing moves the job's queued rows to ``paused`` (the send
actor skips rows that are not ``queued``); resuming puts them back with fresh jobs; cancelling
makes every row not yet sent ``cancelled``. Changes of state lock the job's row, so a batch
being written and a pause or cancel never interleave.

The package: ``submit`` (the request, stored and queued), ``expansion`` (the rows written),
``progress`` (counts and completion), ``control`` (pause, resume, cancel, resend) and ``sweep``
(the scheduler's round).
"""

from __future__ import annotations

from webapp.intake.bulk.control import cancel, pause, resend_failed, resume
from webapp.intake.bulk.expansion import expand
from webapp.intake.bulk.progress import counts, finish_if_done, held_counts, report
from webapp.intake.bulk.submit import MAX_RECIPIENTS, get_job, list_jobs, parse_request, submit
from webapp.intake.bulk.sweep import maintain

__all__ = [
    "MAX_RECIPIENTS",
    "cancel",
    "counts",
    "expand",
    "finish_if_done",
    "get_job",
    "held_counts",
    "list_jobs",
    "maintain",
    "parse_request",
    "pause",
    "report",
    "resend_failed",
    "resume",
    "submit",
]
