"""indexes that keep the admin pages, the API and retention fast on millions of messages

- messages by creation time, with their ids (the dashboard's day, /metrics' last 24 hours, the
  log's dates, which bound the ids the log reads);
- messages by the time of their latest step (PostgreSQL): what was sent, delivered or read
  since a moment, without one index per step;
- messages by the reversed digits of their number (PostgreSQL): a search by the last digits
  is a prefix search of the reversed number;
- a bulk send's messages in id order, with their status (PostgreSQL: INCLUDE), so its log
  pages and its progress are read from the index alone;
- billing events by message: deleting a message sets its event's message_id to NULL, which
  without an index reads the whole events table for every message retention deletes.

On PostgreSQL they are built CONCURRENTLY: an upgrade of a live database does not stop sends
while it reads the table.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# name, table, columns (SQL expressions on PostgreSQL), columns included (PostgreSQL), and
# whether the index exists on PostgreSQL only
INDEXES = (
    ("ix_whatsapp_messages_created_at", "whatsapp_messages", ["created_at", "id"], [], False),
    (
        "ix_whatsapp_messages_last_step",
        "whatsapp_messages",
        ["greatest(created_at, sent_at, delivered_at, read_at)"],
        [],
        True,
    ),
    (
        "ix_whatsapp_messages_number_reversed",
        "whatsapp_messages",
        ["reverse(to_number) text_pattern_ops"],
        [],
        True,
    ),
    ("ix_whatsapp_messages_bulk", "whatsapp_messages", ["bulk_job_id", "id"], ["status"], False),
    ("ix_trigger_events_message_id", "trigger_events", ["message_id"], [], False),
)


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.get_context().autocommit_block():
        for name, table, columns, included, postgresql_only in INDEXES:
            if postgresql:
                # A build that stopped half-way (killed, cancelled) left an invalid index of
                # this name, which IF NOT EXISTS would take for built: build it again.
                invalid = op.get_bind().scalar(
                    sa.text(
                        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                        " WHERE c.relname = :name AND NOT i.indisvalid"
                    ),
                    {"name": name},
                )
                if invalid:
                    op.execute(f"DROP INDEX CONCURRENTLY {name}")
                include = f" INCLUDE ({', '.join(included)})" if included else ""
                op.execute(
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
                    f"({', '.join(columns)}){include}"
                )
            elif not postgresql_only:
                op.create_index(name, table, columns)
        if postgresql:
            # The planner knows the expressions' values only once it has sampled them.
            op.execute("ANALYZE whatsapp_messages")
    # The bulk index leads with bulk_job_id: it serves what the single-column one did.
    op.drop_index("ix_whatsapp_messages_bulk_job_id", table_name="whatsapp_messages")


def downgrade():
    op.create_index("ix_whatsapp_messages_bulk_job_id", "whatsapp_messages", ["bulk_job_id"])
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, _columns, _included, postgresql_only in INDEXES:
        if postgresql or not postgresql_only:
            op.drop_index(name, table_name=table)
