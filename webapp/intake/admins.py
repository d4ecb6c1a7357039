"""Admin users, with argon2id password hashes, and the epoch that ends their cookies.

An admin's cookie carries the ``session_epoch`` it was issued under; a logout or a new password
raises the epoch, so every cookie issued before (a copied one included) stops working.
"""

from __future__ import annotations

from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from webapp.core.errors import Conflict, KabarError, NotFound
from webapp.extensions import db
from webapp.models import AdminUser

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
WRONG_PASSWORD = "the current password is wrong"


def create_admin(email: str, password: str) -> AdminUser:
    email = email.strip().lower()
    if "@" not in email:
        raise KabarError(f"{email!r} is not an e-mail address", field="email")
    check_length(password)
    if db.session.scalar(db.select(AdminUser.id).where(AdminUser.email == email)):
        raise Conflict(f"an admin {email} exists already", field="email")
    admin = AdminUser(email=email, password_hash=_hasher.hash(password))
    db.session.add(admin)
    db.session.commit()
    return admin


def any_admin() -> bool:
    """Whether anyone can log in yet (the login page tells a first user how to start)."""
    return db.session.scalar(db.select(AdminUser.id).limit(1)) is not None


def verify(email: str, password: str) -> AdminUser | None:
    """The admin whose credentials these are, or None."""
    admin = db.session.scalar(
        db.select(AdminUser).where(AdminUser.email == (email or "").strip().lower())
    )
    if admin is None:
        _hasher.hash(password or "")  # same cost whether or not the e-mail exists
        return None
    try:
        _hasher.verify(admin.password_hash, password or "")
    except VerificationError:
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = _hasher.hash(password)
    admin.last_login_at = datetime.now(UTC)
    db.session.commit()
    return admin


def set_password(email: str, password: str) -> AdminUser:
    """Give the admin ``email`` a new password and end every login made with the old one."""
    check_length(password)
    admin = db.session.scalar(
        db.select(AdminUser).where(AdminUser.email == (email or "").strip().lower())
    )
    if admin is None:
        raise NotFound(f"no admin {email}", field="email")
    _replace_password(admin, password)
    return admin


def change_password(admin: AdminUser, current: str, new: str) -> None:
    """An admin's own change: ``current`` must be their password now. Every login of theirs
    ends, as with ``set_password``; the caller keeps its own going (the new ``session_epoch``)."""
    check_length(new)
    try:
        _hasher.verify(admin.password_hash, current or "")
    except VerificationError:
        raise KabarError(WRONG_PASSWORD, field="current_password") from None
    _replace_password(admin, new)


def end_sessions(admin_id: int) -> None:
    """Log the admin out everywhere: every cookie issued to them so far stops working."""
    admin = db.session.get(AdminUser, admin_id)
    if admin is not None:
        _next_epoch(admin)
        db.session.commit()


def _replace_password(admin: AdminUser, password: str) -> None:
    admin.password_hash = _hasher.hash(password)
    _next_epoch(admin)
    db.session.commit()


def _next_epoch(admin: AdminUser) -> None:
    # In SQL, so two logouts at once both count and neither cookie survives.
    admin.session_epoch = AdminUser.session_epoch + 1


def check_length(password: str) -> None:
    """A new password's rule (forms check it before anything else is asked of them)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise KabarError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
