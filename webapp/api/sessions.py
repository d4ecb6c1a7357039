"""/api/whatsapp/sessions: the seed's shapes."""

from __future__ import annotations

from flask import jsonify

from webapp.api import bp
from webapp.api.schemas import (
    CreateSessionSchema,
    FaultSchema,
    IncomingSchema,
    PairSchema,
    ScanSchema,
    UpdateSessionSchema,
    load_json,
)
from webapp.models import WhatsAppSession, iso
from workers.pipeline import routing, sessions, warmup


def session_json(session: WhatsAppSession) -> dict:
    return {
        "id": session.session_id,
        "deviceId": session.device_id,
        "status": session.status,
        "isPrimary": session.is_primary,
        "priority": session.priority,
        "messageCount": session.message_count,
        "lastActivity": iso(session.last_activity),
        "phoneNumber": session.phone_number,
        "transport": session.transport,
        "errorCount": session.error_count,
        "lastError": session.last_error,
        "intervalMs": session.interval_ms,
        "jitterMs": session.jitter_ms,
        "dailyCap": session.daily_cap,
        "banExpiresAt": iso(session.ban_expires_at),
        "warmupOnLink": session.warmup_on_link,
        "warmupStartedAt": iso(session.warmup_started_at),
        "warmup": routing.warmup_today(session),
        "dailyLimit": _day_limit(session),
    }


def _day_limit(session: WhatsAppSession) -> dict | None:
    """Today's limit of the number (``{cap, sent, reached, cause}``, cause ``daily_cap`` or
    ``warmup``); null when it has none."""
    limit = routing.day_limit(session)
    if limit is None:
        return None
    return {"cap": limit.cap, "sent": limit.sent, "reached": limit.reached, "cause": limit.cause}


@bp.get("/whatsapp/sessions")
def list_sessions():
    return jsonify(sessions=[session_json(s) for s in sessions.list_sessions()])


@bp.post("/whatsapp/sessions")
def create_session():
    body = load_json(CreateSessionSchema())
    session = sessions.create_session(
        body["deviceId"], body["priority"], body["transport"], warmup=body["warmup"]
    )
    return jsonify(session=session_json(session)), 201


@bp.get("/whatsapp/sessions/<session_id>")
def get_session(session_id: str):
    return jsonify(session=session_json(sessions.get_session(session_id)))


@bp.patch("/whatsapp/sessions/<session_id>")
def update_session(session_id: str):
    body = load_json(UpdateSessionSchema())
    warming_up = body.pop("warmup", None)
    if warming_up is not None:
        warmup.set_warming_up(session_id, warming_up)
    return jsonify(session=session_json(sessions.update_session(session_id, **body)))


@bp.delete("/whatsapp/sessions/<session_id>")
def delete_session(session_id: str):
    sessions.delete_session(session_id)
    return jsonify(deleted=session_id)


@bp.get("/whatsapp/sessions/<session_id>/qr")
def session_qr(session_id: str):
    qr, expires = sessions.qr_png(sessions.get_session(session_id))
    return jsonify(qr=qr, expires=expires)


@bp.post("/whatsapp/sessions/<session_id>/simulator/scan")
def simulator_scan(session_id: str):
    body = load_json(ScanSchema())
    result = sessions.simulator_scan(session_id, body["phone"])
    return jsonify(id=session_id, **result)


@bp.post("/whatsapp/sessions/<session_id>/pair")
def pair_phone(session_id: str):
    """A pairing code to type on the phone instead of scanning the QR."""
    body = load_json(PairSchema())
    return jsonify(id=session_id, code=sessions.pair_phone(session_id, body["phone"]))


@bp.post("/whatsapp/sessions/<session_id>/reconnect")
def reconnect_session(session_id: str):
    result = sessions.reconnect(session_id)
    return jsonify(id=session_id, status=result.get("status"))


@bp.post("/whatsapp/sessions/<session_id>/logout")
def logout_session(session_id: str):
    result = sessions.logout(session_id)
    return jsonify(id=session_id, status=result.get("status"))


@bp.get("/whatsapp/sessions/<session_id>/simulator/faults")
def simulator_faults(session_id: str):
    return jsonify(id=session_id, faults=sessions.simulator_faults(session_id))


@bp.post("/whatsapp/sessions/<session_id>/simulator/faults")
def simulator_fault(session_id: str):
    body = load_json(FaultSchema())
    result = sessions.simulator_fault(session_id, **body)
    return jsonify(id=session_id, **result)


@bp.post("/whatsapp/sessions/<session_id>/simulator/incoming")
def simulator_incoming(session_id: str):
    """A customer writes to the session's simulated number."""
    body = load_json(IncomingSchema())
    result = sessions.simulator_incoming(
        session_id, body["from_"], body["text"], body["pushName"], body["mediaType"]
    )
    return jsonify(id=session_id, **result)
