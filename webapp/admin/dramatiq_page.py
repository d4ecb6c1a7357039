"""The Dramatiq dashboard (queues, delayed and dead-lettered jobs) under /admin/dramatiq.

dramatiq_dashboard is a WSGI app of its own; this view puts it behind the admin login and hands
it the request with the mount prefix stripped. It protects its forms with its own CSRF cookie,
so Flask-WTF's check is lifted for this view only. Version 0.4.0 writes that cookie's value into
its pages unescaped, so the view makes it safe three ways: the dashboard sees no cookie but a
well-formed ``__dd_csrf`` (64 hex digits; anything else is dropped and it makes a new one), its
answers carry a Content-Security-Policy that runs no script at all (the dashboard has none), and
they may not be framed. Job arguments and tracebacks are shown masked (``workers.queue.masking``):
texts, bodies and numbers of customers stay out of the page. A job Kabar did not sign is not
requeued from the page (a requeue would sign it). Without the package the page says how to
install it.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

from flask import render_template, request
from werkzeug.wrappers import Response

from webapp.admin import bp, login_required
from webapp.extensions import csrf
from workers.queue import job_signatures, masking, signing

PREFIX = "/admin/dramatiq"
CSRF_COOKIE = "__dd_csrf"
_TOKEN = re.compile(r"[0-9a-f]{64}")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The job page prints each option raw (a failed job's traceback among them).
_OPTION_CELL = "<td><pre>{{ value }}</pre></td>"
_MASKED_OPTION_CELL = "<td><pre>{{ value|masked_option(name) }}</pre></td>"
_dashboard = None


class DashboardMissing(Exception):
    """dramatiq_dashboard is not installed."""


def dashboard_app():
    global _dashboard
    if _dashboard is None:
        try:
            from dramatiq_dashboard import DashboardApp
        except ImportError as exc:
            raise DashboardMissing(str(exc)) from None

        from workers.queue import broker

        app = DashboardApp(broker=broker.broker, prefix=PREFIX)
        _mask_jobs(app)
        _dashboard = app
    return _dashboard


def _mask_jobs(app) -> None:
    """Show job arguments masked; the jobs themselves (requeued from the page) are untouched."""
    import jinja2

    env = app.templates
    pformat = env.filters["pformat"]
    env.filters["pformat"] = lambda value: pformat(masking.masked_arg(value))
    env.filters["masked_option"] = _masked_option
    source, _, _ = env.loader.get_source(env, "job.html")
    if _OPTION_CELL not in source:
        raise RuntimeError("dramatiq_dashboard's job page changed: check what it shows")
    patched = {"job.html": source.replace(_OPTION_CELL, _MASKED_OPTION_CELL)}
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader(patched), env.loader])


def _masked_option(value, name: str):
    if name in ("traceback", "error"):
        return masking.mask_digits(str(value))
    return (
        value
        if isinstance(value, int | float | bool) or value is None
        else masking.masked_arg(value)
    )


def _unrequeuable(dashboard) -> str | None:
    """Why the job a requeue form names must stay where it is: the dashboard queues it again
    through Kabar's broker, which signs what it queues, so a job Kabar did not sign (forged,
    or queued before jobs were signed) would come out of a requeue signed and run."""
    job = dashboard.iface.get_job(request.form.get("queue", ""), request.form.get("id", ""))
    if not job:
        return None  # the dashboard answers that it is gone
    return job_signatures.refusal(job.message)


def _safe_cookie(header: str) -> str:
    """Only the dashboard's own cookie, and only when it is a token the dashboard could have
    made; the admin session and anything planted stay out of its reach."""
    cookie = SimpleCookie()
    try:
        cookie.load(header)
    except Exception:  # noqa: BLE001 - an unparsable header is as good as none
        return ""
    morsel = cookie.get(CSRF_COOKIE)
    if morsel is None or not _TOKEN.fullmatch(morsel.value):
        return ""
    return f"{CSRF_COOKIE}={morsel.value}"


@bp.route("/dramatiq/", defaults={"rest": ""}, methods=["GET", "POST"])
@bp.route("/dramatiq/<path:rest>", methods=["GET", "POST"])
@csrf.exempt
@login_required
def dramatiq_dashboard(rest: str):
    try:
        dashboard = dashboard_app()
    except DashboardMissing:
        return render_template("admin/dramatiq_missing.html")
    if rest == "requeue-message" and request.method == "POST" and (why := _unrequeuable(dashboard)):
        other_key = why == signing.OTHER_KEY
        return render_template("admin/dramatiq_refused.html", other_key=other_key), 409
    environ = dict(request.environ)
    environ["PATH_INFO"] = "/" + rest
    environ["SCRIPT_NAME"] = PREFIX
    environ.pop("HTTP_COOKIE", None)
    if cookie := _safe_cookie(request.headers.get("Cookie", "")):
        environ["HTTP_COOKIE"] = cookie
    response = Response.from_app(dashboard, environ)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
