"""the queue job of each message row (bulk jobs send batches of rows)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.add_column(sa.Column("job_id", sa.String(length=100), nullable=True))
    # Rows still waiting keep the job the ledger knows for them.
    op.execute(
        """
        UPDATE whatsapp_messages SET job_id = (
            SELECT j.job_id FROM whatsapp_queue_jobs j
            WHERE j.message_row_id = whatsapp_messages.id
            ORDER BY j.id DESC LIMIT 1
        )
        WHERE status IN ('queued', 'paused')
        """
    )


def downgrade():
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.drop_column("job_id")
