"""benefits: cash-benefit applications, their events, members' bank accounts (sealed), payments, transfer files

傷病手当金, 出産手当金, 出産育児一時金, 埋葬料 and 高額療養費 applications move received → incomplete → complete →
decided → paid / refused (docs/benefits.md).  A payment is unique per application (nothing paid twice); an
application unique per source key (the same input twice makes one).  Account numbers are stored sealed and found by
a keyed hash, like the My Number.  ``web_users.person_id`` binds a member's user (role ``member``) to the person.

Revision ID: 0024_benefits
Revises: 0023_workbench
Create Date: 2026-12-06 08:49:18.851998
"""
from alembic import op
import sqlalchemy as sa


revision = '0024_benefits'
down_revision = '0023_workbench'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('benefit_bank_accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('bank_code', sa.String(length=4), nullable=False),
    sa.Column('branch_code', sa.String(length=3), nullable=False),
    sa.Column('account_type', sa.Integer(), nullable=False),
    sa.Column('number_enc', sa.LargeBinary(), nullable=False),
    sa.Column('number_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('holder_kana', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_bank_accounts'))
    )
    op.create_index('ix_benefit_bank_accounts_person', 'benefit_bank_accounts', ['person_id'], unique=False)
    op.create_table('benefit_applications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_key', sa.String(length=120), nullable=False),
    sa.Column('insurer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('qualification_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('missing', sa.JSON(), nullable=False),
    sa.Column('complete_on', sa.Date(), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('needs_approval', sa.Boolean(), nullable=False),
    sa.Column('approved_by', sa.String(length=100), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('refused_reason', sa.Text(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=True),
    sa.Column('explanation', sa.JSON(), nullable=False),
    sa.Column('paid_days', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('employer_cert', sa.JSON(), nullable=True),
    sa.Column('doctor_cert', sa.JSON(), nullable=True),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('bank_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['bank_account_id'], ['benefit_bank_accounts.id'], name=op.f('fk_benefit_applications_bank_account_id_benefit_bank_accounts')),
    sa.ForeignKeyConstraint(['insurer_id'], ['insurers.id'], name=op.f('fk_benefit_applications_insurer_id_insurers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_applications')),
    sa.UniqueConstraint('source_key', name=op.f('uq_benefit_applications_source_key'))
    )
    op.create_index('ix_benefit_applications_board', 'benefit_applications', ['insurer_id', 'status', 'complete_on'], unique=False)
    op.create_index('ix_benefit_applications_person', 'benefit_applications', ['person_id'], unique=False)
    op.create_table('benefit_transfer_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('insurer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('transfer_date', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['insurer_id'], ['insurers.id'], name=op.f('fk_benefit_transfer_batches_insurer_id_insurers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_transfer_batches'))
    )
    op.create_table('benefit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('application_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('on', sa.Date(), nullable=False),
    sa.Column('from_status', sa.String(length=12), nullable=True),
    sa.Column('to_status', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['benefit_applications.id'], name=op.f('fk_benefit_events_application_id_benefit_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_events'))
    )
    op.create_index('ix_benefit_events_application', 'benefit_events', ['application_id'], unique=False)
    op.create_table('benefit_payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('application_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('transfer_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['benefit_applications.id'], name=op.f('fk_benefit_payments_application_id_benefit_applications')),
    sa.ForeignKeyConstraint(['batch_id'], ['benefit_transfer_batches.id'], name=op.f('fk_benefit_payments_batch_id_benefit_transfer_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_payments')),
    sa.UniqueConstraint('application_id', name=op.f('uq_benefit_payments_application_id'))
    )


    # a member (加入者本人) signs in for one person only: their own electronic applications
    op.add_column('web_users', sa.Column('person_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('web_users') as batch_op:
        batch_op.drop_column('person_id')
    op.drop_table('benefit_payments')
    op.drop_index('ix_benefit_events_application', table_name='benefit_events')
    op.drop_table('benefit_events')
    op.drop_table('benefit_transfer_batches')
    op.drop_index('ix_benefit_applications_person', table_name='benefit_applications')
    op.drop_index('ix_benefit_applications_board', table_name='benefit_applications')
    op.drop_table('benefit_applications')
    op.drop_index('ix_benefit_bank_accounts_person', table_name='benefit_bank_accounts')
    op.drop_table('benefit_bank_accounts')
