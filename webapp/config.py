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
    # No pre-ping: it costs a round trip per transaction on the send path; connections are
    # recycled instead, and a send that meets a dead connection is retried by Dramatiq.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_recycle": 1800, "pool_size": 10, "max_overflow": 20}
    REDIS_URL = worker_settings.REDIS_URL
    KABAR_TRANSPORT = worker_settings.DEFAULT_TRANSPORT
    DEFAULT_REGION = os.environ.get("KABAR_DEFAULT_REGION", "ID")
    MAX_MESSAGE_LENGTH = 4096
    TIMEZONE = os.environ.get("KABAR_TIMEZONE", "Asia/Jakarta")
    # Routing policy of urgent and normal messages, and of bulk ones (failover | spread).
    ROUTING_DEFAULT = os.environ.get("KABAR_ROUTING", "failover")
    ROUTING_BULK = os.environ.get("KABAR_ROUTING_BULK", "spread")
    # How long a worker thread may wait for a number's slot before giving the message back.
    MAX_PARK_MS = {"urgent": 60_000, "normal": 30_000, "bulk": 30_000}
    # Queued rows older than this with no job alive in Redis are queued again.
    RECONCILE_AFTER_S = int(os.environ.get("KABAR_RECONCILE_AFTER", 300))
    # Requests per second per API key (a token bucket with this burst).
    API_RATE_PER_S = float(os.environ.get("KABAR_API_RATE", 50))
    API_RATE_BURST = int(os.environ.get("KABAR_API_BURST", 200))
    RPC_TIMEOUT_S = worker_settings.RPC_TIMEOUT_S
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("KABAR_SECURE_COOKIES", "0") == "1"
    WTF_CSRF_TIME_LIMIT = None
    JSON_SORT_KEYS = False
