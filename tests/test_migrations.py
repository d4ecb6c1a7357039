"""Migrations run on SQLite (the zero-configuration database) as well as PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from webapp import create_app

BUILT_IN = {
    "new_invoice",
    "payment_reminder",
    "payment_confirmation",
    "expiry_warning",
    "voucher_activated",
}


def test_upgrade_and_downgrade_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'kabar.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            names = set(conn.execute(sa.text("SELECT name FROM whatsapp_templates")).scalars())
        assert {
            "whatsapp_sessions",
            "whatsapp_templates",
            "whatsapp_messages",
            "whatsapp_queue_jobs",
            "admin_users",
            "api_keys",
        } <= tables
        assert names == BUILT_IN
        downgrade(revision="base")
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) == {"alembic_version"}


def test_postgres_has_the_built_in_templates_with_their_variables(app):
    from webapp.extensions import db
    from webapp.models import WhatsAppTemplate

    with app.app_context():
        rows = {t.name: t for t in db.session.scalars(db.select(WhatsAppTemplate))}
    assert BUILT_IN <= set(rows)
    assert rows["new_invoice"].variables == [
        "customer_name",
        "invoice_number",
        "amount",
        "due_date",
        "payment_url",
    ]
    assert rows["voucher_activated"].category == "notification"


def test_the_models_and_the_migrations_agree(app):
    """No table or column exists only in the models: every schema change is a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from webapp.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_keys_made_before_scopes_keep_every_scope_and_their_mpwa_use(tmp_path):
    """A billing app's key keeps working after the upgrade, and is known to travel in URLs."""
    url = f"sqlite:///{tmp_path / 'kabar.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(revision="0015")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_keys (name, prefix, key_hash, created_at, last_used_at,"
                    " last_used_via) VALUES"
                    " ('phpnuxbill', 'kbr_a', 'h1', '2026-11-01', '2026-11-30 08:00', 'mpwa'),"
                    " ('script', 'kbr_b', 'h2', '2026-11-01', '2026-11-30 09:00', 'api')"
                )
            )
        upgrade()
        with engine.begin() as conn:
            rows = conn.execute(
                sa.text("SELECT name, scopes, mpwa_used_at FROM api_keys ORDER BY id")
            ).all()
            conn.execute(
                sa.text(
                    "INSERT INTO api_keys (name, prefix, key_hash, created_at)"
                    " VALUES ('new', 'k', 'h3', '2026-12-01')"
                )
            )
            fresh = conn.execute(sa.text("SELECT scopes FROM api_keys WHERE name = 'new'"))
            assert fresh.scalar() == "send"
        assert [(name, scopes) for name, scopes, _ in rows] == [
            ("phpnuxbill", "admin read send"),
            ("script", "admin read send"),
        ]
        assert rows[0][2] is not None and rows[1][2] is None


def test_an_index_an_interrupted_upgrade_left_invalid_is_built_again():
    """CREATE INDEX CONCURRENTLY that stops half-way (killed, cancelled, a lock timeout)
    leaves an invalid index of that name; upgrading again must not take it for built."""
    import uuid

    import psycopg

    from tests.conftest import ADMIN_PG

    name = f"kabar_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_PG.rsplit('/', 1)[0]}/{name}"
    try:
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)}
        )
        with app.app_context():
            upgrade(revision="0016")
            with psycopg.connect(url, autocommit=True) as conn:
                # A unique index over duplicates fails while built and stays, invalid.
                try:
                    conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_whatsapp_messages_created_at"
                                 " ON whatsapp_templates ((1))")  # fmt: skip
                except psycopg.errors.UniqueViolation:
                    pass
            upgrade()
            from webapp.extensions import db

            db.engine.dispose()
        with psycopg.connect(url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT i.indisvalid, i.indrelid::regclass::text FROM pg_index i"
                " WHERE i.indexrelid = 'ix_whatsapp_messages_created_at'::regclass"
            ).fetchone()
        assert found == (True, "whatsapp_messages")
    finally:
        with psycopg.connect(ADMIN_PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
