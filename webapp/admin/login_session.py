"""An admin's login, held in Flask's signed session cookie and checked on every request.

The cookie names the admin, the ``session_epoch`` it was issued under, when the login began and
when it was last used. It stops working when
- the admin logs out or gets a new password (the epoch in the database moves on, so a cookie
  copied before is refused everywhere, not only in the browser that logged out; the browser
  the admin changed their own password in stays logged in);
- nothing was asked with it for ``ADMIN_IDLE_S`` (``KABAR_ADMIN_IDLE``, 30 minutes): what a
  page's own script asks every few seconds (``POLLS``) does not count, or a tab left open on
  the sessions page would never end;
- it is older than ``ADMIN_SESSION_MAX_S`` (``KABAR_ADMIN_SESSION_MAX``, 12 hours).
"""

from __future__ import annotations

import secrets
import time

from flask import Response, current_app, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from webapp import i18n
from webapp.extensions import db
from webapp.intake import admins
from webapp.models import AdminUser

DEVICE_COOKIE = "kabar_device"
DEVICE_MAX_AGE_S = 180 * 24 * 3600
# "Last used" is written at most this often, so a page that polls does not re-sign the cookie
# on every answer; idle times are this much less exact.
TOUCH_EVERY_S = 60
# Asked by a page's script on its own every 2 s: they show a tab is open, not that anyone is there.
POLLS = frozenset({"admin.sessions_status", "admin.bulk_status"})


def start(admin: AdminUser) -> None:
    """A new cookie for ``admin``: nothing of the session before the login carries over."""
    i18n.clear_session()
    now = int(time.time())
    session["admin_id"] = admin.id
    session["admin_epoch"] = admin.session_epoch
    session["login_at"] = now
    session["seen_at"] = now


def current() -> tuple[AdminUser | None, bool]:
    """The admin this request's cookie still logs in, and whether a login just ended (expired or
    revoked) so the page can say so."""
    admin_id = session.get("admin_id")
    if not admin_id:
        return None, False
    admin = db.session.get(AdminUser, admin_id)
    now = int(time.time())
    config = current_app.config
    alive = (
        admin is not None
        and session.get("admin_epoch") == admin.session_epoch
        and now - int(session.get("seen_at", 0)) <= config["ADMIN_IDLE_S"]
        and now - int(session.get("login_at", 0)) <= config["ADMIN_SESSION_MAX_S"]
    )
    if not alive:
        i18n.clear_session()
        return None, True
    if request.endpoint not in POLLS and now - int(session["seen_at"]) >= TOUCH_EVERY_S:
        session["seen_at"] = now
    return admin, False


def keep(admin: AdminUser) -> None:
    """This cookie goes on working after the admin's epoch moved on (their new password), when
    every other one stops."""
    session["admin_epoch"] = admin.session_epoch


def end(admin: AdminUser | None) -> None:
    """Log out: this cookie and every other one issued to the admin stop working."""
    if admin is not None:
        admins.end_sessions(admin.id)
    i18n.clear_session()


def device(email: str) -> str | None:
    """The token of this browser if ``email`` logged in from it before (see
    ``webapp.intake.login_throttle``: such a browser is not held up by strangers' failures)."""
    try:
        token = _devices().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=DEVICE_MAX_AGE_S)
    except BadSignature:
        return None
    same = isinstance(token, dict) and token.get("email") == email.strip().lower()
    return str(token.get("nonce")) if same else None


def remember_device(response: Response, admin: AdminUser) -> Response:
    """Mark this browser as one ``admin`` logs in from."""
    token = _devices().dumps({"email": admin.email, "nonce": secrets.token_urlsafe(12)})
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=DEVICE_MAX_AGE_S,
        path="/admin/login",
        httponly=True,
        samesite="Lax",
        secure=current_app.session_interface.get_cookie_secure(current_app),
    )
    return response


def _devices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="kabar-login-device")
