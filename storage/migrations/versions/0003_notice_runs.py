"""notice runs: the log of scheduled reminders and notices per (notice, period)

Who received a reminder is recorded by the outbox rows' unique dedup_key
("rem:{notice}:{period}:{chat}[:{account}]"); this table only logs each (notice, period): the
latest run's start and finish and how many messages all its runs queued.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('notice_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('queued_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_runs')),
    sa.UniqueConstraint('notice', 'period', name=op.f('uq_notice_runs_notice'))
    )


def downgrade() -> None:
    op.drop_table('notice_runs')
