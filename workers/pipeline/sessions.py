"""WhatsApp sessions: the rows, the list of sessions the session hosts should run, and the
calls into the host that holds one.

PostgreSQL is the record of which sessions exist; ``keys.DESIRED_SESSIONS`` in Redis is what the
session hosts read. ``sync_desired`` rebuilds the latter from the former, so losing Redis loses
no session.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import qrcode
import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.core import phone as phone_numbers
from webapp.core.errors import Conflict, KabarError, NotFound, SessionUnavailable
from webapp.extensions import db
from webapp.models import WhatsAppSession
from webapp.redis_client import get_redis
from workers.queue import keys
from workers.queue.contracts import RpcCode, RpcMethod, SessionState
from workers.session_host.rpc import RpcError, SessionHostClient
from workers.session_host.simulated_network import SimulatedNetwork
from workers.session_host.transports import TRANSPORTS


def list_sessions() -> list[WhatsAppSession]:
    return list(
        db.session.scalars(
            db.select(WhatsAppSession).order_by(WhatsAppSession.priority, WhatsAppSession.id)
        )
    )


def get_session(session_id: str) -> WhatsAppSession:
    session = db.session.scalar(
        db.select(WhatsAppSession).where(WhatsAppSession.session_id == session_id)
    )
    if session is None:
        raise NotFound(f"no session {session_id!r}", field="id")
    return session


def create_session(
    device_id: str, priority: int = 999, transport: str | None = None, warmup: bool = False
):
    """Store a new session and ask the session hosts to start it (it will show a QR).

    Its pacing starts from the ``default_interval_ms`` / ``default_jitter_ms`` settings. With
    ``warmup`` (a new number) it warms up from its first link (see ``warmup.start_if_new``).
    """
    transport = transport or current_app.config["DEFAULT_TRANSPORT"]
    if transport not in TRANSPORTS:
        raise KabarError(f"transport must be one of {', '.join(TRANSPORTS)}", field="transport")
    if db.session.scalar(
        db.select(WhatsAppSession.id).where(WhatsAppSession.device_id == device_id)
    ):
        raise Conflict(f"a session for device {device_id!r} exists already", field="deviceId")
    session = WhatsAppSession(
        session_id="pending",
        device_id=device_id,
        priority=priority,
        transport=transport,
        interval_ms=settings.get("default_interval_ms"),
        jitter_ms=settings.get("default_jitter_ms"),
        warmup_on_link=warmup,
    )
    db.session.add(session)
    db.session.flush()
    session.session_id = f"session-{session.id}"
    db.session.commit()
    _desire(session)
    return session


PACING_FIELDS = ("priority", "interval_ms", "jitter_ms", "daily_cap")


def update_session(session_id: str, **changes: Any) -> WhatsAppSession:
    """Change a session's priority and pacing; the next send uses the new values."""
    session = get_session(session_id)
    for name, value in changes.items():
        if name not in PACING_FIELDS:
            raise KabarError(f"{name} cannot be changed here", field=name)
        setattr(session, name, value)
    db.session.flush()
    if "priority" in changes:
        recompute_primary()
    db.session.commit()
    return session


def delete_session(session_id: str) -> None:
    """Log the session out (where a host holds it), stop it everywhere and delete its row."""
    session = get_session(session_id)
    try:
        host_call(session_id, RpcMethod.LOGOUT, timeout=5)
    except SessionUnavailable:
        pass  # not running anywhere: nothing to log out
    get_redis().hdel(keys.DESIRED_SESSIONS, session_id)
    get_redis().publish(keys.SESSIONS_CHANGED, session_id)
    db.session.delete(session)
    db.session.commit()


def sync_desired() -> int:
    """Make the session hosts' list match the sessions in the database; return its size."""
    sessions = list_sessions()
    pipe = get_redis().pipeline()
    pipe.delete(keys.DESIRED_SESSIONS)
    for session in sessions:
        pipe.hset(keys.DESIRED_SESSIONS, session.session_id, _desired_entry(session))
    pipe.publish(keys.SESSIONS_CHANGED, "*")
    pipe.execute()
    return len(sessions)


# Settings handed to every session's transport as options (the session host passes them on).
TRANSPORT_OPTIONS = {
    "reconnect_backoff_base_s": "backoff_base",
    "reconnect_backoff_cap_s": "backoff_cap",
}


def _desired_entry(session: WhatsAppSession) -> str:
    """What the session host needs to start the session. Only saved settings become options:
    without them each transport keeps its own defaults (the simulator's come from
    ``KABAR_SIM_BACKOFF_*``)."""
    entry: dict[str, Any] = {"transport": session.transport}
    options = {
        option: settings.get(name)
        for name, option in TRANSPORT_OPTIONS.items()
        if settings.is_saved(name)
    }
    if options:
        entry["options"] = options
    return json.dumps(entry)


def settings_changed(names: Iterable[str]) -> None:
    """After settings were saved: give the session hosts new options where they changed. A
    session takes them at its next start by a host (a host restart or a take-over); one that is
    running keeps its transport, and so its options, until then."""
    if TRANSPORT_OPTIONS.keys() & set(names):
        sync_desired()


def _desire(session: WhatsAppSession) -> None:
    pipe = get_redis().pipeline()
    pipe.hset(keys.DESIRED_SESSIONS, session.session_id, _desired_entry(session))
    pipe.publish(keys.SESSIONS_CHANGED, session.session_id)
    pipe.execute()


# What the session host answers when a number cannot be reached now (not a refusal by WhatsApp).
# channel_key_mismatch: the host refused the call unread, its secret is another (see README).
UNAVAILABLE = (
    RpcCode.NOT_HOSTED,
    RpcCode.TIMEOUT,
    RpcCode.HOST_GONE,
    RpcCode.NOT_CONNECTED,
    RpcCode.CLIENT_CRASHED,
    RpcCode.CHANNEL_KEY_MISMATCH,
)


def host_call(session_id: str, method: str, timeout: float | None = None, **params: Any) -> Any:
    """Call the session host holding ``session_id``; host-side refusals become KabarErrors."""
    client = SessionHostClient(get_redis(), timeout=current_app.config["RPC_TIMEOUT_S"])
    try:
        return client.call(session_id, method, timeout=timeout, **params)
    except RpcError as exc:
        if exc.code in UNAVAILABLE:
            raise SessionUnavailable(exc.message, field="id") from exc
        if exc.code == RpcCode.UNSUPPORTED:
            raise Conflict(exc.message, field="id") from exc
        raise KabarError(exc.message) from exc


def simulator_scan(session_id: str, phone: str | None = None) -> dict[str, Any]:
    _simulator_session(session_id)
    return host_call(session_id, RpcMethod.SIMULATE, action="scan", params={"phone": phone})


def _simulator_session(session_id: str) -> WhatsAppSession:
    """The session, which must use the simulator: simulator controls mean nothing elsewhere."""
    session = get_session(session_id)
    if session.transport != "simulator":
        raise Conflict(
            f"session {session_id} uses the {session.transport} transport, not the simulator",
            field="id",
        )
    return session


def pair_phone(session_id: str, phone: str) -> str:
    """An 8-character pairing code to type on ``phone`` (WhatsApp -> Linked devices -> Link
    with phone number), the alternative to scanning the QR. The session must be waiting for a
    scan; the simulator answers a made-up code and links that number at the next scan."""
    session = get_session(session_id)
    if session.status == SessionState.CONNECTED:
        raise Conflict(f"session {session_id} is linked already", field="id")
    recipient = phone_numbers.normalize(phone, current_app.config["DEFAULT_REGION"], field="phone")
    result = host_call(session_id, RpcMethod.PAIR, phone=recipient.phone)
    code = re.sub(r"[^0-9A-Za-z]", "", str(result.get("code") or "")).upper()
    if len(code) != 8:
        raise KabarError(f"WhatsApp answered an unexpected pairing code {code!r}", field="phone")
    return code


def reconnect(session_id: str) -> dict[str, Any]:
    """Stop the session's connection and start it again, resuming its stored login."""
    session = get_session(session_id)
    _desire(session)  # a session missing from the hosts' list is listed again
    return host_call(session_id, RpcMethod.RECONNECT)


def logout(session_id: str) -> dict[str, Any]:
    """Unlink the device from the phone and forget its login; the session stays, ready for a
    new scan after a reconnect."""
    get_session(session_id)
    return host_call(session_id, RpcMethod.LOGOUT)


def simulator_fault(session_id: str, fault: str, **params: Any) -> dict[str, Any]:
    """Inject a fault into a simulator session (see
    ``workers.session_host.transports.simulator``)."""
    _simulator_session(session_id)
    given = {name: value for name, value in params.items() if value is not None}
    return host_call(
        session_id, RpcMethod.SIMULATE, action="fault", params={"fault": fault, **given}
    )


def simulator_faults(session_id: str) -> dict[str, Any]:
    """The lasting faults of a simulator session, read from the simulated network."""
    _simulator_session(session_id)
    return SimulatedNetwork(get_redis()).faults(session_id)


def simulator_incoming(
    session_id: str,
    from_phone: str,
    text: str,
    push_name: str | None = None,
    media_type: str | None = None,
) -> dict[str, Any]:
    """A customer writes to a simulator session's number (``media_type``: with media, whose
    caption ``text`` is)."""
    _simulator_session(session_id)
    sender = phone_numbers.normalize(from_phone, current_app.config["DEFAULT_REGION"], "from")
    params = {
        "from_phone": sender.phone,
        "text": text,
        "push_name": push_name,
        "media_type": media_type,
    }
    return host_call(session_id, RpcMethod.SIMULATE, action="incoming", params=params)


def qr_png(session: WhatsAppSession) -> tuple[str, int]:
    """The session's live QR as a PNG data URL, and the seconds it stays valid."""
    if session.status == SessionState.CONNECTED:
        raise Conflict(f"session {session.session_id} is connected already", field="id")
    expires_at = session.qr_expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    remaining = int((expires_at - datetime.now(UTC)).total_seconds()) if expires_at else 0
    if not session.qr_code or remaining <= 0:
        raise NotFound(
            f"session {session.session_id} has no QR code yet (status {session.status}); "
            "retry in a moment",
            field="qr",
        )
    image = qrcode.make(session.qr_code)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), remaining


def recompute_primary() -> None:
    """Primary = the connected session with the lowest priority number; never two."""
    primary = db.session.scalar(
        db.select(WhatsAppSession.id)
        .where(WhatsAppSession.status == SessionState.CONNECTED)
        .order_by(WhatsAppSession.priority, WhatsAppSession.id)
        .limit(1)
    )
    S = WhatsAppSession
    db.session.execute(
        sa.update(S).where(S.is_primary.is_(True), S.id != (primary or 0)).values(is_primary=False)
    )
    if primary is not None:
        db.session.execute(
            sa.update(S).where(S.id == primary, S.is_primary.is_(False)).values(is_primary=True)
        )
