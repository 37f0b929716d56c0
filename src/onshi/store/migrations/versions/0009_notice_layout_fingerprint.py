"""a notice mailed in an employer's bundle keeps its layout's fingerprint instead of a PDF checksum of its own

A mailing run (お知らせの一括送付) printed each notice twice: once into the employer's bundle, which is what is
mailed, and once more on its own only to record that single PDF's SHA-256 — more than half of the run's time.
Such a notice now records ``layout_fingerprint`` (onshi.documents.render.layout_fingerprint: the layout, its
font, reportlab's version and a sample rendered in it) and no ``sha256``; a reprint is refused when the
fingerprint has changed.  Documents rendered on their own (資格確認書, a notice issued singly) keep their
``sha256`` and record the fingerprint too.

Downgrade: a row without a checksum gets an empty one (its reprint will then be refused, as a changed layout).

Revision ID: 0009_notice_layout_fingerprint
Revises: 0008_digests_as_bytes
"""
from alembic import op
import sqlalchemy as sa

revision = '0009_notice_layout_fingerprint'
down_revision = '0008_digests_as_bytes'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('issued_documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('layout_fingerprint', sa.String(length=64), nullable=True))
        batch_op.alter_column('sha256', existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE issued_documents SET sha256 = '' WHERE sha256 IS NULL")
    with op.batch_alter_table('issued_documents', schema=None) as batch_op:
        batch_op.alter_column('sha256', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('layout_fingerprint')
