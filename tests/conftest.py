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
os.environ.setdefault("ONSHI_COOKIE_SECURE", "0")  # the test servers speak plain http (docs/auth.md)

from sqlalchemy import text  # noqa: E402

# Passwords: the same argon2id, at a test's cost.  The production costs (onshi.auth.users.production_hasher, 64 MiB
# and 3 passes; checked by tests/web/test_auth.py) took ~0.1–0.6 s per hash and per sign-in — several per web test,
# minutes of every run.  Hashes made here verify like any other: the parameters travel in the hash.
import onshi.auth.users as _users  # noqa: E402
from argon2 import PasswordHasher as _PasswordHasher  # noqa: E402

_users._hasher = _PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_users._DUMMY_HASH = _users._hasher.hash("onshi-dummy-password-for-timing")

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
            touched = _pg_touched_tables(c, names)
            if touched:
                c.execute(text("TRUNCATE " + ", ".join(touched) + " RESTART IDENTITY CASCADE"))
        else:
            for n in names:
                c.execute(text(f"DELETE FROM {n}"))


def _pg_touched_tables(conn, names: list[str]) -> list[str]:
    """The tables a test left rows in or drew ids for: TRUNCATE of all 57 tables costs ~105 ms on PostgreSQL, about a
    tenth of a typical database test; one probe (~4 ms) plus a TRUNCATE of the few a test touched is far cheaper.

    A table counts as touched when it holds a row, or when a sequence it owns has handed out a value since the last
    ``RESTART IDENTITY`` (rows inserted and deleted again would otherwise leave ids counting on into the next test).
    """
    nonempty = " UNION ALL ".join(f"SELECT '{n}' WHERE EXISTS (SELECT 1 FROM {n})" for n in names)
    used_ids = ("SELECT DISTINCT d.refobjid::regclass::text FROM pg_sequences s "
                "JOIN pg_class q ON q.relname = s.sequencename AND q.relkind = 'S' "
                "JOIN pg_depend d ON d.objid = q.oid AND d.classid = 'pg_class'::regclass "
                "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
                "WHERE s.schemaname = current_schema() AND s.last_value IS NOT NULL")
    touched = {r[0] for r in conn.execute(text(nonempty))} | {r[0].strip('"') for r in conn.execute(text(used_ids))}
    return [n for n in names if n in touched]


@pytest.fixture
def session(engine):
    from onshi.store.db import session_factory

    s = session_factory(engine)()
    yield s
    s.rollback()
    s.close()


def pytest_collection_modifyitems(config, items):
    """A test marked ``postgres`` exercises a PostgreSQL-only path: it is not collected on SQLite at all (deselected,
    not skipped), and on a machine without PostgreSQL its PostgreSQL half is skipped like every other.

    In the faked-clock runs (scripts/test-clock sets ``ONSHI_CLOCK_RUN=1``) a test that runs on both databases runs on
    SQLite only: libfaketime fakes the clock of the test process, and SQLite runs inside it, while the PostgreSQL
    server keeps the real time — the PostgreSQL half would repeat the Python half's clock reads against a server
    whose clock nobody faked.  PostgreSQL-only paths (marker ``postgres``) still run there.
    """
    clock_run = os.environ.get("ONSHI_CLOCK_RUN") == "1"
    keep, drop = [], []
    for item in items:
        db = item.callspec.params.get("database_url") if getattr(item, "callspec", None) is not None else None
        pg_only = item.get_closest_marker("postgres") is not None
        if (db == "sqlite" and pg_only) or (clock_run and db == "postgresql" and not pg_only):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_unconfigure(config):
    """Stop the rate limiter's expiry timers so the process can exit under a faked clock.

    ``limits``' in-memory storage (auth/throttle.py, when no Redis is configured) keeps a non-daemon
    ``threading.Timer`` of 10 ms alive; the interpreter waits for it at exit.  Under scripts/test-clock, libfaketime
    shifts the monotonic clock too, and the timer's absolute deadline then lies hours away for the kernel: pytest
    printed its summary and never exited (CI ran out of time).  Cancelling wakes the timer at once.  Any other
    non-daemon thread still alive is named on stderr, so the next such hang says where it is.
    """
    import sys
    import threading

    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()
        elif thread is not threading.main_thread() and not thread.daemon and thread.is_alive():
            print(f"onshi tests: non-daemon thread still running at exit: {thread.name} ({type(thread).__name__})",
                  file=sys.stderr)
