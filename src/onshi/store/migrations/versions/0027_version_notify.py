"""version_notify: the triggers that bump ``answer_versions`` also NOTIFY what they bumped (PostgreSQL only)

A per-process cache of the people a repeat check's numbers match (:mod:`onshi.verify.version_cache`) answers a
304 without reading the database; it is kept current by these notifications, delivered at commit:

* channel ``onshi_answers``: the person ids whose counter the statement bumped, and, for ``index_qualifications``
  and ``reference_numbers``, a digest of each old/new row's lookup numbers (``k`` + the first 16 hex digits of
  ``md5(insurer_number|symbol|number)`` — numbers are never sent in clear): a NEW person registered with the same
  numbers changes an answer that listed other people or nobody.  Comma-separated, at most :data:`CHUNK` items a
  payload (PostgreSQL's limit is 8000 bytes; a publisher statement bumps up to 5,000 people): one ``pg_notify`` per
  chunk.  ``*`` (a TRUNCATE of one of those tables or of ``answer_versions``, or a statement of more than
  :data:`MASS` items): forget everything.
* channel ``onshi_institutions``: the id of an updated or deleted institution (a revocation stops cached 304s at
  once); ``*`` on TRUNCATE.

SQLite: nothing (the cache is off there).  Downgrade restores the functions of 0020_etag_version.

Revision ID: 0027_version_notify
Revises: 0026_employer_tokens
"""
from alembic import op

revision = '0027_version_notify'
down_revision = '0026_employer_tokens'
branch_labels = None
depends_on = None

BY_PERSON = ("index_qualifications", "linkage_checks", "consents", "insurance_cards")
REFERENCE = "reference_numbers"
KEYED = ("index_qualifications", REFERENCE)  # rows with lookup numbers: their digests are notified too
EVENTS = {"INSERT": ("new",), "UPDATE": ("old", "new"), "DELETE": ("old",)}
BUMP = "ON CONFLICT (person_id) DO UPDATE SET version = answer_versions.version + 1"
#: items a payload: a person id has at most 19 digits, a digest 17 characters — 300 of either stay under 6,000 bytes
CHUNK = 300
#: items of one statement past which it notifies ``*`` (forget everything) instead: a mass change — a bulk load, an
#: insurer-wide update — changes most cached answers anyway, and 100 notifications are enough to queue
MASS = 30_000
TRUNCATED = ("answer_versions",) + BY_PERSON + (REFERENCE,)


def _people(table: str, sides: tuple[str, ...]) -> str:
    parts = []
    for side in sides:
        if table == REFERENCE:
            parts.append(f"SELECT iq.person_id FROM index_qualifications iq JOIN {side}_rows t "
                         "ON iq.insurer_number = t.insurer_number AND iq.symbol = t.symbol AND iq.number = t.number")
        else:
            parts.append(f"SELECT person_id FROM {side}_rows WHERE person_id IS NOT NULL")
    return " UNION ".join(parts)


def _digests(sides: tuple[str, ...]) -> str:
    return " UNION ".join(f"SELECT 'k' || left(md5(insurer_number || '|' || symbol || '|' || number), 16) AS item "
                          f"FROM {side}_rows" for side in sides)


def _function(table: str, event: str, sides: tuple[str, ...], notify: bool) -> str:
    name = f"pv_{table}_{event.lower()}"
    if not notify:  # 0020's body
        return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO answer_versions (person_id, version)
  SELECT DISTINCT person_id, 1 FROM ({_people(table, sides)}) p {BUMP};
  RETURN NULL;
END $$"""
    keys = f" UNION ALL SELECT item FROM ({_digests(sides)}) d" if table in KEYED else ""
    # one pass, in SQL: items numbered into chunks, one pg_notify per chunk (O(rows); slicing a plpgsql array in a
    # loop copied it every time — a 1,000,000-row statement took minutes); past MASS items a single '*'
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sent bigint;
BEGIN
  WITH bumped AS (
    INSERT INTO answer_versions (person_id, version)
    SELECT DISTINCT person_id, 1 FROM ({_people(table, sides)}) p {BUMP}
    RETURNING person_id),
  items AS (SELECT person_id::text AS item FROM bumped{keys}),
  numbered AS (SELECT item, (row_number() OVER () - 1) / {CHUNK} AS chunk, count(*) OVER () AS total FROM items)
  SELECT count(*) INTO sent FROM (
    SELECT pg_notify('onshi_answers', CASE WHEN max(total) > {MASS} THEN '*' ELSE string_agg(item, ',') END)
    FROM numbered WHERE total <= {MASS} OR chunk = 0 GROUP BY chunk) n;
  RETURN NULL;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in BY_PERSON + (REFERENCE,):
        for event, sides in EVENTS.items():
            op.execute(_function(table, event, sides, notify=True))
    op.execute("""
CREATE FUNCTION onshi_answers_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('onshi_answers', '*'); RETURN NULL; END $$""")
    for table in TRUNCATED:
        op.execute(f"CREATE TRIGGER vn_{table}_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION onshi_answers_truncated()")
    op.execute("""
CREATE FUNCTION onshi_institution_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('onshi_institutions', '*');
  ELSE
    PERFORM pg_notify('onshi_institutions', OLD.id::text);
  END IF;
  RETURN NULL;
END $$""")
    op.execute("CREATE TRIGGER vn_institutions_change AFTER UPDATE OR DELETE ON institutions "
               "FOR EACH ROW EXECUTE FUNCTION onshi_institution_changed()")
    op.execute("CREATE TRIGGER vn_institutions_truncate AFTER TRUNCATE ON institutions "
               "FOR EACH STATEMENT EXECUTE FUNCTION onshi_institution_changed()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS vn_institutions_change ON institutions")
    op.execute("DROP TRIGGER IF EXISTS vn_institutions_truncate ON institutions")
    op.execute("DROP FUNCTION IF EXISTS onshi_institution_changed()")
    for table in TRUNCATED:
        op.execute(f"DROP TRIGGER IF EXISTS vn_{table}_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS onshi_answers_truncated()")
    for table in BY_PERSON + (REFERENCE,):
        for event, sides in EVENTS.items():
            op.execute(_function(table, event, sides, notify=False))
