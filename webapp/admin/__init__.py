"""Admin pages: login and the dashboard here; the sessions page in ``sessions_page``."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from webapp.extensions import db
from webapp.models import AdminUser, WhatsAppMessage
from webapp.services import admins, sessions

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_app_request
def load_admin():
    admin_id = session.get("admin_id")
    g.admin = db.session.get(AdminUser, admin_id) if admin_id else None


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
    if request.method == "POST":
        admin = admins.verify(request.form.get("email", ""), request.form.get("password", ""))
        if admin is None:
            error = "Email atau kata sandi salah. / Wrong e-mail or password."
        else:
            session.clear()
            session["admin_id"] = admin.id
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/admin") else url_for("admin.dashboard"))
    return render_template("admin/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout():
    session.clear()
    flash("Anda telah keluar. / You are logged out.")
    return redirect(url_for("admin.login"))


@bp.get("/")
@login_required
def dashboard():
    recent = db.session.scalars(
        db.select(WhatsAppMessage).order_by(WhatsAppMessage.id.desc()).limit(20)
    )
    return render_template(
        "admin/dashboard.html", sessions=sessions.list_sessions(), messages=list(recent)
    )


from webapp.admin import sessions_page  # noqa: E402,F401  (routes of the sessions page)
from webapp.admin import dramatiq_page  # noqa: E402,F401  (the Dramatiq dashboard)
from webapp.admin import bulk_page, templates_page, triggers_page  # noqa: E402,F401  (templates, triggers, bulk sends)
