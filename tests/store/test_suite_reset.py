"""The suite's per-test reset (tests/conftest.py ``engine``) empties only what a test touched on PostgreSQL: it must
still find every table a test left rows in, and every table whose ids a test drew, or the next test would see rows
or ids it did not make."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from onshi.schema import metadata
from tests.conftest import _pg_touched_tables

NAMES = [t.name for t in reversed(metadata.sorted_tables)]
ROW = ("INSERT INTO audit_log (at, actor_kind, actor_id, action, subject_kind, subject_id) "
       "VALUES (CURRENT_TIMESTAMP, 'staff', 'x', 'read', 'person', '1')")


@pytest.mark.postgres
def test_touched_tables_found_by_rows_and_by_ids(engine):
    with engine.begin() as c:
        assert _pg_touched_tables(c, NAMES) == []
        c.execute(text(ROW))
        assert _pg_touched_tables(c, NAMES) == ["audit_log"]
        c.execute(text("DELETE FROM audit_log"))
        # no row left, but an id was drawn: still touched, so its identity restarts
        assert _pg_touched_tables(c, NAMES) == ["audit_log"]
        c.execute(text("TRUNCATE audit_log RESTART IDENTITY"))
        assert _pg_touched_tables(c, NAMES) == []
        c.execute(text(ROW))
        assert c.execute(text("SELECT id FROM audit_log")).scalar_one() == 1
