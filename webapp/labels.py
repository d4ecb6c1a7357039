"""What each status and band code reads as in the console, in the operator's language.

Codes stay codes in the database and the API JSON (``queued``, ``connected``, ``bulk``); pages,
and the JSON their scripts poll, show these labels. One table per kind of thing, because one
code may mean different things: a ``failed`` message is *gagal*, a ``failed`` session *Gagal*
(it gave up reconnecting). ``webapp.i18n`` registers the ``status`` and ``band`` filters.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

MESSAGE = {
    "pending": _l("pending"),
    "queued": _l("queued"),
    "held": _l("held"),
    "sent": _l("sent"),
    "delivered": _l("delivered"),
    "read": _l("read"),
    "failed": _l("failed"),
    "paused": _l("paused"),
    "cancelled": _l("cancelled"),
    "skipped": _l("skipped"),
}
SESSION = {
    "disconnected": _l("Disconnected"),
    "connecting": _l("Connecting"),
    "qr": _l("Waiting for a QR scan"),
    "qr_expired": _l("QR expired"),
    "connected": _l("Connected"),
    "logged_out": _l("Logged out"),
    "banned": _l("Banned"),
    "failed": _l("Failed"),
}
BULK = {
    "scheduled": _l("scheduled"),
    "pending": _l("pending"),
    "expanding": _l("preparing"),
    "running": _l("sending"),
    "paused": _l("paused"),
    "cancelled": _l("cancelled"),
    "completed": _l("completed"),
}
EVENT = {  # what a billing event became
    "queued": _l("queued"),
    "skipped": _l("skipped"),
    "failed": _l("failed"),
}
JOB = {  # a queue job's ledger row
    "pending": _l("pending"),
    "started": _l("started"),
    "retrying": _l("retrying"),
    "completed": _l("completed"),
    "failed": _l("failed"),
}
BAND = {
    "urgent": _l("urgent"),
    "normal": _l("normal"),
    "bulk": _l("bulk"),
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
