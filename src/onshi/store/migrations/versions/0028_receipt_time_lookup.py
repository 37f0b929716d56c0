"""receipt lookup by time: the usage log's btree on ``receipt_id`` gives way to a BRIN index on ``occurred_at``

A receipt id begins with the millisecond of its verification (the usage log's ``occurred_at``;
docs/receipts.md), so ``onshi receipt show`` finds the row among that millisecond's rows.  A btree on
``receipt_id`` cost every verification an index entry (measured: 287 µs of PostgreSQL CPU per signed answer
with it, 256 without, docs/performance.md); a BRIN index on ``occurred_at`` — which only grows with
time in this append-only table — costs next to nothing per row and serves the usage log's time-range reads too.
On SQLite it is an ordinary index.  Receipt ids made before time-ordered ids (2026-12-06) are looked for among the rows before 2026-12-07.

Revision ID: 0028_receipt_time_lookup
Revises: 0027_version_notify
"""
from alembic import op

revision = '0028_receipt_time_lookup'
down_revision = '0027_version_notify'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_log_receipt_id')
    op.create_index('ix_vlog_occurred', 'verification_log', ['occurred_at'], unique=False,
                    postgresql_using='brin')


def downgrade() -> None:
    op.drop_index('ix_vlog_occurred', table_name='verification_log')
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.create_index('ix_verification_log_receipt_id', ['receipt_id'], unique=False)
