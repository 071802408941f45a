"""events: live events kept for resumption across reconnects and failovers (issue 18)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'events',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column('time', sa.Float(), nullable=False),
        sa.Column('type', sa.String(length=64), nullable=False),
        sa.Column('views', sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('events')
