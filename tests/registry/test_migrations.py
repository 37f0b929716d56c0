"""Migrations that change stored values: the data written before them reads the same after, on both databases."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy import select, text

from onshi.registry.models import Person, RegistryChange
from onshi.store import migrate
from onshi.store.db import make_engine, session_factory



@pytest.fixture
def fresh_url(database_url, tmp_path):
    """An empty database of its own, of the kind *database_url* is (the migrations run on it from nothing)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'm.sqlite3'}"
        return
    admin = database_url.rsplit("/", 1)[0] + "/test"
    name = f"onshi_test_{uuid.uuid4().hex[:10]}"
    eng = make_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


def test_digests_become_bytes_and_read_back_as_the_same_hex(fresh_url):
    mn_hash, row_hash = hashlib.sha256(b"mn").hexdigest(), hashlib.sha256(b"row").hexdigest()
    derived = f"{row_hash[:48]}:42"  # how a dependent's loss change was hashed before 0008
    migrate.upgrade(fresh_url, "0007_leaner_registry_indexes")
    eng = make_engine(fresh_url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO insurers (id, number, name, kind, prefecture_code, settings, created_at) "
                       "VALUES (1, '01130012', 'x', 'kyokai', '01', '{}', '2026-01-01')"))
        c.execute(text("INSERT INTO persons (id, my_number_hash, created_at) VALUES (1, :h, '2026-01-01')"),
                  {"h": mn_hash})
        for i, h in enumerate((row_hash, derived), start=1):
            c.execute(text("INSERT INTO registry_changes (id, insurer_id, kind, row_hash, received_at, recorded_at) "
                           "VALUES (:i, 1, 'acquisition', :h, '2026-01-01', '2026-01-01')"), {"i": i, "h": h})
    eng.dispose()

    migrate.upgrade(fresh_url)
    eng = make_engine(fresh_url)
    with session_factory(eng)() as s:
        assert s.scalar(select(Person.id).where(Person.my_number_hash == mn_hash)) == 1
        hashes = dict(s.execute(select(RegistryChange.id, RegistryChange.row_hash)).all())
        assert hashes == {1: row_hash, 2: hashlib.sha256(derived.encode()).hexdigest()}
        raw = s.execute(text("SELECT my_number_hash FROM persons")).scalar()
        assert bytes(raw) == bytes.fromhex(mn_hash)  # 32 bytes in the table
    eng.dispose()

    migrate.downgrade(fresh_url, "0007_leaner_registry_indexes")
    eng = make_engine(fresh_url)
    with eng.connect() as c:
        assert c.execute(text("SELECT my_number_hash FROM persons")).scalar() == mn_hash
        assert c.execute(text("SELECT row_hash FROM registry_changes WHERE id = 1")).scalar() == row_hash
    eng.dispose()
