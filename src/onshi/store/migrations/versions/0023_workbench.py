"""workbench: a person's recent verifications are read by their pseudonym (the member page); insurers' contact
hours and web page (printed on the documents with the phone and address); a clerk's decision per person on a name
with 外字 (gaiji_decisions)

The insurer's member page shows who verified the person, when and what was answered; the usage log is read by
``patient_key`` (newest first), which without an index is a scan of the whole log.

Revision ID: 0023_workbench
Revises: 0022_batch_tasks
"""
from alembic import op
import sqlalchemy as sa

revision = '0023_workbench'
down_revision = '0022_batch_tasks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gaiji_decisions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('person_id', sa.BigInteger(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('printed', sa.String(length=100), nullable=False),
        sa.Column('decision', sa.String(length=20), nullable=False),
        sa.Column('note', sa.String(length=400), nullable=True),
        sa.Column('decided_by', sa.String(length=100), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_gaiji_decisions')),
    )
    op.create_index(op.f('ix_gaiji_decisions_person_id'), 'gaiji_decisions', ['person_id'])
    op.create_index('ix_vlog_patient', 'verification_log', ['patient_key', 'occurred_at'])
    # plain ADD COLUMN (nullable): a batch copy of insurers would trip the foreign keys that point at it on SQLite
    op.add_column('insurers', sa.Column('contact_hours', sa.String(length=100), nullable=True))
    op.add_column('insurers', sa.Column('url', sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE insurers DROP COLUMN url')  # SQLite 3.35+ and PostgreSQL alike
    op.execute('ALTER TABLE insurers DROP COLUMN contact_hours')
    op.drop_index('ix_vlog_patient', table_name='verification_log')
    op.drop_index(op.f('ix_gaiji_decisions_person_id'), table_name='gaiji_decisions')
    op.drop_table('gaiji_decisions')
