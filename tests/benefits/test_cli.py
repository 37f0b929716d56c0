"""``onshi benefits``: the board, deciding every complete application, the transfer file once, the letter."""

from __future__ import annotations

from datetime import date

from typer.testing import CliRunner

from onshi.benefits import service, zengin
from onshi.cli import app
from onshi.registry.cli_common import EXIT_REFUSED
from onshi.store.db import unit_of_work
from tests.benefits.conftest import app_input
from tests.registry.helpers import INSURER


def test_board_decide_pay_and_letter(members, tmp_path):
    with unit_of_work() as s:
        a = service.receive(s, app_input("burial", attachments=["埋葬許可証"], details={"death_date": "2026-04-01"}),
                            insurer_id=members, actor="clerk")
    runner = CliRunner()
    assert runner.invoke(app, ["benefits", "board", "99999999"]).exit_code == EXIT_REFUSED
    r = runner.invoke(app, ["benefits", "board", INSURER, "--today", "2026-05-01"])
    assert r.exit_code == 0 and "waiting" in r.output
    r = runner.invoke(app, ["benefits", "decide", INSURER, "--on", "2026-05-01"])
    assert r.exit_code == 0 and "decided 1" in r.output
    out = tmp_path / "zengin.txt"
    r = runner.invoke(app, ["benefits", "pay", INSURER, "--out", str(out), "--on", "2026-05-01"])
    assert r.exit_code == 0 and "1 transfers, 50,000 yen" in " ".join(r.output.split())
    assert [rec[:1] for rec in zengin.parse_records(out.read_bytes())] == [b"1", b"2", b"8", b"9"]
    r = runner.invoke(app, ["benefits", "pay", INSURER, "--out", str(tmp_path / "again.txt")])
    assert "nothing to pay" in r.output and not (tmp_path / "again.txt").exists()
    r = runner.invoke(app, ["benefits", "letter", str(a.id), "--out", str(tmp_path / "l.pdf")])
    assert r.exit_code == 0 and (tmp_path / "l.pdf").read_bytes().startswith(b"%PDF")
    assert runner.invoke(app, ["benefits", "letter", "999999", "--out", str(tmp_path / "x.pdf")]).exit_code \
        == EXIT_REFUSED
    with unit_of_work() as s:
        assert service.board(s, insurer_id=members, today=date(2026, 5, 8)).totals["paid_on_time"] == 1
