"""batch_runs and batch_units: the records of runs on the task engine and of their units (docs/batch.md)

The daily 資格確認書 run (per insurer and slice), the linkage check of an extract (per chunk) and the analytics
export (per month) run as tasks on any number of workers.  Each unit writes its ``batch_units`` row in the
transaction of its own work, so a redelivered or duplicated task finds it and changes nothing; the starter reads
the run's progress and failures from here, and ``batch_runs`` says whether a run is running, done or failed (and
why — e.g. its broker was lost).  /metrics counts the failed units.  And an index on the certificates'
qualification, which a slice of the daily run reads by range.

Revision ID: 0022_batch_tasks
Revises: 0021_outage_lists
"""
from alembic import op
import sqlalchemy as sa

revision = '0022_batch_tasks'
down_revision = '0021_outage_lists'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'batch_runs',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('run_key', sa.String(length=160), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('units', sa.Integer(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('started_by', sa.String(length=100), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_runs')),
        sa.UniqueConstraint('run_key', name=op.f('uq_batch_runs_run_key')),
    )
    op.create_table(
        'batch_units',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('run_key', sa.String(length=160), nullable=False),
        sa.Column('unit', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('failures', sa.JSON(), nullable=False),
        sa.Column('worker', sa.String(length=200), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_units')),
        sa.UniqueConstraint('run_key', 'unit', name=op.f('uq_batch_units_run_key')),
    )


    # a slice of a daily run reads the certificates of its range of qualifications
    op.create_index('ix_issued_qualification', 'issued_documents', ['qualification_id'])


def downgrade() -> None:
    op.drop_index('ix_issued_qualification', table_name='issued_documents')
    op.drop_table('batch_units')
    op.drop_table('batch_runs')
