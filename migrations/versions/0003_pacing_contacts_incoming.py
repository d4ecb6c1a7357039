"""pacing, contacts, incoming messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 06:45:40.527722

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('lid', sa.String(length=64), nullable=True),
    sa.Column('push_name', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('session_id', sa.String(length=100), nullable=True),
    sa.Column('opted_out', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('phone')
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_lid'), ['lid'], unique=False)

    op.create_table('incoming_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=100), nullable=True),
    sa.Column('from_phone', sa.String(length=20), nullable=True),
    sa.Column('from_jid', sa.String(length=100), nullable=True),
    sa.Column('wa_message_id', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('wa_message_id')
    )
    with op.batch_alter_table('incoming_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incoming_messages_from_phone'), ['from_phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_incoming_messages_session_id'), ['session_id'], unique=False)

    with op.batch_alter_table('whatsapp_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('band', sa.String(length=10), server_default='urgent', nullable=False))
        batch_op.add_column(sa.Column('routing', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('pinned_session_id', sa.String(length=100), nullable=True))

    with op.batch_alter_table('whatsapp_queue_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_row_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_whatsapp_queue_jobs_message_row_id'), ['message_row_id'], unique=False)

    with op.batch_alter_table('whatsapp_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ban_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('interval_ms', sa.Integer(), server_default='1000', nullable=False))
        batch_op.add_column(sa.Column('jitter_ms', sa.Integer(), server_default='200', nullable=False))
        batch_op.add_column(sa.Column('daily_cap', sa.Integer(), nullable=True))



    with op.batch_alter_table('whatsapp_messages', schema=None) as batch_op:
        batch_op.create_index('ix_whatsapp_messages_status_created', ['status', 'created_at'])


def downgrade():
    with op.batch_alter_table('whatsapp_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_whatsapp_messages_status_created')

    with op.batch_alter_table('whatsapp_sessions', schema=None) as batch_op:
        batch_op.drop_column('daily_cap')
        batch_op.drop_column('jitter_ms')
        batch_op.drop_column('interval_ms')
        batch_op.drop_column('ban_expires_at')

    with op.batch_alter_table('whatsapp_queue_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_whatsapp_queue_jobs_message_row_id'))
        batch_op.drop_column('message_row_id')

    with op.batch_alter_table('whatsapp_messages', schema=None) as batch_op:
        batch_op.drop_column('pinned_session_id')
        batch_op.drop_column('routing')
        batch_op.drop_column('band')

    with op.batch_alter_table('incoming_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incoming_messages_session_id'))
        batch_op.drop_index(batch_op.f('ix_incoming_messages_from_phone'))

    op.drop_table('incoming_messages')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_lid'))

    op.drop_table('contacts')
