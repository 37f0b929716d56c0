"""the current qualifications of an employer (事業所), indexed

A mailing run (お知らせの一括送付) prints one bundle per employer; it read every current qualification of the
insurer for each employer and kept that employer's — quadratic in the size of a 協会けんぽ 支部 (hundreds of
thousands of employers, millions of members).  ``ix_qv_employer_current`` finds one employer's members directly.
It costs every acquisition one more index entry; files come grouped by employer, so the entries go in nearly in
order (measured with bench/bench_intake.py, docs/performance.md).

Revision ID: 0010_qv_employer_index
Revises: 0009_notice_layout_fingerprint
"""
from alembic import op
import sqlalchemy as sa

revision = '0010_qv_employer_index'
down_revision = '0009_notice_layout_fingerprint'
branch_labels = None
depends_on = None

CURRENT = 'superseded_at IS NULL'


def upgrade() -> None:
    with op.batch_alter_table('qualification_versions', schema=None) as batch_op:
        batch_op.create_index('ix_qv_employer_current', ['employer_id'], unique=False,
                              sqlite_where=sa.text(CURRENT), postgresql_where=sa.text(CURRENT))


def downgrade() -> None:
    with op.batch_alter_table('qualification_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_qv_employer_current', sqlite_where=sa.text(CURRENT),
                            postgresql_where=sa.text(CURRENT))
