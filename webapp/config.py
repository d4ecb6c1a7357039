"""All configuration of the web app, read from the environment with defaults that just work.

Zero configuration: a SQLite file under instance/, Redis on localhost, a throw-away SECRET_KEY.
Production sets DATABASE_URL (PostgreSQL), REDIS_URL, SECRET_KEY and WA_ENCRYPTION_KEY.
"""

from __future__ import annotations

import os
import secrets

from workers import settings as worker_settings


def database_url(raw: str | None) -> str:
    """Normalise DATABASE_URL (the session host's client processes read it the same way)."""
    return worker_settings.database_url(raw)


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # Pre-ping: a pooled connection PostgreSQL closed (a restart) is replaced before use, so the
    # first request after a restart does not fail; it costs one short round trip per checkout.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "pool_size": 10,
        "max_overflow": 20,
    }
    # Seconds a client is told to wait (Retry-After) while PostgreSQL or Redis is unreachable.
    OUTAGE_RETRY_AFTER_S = int(os.environ.get("KABAR_OUTAGE_RETRY_AFTER", 5))
    REDIS_URL = worker_settings.REDIS_URL
    KABAR_TRANSPORT = worker_settings.DEFAULT_TRANSPORT
    DEFAULT_REGION = os.environ.get("KABAR_DEFAULT_REGION", "ID")
    MAX_MESSAGE_LENGTH = 4096
    TIMEZONE = os.environ.get("KABAR_TIMEZONE", "Asia/Jakarta")
    BABEL_DEFAULT_LOCALE = os.environ.get("KABAR_LANGUAGE", "id")  # admin console: id | en
    # Routing policy of urgent and normal messages, and of bulk ones (failover | spread).
    ROUTING_DEFAULT = os.environ.get("KABAR_ROUTING", "failover")
    ROUTING_BULK = os.environ.get("KABAR_ROUTING_BULK", "spread")
    # How long a worker thread may wait for a number's slot before giving the message back.
    MAX_PARK_MS = {"urgent": 60_000, "normal": 30_000, "bulk": 30_000}
    # How long a message may wait for a number that can send (all resting after errors, none
    # hosted, none connected, all at their daily cap) before that wait counts as a failed
    # attempt; until then waiting costs none.
    WAIT_FOR_NUMBER_S = int(os.environ.get("KABAR_WAIT_FOR_NUMBER", 3600))
    # How often a message held by a daily cap or warm-up looks again whether it may go (an
    # operator may raise the cap, end the warm-up or link another number meanwhile).
    HOLD_POLL_S = float(os.environ.get("KABAR_HOLD_POLL", 60))
    # Queued rows whose job is this old and gone from Redis are queued again.
    RECONCILE_AFTER_S = int(os.environ.get("KABAR_RECONCILE_AFTER", 60))
    # A job a worker took (or delayed past its time) whose ledger row has not moved for this long
    # is stuck and queued again: longer than any legal run (Dramatiq's 10 minute time limit).
    STUCK_AFTER_S = int(os.environ.get("KABAR_STUCK_AFTER", 900))
    # Requests per second per API key (a token bucket with this burst).
    API_RATE_PER_S = float(os.environ.get("KABAR_API_RATE", 50))
    API_RATE_BURST = int(os.environ.get("KABAR_API_BURST", 200))
    RPC_TIMEOUT_S = worker_settings.RPC_TIMEOUT_S
    # Request bodies larger than this are refused (413) before they are read: a 50,000-
    # recipient bulk send with a few variables each is about 10 MB.
    MAX_CONTENT_LENGTH = int(float(os.environ.get("KABAR_MAX_BODY_MB", 32)) * 1024 * 1024)
    # Reverse proxies in front of Kabar whose X-Forwarded-* headers are believed (webapp/proxies).
    TRUSTED_PROXIES = int(os.environ.get("KABAR_TRUSTED_PROXIES", 0))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure cookies on every response, not only on those to HTTPS requests (webapp/proxies).
    SESSION_COOKIE_SECURE = os.environ.get("KABAR_SECURE_COOKIES", "0") == "1"
    # An admin login ends after this many seconds without a request, and this long after it
    # began whatever happens; a logout or a new password ends it at once (services/admins).
    ADMIN_IDLE_S = int(os.environ.get("KABAR_ADMIN_IDLE", 1800))
    ADMIN_SESSION_MAX_S = int(os.environ.get("KABAR_ADMIN_SESSION_MAX", 12 * 3600))
    # A form's CSRF token is good for this many seconds: by default as long as a login can last,
    # so a page open while its admin stays logged in is never refused and its input lost; the
    # token's secret lives in the login's cookie and ends with it (logout, idle, new password).
    WTF_CSRF_TIME_LIMIT = int(os.environ.get("KABAR_CSRF_TIME_LIMIT", ADMIN_SESSION_MAX_S))
    JSON_SORT_KEYS = False
    # The MPWA-compatible /send-message: this sender (or an empty one) means "route as usual"
    # instead of naming one linked number.
    MPWA_ANY_SENDER = os.environ.get("KABAR_MPWA_ANY_SENDER", "any")

    # Operations (fallback, retention, metrics, webhooks, opt-out, quiet hours) ----------------
    # E-mail fallback: a message that ends ``failed`` goes by SMTP to the recipient's address.
    ENABLE_EMAIL_FALLBACK = os.environ.get("ENABLE_EMAIL_FALLBACK", "0").lower() in (
        "1",
        "true",
        "yes",
        "on",
    )
    SMTP_HOST = os.environ.get("SMTP_HOST", "localhost")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", 587))
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = os.environ.get("SMTP_STARTTLS", "1").lower() in ("1", "true", "yes", "on")
    SMTP_FROM = os.environ.get("SMTP_FROM", "kabar@localhost")
    SMTP_TIMEOUT_S = float(os.environ.get("SMTP_TIMEOUT", 15))
    # Retention: days kept of messages, of finished queue jobs, of sessions left disconnected
    # (0 keeps for ever); rows go in batches so a large table is never locked for long.
    RETENTION_MESSAGES_DAYS = int(os.environ.get("KABAR_RETENTION_MESSAGES_DAYS", 15))
    RETENTION_JOBS_DAYS = int(os.environ.get("KABAR_RETENTION_JOBS_DAYS", 30))
    RETENTION_SESSIONS_DAYS = int(os.environ.get("KABAR_RETENTION_SESSIONS_DAYS", 90))
    RETENTION_BATCH = int(os.environ.get("KABAR_RETENTION_BATCH", 1000))
    # /metrics: with a token, scrapers send it as a Bearer token; without one, only requests
    # from this machine (loopback) are answered.
    METRICS_TOKEN = os.environ.get("KABAR_METRICS_TOKEN", "")
    # Webhooks: seconds a delivery may take, and how long a process trusts its list of
    # subscriptions before reading it again.
    WEBHOOK_TIMEOUT_S = float(os.environ.get("KABAR_WEBHOOK_TIMEOUT", 10))
    WEBHOOK_CACHE_S = float(os.environ.get("KABAR_WEBHOOK_CACHE", 5))
    # Webhooks to loopback, LAN and carrier-grade NAT addresses (a billing app beside Kabar):
    # off by default; the setting of the same name wins once saved.
    WEBHOOK_ALLOW_PRIVATE = os.environ.get("KABAR_WEBHOOK_ALLOW_PRIVATE", "0").lower() in (
        "1",
        "true",
        "yes",
        "on",
    )
    # Media given by URL is fetched by Kabar: from loopback, LAN and CGNAT addresses only when
    # allowed (an invoice PDF from a billing app on the LAN), at most MEDIA_MAX_MB a file, in
    # MEDIA_FETCH_TIMEOUT_S; the settings of the same names win once saved.
    MEDIA_ALLOW_PRIVATE = os.environ.get("KABAR_MEDIA_ALLOW_PRIVATE", "0").lower() in (
        "1",
        "true",
        "yes",
        "on",
    )
    MEDIA_MAX_MB = int(os.environ.get("KABAR_MEDIA_MAX_MB", 16))
    MEDIA_FETCH_TIMEOUT_S = float(os.environ.get("KABAR_MEDIA_FETCH_TIMEOUT", 20))
    # Opt-out: an incoming message that is exactly one of these words (any case) opts the
    # sender out of bulk and promotion messages.
    OPT_OUT_KEYWORDS = tuple(
        word.strip()
        for word in os.environ.get("KABAR_OPT_OUT_KEYWORDS", "BERHENTI,STOP,UNSUBSCRIBE").split(",")
        if word.strip()
    )
    # Quiet hours ("21:00-07:00" in TIMEZONE; empty = off): messages of these template
    # categories wait until the quiet period ends; everything else still goes.
    QUIET_HOURS = os.environ.get("KABAR_QUIET_HOURS", "")
    QUIET_CATEGORIES = tuple(
        word.strip()
        for word in os.environ.get("KABAR_QUIET_CATEGORIES", "promotion,reminder").split(",")
        if word.strip()
    )
