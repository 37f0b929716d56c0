"""The verification index keeps its history: index_qualification_history (replay, issue 17 point 5)

The publisher copies every index row it replaces or withdraws into ``index_qualification_history`` with
``superseded_at`` (same transaction), so a verification can be answered "as registered at" a past instant.
``index_epoch`` holds the deployment's first registration (a replay before it is refused).
Backfill: ``index_epoch`` from the earliest ``registered_at``; the rows in ``index_qualifications`` already carry
``registered_at`` (their publish time) and stay where they are — they are what is registered since then; what they replaced before this migration was not kept, so a
replay before a row's ``registered_at`` does not see its earlier versions (docs/replay.md).

Revision ID: 0013_index_history
Revises: 0012_bulk_reference_numbers
"""
from alembic import op
import sqlalchemy as sa

revision = '0013_index_history'
down_revision = '0012_bulk_reference_numbers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('index_qualification_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('qualification_id', sa.BigInteger(), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('insurer_id', sa.BigInteger(), nullable=False),
    sa.Column('insurer_number', sa.String(length=8), nullable=False),
    sa.Column('insurer_name', sa.String(length=100), nullable=False),
    sa.Column('symbol', sa.String(length=20), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('branch', sa.String(length=2), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('card_classification', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_kana', sa.String(length=200), nullable=False),
    sa.Column('insured_name', sa.String(length=100), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('member_birth_date', sa.Date(), nullable=True),
    sa.Column('sex', sa.Integer(), nullable=False),
    sa.Column('postal_code', sa.String(length=8), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('acquisition_date', sa.Date(), nullable=False),
    sa.Column('loss_date', sa.Date(), nullable=True),
    sa.Column('loss_reason', sa.String(length=2), nullable=True),
    sa.Column('voluntary_continuation', sa.Boolean(), nullable=False),
    sa.Column('remuneration', sa.JSON(), nullable=False),
    sa.Column('limit_certificates', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('registered_at', sa.DateTime(), nullable=False),
    sa.Column('change_id', sa.BigInteger(), nullable=False),
    sa.Column('superseded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_qualification_history'))
    )
    with op.batch_alter_table('index_qualification_history', schema=None) as batch_op:
        batch_op.create_index('ix_index_history_numbers', ['insurer_number', 'symbol', 'number', 'branch'],
                              unique=False)
        batch_op.create_index('ix_index_history_person', ['person_id'], unique=False)


    op.create_table('index_epoch',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('first_registered_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_epoch'))
    )
    # backfill: the rows already registered count from their publish time
    op.execute("INSERT INTO index_epoch (id, first_registered_at) "
               "SELECT 1, min(registered_at) FROM index_qualifications HAVING min(registered_at) IS NOT NULL")


def downgrade() -> None:
    op.drop_table('index_epoch')
    with op.batch_alter_table('index_qualification_history', schema=None) as batch_op:
        batch_op.drop_index('ix_index_history_person')
        batch_op.drop_index('ix_index_history_numbers')
    op.drop_table('index_qualification_history')
