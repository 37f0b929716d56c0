"""audit_log: the insurer of each read (a supervisor's view of the log) and an index by actor (the viewer's
filters by user and institution)

Revision ID: 0015_audit_scope
Revises: 0014_receipts
"""
from alembic import op
import sqlalchemy as sa

revision = '0015_audit_scope'
down_revision = '0014_receipts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('insurer_number', sa.String(length=8), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_log_insurer_number'), ['insurer_number'], unique=False)
        batch_op.create_index('ix_audit_actor', ['actor_kind', 'actor_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_actor')
        batch_op.drop_index(batch_op.f('ix_audit_log_insurer_number'))
        batch_op.drop_column('insurer_number')
