"""when a message was handed to a session host, and to which Redis; since when it waits for a
number that can send

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.add_column(sa.Column("handed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("handed_redis", sa.String(40), nullable=True))
        batch_op.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.drop_column("waiting_since")
        batch_op.drop_column("handed_redis")
        batch_op.drop_column("handed_at")
