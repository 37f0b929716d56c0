"""employer_tokens: an employer's (事業主) API credential for its own employees' cash-benefit applications

A token is bound to one 事業所 of one insurer, stored only as a SHA-256 digest (like an institution's), and revoked
on its own (docs/auth.md "Employers").

Revision ID: 0026_employer_tokens
Revises: 0025_usage_months
Create Date: 2026-12-06 12:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0026_employer_tokens'
down_revision = '0025_usage_months'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('employer_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('employer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('insurer_id', sa.BigInteger(), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['employer_id'], ['employers.id'], name=op.f('fk_employer_tokens_employer_id_employers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employer_tokens')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_employer_tokens_token_digest'))
    )
    op.create_index(op.f('ix_employer_tokens_employer_id'), 'employer_tokens', ['employer_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_employer_tokens_employer_id'), table_name='employer_tokens')
    op.drop_table('employer_tokens')
