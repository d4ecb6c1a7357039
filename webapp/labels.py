"""What each status and band code reads as in the console, in the operator's language.

Codes stay codes in the database and the API JSON (``queued``, ``connected``, ``bulk``); pages,
and the JSON their scripts poll, show these labels. One table per kind of thing, because one
code may mean different things: a ``failed`` message is *gagal*, a ``failed`` session *Gagal*
(it gave up reconnecting). ``webapp.i18n`` registers the ``status`` and ``band`` filters.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from workers.queue.contracts import (
    Band,
    BulkStatus,
    EventStatus,
    JobStatus,
    MessageStatus,
    SessionState,
)

MESSAGE = {
    "pending": _l("pending"),
    MessageStatus.QUEUED: _l("queued"),
    "held": _l("held"),
    MessageStatus.SENT: _l("sent"),
    MessageStatus.DELIVERED: _l("delivered"),
    MessageStatus.READ: _l("read"),
    MessageStatus.FAILED: _l("failed"),
    MessageStatus.PAUSED: _l("paused"),
    MessageStatus.CANCELLED: _l("cancelled"),
    MessageStatus.SKIPPED: _l("skipped"),
}
SESSION = {
    SessionState.DISCONNECTED: _l("Disconnected"),
    SessionState.CONNECTING: _l("Connecting"),
    SessionState.QR: _l("Waiting for a QR scan"),
    SessionState.QR_EXPIRED: _l("QR expired"),
    SessionState.CONNECTED: _l("Connected"),
    SessionState.LOGGED_OUT: _l("Logged out"),
    SessionState.BANNED: _l("Banned"),
    SessionState.FAILED: _l("Failed"),
}
BULK = {
    BulkStatus.SCHEDULED: _l("scheduled"),
    BulkStatus.PENDING: _l("pending"),
    BulkStatus.EXPANDING: _l("preparing"),
    BulkStatus.RUNNING: _l("sending"),
    BulkStatus.PAUSED: _l("paused"),
    BulkStatus.CANCELLED: _l("cancelled"),
    BulkStatus.COMPLETED: _l("completed"),
}
EVENT = {  # what a billing event became
    EventStatus.QUEUED: _l("queued"),
    EventStatus.SKIPPED: _l("skipped"),
    EventStatus.FAILED: _l("failed"),
}
JOB = {  # a queue job's ledger row
    JobStatus.PENDING: _l("pending"),
    JobStatus.STARTED: _l("started"),
    JobStatus.RETRYING: _l("retrying"),
    JobStatus.COMPLETED: _l("completed"),
    JobStatus.FAILED: _l("failed"),
}
BAND = {
    Band.URGENT: _l("urgent"),
    Band.NORMAL: _l("normal"),
    Band.BULK: _l("bulk"),
}
KINDS = {"message": MESSAGE, "session": SESSION, "bulk": BULK, "event": EVENT, "job": JOB}


def status(code: str | None, kind: str = "message") -> str:
    """The label of status ``code`` of a ``kind`` of thing; an unknown code shows as itself."""
    if not code:
        return "—"
    return str(KINDS[kind].get(code, code))


def band(code: str | None) -> str:
    """The label of a band (``urgent``, ``normal``, ``bulk``)."""
    return str(BAND.get(code, code)) if code else "—"
