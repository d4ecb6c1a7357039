"""Admin page "Sesi": the linked numbers, their live state and QR, and what an operator does with
them: create, priority and pacing, warm-up, pairing code, reconnect, logout, delete, and on
simulator sessions scan and faults.

Views parse the form, call ``workers.pipeline.sessions`` and render. A refused form renders the
page again with the reason next to the form (400/404/409), never a 500. The page polls
``/admin/sessions/status.json`` every 2 s to show state changes and rotating QR codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from marshmallow import ValidationError

from webapp import labels, phrases, settings
from webapp.admin import bp, login_required
from webapp.admin.console_pages import localtime
from webapp.admin.holds import limit_reached
from webapp.api.schemas import CreateSessionSchema, FaultSchema, PairSchema, UpdateSessionSchema
from webapp.core import connect_advice
from webapp.core.errors import KabarError
from webapp.models import WhatsAppSession, iso
from workers.pipeline import routing, sessions, warmup
from workers.queue.contracts import SessionState
from workers.session_host.simulated_network import FAULTS

log = logging.getLogger(__name__)

STATUS_LABELS = labels.SESSION
FAULT_LABELS = {
    "disconnect": lazy_gettext("Disconnect"),
    "logged_out": lazy_gettext("Logged out from the phone"),
    "ban": lazy_gettext("Temporary ban"),
    "send_errors": lazy_gettext("Send errors (rate)"),
    "latency": lazy_gettext("Slow (ms)"),
    "no_receipts": lazy_gettext("No delivered/read receipts"),
    "qr_timeout": lazy_gettext("QR login times out"),
    "passkey_required": lazy_gettext("Account asks for a passkey"),
    "no_lid": lazy_gettext("Recipient not on WhatsApp (no LID)"),
    "reach_out_463": lazy_gettext("New-contact limit (463)"),
    "reach_out_479": lazy_gettext("New contact refused (479)"),
    "send_timeout": lazy_gettext("Send times out after it went out"),
    "clear": lazy_gettext("Clear all faults"),
}


class FormError(Exception):
    """A refused form: which form (``target``), the field reasons and the HTTP status."""

    def __init__(self, target: str, message: str, fields: dict[str, list[str]], status: int):
        super().__init__(message)
        self.target = target
        self.message = message
        self.fields = fields
        self.status = status


def _attempt(target: str, action: Callable[[], Any]) -> Any:
    """Run a service call for the form ``target``; what it refuses becomes a FormError."""
    try:
        return action()
    except ValidationError as exc:
        fields = _field_messages(exc.messages)
        first = next(iter(fields))
        raise FormError(target, f"{first}: {fields[first][0]}", fields, 400) from exc
    except KabarError as exc:
        message = phrases.say(exc.message)
        fields = {exc.field: [message]} if exc.field else {}
        raise FormError(target, message, fields, exc.status) from exc
    except redis.RedisError as exc:
        log.error("Redis unavailable: %s", exc)
        raise FormError(target, _("Redis is unreachable"), {}, 503) from exc


def _field_messages(messages: Any) -> dict[str, list[str]]:
    if not isinstance(messages, dict):
        return {"body": [phrases.say(str(m)) for m in messages]}
    flat: dict[str, list[str]] = {}
    for name, value in messages.items():
        key = "body" if name == "_schema" else name
        flat[key] = [phrases.say(str(v)) for v in (value if isinstance(value, list) else [value])]
    return flat


def _form(*names: str, blank_is_none: tuple[str, ...] = ()) -> dict[str, Any]:
    """The named form fields that were filled in; a blank field in ``blank_is_none`` is None."""
    values: dict[str, Any] = {}
    for name in names:
        raw = request.form.get(name, "").strip()
        if raw:
            values[name] = raw
        elif name in blank_is_none and name in request.form:
            values[name] = None
    return values


def _render(error: FormError | None = None):
    listed = sessions.list_sessions()
    return render_template(
        "admin/sessions.html",
        sessions=listed,
        views={s.session_id: session_view(s) for s in listed},
        labels=STATUS_LABELS,
        faults=FAULTS,
        fault_labels=FAULT_LABELS,
        error=error,
        form=request.form if error else {},
        warmup_days=len(settings.get("warmup_schedule") or []),
    ), (error.status if error else 200)


def _done(message: str):
    flash(message)
    return redirect(url_for("admin.sessions_page"))


# pages -------------------------------------------------------------------------------------


@bp.get("/sessions")
@login_required
def sessions_page():
    return _render()


@bp.get("/sessions/status.json")
def sessions_status():
    """What the page polls: every session's live state and, while waiting, its QR."""
    if g.admin is None:
        return jsonify(error={"code": "unauthorized", "message": "log in first"}), 401
    return jsonify(sessions=[session_view(s) for s in sessions.list_sessions()])


def session_view(session: WhatsAppSession) -> dict[str, Any]:
    """One session as the page shows it (also the shape of the polled JSON)."""
    qr = qr_expires = None
    if session.status == SessionState.QR and session.qr_code:
        try:
            qr, qr_expires = sessions.qr_png(session)
        except KabarError:
            pass  # expired: the next one is on its way
    try:
        warming_up = routing.warmup_today(session)
    except redis.RedisError:
        warming_up = None  # the day's count is unknown; the page still shows the session
    faults: dict[str, Any] = {}
    if session.transport == "simulator":
        try:
            faults = sessions.simulator_faults(session.session_id)
        except (KabarError, redis.RedisError):
            faults = {}
    return {
        "id": session.session_id,
        "status": session.status,
        "statusLabel": str(STATUS_LABELS.get(session.status, session.status)),
        "isPrimary": session.is_primary,
        "priority": session.priority,
        "phoneNumber": session.phone_number,
        "messageCount": session.message_count,
        "errorCount": session.error_count,
        "lastActivity": _when(session.last_activity),
        **_last_error(session.last_error),
        "advice": _advice(session.last_error),
        "banExpiresAt": _when(session.ban_expires_at),
        "qr": qr,
        "qrExpires": qr_expires,
        "faults": sorted(faults),
        "warmup": warming_up,
        "limitReached": limit_reached(session),  # "batas hari ini tercapai: 20/20", or ""
        "updatedAt": iso(session.updated_at),
    }


def _last_error(error: str | None) -> dict[str, str | None]:
    """The last error in the operator's language, and its technical detail (a Go error) for
    the card's "detail" toggle."""
    explained = phrases.explain(error)
    if explained is None:
        return {"lastError": None, "lastErrorDetail": None}
    return {"lastError": explained.summary, "lastErrorDetail": "\n".join(explained.details) or None}


def _advice(error: str | None) -> str | None:
    """What a raw connection error means and what to do, shown above it; None for the rest."""
    advice = connect_advice.advise(error)
    return f"{advice.sentence()} {connect_advice.RUN_DOCTOR}" if advice else None


def _when(value) -> str | None:
    """A stored time as the operator reads it (their timezone), for the page and its poll."""
    return localtime(value) if value else None


# forms -------------------------------------------------------------------------------------


@bp.post("/sessions")
@login_required
def create_session():
    try:
        body = _attempt(
            "create",
            lambda: CreateSessionSchema().load(
                _form("deviceId", "priority", "transport", "warmup")
            ),
        )
        session = _attempt(
            "create",
            lambda: sessions.create_session(
                body["deviceId"], body["priority"], body["transport"], warmup=body["warmup"]
            ),
        )
    except FormError as error:
        return _render(error)
    return _done(
        _("Session %(session)s created; wait for the QR code.", session=session.session_id)
    )


@bp.post("/sessions/<session_id>/settings")
@login_required
def update_session(session_id: str):
    names = ("priority", "intervalMs", "jitterMs", "dailyCap")
    try:
        body = _attempt(
            session_id,
            lambda: UpdateSessionSchema().load(_form(*names, blank_is_none=("dailyCap",))),
        )
        _attempt(session_id, lambda: sessions.update_session(session_id, **body))
    except FormError as error:
        return _render(error)
    return _done(_("Settings of %(session)s saved.", session=session_id))


@bp.post("/sessions/<session_id>/warmup")
@login_required
def set_warmup(session_id: str):
    try:
        body = _attempt(
            session_id, lambda: UpdateSessionSchema(only=("warmup",)).load(_form("warmup"))
        )
        _attempt(session_id, lambda: warmup.set_warming_up(session_id, body["warmup"]))
    except FormError as error:
        return _render(error)
    if body["warmup"]:
        return _done(_("Warm-up of %(session)s started.", session=session_id))
    return _done(_("Warm-up of %(session)s ended.", session=session_id))


@bp.post("/sessions/<session_id>/pair")
@login_required
def pair_phone(session_id: str):
    try:
        body = _attempt(session_id, lambda: PairSchema().load(_form("phone")))
        code = _attempt(session_id, lambda: sessions.pair_phone(session_id, body["phone"]))
    except FormError as error:
        return _render(error)
    return _done(
        _(
            "Pairing code of %(session)s: %(code)s. Type it on the phone in WhatsApp → "
            "Linked devices → Link with phone number.",
            session=session_id,
            code=f"{code[:4]}-{code[4:]}",
        )
    )


@bp.post("/sessions/<session_id>/reconnect")
@login_required
def reconnect_session(session_id: str):
    return _restart(session_id, _("Reconnecting session %(session)s.", session=session_id))


@bp.post("/sessions/<session_id>/new-qr")
@login_required
def new_qr(session_id: str):
    """A login that ran out (``qr_expired``) waits for this: start it again, with new codes."""
    return _restart(
        session_id, _("A new QR code for %(session)s is on its way.", session=session_id)
    )


def _restart(session_id: str, done: str):
    try:
        _attempt(session_id, lambda: sessions.reconnect(session_id))
    except FormError as error:
        return _render(error)
    return _done(done)


@bp.post("/sessions/<session_id>/logout")
@login_required
def logout_session(session_id: str):
    try:
        _attempt(session_id, lambda: sessions.logout(session_id))
    except FormError as error:
        return _render(error)
    return _done(_("Device %(session)s logged out.", session=session_id))


@bp.post("/sessions/<session_id>/delete")
@login_required
def delete_session(session_id: str):
    try:
        _attempt(session_id, lambda: sessions.delete_session(session_id))
    except FormError as error:
        return _render(error)
    return _done(_("Session %(session)s deleted.", session=session_id))


@bp.post("/sessions/<session_id>/scan")
@login_required
def simulator_scan(session_id: str):
    try:
        result = _attempt(session_id, lambda: sessions.simulator_scan(session_id))
    except FormError as error:
        return _render(error)
    return _done(
        _(
            "Simulator: %(session)s scanned, number %(phone)s.",
            session=session_id,
            phone=result.get("phone"),
        )
    )


@bp.post("/sessions/<session_id>/fault")
@login_required
def simulator_fault(session_id: str):
    try:
        body = _attempt(
            session_id, lambda: FaultSchema().load(_form("fault", "rate", "ms", "seconds"))
        )
        _attempt(session_id, lambda: sessions.simulator_fault(session_id, **body))
    except FormError as error:
        return _render(error)
    label = FAULT_LABELS.get(body["fault"], body["fault"])
    return _done(
        _("Simulator: fault '%(fault)s' applied to %(session)s.", fault=label, session=session_id)
    )
