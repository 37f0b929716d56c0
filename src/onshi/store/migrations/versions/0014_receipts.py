"""receipts: the usage log keeps each verification's receipt id and whether it was answered 304

Every answer carries a signed receipt (docs/receipts.md); its id in the usage log lets an insurer show what was
answered (``onshi receipt show``).  ``not_modified`` marks a repeat check answered 304 (If-None-Match), which
still counts as a check.

Revision ID: 0014_receipts
Revises: 0013_index_history
"""
from alembic import op
import sqlalchemy as sa

revision = '0014_receipts'
down_revision = '0013_index_history'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_id', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('not_modified', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_verification_log_receipt_id'), ['receipt_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_log_receipt_id'))
        batch_op.drop_column('not_modified')
        batch_op.drop_column('receipt_id')
