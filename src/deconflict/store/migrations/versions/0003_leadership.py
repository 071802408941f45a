"""leadership: the fencing epoch of the one service node that may write (issue 18)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        'leadership',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('epoch', sa.BigInteger(), nullable=False),
        sa.Column('holder', sa.String(length=200), nullable=False),
        sa.Column('since', sa.Float(), nullable=False),
    )
    op.bulk_insert(table, [{'id': 1, 'epoch': 0, 'holder': '', 'since': 0.0}])


def downgrade() -> None:
    op.drop_table('leadership')
