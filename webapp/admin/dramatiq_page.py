"""The Dramatiq dashboard (queues, delayed and dead-lettered jobs) under /admin/dramatiq.

dramatiq_dashboard is a WSGI app of its own; this view puts it behind the admin login and hands
it the request with the mount prefix stripped. It protects its forms with its own CSRF cookie,
so Flask-WTF's check is lifted for this view only.
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from webapp.admin import bp, login_required
from webapp.extensions import csrf

PREFIX = "/admin/dramatiq"
_dashboard = None


def dashboard_app():
    global _dashboard
    if _dashboard is None:
        from dramatiq_dashboard import DashboardApp

        from workers import broker

        _dashboard = DashboardApp(broker=broker.broker, prefix=PREFIX)
    return _dashboard


@bp.route("/dramatiq/", defaults={"rest": ""}, methods=["GET", "POST"])
@bp.route("/dramatiq/<path:rest>", methods=["GET", "POST"])
@csrf.exempt
@login_required
def dramatiq_dashboard(rest: str):
    environ = dict(request.environ)
    environ["PATH_INFO"] = "/" + rest
    environ["SCRIPT_NAME"] = PREFIX
    return Response.from_app(dashboard_app(), environ)
