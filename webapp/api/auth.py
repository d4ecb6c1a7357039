"""Every API call needs ``Authorization: Bearer <key>``."""

from __future__ import annotations

from flask import g, request

from webapp.api import bp, error_response
from webapp.services import api_keys


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
    key = api_keys.authenticate(token.strip())
    if key is None:
        return error_response(
            401,
            "unauthorized",
            "the API key is wrong or revoked",
            {"Authorization": ["unknown or revoked API key"]},
        )
    g.api_key = key
