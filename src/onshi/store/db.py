"""Engine, sessions and the declarative base shared by every domain's models."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeDecorator
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from onshi.config import get_settings
from onshi.store.clock import utcnow  # noqa: F401 - recorded time is UTC; re-exported for the models' defaults

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class HexDigest(TypeDecorator):
    """A SHA-256 digest: 64 hex characters in Python, its 32 bytes in the database.

    Half the size of the text in every index that holds one (the row hash, the My Number lookup hash), compared
    byte for byte rather than by collation; those indexes take an entry for every row a large file adds."""

    impl = LargeBinary(32)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    def process_result_value(self, value: bytes | None, dialect) -> str | None:
        return None if value is None else bytes(value).hex()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def make_engine(url: str | None = None, **kw: Any) -> Engine:
    url = url or get_settings().resolved_database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, **kw)


class DatabaseMissing(RuntimeError):
    """The SQLite file the settings name does not exist.  Only ``onshi db upgrade`` and ``onshi demo …`` create
    one (through :mod:`onshi.store.migrate`); every other use refuses rather than start an empty database in
    whatever folder it was run from (docs/cli.md)."""

    def __init__(self, path: Path):
        super().__init__(f"SQLite database {path} does not exist")
        self.path = path


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (absolute), or None for another database or an in-memory one."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:" \
            or u.database.startswith("file:"):
        return None
    return Path(u.database).absolute()


@lru_cache
def default_engine() -> Engine:
    """The engine of the configured database; a SQLite file must exist already (:class:`DatabaseMissing`)."""
    url = get_settings().resolved_database_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise DatabaseMissing(path)
    return make_engine(url)


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or default_engine(), expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine | None = None, *, factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """One transaction per use case: commit on success, roll back on any error."""
    session = (factory or session_factory(engine))()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def allocate_ids(session: Session, table: str, n: int) -> list[int]:
    """Reserve *n* primary keys for a bulk insert (PostgreSQL sequence / SQLite max+1)."""
    if n <= 0:
        return []
    if is_postgres(session):
        rows = session.execute(
            text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"),
            {"n": n},
        ).scalars()
        return list(rows)
    start = session.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one() + 1
    return list(range(start, start + n))


def allocate_id_blocks(session: Session, wanted: dict[str, int]) -> dict[str, list[int]]:
    """:func:`allocate_ids` for several tables in one round trip."""
    wanted = {t: n for t, n in wanted.items() if n > 0}
    if not is_postgres(session) or len(wanted) <= 1:
        return {t: allocate_ids(session, t, n) for t, n in wanted.items()}
    parts, params = [], {}
    for i, (table, n) in enumerate(wanted.items()):
        parts.append(f"SELECT {i} AS t, nextval(pg_get_serial_sequence('{table}', 'id')) AS id "
                     f"FROM generate_series(1, :n{i})")
        params[f"n{i}"] = n
    out: dict[str, list[int]] = {t: [] for t in wanted}
    names = list(wanted)
    for t, ident in session.execute(text(" UNION ALL ".join(parts)), params):
        out[names[t]].append(ident)
    return out


def bulk_insert(session: Session, table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows fast: COPY on PostgreSQL, executemany elsewhere.

    Rows must carry every column that has no server default (ids included,
    see :func:`allocate_ids`).
    """
    if not rows:
        return
    cols = list(rows[0].keys())
    if is_postgres(session):
        conn = session.connection().connection.driver_connection  # psycopg connection
        with conn.cursor() as cur:
            with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in cols])
        return
    session.execute(table.insert(), list(rows))
