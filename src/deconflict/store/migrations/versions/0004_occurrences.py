"""occurrences: losses of separation that happened in the live picture (issue 17)

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'occurrences',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('a', sa.String(length=32), nullable=False),
        sa.Column('b', sa.String(length=32), nullable=False),
        sa.Column('party_a', sa.String(length=32), nullable=False),
        sa.Column('party_b', sa.String(length=32), nullable=False),
        sa.Column('standard', sa.String(length=32), nullable=False),
        sa.Column('conflict', sa.String(length=40), nullable=True),
        sa.Column('started', sa.Float(), nullable=False),
        sa.Column('ended', sa.Float(), nullable=True),
        sa.Column('end_reason', sa.String(length=16), nullable=True),
        sa.Column('closest_horizontal', sa.Float(), nullable=False),
        sa.Column('closest_vertical', sa.Float(), nullable=False),
        sa.Column('closest_at', sa.Float(), nullable=False),
    )
    op.create_index('ix_occurrences_open', 'occurrences', ['ended'])


def downgrade() -> None:
    op.drop_index('ix_occurrences_open', table_name='occurrences')
    op.drop_table('occurrences')
