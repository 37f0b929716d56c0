"""leaner registry indexes: every acquisition pays for each index it enters

* ``ix_person_versions_current`` (person_id, current only) duplicated ``ix_person_versions_person_id``: a person has
  a handful of versions, so looking up the current one through the full index costs the same;
* ``ix_qv_member_current`` indexed the member of every current qualification version, though only a dependent's
  (被扶養者) is ever looked up: it now holds dependents only.  ``member_qualification_id = x`` implies the new
  predicate, so the same queries use it.

Revision ID: 0007_leaner_registry_indexes
Revises: 0006_analytics
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_leaner_registry_indexes'
down_revision = '0006_analytics'
branch_labels = None
depends_on = None

CURRENT = 'superseded_at IS NULL'
DEPENDENTS = 'superseded_at IS NULL AND member_qualification_id IS NOT NULL'


def upgrade() -> None:
    with op.batch_alter_table('person_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_person_versions_current', sqlite_where=sa.text(CURRENT),
                            postgresql_where=sa.text(CURRENT))
    with op.batch_alter_table('qualification_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_qv_member_current', sqlite_where=sa.text(CURRENT), postgresql_where=sa.text(CURRENT))
        batch_op.create_index('ix_qv_member_current', ['member_qualification_id'], unique=False,
                              sqlite_where=sa.text(DEPENDENTS), postgresql_where=sa.text(DEPENDENTS))


def downgrade() -> None:
    with op.batch_alter_table('qualification_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_qv_member_current', sqlite_where=sa.text(DEPENDENTS),
                            postgresql_where=sa.text(DEPENDENTS))
        batch_op.create_index('ix_qv_member_current', ['member_qualification_id'], unique=False,
                              sqlite_where=sa.text(CURRENT), postgresql_where=sa.text(CURRENT))
    with op.batch_alter_table('person_versions', schema=None) as batch_op:
        batch_op.create_index('ix_person_versions_current', ['person_id'], unique=False,
                              sqlite_where=sa.text(CURRENT), postgresql_where=sa.text(CURRENT))
