"""Endpoints in the dialects of other WhatsApp gateways, at the paths billing apps already call,
so an operator switches to Kabar by changing one URL.

MPWA's (``mpwa``): /send-message. Every answer, refusals included, has that dialect's shape,
``{"status": bool, "msg": str, ...}``; exceptions are mapped to it here, in one place.
"""

from __future__ import annotations

import logging
import math

import redis
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import HTTPException

from webapp.i18n import for_programs
from webapp.services import database
from webapp.services.errors import KabarError

log = logging.getLogger(__name__)

bp = Blueprint("api_compat", __name__)


class CompatError(Exception):
    """A refused request (missing field, bad key, spent budget), in the dialect's terms."""

    def __init__(self, status: int, field: str | None, message: str, retry_after: float = 0):
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.retry_after = retry_after


def reply(ok: bool, msg: str, status: int = 200, *, field: str | None = None, data=None):
    """``{"status": ok, "msg": msg}``, with ``field`` on refusals and ``data`` on success."""
    body: dict = {"status": ok, "msg": msg}
    if field:
        body["field"] = field
    if data is not None:
        body["data"] = data
    return jsonify(body), status


def refusal(status: int, field: str | None, message: str):
    """A refusal in the dialect's shape; its text follows Accept-Language (English by default)."""
    message = for_programs(message)
    return reply(False, f"{field}: {message}" if field else message, status, field=field)


@bp.errorhandler(CompatError)
def _compat_error(exc: CompatError):
    response, status = refusal(exc.status, exc.field, exc.message)
    if exc.retry_after:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response, status


@bp.errorhandler(KabarError)
def _kabar_error(exc: KabarError):
    return refusal(exc.status, exc.field, exc.message)


@bp.errorhandler(redis.RedisError)
def _redis_down(exc: redis.RedisError):
    log.error("Redis unavailable: %s", exc)
    return _unavailable("the queue (Redis) is unreachable; retry later")


@bp.errorhandler(sa.exc.DBAPIError)
@bp.errorhandler(sa.exc.TimeoutError)
def _database_error(exc: sa.exc.SQLAlchemyError):
    if isinstance(exc, sa.exc.DataError):
        return refusal(400, None, database.UNSTORABLE)
    if not database.is_outage(exc):
        return _unexpected(exc)
    log.error("database unavailable: %s", exc.__class__.__name__)
    return _unavailable("the database is unreachable; retry later")


def _unavailable(message: str):
    """503 with Retry-After: a service Kabar needs is down, nothing was saved; try again."""
    response, status = refusal(503, None, message)
    response.headers["Retry-After"] = str(current_app.config["OUTAGE_RETRY_AFTER_S"])
    return response, status


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return refusal(exc.code or 500, None, exc.description or exc.name)
    # The path only: the query string holds the API key.
    log.exception("unhandled error in the MPWA-compatible endpoint")
    return refusal(500, None, "something went wrong on our side; it is logged")


from webapp.api_compat import mpwa  # noqa: E402,F401  (routes)
