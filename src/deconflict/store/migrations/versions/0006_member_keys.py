"""member_keys: the parties' own signing keys (public halves only; issue 15)

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'member_keys',
        sa.Column('key', sa.String(length=16), primary_key=True),
        sa.Column('member', sa.Integer(), sa.ForeignKey('members.id'), nullable=False),
        sa.Column('party', sa.String(length=32), nullable=True),
        sa.Column('public_key', sa.String(length=64), nullable=False),
        sa.Column('created', sa.Float(), nullable=False),
        sa.Column('revoked', sa.Boolean(), nullable=False),
    )
    op.create_index('ix_member_keys_member', 'member_keys', ['member'])


def downgrade() -> None:
    op.drop_index('ix_member_keys_member', table_name='member_keys')
    op.drop_table('member_keys')
