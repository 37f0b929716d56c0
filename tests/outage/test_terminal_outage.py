"""The running terminal (``onshi terminal``, a real process polling its folder) records and checks the outage
lists dropped in ``OQS/outage``: a file given its final name by a rename is answered once with
``done/<name>.result.csv``; a ``.partial`` file is left alone until renamed; a bad list goes to ``err/`` with its
``.err``; a run killed between the commit and the move (simulated: recorded and checked, file left in place) is
finished by the restarted terminal without a second record or a second check — both databases."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from onshi.exchange.publish import publish_all
from onshi.outage import folder as outage_folder
from onshi.outage.models import OutageCheck, OutageRecord
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify.service import add_institution
from tests.registry.helpers import acquisition, load, setup_insurers, write

SRC = Path(__file__).resolve().parents[2] / "src"
CLINIC = "1310000011"
NOW = "2026-12-06T10:00:00+09:00"  # the terminal's clock (ONSHI_NOW): the day after the outage
HEADER = "診療日,氏名,カナ氏名,性別,生年月日,住所\n"
FOUND = "2026-12-05,厚労　太郎,コウロウ　タロウ,1,S45.1.1,東京都港区虎ノ門1-1\n"
NOBODY = "2026-12-05,障害　花子,ショウガイ　ハナコ,2,1962-02-22,東京都中野区中野9-9-9\n"
FOUND_AGAIN = "2026-12-04,厚労　太郎,こうろう たろう,男,昭和45年1月1日,東京都港区虎ノ門一丁目1番\n"


@pytest.fixture
def clinic(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition,
         received_at=datetime(2026, 11, 2, 1, 0))
    publish_all()
    with unit_of_work() as s:
        add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    return engine


def _start(oqs: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "ONSHI_DATABASE_URL": url, "PYTHONPATH": str(SRC), "ONSHI_NOW": NOW}
    return subprocess.Popen([sys.executable, "-m", "onshi", "terminal", "--dir", str(oqs), "--institution", CLINIC],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(proc: subprocess.Popen, path: Path) -> None:
    deadline = time.monotonic() + 120  # a guard against a hang, not a measured time
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, f"the terminal never wrote {path.name}"
        time.sleep(0.02)


def _drop(folder: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    """As a clinic's software should: written under a temporary name, then renamed."""
    tmp = folder / f"{name}.tmp"
    tmp.write_bytes(text.encode(encoding))
    os.replace(tmp, folder / name)


def _result(path: Path) -> list[dict]:
    text = path.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for the reception PC's editor
    return list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))


def _counts(engine) -> tuple[int, int]:
    with engine.connect() as c:
        return (c.scalar(select(func.count()).select_from(OutageRecord)),
                c.scalar(select(func.count()).select_from(OutageCheck)))


def test_the_running_terminal_records_and_checks_the_outage_folder(clinic, database_url, tmp_path):
    oqs = tmp_path / "OQS"
    outage = oqs / "outage"
    outage.mkdir(parents=True)
    (outage / "b.csv.partial").write_bytes((HEADER + FOUND_AGAIN).encode())  # still being written
    proc = _start(oqs, database_url)
    try:
        _drop(outage, "a.csv", HEADER + FOUND + NOBODY, encoding="cp932")
        _wait_for(proc, outage / "done" / "a.csv.result.csv")
        _wait_for(proc, outage / "done" / "a.csv")
        rows = _result(outage / "done" / "a.csv.result.csv")
        assert [(r["氏名"], r["結果"], r["保険者番号"], r["番号"], r["照合方法"]) for r in rows] == [
            ("厚労　太郎", "有効", "01130012", "101", "基本4情報"), ("障害　花子", "要確認", "", "", "")]
        assert (outage / "b.csv.partial").read_bytes() == (HEADER + FOUND_AGAIN).encode()  # seen, left alone
        assert _counts(clinic) == (2, 1)

        os.replace(outage / "b.csv.partial", outage / "b.csv")  # now complete
        _wait_for(proc, outage / "done" / "b.csv.result.csv")
        assert [(r["診療日"], r["結果"]) for r in _result(outage / "done" / "b.csv.result.csv")] == [
            ("2026-12-04", "有効")]

        _drop(outage, "c.csv", HEADER + "2026-12-05,厚労　太郎,コウロウ　タロウ,1,H31.5.1,\n")
        _wait_for(proc, outage / "err" / "c.csv.err")
        err = (outage / "err" / "c.csv.err").read_text(encoding="utf-8-sig")
        assert "2行目 生年月日「H31.5.1」" in err and "2行目 住所" in err
        assert (outage / "err" / "c.csv").exists() and not (outage / "done" / "c.csv.result.csv").exists()

        _drop(outage, "a2.csv", HEADER + FOUND + NOBODY)  # the same list again, by another name
        _wait_for(proc, outage / "done" / "a2.csv.result.csv")
        assert [r["記録番号"] for r in _result(outage / "done" / "a2.csv.result.csv")] == [r["記録番号"] for r in rows]
        assert _counts(clinic) == (3, 2)  # nothing recorded again, nothing checked again: the list's check only
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not [p.name for p in outage.iterdir() if p.is_file()]


def test_a_run_killed_between_commit_and_move_is_finished_once_by_the_restarted_terminal(clinic, database_url,
                                                                                        tmp_path):
    oqs = tmp_path / "OQS"
    outage = oqs / "outage"
    outage.mkdir(parents=True)
    _drop(outage, "a.csv", HEADER + FOUND + NOBODY)
    with unit_of_work() as s:  # what the killed run committed: recorded and checked, the file not moved yet
        first = outage_folder.record_file(s, outage / "a.csv", CLINIC, today=date(2026, 12, 6))
    assert first.report is not None and _counts(clinic) == (2, 1)
    proc = _start(oqs, database_url)
    try:
        _wait_for(proc, outage / "done" / "a.csv")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (outage / "done" / "a.csv.result.csv").read_bytes() == first.result
    assert _counts(clinic) == (2, 1)
    assert not (outage / "a.csv").exists()
