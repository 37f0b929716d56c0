"""業績評価シート: PDF text and rendering, HTML, and the sheet built from the database."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date

import pytest
from pypdf import PdfReader

from onshi.analytics.evaluation import build_sheet, render_html, render_pdf, sheet_from_database, write_sheet
from onshi.analytics.kpi import load_catalogue
from onshi.analytics.kpi_import import import_actuals_csv

CAT = load_catalogue()
ACTUALS = {"p6_checkup_lifestyle": 65.0, "p6_guidance_insured": 21.0, "p6_usage_rate": 30.50,
           "p6_single_bid_share": 13.9, "p6_health_declaration": 98500, "ops_certificate_next_business_day": 99.2}
PREVIOUS = {"p5_checkup_lifestyle": 58.1, "p6_single_bid_share": 14.6}
SOURCES = {k: "imported" for k in ACTUALS} | {"p6_usage_rate": "system"}


@pytest.fixture(scope="module")
def sheet():
    return build_sheet(CAT, 2024, "00", ACTUALS, PREVIOUS, sources=SOURCES, generated_on=date(2025, 6, 30))


@pytest.fixture(scope="module")
def pdf(sheet):
    return render_pdf(sheet)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_sheet_summary_and_sections(sheet):
    assert sheet.title == "業績評価シート（令和6年度）" and sheet.branch_label == "全国"
    s = sheet.summary
    assert (s["achieved"], s["not_achieved"]) == (2, 4)  # 65.0 ≥ 64.8, 13.9 ≤ 15; 21.0, 30.5, 98,500, 99.2 short
    assert s["total"] == len(CAT.for_year(2024)) == s["achieved"] + s["not_achieved"] + s["not_evaluated"]
    titles = [t for t, _ in sheet.sections]
    assert titles[0] == "1. 基盤的保険者機能の盤石化" and titles[-1] == "オンライン資格確認の業務"
    numbers = [r.number for _, rows in sheet.sections for r in rows]
    assert numbers == list(range(1, s["total"] + 1))


def test_pdf_text_has_names_targets_actuals_and_marks(pdf):
    text = pdf_text(pdf)
    for needle in ("業績評価シート（令和6年度）", "2024年度（令和6年度）", "生活習慣病予防健診実施率", "64.8%以上",
                   "65.0%", "58.1%", "+6.9pt", "マイナ保険証利用率", "50.0%以上", "30.5%", "61.0%", "システム集計",
                   "一者応札案件の割合", "15.0%以下", "13.9%", "健康宣言事業所数", "110,000事業所以上", "98,500事業所",
                   "資格確認書の翌営業日発行率", "○ 達成 2", "× 未達成 4"):
        assert needle in text, needle
    marks = re.findall(r"^\s*([○×－])\s*$", text, flags=re.M)
    assert marks.count("○") == 2 and marks.count("×") == 4 and "－" in marks


def test_pdf_is_reproducible_and_a4_landscape(sheet, pdf):
    assert render_pdf(sheet) == pdf
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_pdf_page_one_renders_to_png(pdf, tmp_path):
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "sheet.pdf", "page"], cwd=tmp_path,
                   check=True, capture_output=True, timeout=60)
    png = next(tmp_path.glob("page*.png"))
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000  # a page of text, not a blank page
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert abs(width - 702) <= 1 and abs(height - 496) <= 1  # A4 landscape at 60 dpi


def test_html_is_self_contained(sheet):
    html = render_html(sheet)
    for needle in ("<title>業績評価シート（令和6年度） 全国</title>", "生活習慣病予防健診実施率", "64.8%以上",
                   'class="mark ok">○', 'class="mark ng">×', "@font-face", "data:font/woff;base64,"):
        assert needle in html, needle
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<script" not in html and "@import" not in html
    plain = render_html(sheet, embed_font=False)
    assert "@font-face" not in plain and len(plain) < len(html) < 400_000


def test_html_escapes_text():
    sheet = build_sheet(CAT, 2024, "00", {}, generated_on=date(2025, 6, 30))
    html = render_html(sheet, embed_font=False)
    assert "協会のレセプト点検により査定（減額）した額 ÷ 協会の医療費総額" in html
    assert "<script>" not in html


def test_write_sheet_by_extension(sheet, tmp_path):
    assert write_sheet(sheet, tmp_path / "a" / "s.pdf").read_bytes()[:5] == b"%PDF-"
    assert "<!doctype html>" in write_sheet(sheet, tmp_path / "s.html").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"\.pdf or \.html"):
        write_sheet(sheet, tmp_path / "s.docx")


def test_branch_sheet_uses_branch_targets():
    sheet = build_sheet(CAT, 2021, "8", {"p5_checkup_lifestyle": 56.5, "p5_generic_share": 79.0},
                        generated_on=date(2022, 6, 30))
    assert sheet.branch == "08" and sheet.branch_label == "茨城支部"
    text = pdf_text(render_pdf(sheet))
    assert "業績評価シート（令和3年度）　茨城支部" in text and "56.5%以上" in text and "79.5%以上" in text
    assert "健康宣言事業所数" in text and "800事業所以上" in text  # nationwide count, but 茨城 has its own target
    assert "支部目標" in text


def test_sheet_from_database_with_previous_year_and_system_figures(session, tmp_path):
    f = tmp_path / "actuals.csv"
    f.write_text("kpi_code,fiscal_year,branch,value\n"
                 "p5_checkup_lifestyle,2023,13,59.0\n"
                 "p6_checkup_lifestyle,2024,13,60.0\n"
                 "p6_mail_application,2024,13,97.0\n"
                 "p5_mail_application,2023,13,97.5\n", encoding="utf-8")
    assert import_actuals_csv(session, f, today=date(2026, 11, 23)).ok

    def system(s, fy, branch):
        return {"usage_rate": 31.0} if fy == 2024 else {}

    sheet = sheet_from_database(session, 2024, "東京", system_actuals=system, generated_on=date(2025, 6, 30))
    rows = {r.kpi.code: r for r in sheet.results}
    assert rows["p6_checkup_lifestyle"].previous == 59.0 and rows["p6_checkup_lifestyle"].trend == "improved"
    assert rows["p6_mail_application"].target.value == 97.5 and rows["p6_mail_application"].achieved is False
    assert rows["p6_usage_rate"].actual == 31.0 and rows["p6_usage_rate"].actual_source == "system"
    assert "p6_homepage_access" not in rows  # nationwide count: not on a 支部's sheet


@pytest.mark.parametrize(("utc", "day"), [("2026-12-04T14:59:59Z", date(2026, 12, 4)),
                                          ("2026-12-04T15:00:00Z", date(2026, 12, 5))])
def test_the_sheet_is_dated_by_japans_day(utc, day):
    from onshi.store import clock

    with clock.frozen_at(utc):
        assert build_sheet(CAT, 2024, "00", ACTUALS).generated_on == day
