"""triggers, bulk jobs, template and message extras

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 07:36:24.460435

"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bulk_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=100), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('template_data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('recipients', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('routing', sa.String(length=10), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('expanded', sa.Integer(), nullable=False),
    sa.Column('invalid_count', sa.Integer(), nullable=False),
    sa.Column('duplicate_count', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('schedule_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['whatsapp_templates.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id')
    )
    op.create_table('triggers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=100), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('priority', sa.Integer(), server_default='1', nullable=False),
    sa.Column('fire_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failure_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['template_id'], ['whatsapp_templates.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event')
    )
    op.create_table('trigger_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.String(length=200), nullable=False),
    sa.Column('trigger_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('bulk_job_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bulk_job_id'], ['bulk_jobs.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['whatsapp_messages.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trigger_id'], ['triggers.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event', 'event_id')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_via', sa.String(length=20), nullable=True))

    with op.batch_alter_table('whatsapp_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bulk_job_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('media_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('render_mode', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_whatsapp_messages_bulk_job_id'), ['bulk_job_id'], unique=False)
        batch_op.create_foreign_key('fk_whatsapp_messages_bulk_job_id', 'bulk_jobs', ['bulk_job_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('whatsapp_templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extra', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


    triggers = sa.table(
        "triggers",
        sa.column("event", sa.String),
        sa.column("template_id", sa.Integer),
        sa.column("enabled", sa.Boolean),
        sa.column("priority", sa.Integer),
        sa.column("fire_count", sa.Integer),
        sa.column("failure_count", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    templates = sa.table("whatsapp_templates", sa.column("id", sa.Integer), sa.column("name", sa.String))
    conn = op.get_bind()
    ids = dict(conn.execute(sa.select(templates.c.name, templates.c.id)).all())
    now = datetime.now(timezone.utc)
    op.bulk_insert(triggers, [
        {"event": event, "template_id": ids.get(template), "enabled": True, "priority": 1,
         "fire_count": 0, "failure_count": 0, "created_at": now, "updated_at": now}
        for event, template in [
            ("invoice.created", "new_invoice"),
            ("payment.completed", "payment_confirmation"),
            ("service.expiring", "expiry_warning"),
            ("voucher.activated", "voucher_activated"),
            ("bulk.send", None),
        ]
    ])


def downgrade():
    op.drop_table('trigger_events')
    op.drop_table('triggers')

    with op.batch_alter_table('whatsapp_messages', schema=None) as batch_op:
        batch_op.drop_constraint('fk_whatsapp_messages_bulk_job_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_whatsapp_messages_bulk_job_id'))
        batch_op.drop_column('render_mode')
        batch_op.drop_column('media_url')
        batch_op.drop_column('email')
        batch_op.drop_column('bulk_job_id')

    op.drop_table('bulk_jobs')

    with op.batch_alter_table('whatsapp_templates', schema=None) as batch_op:
        batch_op.drop_column('extra')

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('last_used_via')
