"""Every environment variable Kabar reads, declared once: its name, default, parser and doc.

Zero configuration: a SQLite file under instance/, Redis on localhost, a throw-away SECRET_KEY.
Production sets DATABASE_URL (PostgreSQL), REDIS_URL, SECRET_KEY and WA_ENCRYPTION_KEY.

``VARS`` is the table. Each entry's value, read once at import, is a module attribute under the
entry's key (``config.LEASE_MS``), for the worker-side processes that read them without Flask.
The web app's ``create_app`` reads the table again (``flask_config``), so a test may change the
environment after importing Kabar, or pass overrides of the Flask config to ``create_app`` and
set none. What worker-side modules read at import (the broker's Redis, the signing secret, the
credentials key) stays as it was read then: those are set in the environment before the process
starts, as in production. The database-backed settings (``webapp.settings``) take their
defaults from here. No other module reads ``os.environ``. This module imports nothing of Kabar's
but the named contracts (``workers.queue.contracts``, which import nothing), and no Flask.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.queue.contracts import Band

# Parsers ----------------------------------------------------------------------------------------
# The words that mean yes, and no, in a variable, a form field or a query parameter (any case).
TRUE_WORDS = ("1", "true", "yes", "on", "y")
FALSE_WORDS = ("0", "false", "no", "off", "n", "")


def parse_bool(text: str) -> bool:
    """True for one of TRUE_WORDS (any case, spaces around ignored); anything else is False."""
    return text.strip().lower() in TRUE_WORDS


def parse_int(text: str) -> int:
    return int(text)


def parse_ms(text: str) -> int:
    """A duration in whole milliseconds."""
    return int(text)


def parse_float(text: str) -> float:
    return float(text)


def parse_str(text: str) -> str:
    return text


def parse_path(text: str) -> Path:
    return Path(text)


def parse_list(text: str) -> tuple[str, ...]:
    """Comma-separated words, each stripped; empty ones dropped."""
    return tuple(word.strip() for word in text.split(",") if word.strip())


def parse_megabytes(text: str) -> int:
    """Megabytes (a fraction allowed) as a number of bytes."""
    return int(float(text) * 1024 * 1024)


# The table --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Var:
    """One environment variable. ``default`` is the value when it is unset (or, with
    ``empty_is_unset``, empty); a callable default gets the values read before it. ``web``: the
    value is also a key of the Flask config, under the attribute's name."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    doc: str
    web: bool = False
    empty_is_unset: bool = False

    def value(self, environ: Mapping[str, str], before: Mapping[str, Any]) -> Any:
        raw = environ.get(self.name)
        if raw is None or (self.empty_is_unset and raw == ""):
            return self.default(before) if callable(self.default) else self.default
        return self.parse(raw)


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# The longest an RPC caller waits; a request promising a later deadline is refused.
RPC_MAX_TIMEOUT_S = 600.0
# Reconnect back-off of a dropped session, the same for every transport (neonize's shape): the
# first wait, the longest, the random seconds added, the failed attempts in a row before the
# session ends failed. The database-backed settings of the same names start from these.
RECONNECT_BACKOFF_BASE_S = 2.0
RECONNECT_BACKOFF_CAP_S = 60.0
RECONNECT_JITTER_S = 1.0
RECONNECT_MAX_ATTEMPTS = 10

# Attribute name -> variable, in reading order (a default may use the values above it).
# fmt: off
VARS: dict[str, Var] = {
    # Where things live ----------------------------------------------------------------------
    "INSTANCE_DIR": Var("KABAR_INSTANCE_DIR", lambda _: Path.cwd() / "instance", parse_path,
                        "SQLite file, its session credentials and neonize's working stores"),
    "DATABASE_URL": Var("DATABASE_URL", "", parse_str,
                        "PostgreSQL for production; unset: SQLite under the instance dir"),
    "REDIS_URL": Var("REDIS_URL", DEFAULT_REDIS_URL, parse_str,
                     "queues, RPC, leases, session events", web=True),
    # Where versions before the credentials table kept ``<session>.cred`` files (imported on
    # start).
    "SESSION_STORE_DIR": Var("KABAR_SESSION_STORE", lambda v: v["INSTANCE_DIR"] / "sessions",
                             parse_path, "credential files of older versions, imported on start"),
    # neonize's plaintext working stores (0700): only while a session runs; leftovers of a
    # crashed client are removed when its session starts again.
    "WORKING_STORE_DIR": Var("KABAR_WORKING_STORE",
                             lambda v: v["INSTANCE_DIR"] / "working-stores", parse_path,
                             "neonize's working stores while a session runs"),
    # Keys -----------------------------------------------------------------------------------
    "WA_ENCRYPTION_KEY": Var("WA_ENCRYPTION_KEY", "", parse_str,
                             "key of the stored WhatsApp credentials and secret settings"),
    # Unset: a random one per process start (``flask_config``); logins end on a restart.
    "SECRET_KEY": Var("SECRET_KEY", "", parse_str, "signs admin sessions",
                      empty_is_unset=True),
    # What RPC requests, replies and session events on Redis are signed with
    # (workers/queue/signing.py): the same in every process, or the session host acts on nothing.
    "CHANNEL_SECRET": Var("KABAR_RPC_SECRET",
                          lambda v: v["SECRET_KEY"] or v["WA_ENCRYPTION_KEY"], parse_str,
                          "signs what Kabar's processes send each other through Redis",
                          empty_is_unset=True),
    # Web process --------------------------------------------------------------------------
    # Read by honcho.Procfile and scripts/run.sh (gunicorn's --bind), declared here to be listed.
    "PORT": Var("PORT", "5000", parse_str, "port the web process listens on"),
    "BIND": Var("KABAR_BIND", "127.0.0.1", parse_str, "address the web process listens on"),
    # Seconds a client is told to wait (Retry-After) while PostgreSQL or Redis is unreachable.
    "OUTAGE_RETRY_AFTER_S": Var("KABAR_OUTAGE_RETRY_AFTER", 5, parse_int,
                                "Retry-After of a 503 during an outage (s)", web=True),
    "DEFAULT_REGION": Var("KABAR_DEFAULT_REGION", "ID", parse_str,
                          "country of local numbers such as 0812...", web=True),
    "TIMEZONE": Var("KABAR_TIMEZONE", "Asia/Jakarta", parse_str,
                    "the day of daily caps and the zone admin pages show", web=True),
    "BABEL_DEFAULT_LOCALE": Var("KABAR_LANGUAGE", "id", parse_str,
                                "admin console language until one is picked: id | en", web=True),
    # Requests per second per API key (a token bucket with this burst).
    "API_RATE_PER_S": Var("KABAR_API_RATE", 50.0, parse_float,
                          "requests per second per API key", web=True),
    "API_RATE_BURST": Var("KABAR_API_BURST", 200, parse_int,
                          "burst of requests per API key", web=True),
    # Request bodies larger than this are refused (413) before they are read: a 50,000-
    # recipient bulk send with a few variables each is about 10 MB.
    "MAX_CONTENT_LENGTH": Var("KABAR_MAX_BODY_MB", parse_megabytes("32"), parse_megabytes,
                              "largest request body (MB)", web=True),
    # Reverse proxies in front of Kabar whose X-Forwarded-* headers are believed
    # (webapp/proxies).
    "TRUSTED_PROXIES": Var("KABAR_TRUSTED_PROXIES", 0, parse_int,
                           "reverse proxies whose X-Forwarded-* headers are believed", web=True),
    # Secure cookies on every response, not only on those to HTTPS requests (webapp/proxies).
    "SESSION_COOKIE_SECURE": Var("KABAR_SECURE_COOKIES", False, parse_bool,
                                 "cookies Secure on every response", web=True),
    # An admin login ends after this many seconds without a request, and this long after it
    # began whatever happens; a logout or a new password ends it at once (intake/admins).
    "ADMIN_IDLE_S": Var("KABAR_ADMIN_IDLE", 1800, parse_int,
                        "seconds without a request that end an admin login", web=True),
    "ADMIN_SESSION_MAX_S": Var("KABAR_ADMIN_SESSION_MAX", 12 * 3600, parse_int,
                               "seconds after which an admin login ends", web=True),
    # A form's CSRF token is good for this many seconds: by default as long as a login can last,
    # so a page open while its admin stays logged in is never refused and its input lost; the
    # token's secret lives in the login's cookie and ends with it (logout, idle, new password).
    "WTF_CSRF_TIME_LIMIT": Var("KABAR_CSRF_TIME_LIMIT", lambda v: v["ADMIN_SESSION_MAX_S"],
                               parse_int, "seconds an admin form's token is good for", web=True),
    # The MPWA-compatible /send-message: this sender (or an empty one) means "route as usual"
    # instead of naming one linked number.
    "MPWA_ANY_SENDER": Var("KABAR_MPWA_ANY_SENDER", "any", parse_str,
                           "MPWA sender value that lets Kabar choose the number", web=True),
    "METRICS_TOKEN": Var("KABAR_METRICS_TOKEN", "", parse_str,
                         "Bearer token of /metrics; without one only loopback is answered",
                         web=True),
    # Sending and routing ----------------------------------------------------------------------
    "DEFAULT_TRANSPORT": Var("KABAR_TRANSPORT", "neonize", parse_str,
                             "transport of new sessions: neonize | simulator", web=True),
    # Routing policy of urgent and normal messages, and of bulk ones (failover | spread).
    "ROUTING_DEFAULT": Var("KABAR_ROUTING", "failover", parse_str,
                           "routing of urgent and normal messages", web=True),
    "ROUTING_BULK": Var("KABAR_ROUTING_BULK", "spread", parse_str,
                        "routing of bulk messages", web=True),
    # How long a message may wait for a number that can send (all resting after errors, none
    # hosted, none connected, all at their daily cap) before that wait counts as a failed
    # attempt; until then waiting costs none.
    "WAIT_FOR_NUMBER_S": Var("KABAR_WAIT_FOR_NUMBER", 3600, parse_int,
                             "seconds a message may wait for a number able to send", web=True),
    # How often a message held by a daily cap or warm-up looks again whether it may go (an
    # operator may raise the cap, end the warm-up or link another number meanwhile).
    "HOLD_POLL_S": Var("KABAR_HOLD_POLL", 60.0, parse_float,
                       "seconds between two looks of a held message", web=True),
    # Paced numbers (an interval or a jitter) send from per-number ready queues the session
    # host works through at each slot (workers.queue.ready), instead of a worker thread
    # waiting for every slot; off: the worker waits for each slot and calls the host per message.
    "PACE_ON_HOST": Var("KABAR_PACE_ON_HOST", True, parse_bool,
                        "paced numbers send from the session host's ready queues", web=True,
                        empty_is_unset=True),
    # How many of a paced number's slots ahead a bulk job fills its ready queue (10 at one
    # message a second: ten seconds): what does not fit goes back to the queue until room
    # opens, so a number that drops or comes back changes the share of a bulk within seconds.
    "PACE_LOOKAHEAD_SLOTS": Var("KABAR_PACE_LOOKAHEAD", 10, parse_int,
                                "slots ahead a bulk job fills a paced number's ready queue",
                                web=True),
    # Queued rows whose job is this old and gone from Redis are queued again.
    "RECONCILE_AFTER_S": Var("KABAR_RECONCILE_AFTER", 60, parse_int,
                             "age of a job before the reconciler may find it lost", web=True),
    # A job a worker took (or delayed past its time) whose ledger row has not moved for this
    # long is stuck and queued again: longer than any legal run (Dramatiq's 10 minute limit).
    "STUCK_AFTER_S": Var("KABAR_STUCK_AFTER", 900, parse_int,
                         "seconds a taken job may go without its row moving", web=True),
    # Processes and Redis --------------------------------------------------------------------
    "LEASE_MS": Var("KABAR_LEASE_MS", 15_000, parse_ms,
                    "how long a session host's claim on a session lives without renewal"),
    "RPC_TIMEOUT_S": Var("KABAR_RPC_TIMEOUT", 15.0, parse_float,
                         "seconds a caller waits for the session host", web=True),
    # A session host's heartbeat lives this long and is renewed every third of it: a host that
    # died frees its sessions, and its callers stop waiting, within this time.
    "HOST_HEARTBEAT_MS": Var("KABAR_HOST_HEARTBEAT_MS", 3_000, parse_ms,
                             "lifetime of a session host's heartbeat"),
    # Simulator sessions that may share one client process (benchmarks with hundreds of
    # numbers); neonize sessions always get a process each.
    "SIM_SESSIONS_PER_PROCESS": Var("KABAR_SIM_SESSIONS_PER_PROCESS", 1, parse_int,
                                    "simulated numbers sharing one client process"),
    # Dramatiq's Redis broker: a dead worker's messages go back to the queue once its heartbeat
    # is this old. A live worker beats on every call to Redis (its idle queues are polled every
    # 100 ms), so 10 s is never reached by one that lives. The check runs in this many of a
    # million calls (Dramatiq's default, 1,000, ran it every minute or two on a busy queue;
    # 20,000 every second or so); it is cheap while no worker is dead.
    "BROKER_HEARTBEAT_MS": Var("KABAR_BROKER_HEARTBEAT_MS", 10_000, parse_ms,
                               "age of a worker's heartbeat before its messages move"),
    "BROKER_MAINTENANCE_CHANCE": Var("KABAR_BROKER_MAINTENANCE_CHANCE", 20_000, parse_int,
                                     "in how many of a million calls dead workers are sought"),
    # Session health checks (session host): how often each connected session is proven with a
    # round trip, when a round trip counts as slow, when it counts as failed, how many failures
    # in a row make the host reconnect, and after how long without traffic a session is idle.
    "HEALTH_INTERVAL_S": Var("KABAR_HEALTH_INTERVAL", 30.0, parse_float,
                             "seconds between two health checks of a session"),
    "HEALTH_SLOW_S": Var("KABAR_HEALTH_SLOW", 5.0, parse_float,
                         "seconds after which a health check is slow"),
    "HEALTH_TIMEOUT_S": Var("KABAR_HEALTH_TIMEOUT", 15.0, parse_float,
                            "seconds after which a health check failed"),
    "HEALTH_MAX_FAILURES": Var("KABAR_HEALTH_MAX_FAILURES", 5, parse_int,
                               "failed health checks in a row before a reconnect"),
    "HEALTH_IDLE_S": Var("KABAR_HEALTH_IDLE", 24 * 3600.0, parse_float,
                         "seconds without traffic before a session is flagged idle"),
    # Simulator ------------------------------------------------------------------------------
    # Delays before the virtual phone reports delivered and read.
    "SIM_DELIVERED_AFTER_S": Var("KABAR_SIM_DELIVERED_AFTER", 0.3, parse_float,
                                 "simulator: seconds before delivered"),
    "SIM_READ_AFTER_S": Var("KABAR_SIM_READ_AFTER", 1.0, parse_float,
                            "simulator: seconds before read"),
    "SIM_QR_TTL_S": Var("KABAR_SIM_QR_TTL", 60, parse_int, "simulator: QR lifetime (s)"),
    # A login WhatsApp gives up on: nobody scanned, or typed the pairing code, within this long.
    "SIM_LOGIN_TIMEOUT_S": Var("KABAR_SIM_LOGIN_TIMEOUT", 160.0, parse_float,
                               "simulator: seconds a login may take"),
    # Faults: the reconnect back-off after a simulated disconnect and how long a simulated
    # temporary ban lasts when the fault names no duration.
    "SIM_BACKOFF_BASE_S": Var("KABAR_SIM_BACKOFF_BASE", RECONNECT_BACKOFF_BASE_S, parse_float,
                              "simulator: first reconnect wait (s)"),
    "SIM_BACKOFF_CAP_S": Var("KABAR_SIM_BACKOFF_CAP", RECONNECT_BACKOFF_CAP_S, parse_float,
                             "simulator: longest reconnect wait (s)"),
    "SIM_BACKOFF_JITTER_S": Var("KABAR_SIM_BACKOFF_JITTER", RECONNECT_JITTER_S, parse_float,
                                "simulator: random seconds added to a reconnect wait"),
    "SIM_MAX_ATTEMPTS": Var("KABAR_SIM_MAX_ATTEMPTS", RECONNECT_MAX_ATTEMPTS, parse_int,
                            "simulator: failed reconnects before the session fails"),
    "SIM_BAN_S": Var("KABAR_SIM_BAN", 24 * 3600.0, parse_float,
                     "simulator: length of a ban that names none (s)"),
    # Operations (fallback, retention, webhooks, media, opt-out, quiet hours) ------------------
    # E-mail fallback: a message that ends ``failed`` goes by SMTP to the recipient's address.
    "ENABLE_EMAIL_FALLBACK": Var("ENABLE_EMAIL_FALLBACK", False, parse_bool,
                                 "e-mail failed messages", web=True),
    "SMTP_HOST": Var("SMTP_HOST", "localhost", parse_str, "SMTP server", web=True),
    "SMTP_PORT": Var("SMTP_PORT", 587, parse_int, "SMTP port (465: implicit TLS)", web=True),
    "SMTP_USER": Var("SMTP_USER", "", parse_str, "SMTP login, when set", web=True),
    "SMTP_PASSWORD": Var("SMTP_PASSWORD", "", parse_str, "SMTP password", web=True),
    "SMTP_STARTTLS": Var("SMTP_STARTTLS", True, parse_bool, "STARTTLS before the login",
                         web=True),
    "SMTP_FROM": Var("SMTP_FROM", "kabar@localhost", parse_str, "sender of fallback e-mail",
                     web=True),
    "SMTP_TIMEOUT_S": Var("SMTP_TIMEOUT", 15.0, parse_float, "seconds an SMTP exchange may take",
                          web=True),
    # Retention: days kept of messages, of finished queue jobs, of sessions left disconnected
    # (0 keeps for ever); rows go in batches so a large table is never locked for long.
    "RETENTION_MESSAGES_DAYS": Var("KABAR_RETENTION_MESSAGES_DAYS", 15, parse_int,
                                   "days messages are kept (0: for ever)", web=True),
    "RETENTION_JOBS_DAYS": Var("KABAR_RETENTION_JOBS_DAYS", 30, parse_int,
                               "days finished jobs are kept (0: for ever)", web=True),
    "RETENTION_SESSIONS_DAYS": Var("KABAR_RETENTION_SESSIONS_DAYS", 90, parse_int,
                                   "days disconnected sessions are kept (0: for ever)", web=True),
    "RETENTION_BATCH": Var("KABAR_RETENTION_BATCH", 1000, parse_int,
                           "rows per delete transaction", web=True),
    # Webhooks: seconds a delivery may take, how long a process trusts its list of
    # subscriptions before reading it again, retries after the first attempt (Dramatiq back-off
    # from 1 s, doubling up to 10 minutes between attempts: 10 retries span about half an hour).
    "WEBHOOK_TIMEOUT_S": Var("KABAR_WEBHOOK_TIMEOUT", 10.0, parse_float,
                             "seconds a webhook delivery may take", web=True),
    "WEBHOOK_CACHE_S": Var("KABAR_WEBHOOK_CACHE", 5.0, parse_float,
                           "seconds a process trusts its webhook list", web=True),
    "WEBHOOK_MAX_RETRIES": Var("KABAR_WEBHOOK_RETRIES", 10, parse_int,
                               "retries of a webhook delivery"),
    # Webhooks to loopback, LAN and carrier-grade NAT addresses (a billing app beside Kabar):
    # off by default; the setting of the same name wins once saved.
    "WEBHOOK_ALLOW_PRIVATE": Var("KABAR_WEBHOOK_ALLOW_PRIVATE", False, parse_bool,
                                 "webhooks may post to private addresses", web=True),
    # Media given by URL is fetched by Kabar: from loopback, LAN and CGNAT addresses only when
    # allowed (an invoice PDF from a billing app on the LAN), at most MEDIA_MAX_MB a file, in
    # MEDIA_FETCH_TIMEOUT_S; the settings of the same names win once saved.
    "MEDIA_ALLOW_PRIVATE": Var("KABAR_MEDIA_ALLOW_PRIVATE", False, parse_bool,
                               "media URLs may be on private addresses", web=True),
    "MEDIA_MAX_MB": Var("KABAR_MEDIA_MAX_MB", 16, parse_int, "largest media file (MB)",
                        web=True),
    "MEDIA_FETCH_TIMEOUT_S": Var("KABAR_MEDIA_FETCH_TIMEOUT", 20.0, parse_float,
                                 "seconds a media fetch may take", web=True),
    # Opt-out: an incoming message that is exactly one of these words (any case) opts the
    # sender out of bulk and promotion messages.
    "OPT_OUT_KEYWORDS": Var("KABAR_OPT_OUT_KEYWORDS", ("BERHENTI", "STOP", "UNSUBSCRIBE"),
                            parse_list, "opt-out words", web=True),
    # Quiet hours ("21:00-07:00" in TIMEZONE; empty = off): messages of these template
    # categories wait until the quiet period ends; everything else still goes.
    "QUIET_HOURS": Var("KABAR_QUIET_HOURS", "", parse_str, "quiet window in KABAR_TIMEZONE",
                       web=True),
    "QUIET_CATEGORIES": Var("KABAR_QUIET_CATEGORIES", ("promotion", "reminder"), parse_list,
                            "template categories held in quiet hours", web=True),
}
# fmt: on


def read(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every variable's value from ``environ`` (the process environment by default)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for attribute, var in VARS.items():
        values[attribute] = var.value(environ, values)
    return values


def default(attribute: str) -> Any:
    """The value ``attribute`` has when its variable is unset (a plain default only)."""
    value = VARS[attribute].default
    if callable(value):
        raise TypeError(f"{attribute}'s default depends on other variables")
    return value


# The values of this process, as module attributes (``config.LEASE_MS``).
globals().update(read())


def database_url(raw: str | None, instance_dir: Path | None = None) -> str:
    """Normalise DATABASE_URL so PostgreSQL URLs go through psycopg 3; unset means the SQLite
    file of the zero-configuration start, under the instance dir."""
    if not raw:
        # The module attribute when none is given: a process (or a test) may have changed it.
        directory = globals()["INSTANCE_DIR"] if instance_dir is None else instance_dir
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{directory / 'kabar.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


# A process with no SECRET_KEY signs its admin sessions with this one, the same for every app
# it builds.
_RANDOM_SECRET_KEY = secrets.token_hex(32)

# Flask config keys that come from no variable.
FLASK_CONSTANTS: dict[str, Any] = {
    # Pre-ping: a pooled connection PostgreSQL closed (a restart) is replaced before use, so the
    # first request after a restart does not fail; it costs one short round trip per checkout.
    "SQLALCHEMY_ENGINE_OPTIONS": {
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "pool_size": 10,
        "max_overflow": 20,
    },
    "MAX_MESSAGE_LENGTH": 4096,
    # How long a worker thread may wait for a number's slot before giving the message back.
    "MAX_PARK_MS": {Band.URGENT: 60_000, Band.NORMAL: 30_000, Band.BULK: 30_000},
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "JSON_SORT_KEYS": False,
}


def flask_config(values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Flask config of the web app from ``values`` (``read()``'s; read now by default): the
    ``web`` variables, the secret key, the database URI and the constants."""
    values = read() if values is None else values
    config = {name: values[name] for name, var in VARS.items() if var.web}
    config["SECRET_KEY"] = values["SECRET_KEY"] or _RANDOM_SECRET_KEY
    config["SQLALCHEMY_DATABASE_URI"] = database_url(values["DATABASE_URL"], values["INSTANCE_DIR"])
    for name, value in FLASK_CONSTANTS.items():
        config[name] = dict(value) if isinstance(value, dict) else value
    return config


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child process: this process's, with ``extra`` on top."""
    return {**os.environ, **extra}


def export_default(name: str, value: str) -> None:
    """Set ``name`` in the environment unless it is set: for a library that reads the
    environment itself (python-magic's MAGIC)."""
    os.environ.setdefault(name, value)
