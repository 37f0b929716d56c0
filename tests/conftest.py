"""Test fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is used whenever it is reachable at ``ONSHI_TEST_PG`` (default
127.0.0.1:5432, user postgres or root, trust auth).  The tests create their own
database (``onshi_test_<random>``) and drop it at the end.  Where PostgreSQL is
unreachable the PostgreSQL half is skipped with a message saying so — unless
``ONSHI_REQUIRE_POSTGRES=1`` (CI), where that is an error.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import uuid
from pathlib import Path

import pytest

# Keys and folders for the test run, before anything reads the settings.
_TMP = Path(tempfile.mkdtemp(prefix="onshi-test-"))
os.environ.setdefault("ONSHI_VAR_DIR", str(_TMP / "var"))
os.environ["ONSHI_MY_NUMBER_KEY"] = base64.urlsafe_b64encode(b"k" * 32).decode()
os.environ["ONSHI_MY_NUMBER_HASH_KEY"] = base64.urlsafe_b64encode(b"h" * 32).decode()
os.environ["ONSHI_SESSION_SECRET"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
os.environ.pop("ONSHI_DATABASE_URL", None)

from sqlalchemy import text  # noqa: E402

from onshi.store.db import make_engine  # noqa: E402

PG_HOST = os.environ.get("ONSHI_TEST_PG", "127.0.0.1:5432")
REQUIRE_PG = os.environ.get("ONSHI_REQUIRE_POSTGRES") == "1"
_pg_admin_url: str | None = None
_pg_reason = ""


def _find_pg() -> str | None:
    global _pg_reason
    for user in ("postgres", "root"):
        url = f"postgresql+psycopg://{user}@{PG_HOST}/test"
        try:
            eng = make_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
            with eng.connect() as c:
                c.execute(text("select 1"))
            eng.dispose()
            return url
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            _pg_reason = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def pytest_configure(config):
    global _pg_admin_url
    _pg_admin_url = _find_pg()
    if _pg_admin_url is None and REQUIRE_PG:
        raise pytest.UsageError(f"ONSHI_REQUIRE_POSTGRES=1 but PostgreSQL at {PG_HOST} is unreachable: {_pg_reason}")


def pytest_report_header(config):
    if _pg_admin_url:
        return f"onshi: database tests run on SQLite and on PostgreSQL at {PG_HOST}"
    return f"onshi: PostgreSQL at {PG_HOST} unreachable ({_pg_reason}): PostgreSQL tests SKIPPED, SQLite only"


def _create_pg_database() -> tuple[str, str]:
    name = f"onshi_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(_pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, _pg_admin_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    admin = make_engine(_pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated, empty database of each kind, for the whole session."""
    from onshi.store import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'onshi.sqlite3'}"
        migrate.upgrade(url)
        yield url
        return
    if _pg_admin_url is None:
        pytest.skip(f"PostgreSQL unreachable at {PG_HOST} ({_pg_reason})")
    name, url = _create_pg_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture(scope="session")
def _engines():
    cache = {}
    yield cache
    for eng in cache.values():
        eng.dispose()


@pytest.fixture
def engine(database_url, _engines, monkeypatch):
    """The engine for one test; every table is emptied afterwards so no test sees another's rows."""
    import onshi.store.db as db
    from onshi.schema import metadata

    eng = _engines.get(database_url)
    if eng is None:
        eng = _engines[database_url] = make_engine(database_url)
    db.default_engine.cache_clear()
    monkeypatch.setattr(db, "default_engine", lambda: eng)
    yield eng
    from onshi.documents import runs

    # a background run (mailing) of this test must not write into the next test's tables (that made the API test
    # of mailing runs fail at random: its keys were already "issued" by a run left over from an earlier test)
    assert runs.wait_idle(120, forget=True), "a background document run of this test did not end"
    names = [t.name for t in reversed(metadata.sorted_tables)]
    with eng.begin() as c:
        if eng.dialect.name == "postgresql":
            c.execute(text("TRUNCATE " + ", ".join(names) + " RESTART IDENTITY CASCADE"))
        else:
            for n in names:
                c.execute(text(f"DELETE FROM {n}"))


@pytest.fixture
def session(engine):
    from onshi.store.db import session_factory

    s = session_factory(engine)()
    yield s
    s.rollback()
    s.close()


def pytest_collection_modifyitems(config, items):
    """A test marked ``postgres`` exercises a PostgreSQL-only path: it is not collected on SQLite at all (deselected,
    not skipped), and on a machine without PostgreSQL its PostgreSQL half is skipped like every other."""
    keep, drop = [], []
    for item in items:
        on_sqlite = getattr(item, "callspec", None) is not None and item.callspec.params.get("database_url") == "sqlite"
        (drop if on_sqlite and item.get_closest_marker("postgres") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
