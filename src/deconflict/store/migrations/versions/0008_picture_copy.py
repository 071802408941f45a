"""picture_copy: the leader's live picture, for hot standbys (issue 18)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'picture_copy',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column('time', sa.Float(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('picture_copy')
