"""``onshi claims …`` (issue 21), in process on both databases: drug master, import (exit 1 with the reasons when
rows are quarantined), the match, the audited lists, the generic share and the 特定健診 rate."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from onshi.privacy.models import AuditEntry
from onshi.store.db import unit_of_work
from tests.claims.helpers import drug, line, write_claims
from tests.claims.test_refunds import world  # noqa: F401 - registry events and November's claims


def run(*args: str):
    from onshi.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_claims_commands(world, tmp_path):  # noqa: F811
    res = run("claims", "drugs")
    assert res.exit_code == 0 and "entries written" in res.output
    path = write_claims(tmp_path, "dec.csv", [line(claim_number="5", month="2024-12", care_days="3"),
                                              drug(claim_number="5", month="2024-12", care_days="3"),
                                              line(claim_number="6", month="2024-12", number="999")])
    res = run("claims", "import", str(path))
    assert res.exit_code == 1, res.output
    assert "1 claims / 2 lines applied" in res.output and "unknown numbers" in res.output
    assert "nothing changed" in run("claims", "import", str(path)).output
    res = run("claims", "match", "--insurer", "01130012", "--month", "2024-11")
    assert res.exit_code == 0 and "3 cases opened" in res.output
    res = run("claims", "refunds", "--insurer", "01130012", "--actor", "ops")
    assert res.exit_code == 0 and "厚労　次郎" in res.output and "当方の登録遅延" in res.output
    with unit_of_work() as s:
        assert len(s.scalars(select(AuditEntry).where(AuditEntry.actor_id == "ops",
                                                      AuditEntry.action == "refund.list")).all()) == 3
    res = run("claims", "check", "--insurer", "01130012", "--month", "2024-11")
    assert res.exit_code == 0 and "保険者の相違" in res.output
    res = run("claims", "generic", "--by", "month", "--fiscal-year", "2024")
    assert res.exit_code == 0 and "2024-12" in res.output and "100.00" in res.output
    assert run("claims", "match", "--insurer", "01130012", "--month", "2024-13").exit_code == 2
    assert run("claims", "match", "--insurer", "99999999", "--month", "2024-11").exit_code == 2
    res = run("claims", "checkups", "rate", "--insurer", "01130012", "--fiscal-year", "2024")
    assert res.exit_code == 0 and "被扶養者" in res.output
