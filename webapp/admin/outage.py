"""The console while PostgreSQL or Redis does not answer: a 503 page instead of a 500.

The page says which part is down and why (unreachable, or too slow: a statement ran past its
time limit), what goes on meanwhile (queued messages wait, nothing is lost), and, for a page
that was only being read, loads itself again every ``REFRESH_S`` seconds until it answers. A
form sent meanwhile is not reloaded (that would send it again): the page says it was not saved
(the database's transaction was rolled back) or, with Redis down, that it may not have been
carried out (what was committed before Redis was asked stays).

These handlers are app-wide but come after the blueprints' own: the JSON API and MPWA's dialect
answer an outage in their own shapes (``webapp/api``, ``webapp/compat``), so what reaches
this page is the console (and the login page).
"""

from __future__ import annotations

import contextlib
import logging

import redis
import sqlalchemy as sa
from flask import g, make_response, render_template, request, url_for
from flask_babel import gettext as _

from webapp.admin import bp
from webapp.core import database
from webapp.extensions import db
from webapp.request_size import form_page

log = logging.getLogger(__name__)

REFRESH_S = 10
# PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout (query_canceled).
_QUERY_CANCELED = "57014"


@bp.app_errorhandler(sa.exc.DBAPIError)
@bp.app_errorhandler(sa.exc.TimeoutError)  # every pooled connection is taken and none came back
def database_down(exc: sa.exc.SQLAlchemyError):
    if not database.is_outage(exc):
        raise exc  # a bug, not an outage: the usual 500, logged with its traceback
    log.error(
        "database unavailable on %s %s: %s",
        request.method,
        request.path,
        type(getattr(exc, "orig", None) or exc).__name__,
    )
    with contextlib.suppress(sa.exc.SQLAlchemyError):
        db.session.rollback()
    g.admin = None  # its attributes may need the database to be read: show no menu
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == _QUERY_CANCELED:
        why = _("It did not answer in time: a query ran past its time limit.")
    elif isinstance(exc, sa.exc.TimeoutError):
        why = _("It did not answer in time: every connection to it is busy.")
    else:
        why = _("It cannot be reached: it is stopped, restarting or refusing connections.")
    return _page(_("The database (PostgreSQL) is not answering."), why, "database")


@bp.app_errorhandler(redis.RedisError)
def redis_down(exc: redis.RedisError):
    log.error("Redis unavailable on %s %s: %s", request.method, request.path, exc)
    return _page(_("Redis is unreachable"), _("The queue (Redis) does not answer."), "redis")


def _page(headline: str, why: str, part: str):
    refresh = REFRESH_S if request.method in ("GET", "HEAD") else None
    page = render_template(
        "admin/unavailable.html",
        headline=headline,
        why=why,
        part=part,
        refresh=refresh,
        back=form_page() or url_for("admin.dashboard"),
    )
    response = make_response(page, 503)
    response.headers["Retry-After"] = str(REFRESH_S)
    return response
