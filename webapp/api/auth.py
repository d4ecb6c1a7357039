"""Every API call needs ``Authorization: Bearer <key>`` of a key with the scope the call needs
(``scopes.required``)."""

from __future__ import annotations

import math

from flask import current_app, g, jsonify, request

from webapp import request_size
from webapp.api import bp, error_response, scopes
from webapp.intake import api_keys, ratelimit


@bp.before_request
def require_api_key():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(
            401,
            "unauthorized",
            "send your API key as 'Authorization: Bearer <key>'",
            {"Authorization": ["missing or not a Bearer token"]},
        )
    key = api_keys.authenticate(token.strip(), via="api")
    if key is None:
        return error_response(
            401,
            "unauthorized",
            "the API key is wrong or revoked",
            {"Authorization": ["unknown or revoked API key"]},
        )
    g.api_key = key
    wait = ratelimit.take(
        key.id, current_app.config["API_RATE_PER_S"], current_app.config["API_RATE_BURST"]
    )
    if wait > 0:
        response, status = error_response(
            429,
            "rate_limited",
            f"too many requests for this API key; retry in {wait:.1f} s",
            {"Authorization": ["request budget of this key is spent"]},
        )
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response, status
    needed = scopes.required(request.endpoint)
    if request.endpoint is not None and needed not in key.scope_set:
        # "field" is null: nothing in the request is wrong, the key is.
        error = {
            "code": "missing_scope",
            "field": None,
            "message": f"this key lacks the {needed} scope",
        }
        return jsonify(error=error), 403
    if request.content_length is None and request.method in ("POST", "PUT", "PATCH"):
        request_size.body()  # sent without a length: read it now, refused past the limit
