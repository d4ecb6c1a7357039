"""Admin page "Sesi": the linked numbers, their live state and QR, and what an operator does with
them: create, priority and pacing, pairing code, reconnect, logout, delete, and on simulator
sessions scan and faults.

Views parse the form, call ``webapp.services.sessions`` and render. A refused form renders the
page again with the reason next to the form (400/404/409), never a 500. The page polls
``/admin/sessions/status.json`` every 2 s to show state changes and rotating QR codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from flask import flash, g, jsonify, redirect, render_template, request, url_for
from marshmallow import ValidationError

from webapp.admin import bp, login_required
from webapp.api.schemas import CreateSessionSchema, FaultSchema, PairSchema, UpdateSessionSchema
from webapp.models import WhatsAppSession, as_utc, iso
from webapp.services import sessions
from webapp.services.errors import KabarError
from workers.transports.simulator import FAULTS

log = logging.getLogger(__name__)

STATUS_LABELS = {
    "disconnected": "Terputus",
    "connecting": "Menghubungkan",
    "qr": "Menunggu scan QR",
    "connected": "Terhubung",
    "logged_out": "Keluar (logged out)",
    "banned": "Diblokir (banned)",
    "failed": "Gagal",
}
FAULT_LABELS = {
    "disconnect": "Putuskan",
    "logged_out": "Logout dari HP",
    "ban": "Ban sementara",
    "send_errors": "Gagal kirim (rate)",
    "latency": "Lambat (ms)",
    "no_receipts": "Tanpa laporan terkirim/dibaca",
    "clear": "Hapus semua gangguan",
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
        fields = {exc.field: [exc.message]} if exc.field else {}
        raise FormError(target, exc.message, fields, exc.status) from exc
    except redis.RedisError as exc:
        log.error("Redis unavailable: %s", exc)
        raise FormError(target, "Redis tidak terjangkau / Redis is unreachable", {}, 503) from exc


def _field_messages(messages: Any) -> dict[str, list[str]]:
    if not isinstance(messages, dict):
        return {"body": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for name, value in messages.items():
        key = "body" if name == "_schema" else name
        flat[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
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
    if session.status == "qr" and session.qr_code:
        try:
            qr, qr_expires = sessions.qr_png(session)
        except KabarError:
            pass  # expired: the next one is on its way
    faults: dict[str, Any] = {}
    if session.transport == "simulator":
        try:
            faults = sessions.simulator_faults(session.session_id)
        except (KabarError, redis.RedisError):
            faults = {}
    return {
        "id": session.session_id,
        "status": session.status,
        "statusLabel": STATUS_LABELS.get(session.status, session.status),
        "isPrimary": session.is_primary,
        "priority": session.priority,
        "phoneNumber": session.phone_number,
        "messageCount": session.message_count,
        "errorCount": session.error_count,
        "lastActivity": _when(session.last_activity),
        "lastError": session.last_error,
        "banExpiresAt": _when(session.ban_expires_at),
        "qr": qr,
        "qrExpires": qr_expires,
        "faults": sorted(faults),
        "updatedAt": iso(session.updated_at),
    }


def _when(value) -> str | None:
    value = as_utc(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else None


# forms -------------------------------------------------------------------------------------


@bp.post("/sessions")
@login_required
def create_session():
    try:
        body = _attempt(
            "create",
            lambda: CreateSessionSchema().load(_form("deviceId", "priority", "transport")),
        )
        session = _attempt(
            "create",
            lambda: sessions.create_session(body["deviceId"], body["priority"], body["transport"]),
        )
    except FormError as error:
        return _render(error)
    return _done(f"Sesi {session.session_id} dibuat; tunggu kode QR. / Session created.")


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
    return _done(f"Pengaturan {session_id} disimpan. / Settings saved.")


@bp.post("/sessions/<session_id>/pair")
@login_required
def pair_phone(session_id: str):
    try:
        body = _attempt(session_id, lambda: PairSchema().load(_form("phone")))
        code = _attempt(session_id, lambda: sessions.pair_phone(session_id, body["phone"]))
    except FormError as error:
        return _render(error)
    return _done(
        f"Kode pairing {session_id}: {code[:4]}-{code[4:]} — masukkan di WhatsApp → "
        "Perangkat tertaut → Tautkan dengan nomor telepon. / Type this code on the phone."
    )


@bp.post("/sessions/<session_id>/reconnect")
@login_required
def reconnect_session(session_id: str):
    try:
        _attempt(session_id, lambda: sessions.reconnect(session_id))
    except FormError as error:
        return _render(error)
    return _done(f"Sesi {session_id} dihubungkan ulang. / Reconnecting.")


@bp.post("/sessions/<session_id>/logout")
@login_required
def logout_session(session_id: str):
    try:
        _attempt(session_id, lambda: sessions.logout(session_id))
    except FormError as error:
        return _render(error)
    return _done(f"Perangkat {session_id} dikeluarkan. / Device logged out.")


@bp.post("/sessions/<session_id>/delete")
@login_required
def delete_session(session_id: str):
    try:
        _attempt(session_id, lambda: sessions.delete_session(session_id))
    except FormError as error:
        return _render(error)
    return _done(f"Sesi {session_id} dihapus. / Session deleted.")


@bp.post("/sessions/<session_id>/scan")
@login_required
def simulator_scan(session_id: str):
    try:
        result = _attempt(session_id, lambda: sessions.simulator_scan(session_id))
    except FormError as error:
        return _render(error)
    return _done(f"Simulator: {session_id} dipindai, nomor {result.get('phone')}.")


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
    return _done(f"Simulator: gangguan '{label}' diterapkan pada {session_id}.")
