"""The insurer's contact details (お問い合わせ先: phone, hours, web page, address) — kept by `onshi insurer
add/update` and the 保険者情報 page, printed under the 資格確認書's 「下記までお問い合わせください」 and on the お知らせ —
and the documents' PDF metadata: a Japanese title, the insurer as author, the issue date (issue 23)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from onshi.store.db import unit_of_work
from tests.registry.helpers import INSURER, OTHER_INSURER, setup_insurers
from tests.test_cli import _env, onshi_cmd, one_line


def _insurer(**fields):
    from onshi.registry import service

    with unit_of_work() as s:
        return service.update_insurer(s, INSURER, **fields)


def test_contact_details_are_checked_and_printed_on_the_certificate(engine, tmp_path):
    from onshi.documents.render import CertificateData, CoverLetterData, NoticeData, render_bundle, \
        render_certificate
    from onshi.registry import service

    setup_insurers(tmp_path)
    with pytest.raises(service.RegistryError) as refused:
        _insurer(phone="電話してね", url="www.example.jp", postal_code="12")
    assert "電話番号「電話してね」" in str(refused.value) and "https://" in str(refused.value) \
        and "郵便番号「12」" in str(refused.value)
    _insurer(phone="03-6680-8871", contact_hours="平日 8:30〜17:15", url="https://www.kyoukaikenpo.or.jp/",
             postal_code="164-8540", address="東京都中野区中野4-10-2")
    with unit_of_work() as s:
        ins = service.get_insurer(s, number=INSURER)
        contact = service.contact_line(ins)
        assert contact == "電話 03-6680-8871　受付 平日 8:30〜17:15　https://www.kyoukaikenpo.or.jp/"
        assert ins.postal_code == "1648540"
        assert service.contact_line(service.get_insurer(s, number=OTHER_INSURER)) is None
    data = CertificateData(name="見本　花子", name_kana="ミホン　ハナコ", birth_date=date(1980, 1, 1), sex="女",
                           symbol="10000001", number="1", branch="00", insurer_number=INSURER,
                           insurer_name="全国健康保険協会 東京支部", issue_date=date(2026, 12, 7),
                           valid_until=date(2031, 12, 6), insurer_address="東京都中野区中野4-10-2",
                           insurer_contact=contact, insurer_postal_code="1648540")
    pdf = render_certificate(data)
    reader = PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert "下記までお問い合わせください" in text and "03-6680-8871" in text and "平日 8:30〜17:15" in text
    assert "164-8540" in text
    meta = reader.metadata
    assert meta.title == "資格確認書（全国健康保険協会 東京支部）" and meta.author == "全国健康保険協会 東京支部"
    assert meta.creation_date.date() == date(2026, 12, 7)
    assert render_certificate(data) == pdf  # still deterministic: a reprint is the same bytes
    # an employer's bundle of お知らせ says whose and when, too
    notice = NoticeData(symbol="10000001", number="1", branch="00", name="見本　花子", name_kana="ミホン　ハナコ",
                        birth_date=date(1980, 1, 1), insurer_name="全国健康保険協会 東京支部", insurer_number=INSURER,
                        issue_date=date(2026, 12, 7), insurer_contact=contact)
    bundle = PdfReader(io.BytesIO(render_bundle(CoverLetterData(
        employer_name="株式会社テスト", insurer_name="全国健康保険協会 東京支部", issue_date=date(2026, 12, 7),
        insurer_contact=contact), [notice])))
    assert bundle.metadata.title == "資格情報のお知らせ（株式会社テスト）"
    assert bundle.metadata.author == "全国健康保険協会 東京支部" and len(bundle.pages) >= 2
    assert "03-6680-8871" in bundle.pages[-1].extract_text()


def test_issued_certificate_carries_the_registered_contact(engine, tmp_path):
    from onshi.documents import service as documents
    from onshi.registry.models import NotificationType as T
    from onshi.store.clock import japan_today
    from tests.registry.helpers import acquisition, load, write

    setup_insurers(tmp_path)
    _insurer(phone="03-1111-2222", contact_hours="平日 9:00〜17:00")
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(my_number="")]), T.acquisition,
         received_at=__import__("onshi.store.clock", fromlist=["utcnow"]).utcnow().replace(year=2026, month=11,
                                                                                             day=2))
    with unit_of_work() as s:
        report = documents.daily_run(s, japan_today(), tmp_path / "out", actor="test", insurer=INSURER)
        assert report.issued == 1, report.lines
        text = PdfReader(report.files[0]).pages[0].extract_text()
    assert "お問い合わせ先" in text and "03-1111-2222" in text


def test_cli_insurer_add_and_update_take_the_contact(tmp_path):
    env = _env(tmp_path / "data")
    assert onshi_cmd("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    res = onshi_cmd("insurer", "add", "06139992", "オンシ健康保険組合", "--phone", "03-0000-1111", "--hours",
                    "平日 9時〜17時", "--url", "https://onshi.example.jp/", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    res = onshi_cmd("insurer", "update", "06139992", "--phone", "03-9999-8888", cwd=tmp_path,
                    env={**env, "COLUMNS": "200"})
    assert res.returncode == 0 and "phone" in res.stdout, res.stderr
    listed = onshi_cmd("insurer", "list", cwd=tmp_path, env={**env, "COLUMNS": "200"}).stdout
    assert "03-9999-8888" in listed and "平日 9時〜17時" in listed
    one_line(onshi_cmd("insurer", "update", "06139992", "--url", "ftp://x", cwd=tmp_path, env=env), 2,
             "ホームページ「ftp://x」")


def test_cli_intake_names_the_gaiji_it_applied(tmp_path):
    from onshi.registry.models import NotificationType as T
    from tests.registry.helpers import SYMBOL, acquisition, write

    env = {**_env(tmp_path / "data"), "COLUMNS": "200"}
    assert onshi_cmd("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    assert onshi_cmd("insurer", "add", INSURER, "全国健康保険協会 東京支部", "--kind", "kyokai", cwd=tmp_path,
                     env=env).returncode == 0
    emp = write(tmp_path, "emp.csv", T.employer, [
        {"insurer_number": INSURER, "employer_symbol": SYMBOL, "employer_name": "株式会社テスト",
         "postal_code": "100-0001", "address": "東京都千代田区千代田1-1", "prefecture_code": "13"}])
    assert onshi_cmd("intake", str(emp), "--type", "employer", cwd=tmp_path, env=env).returncode == 0
    acq = write(tmp_path, "acq.csv", T.acquisition, [acquisition(my_number="", name="髙橋　一郎",
                                                                 name_kana="タカハシ　イチロウ")])
    res = onshi_cmd("intake", str(acq), "--type", "acquisition", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert "外字を含む氏名 1件" in res.stdout and "髙橋　一郎" in res.stdout and "高橋　一郎" in res.stdout
