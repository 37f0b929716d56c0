"""credentials_kinds: a smartphone credential beside the card, the institution's kind, a wider usage-log method

* ``insurance_cards.kind`` — ``card`` (every existing row) or ``smartphone`` (スマホ用電子証明書, from 2025-09-19).
* ``institutions.kind`` — ``general`` (every existing row), ``limited`` (資格確認限定型: 柔道整復・あはき) or
  ``home_visit`` (居宅同意取得型): what the institution's token may be answered.
* ``verification_log.method`` 8 → 12 characters: ``smartphone`` and ``requery`` are methods of their own.

Revision ID: 0018_credentials_kinds
Revises: 0017_mailing_bundles
"""
from alembic import op
import sqlalchemy as sa

revision = '0018_credentials_kinds'
down_revision = '0017_mailing_bundles'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('insurance_cards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=12), server_default='card', nullable=False))
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=12), server_default='general', nullable=False))
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.alter_column('method', existing_type=sa.String(length=8), type_=sa.String(length=12),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('verification_log', schema=None) as batch_op:
        batch_op.alter_column('method', existing_type=sa.String(length=12), type_=sa.String(length=8),
                              existing_nullable=False)
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('kind')
    with op.batch_alter_table('insurance_cards', schema=None) as batch_op:
        batch_op.drop_column('kind')
