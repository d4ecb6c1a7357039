"""Fonnte's /send, as apps written for Fonnte call it: POST (or GET) with the token in the
``Authorization`` header (or as ``token`` in the query or the body, as Fonnte's GET variant
takes it), and ``target``, ``message``, ``url``, ``filename``, ``countryCode``, ``delay``,
``schedule`` in a form, JSON or the query. The token is a Kabar API key with the send scope.

Answers are Fonnte's: ``{"status": true, "detail": ..., "id": [...], "process": "pending",
"target": [...]}``, and a refusal ``{"status": false, "reason": "<field>: <reason>"}`` with
HTTP 200 as Fonnte answers them (clients that raise on 4xx, Guzzle's default, still read the
reason); 5xx only when PostgreSQL or Redis is down, with Retry-After. What Fonnte does that
Kabar does not (buttons, lists, polls, locations, uploaded files, a batch in ``data``) is
refused by name, never half-sent.
"""

from __future__ import annotations

from flask import jsonify, request

from webapp.compat import (
    CompatError,
    authenticate,
    cap_body,
    fonnte_bp,
    install_refusals,
    params,
    required,
)
from webapp.intake import fonnte

FIELDS = (
    "token",
    "target",
    "message",
    "url",
    "filename",
    "countryCode",
    "delay",
    "schedule",
)
UNSUPPORTED = ("file", "location", "choices", "data", "buttonJSON", "templateJSON", "listJSON")


def _refuse(status: int, field: str | None, message: str):
    text = f"{field}: {message}" if field else message
    body: dict = {"status": False, "reason": text}
    if field:
        body["field"] = field
    return jsonify(body), status if status >= 500 else 200


install_refusals(fonnte_bp, _refuse)


@fonnte_bp.route("/send", methods=["GET", "POST"])
def send():
    cap_body()
    early = _header_token() or request.args.get("token", "").strip() or None
    if early is not None:
        authenticate(early, "token", "fonnte")
    found = params(FIELDS + UNSUPPORTED)
    if early is None:
        authenticate(found.get("token"), "token", "fonnte")
    for name in UNSUPPORTED:
        if found.get(name, "").strip() or name in request.files:
            raise CompatError(400, name, "not supported by Kabar; send text, or a file by url")
    required(found, "target")
    sent = fonnte.queue(
        fonnte.Request(
            targets=found["target"],
            message=found.get("message", ""),
            url=found.get("url", ""),
            filename=found.get("filename", ""),
            country_code=found.get("countryCode", "62"),
            delay=found.get("delay", ""),
            schedule=found.get("schedule", ""),
        )
    )
    return jsonify(
        status=True,
        detail="success! message in queue",
        id=[str(message.id) for message in sent],
        process="pending",
        target=[message.to_number for message in sent],
    )


@fonnte_bp.route("/send", methods=["PUT", "PATCH", "DELETE"])
def wrong_method():
    """Another method is answered in Fonnte's shape, not with the site's 405 page."""
    raise CompatError(405, None, f"use GET or POST for {request.path}, not {request.method}")


def _header_token() -> str | None:
    """Fonnte's header holds the bare token; ``Bearer <token>`` is taken too."""
    value = request.headers.get("Authorization", "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return value or None
