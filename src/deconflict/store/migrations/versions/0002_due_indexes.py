"""indexes for the escalation check (open threads past their deadline, pending proposals past theirs)

Revision ID: 0002
Revises: 0001
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_threads_due', 'threads', ['status', 'ack_deadline'])
    op.create_index('ix_messages_due', 'messages', ['status', 'deadline'])


def downgrade() -> None:
    op.drop_index('ix_messages_due', table_name='messages')
    op.drop_index('ix_threads_due', table_name='threads')
