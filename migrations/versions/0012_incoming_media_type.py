"""the kind of media an incoming message carried (its caption is the text)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("incoming_messages") as batch_op:
        batch_op.add_column(sa.Column("media_type", sa.String(20), nullable=True))


def downgrade():
    with op.batch_alter_table("incoming_messages") as batch_op:
        batch_op.drop_column("media_type")
