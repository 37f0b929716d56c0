"""h23: the usage aggregate the analytics dashboards read (usage_months) and its watermark (usage_aggregate_state)

The dashboard and the KPI sheet grouped the whole verification log on every load (3.9–5.4 s and 1.2–2.0 s on the
demo database, docs/performance.md); they now read one row per month, institution, insurer and setting, which
onshi.analytics.aggregate keeps up to date from the log (only the months that changed are counted again).  The
table starts empty: the first read after the upgrade fills it.

Revision ID: 0025_usage_months
Revises: 0024_benefits
"""
from alembic import op
import sqlalchemy as sa

revision = '0025_usage_months'
down_revision = '0024_benefits'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'usage_months',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('institution_code', sa.String(length=10), nullable=False),
        sa.Column('prefecture_code', sa.String(length=2), nullable=False),
        sa.Column('facility_type', sa.String(length=10), nullable=False),
        sa.Column('insurer_number', sa.String(length=8), nullable=False),
        sa.Column('setting', sa.String(length=10), nullable=False),
        sa.Column('online', sa.BigInteger(), nullable=False),
        sa.Column('card', sa.BigInteger(), nullable=False),
        sa.Column('card_users', sa.BigInteger(), nullable=False),
        sa.Column('smartphone', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_months')),
        sa.UniqueConstraint('month', 'institution_code', 'prefecture_code', 'facility_type', 'insurer_number',
                            'setting', name='uq_usage_months'),
    )
    op.create_index(op.f('ix_usage_months_month'), 'usage_months', ['month'])
    op.create_table(
        'usage_aggregate_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('last_log_id', sa.BigInteger(), nullable=False),
        sa.Column('log_rows', sa.BigInteger(), nullable=False),
        sa.Column('generation', sa.BigInteger(), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_aggregate_state')),
    )


def downgrade() -> None:
    op.drop_table('usage_aggregate_state')
    op.drop_index(op.f('ix_usage_months_month'), table_name='usage_months')
    op.drop_table('usage_months')
