"""national lists and outage records: the monthly 職権交付対象者リスト (and the cannot-use list) as imported, and the
patients a clinic saw during an outage, their batch checks and the claims whose insurer stayed unknown

national_list_files keep each imported list (SHA-256: the same file twice changes nothing) with its rows that were
not applied; national_list_entries one member per (kind, month, qualification) — the fact the 資格確認書 decision
reads (docs/national-lists.md).  outage_records, outage_checks and outage_unknown_claims: docs/outage.md.

Revision ID: 0021_outage_lists
Revises: 0020_etag_version
"""
from alembic import op
import sqlalchemy as sa


revision = '0021_outage_lists'
down_revision = '0020_etag_version'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('national_list_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('file_id', sa.BigInteger(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('qualification_id', sa.BigInteger(), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('insurer_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=2), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_list_entries')),
    sa.UniqueConstraint('kind', 'month', 'qualification_id', name=op.f('uq_national_list_entries_kind'))
    )
    with op.batch_alter_table('national_list_entries', schema=None) as batch_op:
        batch_op.create_index('ix_national_list_entries_person', ['person_id'], unique=False)

    op.create_table('national_list_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('insurer_id', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('encoding', sa.String(length=10), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('imported_by', sa.String(length=100), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('already', sa.Integer(), nullable=False),
    sa.Column('unmatched', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('problems', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_list_files')),
    sa.UniqueConstraint('kind', 'sha256', name=op.f('uq_national_list_files_kind'))
    )
    op.create_table('outage_checks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_code', sa.String(length=10), nullable=False),
    sa.Column('checked_by', sa.String(length=100), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('valid', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('unsure', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outage_checks'))
    )
    op.create_table('outage_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('institution_code', sa.String(length=10), nullable=False),
    sa.Column('record_key', sa.String(length=64), nullable=False),
    sa.Column('care_date', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_kana', sa.String(length=200), nullable=False),
    sa.Column('sex', sa.SmallInteger(), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('insurer_number', sa.String(length=8), nullable=True),
    sa.Column('symbol', sa.String(length=20), nullable=True),
    sa.Column('number', sa.String(length=20), nullable=True),
    sa.Column('branch', sa.String(length=2), nullable=True),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=4), nullable=True),
    sa.Column('checked_at', sa.DateTime(), nullable=True),
    sa.Column('check_id', sa.BigInteger(), nullable=True),
    sa.Column('person_id', sa.BigInteger(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outage_records')),
    sa.UniqueConstraint('institution_code', 'record_key', name=op.f('uq_outage_records_institution_code'))
    )
    with op.batch_alter_table('outage_records', schema=None) as batch_op:
        batch_op.create_index('ix_outage_records_care', ['institution_code', 'care_date'], unique=False)

    op.create_table('outage_unknown_claims',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('outage_record_id', sa.BigInteger(), nullable=False),
    sa.Column('institution_code', sa.String(length=10), nullable=False),
    sa.Column('care_date', sa.Date(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('amount_yen', sa.Integer(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outage_unknown_claims')),
    sa.UniqueConstraint('outage_record_id', name=op.f('uq_outage_unknown_claims_outage_record_id'))
    )
    with op.batch_alter_table('outage_unknown_claims', schema=None) as batch_op:
        batch_op.create_index('ix_outage_unknown_month', ['month'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outage_unknown_claims', schema=None) as batch_op:
        batch_op.drop_index('ix_outage_unknown_month')

    op.drop_table('outage_unknown_claims')
    with op.batch_alter_table('outage_records', schema=None) as batch_op:
        batch_op.drop_index('ix_outage_records_care')

    op.drop_table('outage_records')
    op.drop_table('outage_checks')
    op.drop_table('national_list_files')
    with op.batch_alter_table('national_list_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_national_list_entries_person')

    op.drop_table('national_list_entries')
