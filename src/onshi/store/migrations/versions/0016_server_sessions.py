"""server-side sign-in sessions, the sign-in delay, user names unique as folded, forced password change

* ``web_sessions``: the signed cookie now carries only a random session id; the row (its SHA-256) is the session,
  so sign-out, a password change, a disabled user or 「全端末からサインアウト」 end it at once.
* ``sign_in_failures``: wrong passwords in a row per user name and until when the next attempt waits (the
  exponential delay that replaces the 15-minute lock).
* ``web_users.username_key``: the name NFKC-normalised and case-folded, unique (``Suzuki`` / ``suzuki`` /
  ``ｓｕｚｕｋｉ`` are one user).  Existing names that fold to the same key stop the upgrade with their names.
* ``web_users.must_change_password``: set by an administrator's password reset.

Revision ID: 0016_server_sessions
Revises: 0015_audit_scope
"""
import unicodedata

from alembic import op
import sqlalchemy as sa

revision = '0016_server_sessions'
down_revision = '0015_audit_scope'
branch_labels = None
depends_on = None


def _fold(text: str) -> str:
    """As ``onshi.auth.passwords.fold`` (copied: a migration must not change when the code does)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", (text or "").strip()).casefold())


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_reason', sa.String(length=20), nullable=True),
    sa.Column('address', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['web_users.id'], name=op.f('fk_web_sessions_user_id_web_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions'))
    )
    op.create_index(op.f('ix_web_sessions_user_id'), 'web_sessions', ['user_id'], unique=False)
    op.create_table('sign_in_failures',
    sa.Column('username_key', sa.String(length=60), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(), nullable=False),
    sa.Column('wait_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('username_key', name=op.f('pk_sign_in_failures'))
    )
    op.create_index(op.f('ix_sign_in_failures_last_failure_at'), 'sign_in_failures', ['last_failure_at'],
                    unique=False)

    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    bind = op.get_bind()
    users = sa.table('web_users', sa.column('id', sa.BigInteger()), sa.column('username', sa.String()),
                     sa.column('username_key', sa.String()))
    seen: dict[str, str] = {}
    for user_id, username in bind.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)).all():
        key = _fold(username)[:60]
        if key in seen:
            raise RuntimeError(f"web users {seen[key]!r} and {username!r} are the same name once normalised "
                               f"(NFKC, case): rename one of them (UPDATE web_users SET username = …) before upgrading")
        seen[key] = username
        bind.execute(sa.update(users).where(users.c.id == user_id).values(username_key=key))
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.alter_column('username_key', existing_type=sa.String(length=60), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_web_users_username_key'), ['username_key'])


def downgrade() -> None:
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_web_users_username_key'), type_='unique')
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('username_key')
    op.drop_index(op.f('ix_sign_in_failures_last_failure_at'), table_name='sign_in_failures')
    op.drop_table('sign_in_failures')
    op.drop_index(op.f('ix_web_sessions_user_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
