"""Outage lists from a folder (``onshi outage folder``): recorded whole or refused with an .err file, moved, and a
file dropped again records nothing — both databases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from typer.testing import CliRunner

from onshi.exchange.publish import publish_all
from onshi.outage.models import OutageRecord
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify.service import add_institution
from tests.registry.helpers import acquisition, load, setup_insurers, write

CLINIC = "1310000011"
HEADER = "診療日,氏名,カナ氏名,性別,生年月日,住所\n"


def test_the_outage_folder(engine, tmp_path, session):
    from onshi.cli import app

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition,
         received_at=datetime(2026, 11, 2, 1, 0))
    publish_all()
    with unit_of_work() as s:
        add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    folder = tmp_path / "OQS" / "outage"
    folder.mkdir(parents=True)
    good = (HEADER + "2026-12-01,厚労　太郎,コウロウ　タロウ,1,S45.1.1,東京都港区虎ノ門1-1\n").encode("cp932")
    (folder / "a.csv").write_bytes(good)
    (folder / "b.csv").write_bytes((HEADER + "2026-12-01,厚労　太郎,コウロウ　タロウ,1,H31.5.1,\n").encode())
    (folder / ".c.csv").write_bytes(good)  # still being written
    runner = CliRunner()
    res = runner.invoke(app, ["outage", "folder", str(folder), "--institution", CLINIC])
    assert res.exit_code == 1, res.output
    assert (folder / "done" / "a.csv").exists() and (folder / "err" / "b.csv").exists()
    err = (folder / "err" / "b.csv.err").read_text(encoding="utf-8-sig")
    assert "2行目 生年月日「H31.5.1」: 平成は31年4月30日まで" in err and "2行目 住所" in err
    assert (folder / ".c.csv").exists()
    assert session.scalar(select(func.count()).select_from(OutageRecord)) == 1
    (folder / "a.csv").write_bytes(good)  # dropped again
    res = runner.invoke(app, ["outage", "folder", str(folder), "--institution", CLINIC])
    assert res.exit_code == 0 and "記録 0件（記録済み 1件）" in res.output
    assert session.scalar(select(func.count()).select_from(OutageRecord)) == 1
    res = runner.invoke(app, ["outage", "check", "--institution", CLINIC])
    assert res.exit_code == 0 and "有効 1件" in res.output, res.output
