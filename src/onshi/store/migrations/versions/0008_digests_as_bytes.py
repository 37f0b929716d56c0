"""the row hash and the My Number lookup hash as 32 bytes instead of 64 hex characters

Both are SHA-256 digests with a unique index that takes an entry for every row a 資格取得届 adds, at a random
place; as bytes the entries are half the size (the index stays in memory longer as the registry grows) and
compare byte for byte.  Python still sees hex (onshi.store.db.HexDigest).  A dependent's loss change had a row
hash made of its member's and the qualification id ("…:123"); it becomes the SHA-256 of that text, as intake now
derives it.

Revision ID: 0008_digests_as_bytes
Revises: 0007_leaner_registry_indexes
"""
import hashlib
import re

from alembic import op
import sqlalchemy as sa

revision = '0008_digests_as_bytes'
down_revision = '0007_leaner_registry_indexes'
branch_labels = None
depends_on = None

COLUMNS = (('persons', 'my_number_hash', True), ('registry_changes', 'row_hash', False))


def _digest(value: str | bytes) -> bytes:
    if not isinstance(value, str):  # SQLite's table copy casts the text to a BLOB of its characters
        value = bytes(value).decode()
    if re.fullmatch("[0-9a-f]{64}", value):
        return bytes.fromhex(value)
    return hashlib.sha256(value.encode()).digest()


def _sqlite_convert(table: str, column: str, to_bytes: bool) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")).all()
    for id_, value in rows:
        new = _digest(value) if to_bytes else bytes(value).hex()
        bind.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": new, "id": id_})


def upgrade() -> None:
    for table, column, nullable in COLUMNS:
        if op.get_bind().dialect.name == 'postgresql':
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bytea USING CASE WHEN {column} ~ '^[0-9a-f]{{64}}$' "
                       f"THEN decode({column}, 'hex') ELSE sha256(convert_to({column}, 'UTF8')) END")
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=64), type_=sa.LargeBinary(length=32),
                                  existing_nullable=nullable)
        _sqlite_convert(table, column, to_bytes=True)


def downgrade() -> None:
    for table, column, nullable in COLUMNS:
        if op.get_bind().dialect.name == 'postgresql':
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(64) USING encode({column}, 'hex')")
            continue
        _sqlite_convert(table, column, to_bytes=False)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.LargeBinary(length=32), type_=sa.String(length=64),
                                  existing_nullable=nullable)
