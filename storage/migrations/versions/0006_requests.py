"""requests: residents' requests answered by operators, their messages and status changes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chat_id', sa.Integer(), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('provider_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('contact', sa.String(length=200), nullable=False),
        sa.Column('taken_by', sa.String(length=100), nullable=False),
        sa.Column('answer_hours', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('first_answer_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reminded_on', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_requests_account_id_accounts'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['chat_id'], ['chats.id'], name=op.f('fk_requests_chat_id_chats'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_requests')),
    )
    op.create_index('ix_requests_chat', 'requests', ['chat_id', 'id'])
    op.create_index('ix_requests_status', 'requests', ['status', 'created_at'])
    op.create_table(
        'request_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('author', sa.String(length=100), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('media', sa.JSON(), nullable=False),
        sa.Column('delivered', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['requests.id'],
                                name=op.f('fk_request_messages_request_id_requests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_request_messages')),
    )
    op.create_index('ix_request_messages_request', 'request_messages', ['request_id', 'id'])
    op.create_table(
        'request_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('old_status', sa.String(length=10), nullable=False),
        sa.Column('new_status', sa.String(length=10), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['requests.id'],
                                name=op.f('fk_request_events_request_id_requests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_request_events')),
    )
    op.create_index('ix_request_events_request', 'request_events', ['request_id', 'id'])


def downgrade() -> None:
    op.drop_table('request_events')
    op.drop_table('request_messages')
    op.drop_table('requests')
