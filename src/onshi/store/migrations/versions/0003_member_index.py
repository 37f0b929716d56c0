"""index current qualification versions by member (the publisher looks up a member's dependents)

Revision ID: 0003_member_index
Revises: 0002_verification
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_member_index'
down_revision = '0002_verification'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('qualification_versions', schema=None) as batch_op:
        batch_op.create_index('ix_qv_member_current', ['member_qualification_id'], unique=False,
                              sqlite_where=sa.text('superseded_at IS NULL'),
                              postgresql_where=sa.text('superseded_at IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('qualification_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_qv_member_current', sqlite_where=sa.text('superseded_at IS NULL'),
                            postgresql_where=sa.text('superseded_at IS NULL'))
