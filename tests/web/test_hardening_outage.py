"""A database outage: 503 with Retry-After (JSON, a Japanese page, OQS E0901), and the server recovers by itself.

Runs its own PostgreSQL (initdb + pg_ctl in a temporary folder, on a free port) so it can stop and start it; the
shared server is never touched."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from lxml import etree

from tests.interop.conftest import request_xml

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnPostgres:
    """A throw-away PostgreSQL cluster; as root it runs as the ``postgres`` system user (initdb refuses root)."""

    def __init__(self):
        self.bin = Path(BIN[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="onshi-outage-pg-"))
        self.data, self.port = self.dir / "data", _free_port()
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "onshi")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/onshi"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_pg(monkeypatch):
    if not BIN:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/system-packages installs them)")
    pg = OwnPostgres()
    try:
        import onshi.store.db as db
        from onshi.store import migrate
        from onshi.store.db import make_engine

        migrate.upgrade(pg.url)
        engine = make_engine(pg.url, connect_args={"connect_timeout": 3})
        db.default_engine.cache_clear()
        monkeypatch.setattr(db, "default_engine", lambda: engine)
        pg.engine = engine
        yield pg
        engine.dispose()
    finally:
        pg.remove()


def test_an_outage_is_503_with_retry_after_and_the_server_recovers(own_pg, tmp_path):
    from fastapi.testclient import TestClient

    from onshi.auth import users
    from onshi.store.db import unit_of_work
    from onshi.verify.service import add_institution
    from onshi.web.app import create_app
    from tests.registry.helpers import INSURER, setup_insurers
    from tests.web.test_auth import csrf

    setup_insurers(tmp_path)
    with unit_of_work() as s:
        _inst, token = add_institution(s, code="1311234569", name="停電医院", facility_type="clinic")
        users.add_user(s, username="clerk", password="correct-horse-battery", role="clerk", display_name="事務",
                       insurer_number=INSURER)
    client = TestClient(create_app(own_pg.engine, publisher_interval=0), raise_server_exceptions=False)
    client.post("/login", data={"username": "clerk", "password": "correct-horse-battery",
                                "csrf_token": csrf(client)}, follow_redirects=False)
    api = {"Authorization": f"Bearer {token}"}
    numbers = {"insurer_number": INSURER, "symbol": "1", "number": "1", "birth_date": "1980-04-01",
               "care_date": None}

    def requests():
        from onshi.store.clock import japan_today

        body = {**numbers, "care_date": japan_today().isoformat()}
        return {"api": client.post("/api/v1/verifications/numbers", json=body, headers=api),
                "oqs": client.post("/oqs/xml", content=request_xml(institution="1311234569"), headers=api),
                "page": client.get("/office/members?symbol=1&number=1", headers={"Accept": "text/html"}),
                "json": client.get("/api/v1/registry/members?symbol=1&number=1")}

    before = requests()
    assert {k: r.status_code for k, r in before.items()} == {"api": 200, "oqs": 200, "page": 200, "json": 200}

    own_pg.stop()
    down = requests()
    for name, res in down.items():
        assert res.status_code == 503, (name, res.status_code, res.text[:300])
        assert int(res.headers["retry-after"]) > 0 and res.headers["cache-control"] == "no-store", name
    assert down["api"].json()["detail"].startswith("the database is unavailable")
    assert down["json"].headers["content-type"].startswith("application/json")
    assert "一時的に利用できません" in down["page"].text and down["page"].headers["content-type"].startswith("text/html")
    root = etree.fromstring(down["oqs"].content)
    assert (root.findtext("MessageHeader/SegmentOfResult"), root.findtext("MessageHeader/ErrorCode")) == ("9", "E0901")

    own_pg.start()  # the same app, no restart: the pool's pre-ping replaces the dead connections
    after = requests()
    assert {k: r.status_code for k, r in after.items()} == {"api": 200, "oqs": 200, "page": 200, "json": 200}
