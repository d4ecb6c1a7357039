"""Endpoints in the dialects of other WhatsApp gateways, at the paths billing apps already call,
so an operator switches to Kabar by changing one URL.

MPWA's (``mpwa``, blueprint ``api_compat``): /send-message, /send-media, /check-number and
/info-devices, every answer ``{"status": bool, "msg": ...}``. Fonnte's (``fonnte``, blueprint
``api_fonnte``): /send, every answer ``{"status": bool, ...}`` with a ``reason`` on refusals.
Each dialect gives ``install_refusals`` its refusal shape, and every exception of its blueprint
is mapped to it there, in one place. The fields of both come alike from the query string, a form
or a JSON body (``params``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import redis
import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from webapp import request_size
from webapp.api import scopes
from webapp.core import database
from webapp.core.errors import KabarError
from webapp.i18n import for_programs
from webapp.intake import api_keys, ratelimit
from webapp.models import ApiKey

log = logging.getLogger(__name__)

bp = Blueprint("api_compat", __name__)
fonnte_bp = Blueprint("api_fonnte", __name__)

# (status, field, message already in the request's language) -> the dialect's answer
Refuse = Callable[[int, str | None, str], tuple[Response, int]]

# The longest text (4,096 characters) of emoji, escaped in JSON or percent-encoded, is 49 KB.
MAX_BODY_BYTES = 128 * 1024


class CompatError(Exception):
    """A refused request (missing field, bad key, spent budget), in the dialect's terms."""

    def __init__(self, status: int, field: str | None, message: str, retry_after: float = 0):
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.retry_after = retry_after


def install_refusals(blueprint: Blueprint, refuse: Refuse) -> None:
    """Answer every exception raised in ``blueprint`` with ``refuse``: the dialect's shape,
    its text following Accept-Language (English by default), never a page or a trace."""

    def refusal(status: int, field: str | None, message: str):
        return refuse(status, field, for_programs(message))

    def unavailable(message: str):
        """503 with Retry-After: a service Kabar needs is down, nothing was saved; try again."""
        response, status = refusal(503, None, message)
        response.headers["Retry-After"] = str(current_app.config["OUTAGE_RETRY_AFTER_S"])
        return response, status

    @blueprint.errorhandler(CompatError)
    def _compat_error(exc: CompatError):
        response, status = refusal(exc.status, exc.field, exc.message)
        if exc.retry_after:
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return response, status

    @blueprint.errorhandler(KabarError)
    def _kabar_error(exc: KabarError):
        return refusal(exc.status, exc.field, exc.message)

    @blueprint.errorhandler(redis.RedisError)
    def _redis_down(exc: redis.RedisError):
        log.error("Redis unavailable: %s", exc)
        return unavailable("the queue (Redis) is unreachable; retry later")

    @blueprint.errorhandler(sa.exc.DBAPIError)
    @blueprint.errorhandler(sa.exc.TimeoutError)
    def _database_error(exc: sa.exc.SQLAlchemyError):
        if isinstance(exc, sa.exc.DataError):
            return refusal(400, None, database.UNSTORABLE)
        if not database.is_outage(exc):
            return _unexpected(exc)
        log.error("database unavailable: %s", exc.__class__.__name__)
        return unavailable("the database is unreachable; retry later")

    @blueprint.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return refusal(exc.code or 500, None, exc.description or exc.name)
        # The path only: the query string holds the API key.
        log.exception("unhandled error in the %s endpoint %s", blueprint.name, request.path)
        return refusal(500, None, "something went wrong on our side; it is logged")


def cap_body() -> None:
    """Refuse (413) a body past ``MAX_BODY_BYTES``: its key can only be checked once it is
    decoded, so a stranger's body must stay small to decode. Call before reading the body."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    request.max_content_length = MAX_BODY_BYTES if limit is None else min(limit, MAX_BODY_BYTES)


def authenticate(raw: str | None, name: str, via: str) -> ApiKey:
    """The Kabar API key given as ``name``, recorded as used ``via``; one request of its
    budget. A key without the scope its endpoint needs (``scopes.required``) is refused."""
    raw = (raw or "").strip()
    if not raw:
        raise CompatError(401, name, f"missing; give a Kabar API key as {name}")
    key = api_keys.authenticate(raw, via=via)
    if key is None:
        raise CompatError(401, name, "the API key is wrong or revoked")
    scope = scopes.required(request.endpoint)
    if scope not in key.scope_set:
        raise CompatError(403, name, f"this key lacks the {scope} scope")
    config = current_app.config
    wait = ratelimit.take(key.id, config["API_RATE_PER_S"], config["API_RATE_BURST"])
    if wait > 0:
        raise CompatError(
            429, name, f"too many requests for this API key; retry in {wait:.1f} s", wait
        )
    return key


def params(fields: tuple[str, ...], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """The dialect's ``fields`` from the query, then the body (form or JSON), the body winning;
    a field named by one of its ``aliases`` (alias -> field) counts unless the field is given.

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
    found: dict[str, str] = {}
    for source in (request.args.to_dict(), body):
        for alias, name in (aliases or {}).items():
            if alias in source and source[alias] is not None and name not in source:
                found[name] = _text(alias, source[alias])
        for name in fields:
            if name in source and source[name] is not None:
                found[name] = _text(name, source[name])
    return found


def _text(name: str, value: Any) -> str:
    """``value`` as text no database column refuses: a NUL or a lone surrogate (JSON's
    ``\\ud800``) is refused here, naming the field, before any of the request's rows is
    written (a later row refused by the database would leave the earlier ones sent)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # JSON clients send numbers as numbers
    if not isinstance(value, str):
        raise CompatError(400, name, f"must be text, not {type(value).__name__}")
    if "\x00" in value:
        raise CompatError(400, name, "must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CompatError(400, name, "must be text in UTF-8, without lone surrogates") from None
    return value


def required(found: Mapping[str, str], *names: str) -> None:
    for name in names:
        if not found.get(name, "").strip():
            raise CompatError(400, name, "missing; this field is required")


from webapp.compat import fonnte, mpwa  # noqa: E402,F401  (routes)
