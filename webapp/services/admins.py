"""Admin users, with argon2id password hashes."""

from __future__ import annotations

from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from webapp.extensions import db
from webapp.models import AdminUser
from webapp.services.errors import Conflict, KabarError

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10


def create_admin(email: str, password: str) -> AdminUser:
    email = email.strip().lower()
    if "@" not in email:
        raise KabarError(f"{email!r} is not an e-mail address", field="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise KabarError(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
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
