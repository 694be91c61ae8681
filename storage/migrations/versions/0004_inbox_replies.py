"""inbox replies: the replies of a handled update, kept until they are sent

The engine records an update's replies in the same transaction as its state; the channel marks
them sent once the messenger took them. A restart sends what a crash left unsent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.add_column(sa.Column('replies', sa.JSON(), nullable=True))
        batch.create_index('ix_inbox_unsent', ['channel', 'id'], sqlite_where=sa.text('replies IS NOT NULL'),
                           postgresql_where=sa.text('replies IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.drop_index('ix_inbox_unsent')
        batch.drop_column('replies')
