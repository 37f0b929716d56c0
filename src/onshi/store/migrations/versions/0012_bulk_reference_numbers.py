"""照会番号一括登録 stored like 一括照会: a kind and the upload's ArbitraryFileIdentifier on bulk_requests

The terminal kept the results of a bulk 照会番号 registration (OQSmuimm01) in memory, so after a restart the
fetch (OQSmuimm02) answered E0401 while a client resumes by asking again.  They now live in ``bulk_requests``
beside 一括照会, told apart by ``kind``; the fetch echoes the upload's ``ArbitraryFileIdentifier`` (clients match
the final answer on it although the fetch request carries none).

Revision ID: 0012_bulk_reference_numbers
Revises: 0011_terminal_requests
"""
from alembic import op
import sqlalchemy as sa

revision = '0012_bulk_reference_numbers'
down_revision = '0011_terminal_requests'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('bulk_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=12), nullable=False, server_default='verify'))
        batch_op.add_column(sa.Column('arbitrary_file_identifier', sa.String(length=50), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bulk_requests', schema=None) as batch_op:
        batch_op.drop_column('arbitrary_file_identifier')
        batch_op.drop_column('kind')
