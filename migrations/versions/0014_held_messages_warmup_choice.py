"""why and until when a queued message is held, and the warm-up chosen when a number is linked

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.add_column(sa.Column("held_reason", sa.String(30), nullable=True))
        batch_op.add_column(sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("whatsapp_sessions") as batch_op:
        batch_op.add_column(
            sa.Column("warmup_on_link", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade():
    with op.batch_alter_table("whatsapp_sessions") as batch_op:
        batch_op.drop_column("warmup_on_link")
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.drop_column("held_until")
        batch_op.drop_column("held_reason")
