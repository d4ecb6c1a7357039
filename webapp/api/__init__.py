"""The JSON API under /api: API-key auth, marshmallow schemas, errors as JSON in one place."""

from __future__ import annotations

import logging

import redis
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from webapp import request_size
from webapp.core import database
from webapp.core.errors import KabarError
from webapp.i18n import for_programs

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    """The error body; ``code`` is stable English, ``message`` and the field reasons follow the
    request's Accept-Language (English by default)."""
    body = {"error": {"code": code, "message": for_programs(message)}}
    if fields:
        body["error"]["fields"] = {
            name: [for_programs(reason) for reason in reasons] for name, reasons in fields.items()
        }
        body["error"]["field"] = next(iter(fields))
    return jsonify(body), status


@bp.errorhandler(KabarError)
def _kabar_error(exc: KabarError):
    fields = {exc.field: [exc.message]} if exc.field else None
    return error_response(exc.status, exc.code, exc.message, fields)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge):
    return request_size.refusal()


@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError):
    fields = _flatten(exc.messages) if isinstance(exc.messages, dict) else {"body": exc.messages}
    first = next(iter(fields))
    return error_response(400, "validation_error", f"{first}: {fields[first][0]}", fields)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """JSON for every HTTP error under /api, including paths no API route matched."""
    if not request.path.startswith(bp.url_prefix + "/"):
        return exc
    return error_response(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):  # the blueprint's Exception handler is looked up first
        return _http_error(exc)
    log.exception("unhandled error in %s %s", request.method, request.path)
    return error_response(500, "internal_error", "something went wrong on our side; it is logged")


@bp.errorhandler(sa.orm.exc.StaleDataError)
@bp.errorhandler(sa.orm.exc.ObjectDeletedError)
def _removed_meanwhile(exc: sa.exc.SQLAlchemyError):
    """Another request deleted the row this one was changing: it is gone, as a 404 says."""
    log.info("row removed while %s %s changed it: %s", request.method, request.path, exc)
    return error_response(404, "not_found", "it was removed while this request changed it")


@bp.errorhandler(redis.RedisError)
def _redis_down(exc: redis.RedisError):
    log.error("Redis unavailable: %s", exc)
    return unavailable("queue_unavailable", "the queue (Redis) is unreachable; retry later")


@bp.errorhandler(sa.exc.DBAPIError)
@bp.errorhandler(sa.exc.TimeoutError)
def _database_error(exc: sa.exc.SQLAlchemyError):
    if isinstance(exc, sa.exc.DataError):
        return error_response(400, "invalid_value", database.UNSTORABLE)
    if not database.is_outage(exc):
        return _unexpected(exc)
    log.error("database unavailable: %s", exc.__class__.__name__)
    return unavailable("database_unavailable", "the database is unreachable; retry later")


def unavailable(code: str, message: str):
    """503 with Retry-After: a service Kabar needs is down, nothing was saved; try again."""
    response, status = error_response(503, code, message)
    response.headers["Retry-After"] = str(current_app.config["OUTAGE_RETRY_AFTER_S"])
    return response, status


def _flatten(errors: dict, prefix: str = "") -> dict[str, list[str]]:
    """{"data": {"x": ["bad"]}} -> {"data.x": ["bad"]}: one dotted path per field."""
    flat: dict[str, list[str]] = {}
    for key, value in errors.items():
        path = f"{prefix}{key}" if key != "_schema" else (prefix.rstrip(".") or "body")
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return flat


from webapp.api import (  # noqa: E402,F401  (routes)  # noqa: E402,F401  (templates, events, bulk)  # noqa: E402,F401  (operations: metrics, webhooks)
    auth,
    bulk,
    events,
    messages,
    metrics,
    sessions,
    settings,
    simulator,
    templates,
    webhooks,
)
