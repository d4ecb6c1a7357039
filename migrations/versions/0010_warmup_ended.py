"""when the operator ended a session's warm-up

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("whatsapp_sessions") as batch_op:
        batch_op.add_column(sa.Column("warmup_ended_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("whatsapp_sessions") as batch_op:
        batch_op.drop_column("warmup_ended_at")
