"""0016_server_sessions: the models and the migration agree; existing users get their folded name key, and two
names that fold alike stop the upgrade naming both."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from onshi.store import migrate
from onshi.store.db import make_engine
from tests.registry.test_migrations import fresh_url  # noqa: F401 - the fixture

INSERT = ("INSERT INTO web_users (username, display_name, password_hash, role, failed_attempts, session_version, "
          "created_at) VALUES (:u, :u, 'x', 'analyst', 0, 1, '2026-12-01 00:00:00')")


def test_models_and_migrations_agree(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from onshi.schema import metadata

    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
    assert diff == []


def test_existing_users_get_their_folded_key(fresh_url):  # noqa: F811
    migrate.upgrade(fresh_url, "0012_bulk_reference_numbers")
    eng = make_engine(fresh_url)
    with eng.begin() as c:
        for name in ("Admin", "ｓｕｚｕｋｉ"):
            c.execute(text(INSERT), {"u": name})
    migrate.upgrade(fresh_url, "0016_server_sessions")
    with eng.connect() as c:
        rows = dict(c.execute(text("SELECT username, username_key FROM web_users")).all())
        assert rows == {"Admin": "admin", "ｓｕｚｕｋｉ": "suzuki"}
        assert c.scalar(text("SELECT must_change_password FROM web_users WHERE username = 'Admin'")) in (False, 0)
    eng.dispose()


def test_look_alike_names_stop_the_upgrade_with_their_names(fresh_url):  # noqa: F811
    migrate.upgrade(fresh_url, "0012_bulk_reference_numbers")
    eng = make_engine(fresh_url)
    with eng.begin() as c:
        for name in ("suzuki", "Suzuki"):
            c.execute(text(INSERT), {"u": name})
    with pytest.raises(RuntimeError, match="'suzuki' and 'Suzuki'"):
        migrate.upgrade(fresh_url, "0016_server_sessions")
    eng.dispose()
