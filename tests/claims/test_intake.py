"""Claim files in (issue 21 point 1): layout, CP932, per-row quarantine with reasons, idempotence — both databases."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import func, select

from onshi.claims import intake
from onshi.claims.models import Claim, ClaimFile, ClaimLine, QuarantinedClaimRow
from onshi.privacy.crypto import vault
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.claims.helpers import CLINIC, claim_csv, drug, import_claims, line, load_master, write_claims
from tests.registry.helpers import MN_CHILD, acquisition, dependent, load, setup_insurers, write


@pytest.fixture
def world(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition, received_at=datetime(2024, 4, 1))
    load(write(tmp_path, "d.csv", T.dependent, [
        dependent(),
        dependent(branch="02", my_number=MN_CHILD, name="厚労　一郎", name_kana="コウロウ　イチロウ", sex="1",
                  birth_date="2010-10-10"),
        dependent(branch="03", my_number="", name="厚労　二郎", name_kana="コウロウ　ジロウ", sex="1",
                  birth_date="2010-10-10")]), T.dependent, received_at=datetime(2024, 4, 1))
    load_master()
    return tmp_path


def counts() -> tuple[int, int, int]:
    with unit_of_work() as s:
        return (s.scalar(select(func.count()).select_from(Claim)), s.scalar(select(func.count()).select_from(ClaimLine)),
                s.scalar(select(func.count()).select_from(QuarantinedClaimRow)))


def test_a_good_file_is_applied_with_master_flags_and_amounts(world):
    rep = import_claims(write_claims(world, "c.csv", [
        line(), drug(), drug(line_number="3", code="990000201", name="ロキソニン錠60mg", quantity="21", points="210"),
        line(claim_number="2", branch="01", birth_date="1972-05-05", care_days="7", patient_share="0",
             copay_ratio="3")]))
    assert rep.ok and (rep.claims_applied, rep.lines_applied) == (2, 4), rep.errors
    with unit_of_work() as s:
        c = s.scalar(select(Claim).where(Claim.claim_number == "1"))
        assert (c.points, c.total_yen, c.patient_share_yen, c.insurer_share_yen, c.days) == (710, 7100, 1500, 5600, 2)
        assert c.care_dates == ["2024-11-05", "2024-11-20"] and c.person_id is not None
        flags = {ln.code: (ln.generic, ln.generic_exists) for ln in s.scalars(select(ClaimLine))}
    assert flags["990000102"] == (True, False) and flags["990000201"] == (False, True)
    assert flags["111000110"] == (False, False)


def test_the_same_file_twice_changes_nothing(world):
    path = write_claims(world, "c.csv", [line(), drug()])
    first = import_claims(path)
    again = import_claims(path)
    assert first.claims_applied == 1 and again.already_imported and again.claims_applied == 0
    assert counts() == (1, 2, 0)
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ClaimFile)) == 1


def test_bad_rows_are_quarantined_per_claim_with_their_reasons(world):
    rows = [
        line(claim_number="10"),                                                   # good
        line(claim_number="11", number="999"),                                     # unknown numbers
        line(claim_number="12", branch="", birth_date="2010-10-10"),               # twins: two members
        line(claim_number="13"), drug(claim_number="13", code="990999999"),        # no master entry
        line(claim_number="14"), drug(claim_number="14", quantity="-3"),           # negative quantity
        line(claim_number="15", insurer_number="06050006"),                        # unknown insurer (valid number)
    ]
    rep = import_claims(write_claims(world, "c.csv", rows))
    assert rep.claims_applied == 1 and rep.rows_rejected == 7
    reasons = {(e.row, e.column): e.reason for e in rep.errors}
    assert "unknown numbers" in reasons[(3, "number")]
    assert "two members" in reasons[(4, "branch")]
    assert "no drug master entry" in reasons[(6, "code")] and "another row" in reasons[(5, "*")]
    assert "negative quantity" in reasons[(8, "quantity")] and "another row" in reasons[(7, "*")]
    assert any(r == 9 for r, _ in reasons)
    with unit_of_work() as s:
        q = s.scalars(select(QuarantinedClaimRow).order_by(QuarantinedClaimRow.row_number)).all()
        assert [r.row_number for r in q] == [3, 4, 5, 6, 7, 8, 9]
        assert q[0].claim_ref == f"{CLINIC} 2024-11 11" and "999" in vault().unseal(q[0].raw_sealed).decode()
        assert all(json.dumps(r.errors, ensure_ascii=False).count("reason") for r in q)
    # nothing half-applied: the bad claims have no lines
    assert counts()[:2] == (1, 1)


def test_a_month_already_imported_and_a_changed_claim(world):
    import_claims(write_claims(world, "nov.csv", [line(claim_number="1")]))
    rep = import_claims(write_claims(world, "nov2.csv", [line(claim_number="1"),            # identical: duplicate
                                                         line(claim_number="2")]))          # same month, other file
    assert rep.claims_duplicate == 1 and rep.claims_applied == 0
    assert "month already imported" in rep.errors[0].reason and rep.errors[0].row == 3
    rep = import_claims(write_claims(world, "nov3.csv", [line(claim_number="1", points="999")]))
    assert "already imported with other content" in rep.errors[0].reason
    assert counts()[0] == 1


def test_cp932_with_a_broken_byte_costs_one_row(world):
    data = claim_csv([line(claim_number="1"), line(claim_number="2", name="再診料")], encoding="cp932")
    lines = data.split(b"\r\n")
    lines[2] = lines[2].replace("再診料".encode("cp932"), b"\x82\xff\x82")  # not CP932
    (world / "sj.csv").write_bytes(b"\r\n".join(lines))
    rep = import_claims(world / "sj.csv")
    assert rep.encoding == "cp932" and rep.claims_applied == 1
    assert rep.rows_rejected == 1 and rep.errors[0].row == 3 and "cp932" in rep.errors[0].reason


def test_japanese_headers_and_an_unreadable_file(world):
    ja = [intake.COLUMNS[c][0] for c in intake.COLUMNS]
    row = {intake.COLUMNS[c][0]: v for c, v in line().items()}
    rep = import_claims(write_claims(world, "ja.csv", [row], header=ja))
    assert rep.claims_applied == 1, rep.errors
    (world / "empty.csv").write_bytes(b"")
    with pytest.raises(intake.ClaimFileError, match="空"):
        import_claims(world / "empty.csv")
    (world / "nohead.csv").write_bytes(b"a,b\n1,2\n")
    with pytest.raises(intake.ClaimFileError, match="missing columns"):
        import_claims(world / "nohead.csv")
