"""MPWA's /send-message, as billing apps call it: GET or POST, query, form or JSON, with
``api_key``, ``sender``, ``number``, ``message`` and an optional ``footer``.

The api_key is a Kabar API key with the ``send`` scope (these apps cannot send headers),
rate-limited like the JSON API. A key in the query string (PHPNuxBill's GET URL) is checked
before the body is read, so a stranger's request costs no parsing; a key in the body can only be
checked once the body is decoded, so a body is refused (413) past ``MAX_BODY_BYTES``, far more
than one message of the longest text needs and little to decode. Success is
``{"status": true, "msg": ..., "data": {"id": <message id>, ...}}`` with HTTP 200; a refusal is
``{"status": false, "msg": "<field>: <reason>", "field": ...}`` with 400/401/403/404/413/422/429.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from flask import current_app, request, url_for

from webapp import request_size
from webapp.api_compat import CompatError, bp, reply
from webapp.models import ApiKey
from webapp.services import api_keys, mpwa, ratelimit

FIELDS = ("api_key", "sender", "number", "message", "footer")
# The longest text (4,096 characters) of emoji, escaped in JSON or percent-encoded, is 49 KB.
MAX_BODY_BYTES = 128 * 1024


@bp.route("/send-message", methods=["GET", "POST"])
def send_message():
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    request.max_content_length = MAX_BODY_BYTES if limit is None else min(limit, MAX_BODY_BYTES)
    early = request.args.get("api_key", "").strip() or None
    if early is not None:
        _authenticate(early)
    params = _params()
    final = (params.get("api_key") or "").strip()
    if early is None or final != early:  # a key in the body wins, as every field there does
        _authenticate(final)
    for name in ("number", "message"):
        if not params.get(name, "").strip():
            raise CompatError(400, name, "missing; this field is required")
    queued = mpwa.queue(
        params["number"],
        params["message"],
        footer=params.get("footer"),
        sender=params.get("sender"),
    )
    message, session = queued.message, queued.session
    note = ""
    if session is not None and session.status != "connected":
        note = (
            f"; sender {session.phone_number} is {session.status} now: the message is sent "
            "when it reconnects, or fails after its retries"
        )
    return reply(
        True,
        f"Message queued (id {message.id}); Kabar tracks it to delivered{note}",
        data={
            "id": message.id,
            "message_id": message.id,
            "status": message.status,
            "to": message.to_number,
            "sender": session.phone_number if session else None,
            "session_id": session.session_id if session else None,
            "status_url": url_for("api.message_status", message_id=message.id),
        },
    )


@bp.route("/send-message", methods=["PUT", "PATCH", "DELETE"])
def send_message_wrong_method():
    raise CompatError(405, None, f"use GET or POST for /send-message, not {request.method}")


@bp.route("/send-media", methods=["GET", "POST"])
def send_media():
    """Media is not sent by Kabar yet: say so in the shape the app parses, not with a 404 page."""
    raise CompatError(
        422, "media_type", "media messages are not supported by Kabar yet; use /send-message"
    )


def _authenticate(raw: str | None) -> ApiKey:
    """The Kabar API key given as api_key, recorded as used "mpwa"; one request of its budget.
    A key without the send scope (a read-only or admin-only key) is refused."""
    raw = (raw or "").strip()
    if not raw:
        raise CompatError(401, "api_key", "missing; give a Kabar API key as api_key")
    key = api_keys.authenticate(raw, via="mpwa")
    if key is None:
        raise CompatError(401, "api_key", "the API key is wrong or revoked")
    if "send" not in key.scope_set:
        raise CompatError(403, "api_key", "this key lacks the send scope")
    config = current_app.config
    wait = ratelimit.take(key.id, config["API_RATE_PER_S"], config["API_RATE_BURST"])
    if wait > 0:
        raise CompatError(
            429, "api_key", f"too many requests for this API key; retry in {wait:.1f} s", wait
        )
    return key


def _params() -> dict[str, str]:
    """The MPWA fields from the query, then the body (form or JSON), the body winning.

    PHP clients are loose about Content-Type: a JSON body is read as JSON whatever the header
    says, and a form body under a JSON header as a form.
    """
    raw = request_size.body()
    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            loaded = json.loads(raw)
        except RecursionError:
            raise CompatError(400, "body", "nested far too deeply") from None
        except ValueError as exc:
            raise CompatError(400, "body", f"not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise CompatError(400, "body", "a JSON body must be an object of fields")
        body: dict[str, Any] = loaded
    elif request.mimetype == "application/json":
        body = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    else:
        body = request.form.to_dict()
    params: dict[str, str] = {}
    for source in (request.args.to_dict(), body):
        for name in FIELDS:
            if name in source and source[name] is not None:
                params[name] = _text(name, source[name])
    return params


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # JSON clients send numbers as numbers
    raise CompatError(400, name, f"must be text, not {type(value).__name__}")
