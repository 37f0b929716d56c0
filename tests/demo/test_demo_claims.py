"""The demo's claims (issue 21): a year of claim files for the seeded population, imported without a rejected row,
with a realistic generic share and a few claims after loss; seeding again changes nothing — both databases."""

from __future__ import annotations

from datetime import date

import duckdb
from sqlalchemy import func, select

from onshi.claims import generic
from onshi.claims.models import Claim, RefundCase
from onshi.store.db import unit_of_work

TODAY = date(2026, 11, 23)


def test_a_year_of_claims_for_the_demo(engine, tmp_path):
    from onshi.demo.claims import seed_claims
    from onshi.demo.cli import seed_database

    seed_database(150, 11, TODAY, files_dir=tmp_path / "files")
    first = seed_claims(seed=3, today=TODAY, out_dir=tmp_path / "claims", months=4)
    assert first["claims"] > 100 and first["rejected"] == 0, first
    assert first["cases"] >= 1  # care after loss, billed with the old card
    again = seed_claims(seed=3, today=TODAY, out_dir=tmp_path / "claims", months=4)
    assert (again["claims"], again["cases"]) == (0, 0)
    con = duckdb.connect(":memory:")
    generic.register_database(con, engine)
    shares = [r["share"] for r in generic.generic_shares(con, "month")]
    assert len(shares) == 4 and all(65 <= s <= 92 for s in shares), shares
    with unit_of_work() as s:
        settings = set(s.scalars(select(Claim.setting).distinct()))
        assert {"outpatient", "pharmacy", "dental"} <= settings
        assert s.scalar(select(func.count()).select_from(RefundCase)) == first["cases"]
