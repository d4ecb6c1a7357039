"""Migrations on SQLite, the zero-configuration database: up, down, and the data they keep."""

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
