"""Admin page "Ganti kata sandi": the logged-in admin changes their own password.

The rules are those of ``flask set-admin-password`` (``webapp.intake.admins``). The current
password is asked first and every wrong one counts against the login throttle
(``webapp.intake.login_throttle``) like a failed login: the page is no way round it for someone
who found an unlocked browser. A change ends every other login of the admin and keeps this one.
"""

from __future__ import annotations

import contextlib

import redis
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp import phrases
from webapp.admin import bp, login_required, login_session
from webapp.core.errors import KabarError
from webapp.intake import admins, login_throttle


@bp.get("/password")
@login_required
def password_page(error: str | None = None, field: str | None = None, status: int = 200):
    return render_template(
        "admin/password.html",
        error=error,
        field=field,
        min_length=admins.MIN_PASSWORD_LENGTH,
    ), status


@bp.post("/password")
@login_required
def change_password():
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password_again", ""):
        return password_page(_("The two new passwords differ."), "new_password_again", 400)
    try:
        admins.check_length(new)
    except KabarError as exc:
        return password_page(phrases.say(exc.message), "new_password", 400)
    address = request.remote_addr or "?"
    if wait := login_throttle.take(g.admin.email, address):  # Redis down: the 503 page
        minutes = (wait + 59) // 60
        error = _("Too many attempts; try again in %(minutes)s min.", minutes=minutes)
        return password_page(error, "current_password", 429)
    try:
        admins.change_password(g.admin, current, new)
    except KabarError as exc:
        return password_page(phrases.say(exc.message), "current_password", 400)
    with contextlib.suppress(redis.RedisError):  # the attempt stays counted, no more
        login_throttle.succeeded(g.admin.email, address)
    login_session.keep(g.admin)
    flash(
        _("Password changed. Every other login of yours has ended; this browser stays logged in.")
    )
    return redirect(url_for("admin.password_page"))
