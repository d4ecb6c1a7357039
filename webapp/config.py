"""All configuration of the web app, read from the environment with defaults that just work.

Zero configuration: a SQLite file under instance/, Redis on localhost, a throw-away SECRET_KEY.
Production sets DATABASE_URL (PostgreSQL), REDIS_URL, SECRET_KEY and WA_ENCRYPTION_KEY.
"""

from __future__ import annotations

import os
import secrets

from workers import settings as worker_settings


def database_url(raw: str | None) -> str:
    """Normalise DATABASE_URL so PostgreSQL URLs go through psycopg 3."""
    if not raw:
        worker_settings.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{worker_settings.INSTANCE_DIR / 'kabar.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL = worker_settings.REDIS_URL
    KABAR_TRANSPORT = worker_settings.DEFAULT_TRANSPORT
    DEFAULT_REGION = os.environ.get("KABAR_DEFAULT_REGION", "ID")
    MAX_MESSAGE_LENGTH = 4096
    RPC_TIMEOUT_S = worker_settings.RPC_TIMEOUT_S
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("KABAR_SECURE_COOKIES", "0") == "1"
    WTF_CSRF_TIME_LIMIT = None
    JSON_SORT_KEYS = False
