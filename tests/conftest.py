"""Fixtures that build real things: a fresh PostgreSQL database per run, a Redis database flushed
per test, and (for e2e) real worker and session-host processes.

The environment is set in ``pytest_configure``, before any Kabar module is imported, because the
broker, the signing secret and the credentials key are read from it at import (webapp.config),
as they are in production. A run that collects
only tests/unit claims neither service: its environment points at addresses where nothing
listens, so a unit test that reaches for PostgreSQL or Redis fails instead of finding them.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

ADMIN_PG = os.environ.get("KABAR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_BASE = os.environ.get("KABAR_TEST_REDIS", "redis://127.0.0.1:6379")
TEST_REDIS_DBS = range(8, 16)
TEST_REDIS = ""  # set in pytest_configure
ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "tests" / "unit"
# Where the pure tests of tests/unit would find PostgreSQL and Redis: nowhere.
NO_DATABASE = "postgresql://kabar@127.0.0.1:1/tests-unit-use-no-database"
NO_REDIS = "redis://127.0.0.1:1/0"
_state: dict[str, str] = {}


def only_unit_tests(config) -> bool:
    """Whether every path this run collects lies inside tests/unit (``path::test`` included)."""
    here = Path(config.invocation_params.dir)
    paths = [(here / str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    return bool(paths) and all(path == UNIT or UNIT in path.parents for path in paths)


def _claim_redis_db() -> str:
    """A Redis database no other test run on this machine is using (each run's processes
    consume Dramatiq queues of fixed names, so two runs must never share one)."""
    import redis

    lock_client = redis.Redis.from_url(f"{TEST_REDIS_BASE}/0")
    for number in TEST_REDIS_DBS:
        if lock_client.set(f"kabar:test-run:{number}", os.getpid(), nx=True, ex=3 * 3600):
            _state["redis_db"] = str(number)
            return f"{TEST_REDIS_BASE}/{number}"
    raise RuntimeError(f"every Redis database in {list(TEST_REDIS_DBS)} is used by a test run")


def pytest_configure(config):
    global TEST_REDIS
    if only_unit_tests(config):
        TEST_REDIS = NO_REDIS
        database_url = NO_DATABASE
    else:
        TEST_REDIS = _claim_redis_db()
        name = f"kabar_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        _state["db"] = name
        database_url = f"{ADMIN_PG.rsplit('/', 1)[0]}/{name}"
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": TEST_REDIS,
            "SECRET_KEY": secrets.token_hex(16),
            "WA_ENCRYPTION_KEY": secrets.token_urlsafe(24),
            "KABAR_INSTANCE_DIR": tempfile.mkdtemp(prefix="kabar-test-"),
            "KABAR_TRANSPORT": "simulator",
            "KABAR_SIM_DELIVERED_AFTER": "0.2",
            "KABAR_SIM_READ_AFTER": "0.5",
            "KABAR_LEASE_MS": "3000",
            "KABAR_RPC_TIMEOUT": "5",
        }
    )


def pytest_unconfigure(config):
    if "redis_db" in _state:
        import redis

        redis.Redis.from_url(f"{TEST_REDIS_BASE}/0").delete(f"kabar:test-run:{_state['redis_db']}")
    name = _state.get("db")
    if not name:
        return
    with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def app():
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": True})
    with app.app_context():
        upgrade()
    return app


MUTABLE_TABLES = (
    "trigger_events",
    "whatsapp_messages",
    "media_files",
    "bulk_jobs",
    "whatsapp_queue_jobs",
    "whatsapp_sessions",
    "api_keys",
    "contacts",
    "incoming_messages",
    "webhooks",
    "settings",
    "metrics_daily",
    "outbox",
)


@pytest.fixture(autouse=True)
def clean_state(request):
    """Every test starts with empty tables (templates kept) and an empty Redis database."""
    import redis

    redis.Redis.from_url(TEST_REDIS).flushdb()
    # Session hosts keep credentials in the database: every test needs the schema, and starts
    # without the credentials of an earlier test's sessions.
    app = request.getfixturevalue("app")
    from webapp.extensions import db

    with app.app_context():
        db.session.execute(db.text("DELETE FROM session_credentials"))
        db.session.commit()
    if "app" in request.fixturenames or "client" in request.fixturenames:
        with app.app_context():
            db.session.execute(db.text(f"TRUNCATE {', '.join(MUTABLE_TABLES)} RESTART IDENTITY"))
            db.session.execute(db.text("DELETE FROM admin_users"))
            db.session.commit()
        from webapp import settings

        settings.forget()
    yield


@pytest.fixture
def redis_client():
    import redis

    return redis.Redis.from_url(TEST_REDIS)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api_key(app) -> str:
    from webapp.intake import api_keys

    with app.app_context():
        _, raw = api_keys.create_api_key("tests", api_keys.SCOPES)
    return raw


@pytest.fixture
def auth(api_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


@pytest.fixture
def private_webhooks(app):
    """Webhooks may post to loopback and LAN addresses, as the receivers of these tests listen
    on localhost (the setting is off by default)."""
    from webapp import settings

    with app.app_context():
        settings.save({"webhook_allow_private": True})
