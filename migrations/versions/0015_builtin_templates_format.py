"""the built-in templates format amounts and dates with their own filters (Rp250.000, 10 Desember
2026), where the operator has not edited them

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# (variable, filter) of the seed's templates that a billing app sends raw.
FORMATTED = [
    ("amount", "rupiah"),
    ("due_date", "date"),
    ("payment_date", "date"),
]
NAMES = (
    "new_invoice",
    "payment_reminder",
    "payment_confirmation",
    "expiry_warning",
    "voucher_activated",
)

templates = sa.table(
    "whatsapp_templates",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("content", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def _rewrite(forward: bool) -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            templates.c.id, templates.c.content, templates.c.created_at, templates.c.updated_at
        ).where(templates.c.name.in_(NAMES))
    ).all()
    for row in rows:
        # An edited template is the operator's: only rows never changed since the seed are
        # rewritten (the seed wrote created_at and updated_at in one statement).
        if row.updated_at != row.created_at:
            continue
        content = row.content
        for name, filter_name in FORMATTED:
            raw, formatted = "{{" + name + "}}", "{{" + name + "|" + filter_name + "}}"
            content = (
                content.replace(raw, formatted) if forward else content.replace(formatted, raw)
            )
        if content != row.content:
            conn.execute(
                templates.update()
                .where(templates.c.id == row.id)
                .values(content=content, updated_at=row.created_at)
            )


def upgrade():
    _rewrite(forward=True)


def downgrade():
    _rewrite(forward=False)
