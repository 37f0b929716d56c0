"""the terminal's journal of request files, so that an answer is given once across a kill -9

``onshi terminal`` claims each request file (institution, file name, SHA-256 of its bytes) in a committed row
before it verifies it, and writes the answer into that row in the transaction of the verification's usage-log
row.  A restarted terminal delivers a recorded answer again instead of verifying a second time (issue 16).

Revision ID: 0011_terminal_requests
Revises: 0010_qv_employer_index
"""
from alembic import op
import sqlalchemy as sa

revision = '0011_terminal_requests'
down_revision = '0010_qv_employer_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('terminal_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_code', sa.String(length=10), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('answer_name', sa.String(length=255), nullable=True),
    sa.Column('answer', sa.LargeBinary(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_terminal_requests')),
    sa.UniqueConstraint('institution_code', 'file_name', 'sha256',
                        name=op.f('uq_terminal_requests_institution_code'))
    )


def downgrade() -> None:
    op.drop_table('terminal_requests')
