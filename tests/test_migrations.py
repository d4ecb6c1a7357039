"""Migrations on PostgreSQL (tests/unit/test_migrations.py runs them on SQLite)."""

from __future__ import annotations

from flask_migrate import upgrade

from tests.unit.test_migrations import BUILT_IN
from webapp import create_app


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
