"""MPWA's endpoints, as billing apps and MikroTik scripts call them: GET or POST, query, form or
JSON, with ``api_key`` and ``sender``.

- /send-message: ``number`` (one, or several joined by ``|``), ``message``, ``footer``;
  MIKBILL's variant names them ``nomor_pengirim``, ``nomor_penerima`` and ``pesan``.
- /send-media: ``media_type`` (image, video, audio, document), ``url``, ``caption``, ``footer``.
- /check-number: ``number``; answers ``{"status": true, "msg": <on WhatsApp?>}``.
- /info-devices: the linked numbers (or those of ``number``) and their states, as ``info``.

The api_key is a Kabar API key with the scope ``scopes.DIALECTS`` names (these apps cannot send
headers), rate-limited like the JSON API. A key in the query string (PHPNuxBill's GET URL) is
checked before the body is read, so a stranger's request costs no parsing; a key in the body can
only be checked once the body is decoded, so a body is refused past ``MAX_BODY_BYTES``.

Answers are MPWA's: HTTP 200 ``{"status": true, "msg": ...}``, and every refusal HTTP 400
``{"status": false, "msg": "<field>: <reason>", "field": ...}`` (5xx only when PostgreSQL or Redis
is down, with Retry-After), whatever Kabar's own API would answer: MPWA's clients read ``msg``.
"""

from __future__ import annotations

from flask import jsonify, request, url_for

from webapp.compat import (
    CompatError,
    authenticate,
    bp,
    cap_body,
    install_refusals,
    params,
    required,
)
from webapp.intake import mpwa
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.queue.contracts import MediaType, SessionState

SEND_FIELDS = ("api_key", "sender", "number", "message", "footer")
# MIKBILL's names for sender, number and message.
MIKBILL = {"nomor_pengirim": "sender", "nomor_penerima": "number", "pesan": "message"}
MEDIA_FIELDS = ("api_key", "sender", "number", "media_type", "url", "caption", "footer")
MEDIA_TYPES = (MediaType.IMAGE, MediaType.VIDEO, MediaType.AUDIO, MediaType.DOCUMENT)
# Kabar sends images and documents (no ffmpeg to transcode): a video or a recording goes as a
# document, its file and name kept, which every WhatsApp client opens.
KABAR_MEDIA = {"image": "image", "video": "document", "audio": "document", "document": "document"}
# MPWA's connection states.
DEVICE_STATUS = {SessionState.CONNECTED: "Connected"}


def reply(ok: bool, msg, status: int = 200, *, field: str | None = None, **extra):
    """``{"status": ok, "msg": msg}``, with ``field`` on refusals and ``extra`` keys."""
    body: dict = {"status": ok, "msg": msg}
    if field:
        body["field"] = field
    body.update(extra)
    return jsonify(body), status


def _refuse(status: int, field: str | None, message: str):
    """MPWA answers every refusal 400; a service of Kabar being down stays a 5xx."""
    text = f"{field}: {message}" if field else message
    return reply(False, text, status if status >= 500 else 400, field=field)


install_refusals(bp, _refuse)


@bp.route("/send-message", methods=["GET", "POST"])
def send_message():
    found = _authenticated(SEND_FIELDS, MIKBILL)
    required(found, "number", "message")
    queued = mpwa.queue(
        found["number"], found["message"], footer=found.get("footer"), sender=found.get("sender")
    )
    return _queued(queued)


@bp.route("/send-media", methods=["GET", "POST"])
def send_media():
    found = _authenticated(MEDIA_FIELDS)
    required(found, "number", "media_type", "url")
    media_type = found["media_type"].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise CompatError(400, "media_type", f"must be one of {', '.join(MEDIA_TYPES)}")
    media = mpwa.attachment(found["url"], KABAR_MEDIA[media_type])
    queued = mpwa.queue(
        found["number"],
        found.get("caption", ""),
        footer=found.get("footer"),
        sender=found.get("sender"),
        media=media,
    )
    return _queued(queued)


@bp.route("/check-number", methods=["GET", "POST"])
def check_number():
    found = _authenticated(("api_key", "sender", "number"))
    required(found, "number")
    return reply(True, mpwa.check_number(found["number"], found.get("sender")))


@bp.route("/info-devices", methods=["GET", "POST"])
def info_devices():
    found = _authenticated(("api_key", "number"))
    linked = mpwa.devices(found.get("number"))
    if not linked:
        raise CompatError(404, "number", "no linked WhatsApp number matches")
    return jsonify(status=True, info=[_device(session) for session in linked]), 200


def _authenticated(fields: tuple[str, ...], aliases: dict[str, str] | None = None):
    """The request's fields, once its api_key (the query's first, then the body's) is good."""
    cap_body()
    early = request.args.get("api_key", "").strip() or None
    if early is not None:
        authenticate(early, "api_key", "mpwa")
    found = params(fields, aliases)
    final = (found.get("api_key") or "").strip()
    if early is None or final != early:  # a key in the body wins, as every field there does
        authenticate(final, "api_key", "mpwa")
    return found


def _queued(queued: mpwa.Queued):
    """MPWA's success, with Kabar's ids: ``data`` describes the first message (what a single
    recipient's client reads) and ``data.messages`` every one."""
    first, session = queued.messages[0], queued.session
    note = ""
    if session is not None and session.status != SessionState.CONNECTED:
        note = (
            f"; sender {session.phone_number} is {session.status} now: the message is sent "
            "when it reconnects, or fails after its retries"
        )
    ids = ", ".join(str(message.id) for message in queued.messages)
    return reply(
        True,
        f"Message queued (id {ids}); Kabar tracks it to delivered{note}",
        data={
            "id": first.id,
            "message_id": first.id,
            "status": first.status,
            "to": first.to_number,
            "sender": session.phone_number if session else None,
            "session_id": session.session_id if session else None,
            "status_url": _status_url(first),
            "messages": [
                {"id": m.id, "to": m.to_number, "status": m.status, "status_url": _status_url(m)}
                for m in queued.messages
            ],
        },
    )


def _status_url(message: WhatsAppMessage) -> str:
    return url_for("api.message_status", message_id=message.id)


def _device(session: WhatsAppSession) -> dict:
    """One linked number as MPWA lists a device (``body`` is its number), with Kabar's own
    session id and state beside MPWA's Connected/Disconnected."""
    return {
        "id": session.id,
        "body": session.phone_number,
        "status": DEVICE_STATUS.get(session.status, "Disconnected"),
        "message_sent": session.message_count,
        "session_id": session.session_id,
        "state": session.status,
        "is_primary": session.is_primary,
        "created_at": session.created_at.isoformat() if session.created_at else None,
        "updated_at": session.updated_at.isoformat() if session.updated_at else None,
    }


@bp.route("/send-message", methods=["PUT", "PATCH", "DELETE"])
@bp.route("/send-media", methods=["PUT", "PATCH", "DELETE"])
@bp.route("/check-number", methods=["PUT", "PATCH", "DELETE"])
@bp.route("/info-devices", methods=["PUT", "PATCH", "DELETE"])
def wrong_method():
    """Another method is answered in MPWA's shape, not with the site's 405 page."""
    raise CompatError(405, None, f"use GET or POST for {request.path}, not {request.method}")
