"""mailing_bundles: one row per employer bundle of a mailing run (progress from every worker, failures)

A mailing run runs as one task per employer bundle on any number of workers (docs/batch.md).  Each bundle
writes its row in the transaction of its notices, so a redelivered task finds it and changes nothing, and the
run's progress and failures (who and why) are read from here by the CLI and the back-office page.

Revision ID: 0017_mailing_bundles
Revises: 0016_server_sessions
"""
from alembic import op
import sqlalchemy as sa

revision = '0017_mailing_bundles'
down_revision = '0016_server_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mailing_bundles',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('run_id', sa.BigInteger(), nullable=False),
        sa.Column('employer_id', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.Column('issued', sa.Integer(), nullable=False),
        sa.Column('files', sa.JSON(), nullable=False),
        sa.Column('notes', sa.JSON(), nullable=False),
        sa.Column('failures', sa.JSON(), nullable=False),
        sa.Column('worker', sa.String(length=200), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mailing_bundles')),
        sa.UniqueConstraint('run_id', 'employer_id', name=op.f('uq_mailing_bundles_run_id')),
    )


def downgrade() -> None:
    op.drop_table('mailing_bundles')
