"""Messages carry media: the bytes in a table of their own, keyed by their SHA-256

An image or a document given to the API (base64), or fetched from its URL, is kept in
PostgreSQL, so a Redis crash loses no attachment of a queued message. One file sent to many
customers (a bulk with one shared image) is stored once; retention deletes the files no message
refers to any more.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "media_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("mimetype", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.add_column(sa.Column("media_type", sa.String(20), nullable=True))
        batch_op.add_column(
            sa.Column(
                "media_sha256",
                sa.String(64),
                sa.ForeignKey("media_files.sha256", name="fk_whatsapp_messages_media_sha256"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("media_file_name", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("media_mimetype", sa.String(100), nullable=True))
        batch_op.create_index("ix_whatsapp_messages_media_sha256", ["media_sha256"])


def downgrade():
    with op.batch_alter_table("whatsapp_messages") as batch_op:
        batch_op.drop_index("ix_whatsapp_messages_media_sha256")
        batch_op.drop_constraint("fk_whatsapp_messages_media_sha256", type_="foreignkey")
        batch_op.drop_column("media_mimetype")
        batch_op.drop_column("media_file_name")
        batch_op.drop_column("media_sha256")
        batch_op.drop_column("media_type")
    op.drop_table("media_files")
