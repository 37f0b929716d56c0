"""etag_version: a per-person change counter, bumped by triggers, so a repeat check (If-None-Match) reads one row

``answer_versions(person_id, version)`` counts the changes of everything a verification's answer about a person
is made of.  Database triggers bump it in the same transaction as the change, whoever writes (both publishers,
the CLI, the back office, tests):

* ``index_qualifications`` — insert, update, delete: the person of the old and of the new row;
* ``linkage_checks`` (照会停止), ``consents``, ``insurance_cards`` — the same, by ``person_id``;
* ``reference_numbers`` (照会番号) — every person with an index row of those numbers.

On PostgreSQL the triggers are per statement with transition tables (a publisher's batch of 5,000 rows bumps in
one ``INSERT … ON CONFLICT``); on SQLite per row.  No backfill: a person without a row has version 0, and the ETags
issued before this migration are of the old form and never match again (one full answer each).

Revision ID: 0020_etag_version
Revises: 0019_claims
"""
from alembic import op
import sqlalchemy as sa

revision = '0020_etag_version'
down_revision = '0019_claims'
branch_labels = None
depends_on = None

#: tables whose rows name the person (``person_id``) whose answers they change
BY_PERSON = ("index_qualifications", "linkage_checks", "consents", "insurance_cards")
REFERENCE = "reference_numbers"
EVENTS = {"INSERT": ("new",), "UPDATE": ("old", "new"), "DELETE": ("old",)}
BUMP = "ON CONFLICT (person_id) DO UPDATE SET version = answer_versions.version + 1"


def _pg_people(table: str, sides: tuple[str, ...]) -> str:
    parts = []
    for side in sides:
        if table == REFERENCE:
            parts.append(f"SELECT iq.person_id FROM index_qualifications iq JOIN {side}_rows t "
                         "ON iq.insurer_number = t.insurer_number AND iq.symbol = t.symbol AND iq.number = t.number")
        else:
            parts.append(f"SELECT person_id FROM {side}_rows WHERE person_id IS NOT NULL")
    return " UNION ".join(parts)


def _pg_upgrade() -> None:
    for table in BY_PERSON + (REFERENCE,):
        for event, sides in EVENTS.items():
            name = f"pv_{table}_{event.lower()}"
            op.execute(f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO answer_versions (person_id, version)
  SELECT DISTINCT person_id, 1 FROM ({_pg_people(table, sides)}) p {BUMP};
  RETURN NULL;
END $$""")
            referencing = " ".join(f"{side.upper()} TABLE AS {side}_rows" for side in sides)
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {referencing} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()")


def _sqlite_upgrade() -> None:
    for table in BY_PERSON + (REFERENCE,):
        for event, sides in EVENTS.items():
            name = f"pv_{table}_{event.lower()}"
            statements = []
            for side in sides:
                row = side.upper()
                if table == REFERENCE:
                    select = (f"SELECT person_id, 1 FROM index_qualifications WHERE insurer_number = {row}.insurer_number "
                              f"AND symbol = {row}.symbol AND number = {row}.number")
                else:
                    select = f"SELECT {row}.person_id, 1 WHERE {row}.person_id IS NOT NULL"
                statements.append(f"INSERT INTO answer_versions (person_id, version) {select} "
                                  "ON CONFLICT (person_id) DO UPDATE SET version = version + 1;")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN "
                       + " ".join(statements) + " END")


def upgrade() -> None:
    op.create_table('answer_versions',
    sa.Column('person_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_answer_versions'))
    )
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in BY_PERSON + (REFERENCE,):
        for event in EVENTS:
            name = f"pv_{table}_{event.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if postgres else f"DROP TRIGGER IF EXISTS {name}")
            if postgres:
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table('answer_versions')
