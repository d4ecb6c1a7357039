"""API keys carry scopes and remember MPWA use; admin cookies carry an epoch that a logout raises

Every key made before scopes could do everything, and billing apps, scripts and the README's own
first steps rely on that: existing keys keep send, read and admin, so nothing that works today
breaks. The admin page flags those of them that were given as MPWA's api_key (they sit in a
billing app's URL) so the operator can take admin away with one click. New keys default to send.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

api_keys = sa.table(
    "api_keys",
    sa.column("last_used_at", sa.DateTime(timezone=True)),
    sa.column("last_used_via", sa.String),
    sa.column("mpwa_used_at", sa.DateTime(timezone=True)),
)


def upgrade():
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.String(50), nullable=False, server_default="admin read send")
        )
        batch_op.add_column(sa.Column("mpwa_used_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_keys") as batch_op:
        # Only the rows that existed get every scope; a key inserted from now on gets send.
        batch_op.alter_column("scopes", server_default="send")
    op.execute(
        api_keys.update()
        .where(api_keys.c.last_used_via == "mpwa")
        .values(mpwa_used_at=api_keys.c.last_used_at)
    )
    with op.batch_alter_table("admin_users") as batch_op:
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("admin_users") as batch_op:
        batch_op.drop_column("session_epoch")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("mpwa_used_at")
        batch_op.drop_column("scopes")
