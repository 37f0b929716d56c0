"""Exactly one answer and one usage-log row per request file, across ``kill -9`` of ``onshi terminal``.

A request is claimed in ``terminal_requests`` (committed) before it is verified; its answer is written to that row in
the transaction of the usage-log row.  A restarted terminal delivers a recorded answer again and verifies only the
claims without one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from onshi.exchange import cards
from onshi.exchange.publish import publish_all
from onshi.interop.oqs.models import TerminalRequest
from onshi.interop.oqs.terminal_service import answer_once, make_handlers
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.verify.models import VerificationLogEntry
from onshi.interop.oqs import xmlmsg
from onshi.store.clock import japan_today, utcnow

from tests.registry.helpers import MN_TARO, acquisition, load, setup_insurers, write
from tests.verify.test_api import CLINIC, xml_request

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture
def clinic(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        cards.register_card(s, my_number=MN_TARO, certificate_serial="CARD-1", certificate_expires_on=date(2031, 1, 1))
    return engine


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as c:
        return (c.scalar(select(func.count()).select_from(VerificationLogEntry)),
                c.scalar(select(func.count()).select_from(TerminalRequest)),
                c.scalar(select(func.count()).select_from(TerminalRequest).where(TerminalRequest.status == "answered")))


def test_the_table_matches_the_migration(engine):
    """The migrated database and the models agree on every table, ``terminal_requests`` included (Alembic sees
    nothing to generate), and the database is at the one head of the migrations."""
    from alembic.script import ScriptDirectory

    from onshi.schema import metadata
    from onshi.store import migrate

    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), metadata)
    assert diff == []
    [head] = ScriptDirectory.from_config(migrate.alembic_config(str(engine.url))).get_heads()
    with engine.connect() as c:
        assert c.scalar(text("SELECT version_num FROM alembic_version")) == head
        assert c.execute(text("SELECT count(*) FROM terminal_requests")).scalar() == 0


def test_recorded_answer_is_delivered_again_without_verifying(clinic):
    once = answer_once(CLINIC, clinic)
    handlers = make_handlers(CLINIC, clinic)
    calls = []

    def produce() -> bytes:
        calls.append(1)
        parsed = xmlmsg.parse_request(xml_request(), today=japan_today())
        return xmlmsg.render_result(handlers.verify(parsed), parsed, encoding="utf-8", processed_at=utcnow())

    first = once("OQSsiquc01req_1.xml", xml_request(), produce)
    assert counts(clinic) == (1, 1, 1)

    def must_not_run() -> bytes:
        raise AssertionError("verified twice")

    assert once("OQSsiquc01req_1.xml", xml_request(), must_not_run) == first
    assert counts(clinic) == (1, 1, 1)
    # the same name with other bytes is another request
    once("OQSsiquc01req_1.xml", xml_request("Shift_JIS"), produce)
    assert counts(clinic) == (2, 2, 2) and len(calls) == 2


def test_death_between_claim_and_commit_leaves_no_log_row_and_is_verified_on_retry(clinic):
    once = answer_once(CLINIC, clinic)
    handlers = make_handlers(CLINIC, clinic)
    parsed = xmlmsg.parse_request(xml_request(), today=japan_today())

    def dies_after_verifying() -> bytes:
        handlers.verify(parsed)
        raise SystemExit("killed")  # what kill -9 is to the transaction: it never commits

    with pytest.raises(SystemExit):
        once("OQSsiquc01req_2.xml", xml_request(), dies_after_verifying)
    assert counts(clinic) == (0, 1, 0)  # claimed, not verified
    once("OQSsiquc01req_2.xml", xml_request(),
         lambda: xmlmsg.render_result(handlers.verify(parsed), parsed, encoding="utf-8", processed_at=utcnow()))
    assert counts(clinic) == (1, 1, 1)


def _start(oqs: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "ONSHI_DATABASE_URL": url, "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-m", "onshi", "terminal", "--dir", str(oqs), "--institution", CLINIC],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _answers(oqs: Path) -> list[str]:
    return [n for n in os.listdir(oqs / "res") if n.startswith("OQSsiquc01res_")]


def test_kill_9_mid_way_then_restart_answers_every_request_once(clinic, database_url, tmp_path):
    n = 300
    oqs = tmp_path / "OQS"
    (oqs / "req").mkdir(parents=True)
    (oqs / "res").mkdir()
    names = [f"OQSsiquc01req_20261122{i:06d}.xml" for i in range(n)]
    for i, name in enumerate(names):
        (oqs / "req" / name).write_bytes(xml_request().replace("受付-0001".encode(), f"受付-{i:04d}".encode()))

    for round_ in range(1, 4):  # three kill -9s, each with files in flight
        proc = _start(oqs, database_url)
        try:
            deadline = time.monotonic() + 120
            while len(_answers(oqs)) < round_ * n // 5:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the terminal answered too few requests"
                time.sleep(0.002)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert len(_answers(oqs)) < n, "all answered before the last kill: nothing was in flight"

    second = _start(oqs, database_url)
    try:
        deadline = time.monotonic() + 180
        while os.listdir(oqs / "req"):
            assert second.poll() is None, second.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the restarted terminal did not finish"
            time.sleep(0.05)
    finally:
        second.terminate()
        second.wait(timeout=30)

    assert sorted(_answers(oqs)) == sorted(n.replace("req_", "res_", 1) for n in names)
    for i, name in enumerate(names):
        text_ = (oqs / "res" / name.replace("req_", "res_", 1)).read_text(encoding="utf-8")
        assert "<SegmentOfResult>1</SegmentOfResult>" in text_ and f"受付-{i:04d}" in text_
    assert counts(clinic) == (n, n, n)  # one usage-log row, one claim, one recorded answer per request
    assert not [p for p in (oqs / "res").iterdir() if not p.name.startswith("OQSsiquc01res_")]


def test_one_scan_is_claimed_together_before_the_first_is_verified(clinic, tmp_path):
    """A burst in req/ is claimed in one commit: when the first of 40 files is verified, all 40 claims are already
    committed (seen from another connection) and none answered; after the scan each has one answer and one
    usage-log row. A file that cannot be parsed is answered at once and never claimed."""
    import dataclasses

    from onshi.interop.oqs.terminal_service import make_terminal

    oqs = tmp_path / "OQS"
    terminal = make_terminal(oqs, CLINIC, clinic)
    terminal.partial_grace = 0
    seen_at_first_verify: list[tuple[int, int, int]] = []
    verify = terminal.handlers.verify

    def watched(req):
        if not seen_at_first_verify:
            seen_at_first_verify.append(counts(clinic))
        return verify(req)

    terminal.handlers = dataclasses.replace(terminal.handlers, verify=watched)
    for i in range(40):
        (oqs / "req" / f"OQSsiquc01req_20261122{i:06d}.xml").write_bytes(xml_request())
    (oqs / "req" / "OQSsiquc01req_20261122999999.xml").write_bytes(b"<XmlMsg><MessageHeader>")  # garbage
    assert len(terminal.run_once()) == 41
    assert seen_at_first_verify == [(0, 40, 0)]
    assert counts(clinic) == (40, 40, 40)
    assert len(_answers(oqs)) == 40 and (oqs / "res" / "OQSsiquc01req_20261122999999.err").exists()


def test_the_terminal_refuses_to_start_without_a_database_or_its_institution(database_url, engine, tmp_path):
    """A vendor's first try: `onshi terminal` with no database, or for an institution never added, says so and
    exits — it does not answer every request E0901/E0002, and the request waiting in req/ is left there."""
    oqs = tmp_path / "OQS"
    (oqs / "req").mkdir(parents=True)
    waiting = oqs / "req" / "OQSsiquc01req_20261122000001.xml"
    waiting.write_bytes(xml_request())
    base = {k: v for k, v in os.environ.items() if k not in ("ONSHI_DATABASE_URL", "ONSHI_VAR_DIR")}
    cmd = [sys.executable, "-m", "onshi", "terminal", "--dir", str(oqs), "--institution", CLINIC, "--once"]
    none = subprocess.run(cmd, env={**base, "ONSHI_VAR_DIR": str(tmp_path / "empty"), "PYTHONPATH": str(SRC)},
                          capture_output=True, text=True, timeout=120)
    assert none.returncode == 3 and "データベース" in none.stderr and "onshi db upgrade" in none.stderr, none.stderr
    unknown = subprocess.run(cmd, env={**base, "ONSHI_DATABASE_URL": database_url, "PYTHONPATH": str(SRC),
                                       "ONSHI_VAR_DIR": str(tmp_path / "var")},
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and CLINIC in unknown.stderr and "onshi institution add" in unknown.stderr
    assert waiting.exists()
    assert not (oqs / "res").exists() or not any((oqs / "res").iterdir())
