"""A limit on request bodies (``KABAR_MAX_BODY_MB``, Flask's MAX_CONTENT_LENGTH), checked
before anything reads a body: before the CSRF check parses a form, before MPWA's endpoint
decodes its parameters. A body announced as larger is refused with 413 without reading a byte
of it; one sent in chunks with no length is cut off by werkzeug where it passes the limit.

The default fits the largest legitimate body, a 50,000-recipient bulk send (about 10 MB with
a few variables per recipient) or its CSV on the admin page, with room to spare.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from webapp import i18n

MPWA_PATHS = ("/send-message", "/send-media", "/check-number", "/info-devices")
FONNTE_PATHS = ("/send",)


def install(app: Flask) -> None:
    """Register the check; call it before anything that registers a body-reading hook."""
    app.before_request(_check)
    app.register_error_handler(RequestEntityTooLarge, lambda _exc: refusal())


def body() -> bytes:
    """The request body, read once (and cached). werkzeug stops a body sent without a length
    at the limit and hands back what it read; that is refused here rather than parsed."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and len(raw) >= limit:
        raise RequestEntityTooLarge()
    return raw


def _check():
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        return refusal()
    return None


def refusal():
    """413 in the shape the caller reads: JSON for the API, a billing dialect's own shape and
    status (MPWA's, Fonnte's), a page for the admin console."""
    limit = request.max_content_length or 0
    megabytes = limit // (1024 * 1024)
    size = f"{megabytes} MB" if megabytes else f"{limit // 1024} KB"
    message = f"the request body is larger than {size}"
    if request.path.startswith("/api/"):
        error = {"code": "payload_too_large", "field": "body", "message": message}
        return jsonify(error=error), 413
    if request.path in MPWA_PATHS:  # MPWA refuses everything with a 400, Fonnte with a 200
        return jsonify(status=False, msg=f"body: {message}", field="body"), 400
    if request.path in FONNTE_PATHS:
        return jsonify(status=False, reason=f"body: {message}", field="body"), 200
    text = _(
        "The form sent is larger than %(megabytes)s MB; send a smaller file.", megabytes=megabytes
    )
    return refused_page(text, 413)


def refused_page(message: str, status: int):
    """An admin form refused before it was read: the reason, and a link back to its page."""
    return render_template("admin/request_refused.html", message=message, back=form_page()), status


def form_page() -> str | None:
    """The page of this site the form being answered was sent from, if the browser says."""
    referrer = urlsplit(request.referrer or "")
    return i18n.local_path(referrer.path) if referrer.netloc == request.host else None
