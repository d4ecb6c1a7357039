# ruff: noqa: I001 - route modules are registered one line each at the end
"""Admin pages: login and the dashboard here; the sessions page in ``sessions_page``."""

from __future__ import annotations

import contextlib
import logging
from functools import wraps

import redis
import sqlalchemy as sa

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from webapp import phrases
from webapp.admin import login_session
from webapp.extensions import csrf, db
from webapp.request_size import refused_page
from webapp.intake import admins, login_throttle
from webapp.core import database

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_app_request
def load_admin():
    """Who is logged in, asked of the database for the console's pages only: the API, /healthz,
    /metrics, static files and the language switch answer while it is down."""
    g.admin = None
    if request.blueprint != bp.name:
        return
    g.admin, ended = login_session.current()
    if ended:
        flash(_("Your login has ended; log in again."))


@bp.app_errorhandler(CSRFError)
def form_expired(exc: CSRFError):
    """A form whose token expired (or that came from another site): say so on a page. Over HTTPS
    the Referer must name the host the request reached; behind a proxy that does not pass Host
    it never does, and reloading would not help, so that reason is named (and logged)."""
    log.warning("admin form refused: %s", exc.description)
    if "referrer" in (exc.description or ""):
        message = _(
            "This form was refused: the address it was sent from is not the one Kabar sees. "
            "Behind a reverse proxy, have it pass the Host header (README: Behind a reverse "
            "proxy)."
        )
    else:
        message = _("This form has expired; reload the page and send it again.")
    if request.endpoint == "admin.login":
        return render_template("admin/login.html", error=message), 400
    return refused_page(message, 400)


@bp.errorhandler(sa.exc.DataError)
def unstorable(exc: sa.exc.DataError):
    """A value PostgreSQL refuses to store or compare (a NUL character in a path or field, a
    number out of range): the request's fault, said on a page, never a 500."""
    db.session.rollback()
    log.info("admin request refused by the database: %s", exc.orig.__class__.__name__)
    return refused_page(phrases.say(database.UNSTORABLE), 400)


@bp.app_context_processor
def page_links():
    """Lets base.html link a page only once its blueprint route exists (pages arrive one by one)."""
    return {"has_page": lambda endpoint: endpoint in current_app.view_functions}


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.admin is None:
            return redirect(url_for("admin.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    status = 200
    if request.method == "POST":
        email = request.form.get("email", "")
        address = request.remote_addr or "?"  # the real client's (webapp/proxies)
        device = login_session.device(email)
        try:
            wait = login_throttle.take(email, address, device)
        except redis.RedisError:
            wait = None  # guesses cannot be counted: no password is checked until Redis is back
        if wait is None:
            error = _("Redis is unreachable; try again in a moment.")
            status = 503
        elif wait:
            minutes = (wait + 59) // 60
            error = _("Too many attempts; try again in %(minutes)s min.", minutes=minutes)
            status = 429
        elif (admin := admins.verify(email, request.form.get("password", ""))) is None:
            error = _("Wrong e-mail or password.")
            status = 401
        else:
            with contextlib.suppress(redis.RedisError):  # the attempt stays counted, no more
                login_throttle.succeeded(email, address, device)
            login_session.start(admin)
            target = request.args.get("next", "")
            page = target if target.startswith("/admin") else url_for("admin.dashboard")
            return login_session.remember_device(redirect(page), admin)
    return render_template(
        "admin/login.html", error=error, first_run=not admins.any_admin()
    ), status


@bp.post("/logout")
@csrf.exempt
def logout():
    """No form token needed: a logout clicked on a page left open past its token's life must
    still end the login, and another site cannot use it (the cookie is SameSite=Lax, so a
    cross-site POST arrives without it and ends nothing)."""
    login_session.end(g.admin)
    flash(_("You are logged out."))
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def dashboard():
    from webapp.admin.console_pages import overview

    return overview()


from webapp.admin import sessions_page  # noqa: E402,F401  (routes of the sessions page)
from webapp.admin import dramatiq_page  # noqa: E402,F401  (the Dramatiq dashboard)
from webapp.admin import console_pages  # noqa: E402,F401  (dashboard, messages, queue)
from webapp.admin import api_keys_page  # noqa: E402,F401  (API keys)
from webapp.admin import webhooks_page  # noqa: E402,F401  (webhooks)
from webapp.admin import bulk_page, templates_page, triggers_page  # noqa: E402,F401  (templates, triggers, bulk sends)
from webapp.admin import settings_page  # noqa: E402,F401  (settings)
from webapp.admin import holds  # noqa: E402,F401  (the "held" filter: why a message waits)
from webapp.admin import password_page  # noqa: E402,F401  (an admin changes their password)
from webapp.admin import outage  # noqa: E402,F401  (the page while PostgreSQL or Redis is down)
