"""Settings of the worker-side processes, read once from the environment.

The web app reads the same variables through ``webapp.config.Config``; the defaults live here so
that both sides agree without the session host importing Flask.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
INSTANCE_DIR = Path(os.environ.get("KABAR_INSTANCE_DIR", Path.cwd() / "instance"))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def database_url(raw: str | None) -> str:
    """Normalise DATABASE_URL so PostgreSQL URLs go through psycopg 3; unset means the SQLite
    file of the zero-configuration start, under the instance dir."""
    if not raw:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'kabar.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
WA_ENCRYPTION_KEY = os.environ.get("WA_ENCRYPTION_KEY", "")
# What RPC requests, replies and session events on Redis are signed with (workers/queue/signing.py):
# the same in every process, or the session host acts on nothing.
CHANNEL_SECRET = (
    os.environ.get("KABAR_RPC_SECRET") or os.environ.get("SECRET_KEY") or WA_ENCRYPTION_KEY
)
# The longest an RPC caller waits; a request promising a later deadline is refused.
RPC_MAX_TIMEOUT_S = 600.0
DEFAULT_TRANSPORT = os.environ.get("KABAR_TRANSPORT", "neonize")
# Simulator sessions that may share one client process (benchmarks with hundreds of numbers);
# neonize sessions always get a process each.
SIM_SESSIONS_PER_PROCESS = _int("KABAR_SIM_SESSIONS_PER_PROCESS", 1)
# Where versions before the credentials table kept ``<session>.cred`` files (imported on start).
SESSION_STORE_DIR = Path(os.environ.get("KABAR_SESSION_STORE", INSTANCE_DIR / "sessions"))
# neonize's plaintext working stores (0700): only while a session runs; leftovers of a crashed
# client are removed when its session starts again.
WORKING_STORE_DIR = Path(os.environ.get("KABAR_WORKING_STORE", INSTANCE_DIR / "working-stores"))

# How long a session host's claim on a session lives without renewal.
LEASE_MS = _int("KABAR_LEASE_MS", 15_000)
RPC_TIMEOUT_S = _float("KABAR_RPC_TIMEOUT", 15.0)
# A session host's heartbeat lives this long and is renewed every third of it: a host that
# died frees its sessions, and its callers stop waiting, within this time.
HOST_HEARTBEAT_MS = _int("KABAR_HOST_HEARTBEAT_MS", 3_000)

# Simulator: delays before the virtual phone reports delivered and read.
SIM_DELIVERED_AFTER_S = _float("KABAR_SIM_DELIVERED_AFTER", 0.3)
SIM_READ_AFTER_S = _float("KABAR_SIM_READ_AFTER", 1.0)
SIM_QR_TTL_S = _int("KABAR_SIM_QR_TTL", 60)
# A login WhatsApp gives up on: nobody scanned, or typed the pairing code, within this long.
SIM_LOGIN_TIMEOUT_S = _float("KABAR_SIM_LOGIN_TIMEOUT", 160.0)

# Dramatiq's Redis broker: a dead worker's messages go back to the queue once its heartbeat is
# this old. A live worker beats on every call to Redis (its idle queues are polled every 100 ms),
# so 10 s is never reached by one that lives. The check runs in this many of a million calls
# (Dramatiq's default, 1,000, ran it every minute or two on a busy queue; 20,000 every second or
# so); it is cheap while no worker is dead.
BROKER_HEARTBEAT_MS = _int("KABAR_BROKER_HEARTBEAT_MS", 10_000)
BROKER_MAINTENANCE_CHANCE = _int("KABAR_BROKER_MAINTENANCE_CHANCE", 20_000)

# Session health checks (session host): how often each connected session is proven with a round
# trip, when a round trip counts as slow, when it counts as failed, how many failures in a row
# make the host reconnect, and after how long without traffic a session is flagged idle.
HEALTH_INTERVAL_S = _float("KABAR_HEALTH_INTERVAL", 30.0)
HEALTH_SLOW_S = _float("KABAR_HEALTH_SLOW", 5.0)
HEALTH_TIMEOUT_S = _float("KABAR_HEALTH_TIMEOUT", 15.0)
HEALTH_MAX_FAILURES = _int("KABAR_HEALTH_MAX_FAILURES", 5)
HEALTH_IDLE_S = _float("KABAR_HEALTH_IDLE", 24 * 3600.0)

# Simulator faults: the reconnect back-off after a simulated disconnect (neonize's shape) and how
# long a simulated temporary ban lasts when the fault names no duration.
SIM_BACKOFF_BASE_S = _float("KABAR_SIM_BACKOFF_BASE", 2.0)
SIM_BACKOFF_CAP_S = _float("KABAR_SIM_BACKOFF_CAP", 60.0)
SIM_BACKOFF_JITTER_S = _float("KABAR_SIM_BACKOFF_JITTER", 1.0)
SIM_MAX_ATTEMPTS = _int("KABAR_SIM_MAX_ATTEMPTS", 10)
SIM_BAN_S = _float("KABAR_SIM_BAN", 24 * 3600.0)

# Webhook deliveries: retries after the first attempt (Dramatiq back-off from 1 s, doubling up
# to 10 minutes between attempts: 10 retries span about half an hour).
WEBHOOK_MAX_RETRIES = _int("KABAR_WEBHOOK_RETRIES", 10)
