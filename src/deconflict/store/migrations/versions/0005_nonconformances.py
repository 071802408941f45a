"""nonconformances: aircraft outside their party's declared plans (issue 15)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'nonconformances',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('party', sa.String(length=32), nullable=False),
        sa.Column('icao24', sa.String(length=32), nullable=False),
        sa.Column('plans', sa.JSON(), nullable=False),
        sa.Column('started', sa.Float(), nullable=False),
        sa.Column('ended', sa.Float(), nullable=True),
        sa.Column('end_reason', sa.String(length=24), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('told', sa.JSON(), nullable=False),
    )
    op.create_index('ix_nonconformances_open', 'nonconformances', ['ended'])


def downgrade() -> None:
    op.drop_index('ix_nonconformances_open', table_name='nonconformances')
    op.drop_table('nonconformances')
