"""The demo seed leaves cash-benefit applications in every state (demo/benefits.py), and seeding again adds none."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from onshi.benefits import service
from onshi.benefits.models import BenefitApplication
from onshi.store.db import unit_of_work

TODAY = date(2026, 11, 20)


def test_the_demo_has_applications_in_every_state(engine, tmp_path):
    from onshi.demo import benefits as demo
    from onshi.demo.cli import seed_database

    seed_database(150, 7, TODAY, files_dir=tmp_path / "files")
    with unit_of_work() as s:
        apps = s.scalars(select(BenefitApplication)).all()
        states = {a.status for a in apps}
        assert {"incomplete", "complete", "decided", "paid", "refused"} <= states, states
        assert {a.kind for a in apps} >= {"sickness", "childbirth", "burial", "high_cost"}
        assert any(a.needs_approval and not a.approved_by for a in apps)
        board = service.board(s, insurer_id=apps[0].insurer_id, today=TODAY)
        assert board.totals["overdue"] >= 1 and board.totals["paid_on_time"] >= 1 and board.totals["paid_late"] >= 1
        n = len(apps)
    assert demo.seed(TODAY) == n  # idempotent
