"""Rendering 資格確認書, 資格情報のお知らせ and employer bundles: content, determinism, layouts."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from onshi.documents.render import (
    CertificateData,
    CoverLetterData,
    LayoutError,
    NoticeData,
    layout_fingerprint,
    load_layout,
    render_bundle,
    render_certificate,
    render_notice,
    render_to_file,
    render_to_files,
)

CERT = CertificateData(
    name="山田 花子",
    name_kana="ヤマダ ハナコ",
    birth_date=date(1985, 4, 12),
    sex="女",
    symbol="12345678",
    number="1234",
    branch="01",
    insurer_number="01130012",
    insurer_name="全国健康保険協会 東京支部",
    insurer_address="東京都中野区中野4-10-2",
    issue_date=date(2026, 11, 22),
    valid_until=date(2031, 11, 30),
    co_pay_ratio_tenths=3,
    qualification_date=date(2019, 5, 1),
    limit_category_label=None,
)

NOTICE = NoticeData(
    symbol="12345678",
    number="1234",
    branch="01",
    name="山田 花子",
    name_kana="ヤマダ ハナコ",
    birth_date=date(1985, 4, 12),
    insurer_name="全国健康保険協会 東京支部",
    insurer_number="01130012",
    issue_date=date(2026, 11, 22),
    co_pay_ratio_tenths=3,
    qualification_date=date(1989, 1, 8),
    my_number_last4="0257",
    postal_code="1640001",
    address_line1="東京都中野区中野一丁目2番3号",
    address_line2="サンプルマンション101号室",
    employer_name="株式会社サンプル商事",
)

COVER = CoverLetterData(
    employer_name="株式会社サンプル商事",
    insurer_name="全国健康保険協会 東京支部",
    issue_date=date(2026, 11, 22),
    employer_postal_code="100-0001",
    employer_address_line1="東京都千代田区千代田1-1",
)


def text_of(pdf: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages]


def squash(s: str) -> str:
    return "".join(s.split())


def derived(tmp_path: Path, body: str, name: str = "mine") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(body, encoding="utf-8")
    return p


# -- 資格確認書 ---------------------------------------------------------------


@pytest.mark.parametrize("layout", ["default_certificate", "card_certificate"])
def test_certificate_content(layout):
    pdf = render_certificate(CERT, layout)
    assert pdf.page_count == 1 and pdf.warnings == ()
    (page,) = text_of(pdf)
    flat = squash(page)
    for expected in [
        "健康保険資格確認書", "山田花子", "ヤマダハナコ", "昭和60年4月12日", "女",
        "12345678", "1234", "01", "01130012", "全国健康保険協会東京支部",
        "令和8年11月22日", "令和13年11月30日", "本人（被保険者）",
        "一部負担金の割合", "3割", "資格取得年月日", "令和元年5月1日",
    ]:
        assert expected in flat, expected
    assert "限度額適用区分" not in flat  # no application: not printed


def test_certificate_page_sizes():
    card = PdfReader(io.BytesIO(render_certificate(CERT, "card_certificate"))).pages[0]
    a4 = PdfReader(io.BytesIO(render_certificate(CERT))).pages[0]
    mm = 72 / 25.4
    assert (round(float(card.mediabox.width) / mm), round(float(card.mediabox.height) / mm)) == (91, 55)
    assert (round(float(a4.mediabox.width) / mm), round(float(a4.mediabox.height) / mm)) == (210, 297)


def test_certificate_limit_category_and_family():
    pdf = render_certificate(replace(CERT, limit_category_label="区分ウ", personal_family="家族"))
    flat = squash(text_of(pdf)[0])
    assert "限度額適用区分" in flat and "区分ウ" in flat
    assert "家族（被扶養者）" in flat


def test_optional_fields_switched_off_by_layout(tmp_path):
    path = derived(tmp_path, 'base = "card_certificate"\n'
                   "print.co_pay_ratio = false\nprint.qualification_date = false\nprint.limit_category = false\n")
    pdf = render_certificate(replace(CERT, limit_category_label="区分ウ"), path)
    flat = squash(text_of(pdf)[0])
    for absent in ["一部負担金の割合", "3割", "資格取得年月日", "令和元年5月1日", "限度額適用区分", "区分ウ"]:
        assert absent not in flat, absent
    assert "山田花子" in flat  # the rest is still there


def test_seireki_layout(tmp_path):
    path = derived(tmp_path, 'base = "card_certificate"\ndate_style = "seireki"\n')
    flat = squash(text_of(render_certificate(CERT, path))[0])
    assert "1985年4月12日" in flat and "2031年11月30日" in flat
    assert "昭和" not in flat and "令和" not in flat


# -- 資格情報のお知らせ -----------------------------------------------------


def test_notice_content():
    pdf = render_notice(NOTICE)
    assert pdf.warnings == ()
    flat = squash(text_of(pdf)[0])
    for expected in [
        "資格情報のお知らせ", "〒164-0001", "東京都中野区中野一丁目2番3号", "サンプルマンション101号室",
        "山田花子様", "株式会社サンプル商事", "記号12345678", "番号1234", "枝番01",
        "ヤマダハナコ", "昭和60年4月12日", "3割", "平成元年1月8日", "01130012",
        "＊＊＊＊＊＊＊＊0257", "切り取り線", "令和8年11月22日",
    ]:
        assert expected in flat, expected
    # the detachable card part repeats 記号・番号・枝番, name, birth date, 資格取得年月日, insurer
    assert flat.count("12345678") == 2
    assert flat.count("昭和60年4月12日") == 2
    assert flat.count("平成元年1月8日") == 2
    assert flat.count("01130012") == 2


def test_notice_my_number_blank_when_unknown():
    pdf = render_notice(replace(NOTICE, my_number_last4=None))
    flat = squash(text_of(pdf)[0])
    assert "0257" not in flat and "＊＊＊＊" not in flat
    assert "下4桁" in flat  # the row is there, empty
    assert pdf.warnings == ()  # blank by design, not a problem


def test_notice_my_number_is_validated():
    with pytest.raises(ValueError, match="my_number_last4"):
        replace(NOTICE, my_number_last4="12345")


def test_missing_address_line_is_blank_and_reported():
    pdf = render_notice(replace(NOTICE, address_line1=None, address_line2=None))
    flat = squash(text_of(pdf)[0])
    assert "東京都中野区" not in flat and "山田花子様" in flat
    assert [(w.field, w.code) for w in pdf.warnings] == [("address_line1", "missing")]
    assert pdf.warnings[0].document == "12345678-1234-01"


def test_gaiji_substituted_and_flagged():
    pdf = render_notice(replace(NOTICE, name="髙﨑 𠮷男", name_kana="ﾀｶｻｷ ﾖｼｵ"))
    flat = squash(text_of(pdf)[0])
    assert "高崎吉男様" in flat and "タカサキヨシオ" in flat
    assert "髙" not in flat and "𠮷" not in flat
    (w,) = pdf.warnings
    assert (w.field, w.code) == ("name", "gaiji")
    assert [d.split()[0] for d in w.detail] == ["髙", "﨑", "𠮷"]
    assert "U+20BB7" in w.detail[2]


def test_long_name_shrinks_then_overflows():
    ok = render_certificate(replace(CERT, name="山田" * 8, name_kana="ヤマダ" * 8), "card_certificate")
    assert ok.warnings == ()
    over = render_certificate(replace(CERT, name="山田" * 30), "card_certificate")
    assert [w.code for w in over.warnings] == ["overflow"]


# -- determinism and fonts ---------------------------------------------------


def test_byte_identical_rerender():
    assert render_notice(NOTICE) == render_notice(NOTICE)
    assert render_certificate(CERT).sha256 == render_certificate(CERT).sha256
    assert render_notice(NOTICE) != render_notice(replace(NOTICE, branch="02"))


def test_byte_identical_across_processes():
    code = (
        "import sys, tests.documents.test_render as t\n"
        "from onshi.documents.render import render_notice\n"
        "sys.stdout.write(render_notice(t.NOTICE).sha256)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout == render_notice(NOTICE).sha256


def test_the_c_accelerator_changes_no_byte():
    """reportlab[accel] (rl_accel's C fp_str, a quarter faster) must print the same bytes as reportlab's pure-Python
    fallback, or a reprint's checksum would depend on whether the accelerator was installed."""
    import reportlab.lib.rl_accel as accel

    assert type(accel.fp_str).__name__ == "builtin_function_or_method"  # installed, as pyproject.toml asks
    code = (
        "import sys; sys.modules['_rl_accel'] = None  # import fails: reportlab falls back to Python\n"
        "import reportlab.lib.rl_accel as a, tests.documents.test_render as t\n"
        "from onshi.documents.render import CoverLetterData, render_bundle, render_certificate, render_notice\n"
        "assert a.fp_str.__name__ == '_py_fp_str'\n"
        "docs = [render_notice(t.NOTICE), render_certificate(t.CERT), render_bundle(CoverLetterData("
        "employer_name='株式会社見本', insurer_name='協会けんぽ', issue_date=t.NOTICE.issue_date), [t.NOTICE] * 3)]\n"
        "sys.stdout.write(' '.join(d.sha256 for d in docs))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    here = [render_notice(NOTICE), render_certificate(CERT),
            render_bundle(CoverLetterData(employer_name="株式会社見本", insurer_name="協会けんぽ",
                                          issue_date=NOTICE.issue_date), [NOTICE] * 3)]
    assert out.stdout.split() == [d.sha256 for d in here]


def test_font_is_embedded_truetype():
    raw = bytes(render_notice(NOTICE))
    assert b"/FontFile2" in raw and b"IPAexGothic" in raw
    reader = PdfReader(io.BytesIO(raw))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        font = ref.get_object()
        assert font["/Subtype"] == "/TrueType"
        assert "/FontFile2" in font["/FontDescriptor"].get_object()
    assert b"/Helvetica" not in raw


# -- bundle and streaming ----------------------------------------------------


def test_bundle_cover_list_then_notices():
    notices = [replace(NOTICE, number=str(1000 + i), name=f"山田 {i}号") for i in range(40)]
    pdf = render_bundle(COVER, notices)
    pages = text_of(pdf)
    # cover + 2 list pages (32 rows each) + 40 notices
    assert pdf.page_count == len(pages) == 1 + 2 + 40
    assert "送付のご案内" in squash(pages[0]) and "40通" in squash(pages[0])
    assert "同封者一覧" in pages[1] and "1/2頁" in squash(pages[1]) and "2/2頁" in squash(pages[2])
    assert "山田0号" in squash(pages[1]) and "山田39号" in squash(pages[2])
    assert "山田39号様" in squash(pages[-1])
    assert render_bundle(COVER, notices) == pdf


def test_render_to_file_streams_in_chunks(tmp_path):
    notices = [replace(NOTICE, number=str(1000 + i)) for i in range(23)]
    out = tmp_path / "all.pdf"
    report = render_to_file(notices, "kyokai_notice", out, chunk_pages=5)
    assert report.documents == report.pages == 23 and report.files == [out]
    reader = PdfReader(out)
    assert len(reader.pages) == 23
    assert "番号1022" in squash(reader.pages[22].extract_text())
    again = io.BytesIO()
    render_to_file(iter(notices), "kyokai_notice", again, chunk_pages=5)
    assert again.getvalue() == out.read_bytes()
    assert not list(tmp_path.glob("*.part"))


def test_render_to_files_one_per_document(tmp_path):
    certs = [replace(CERT, number=str(i)) for i in range(3)]
    report = render_to_files(iter(certs), "card_certificate", tmp_path / "out")
    assert [p.name for p in report.files] == [
        "000001_certificate_12345678-0-01.pdf",
        "000002_certificate_12345678-1-01.pdf",
        "000003_certificate_12345678-2-01.pdf",
    ]
    assert report.files[1].read_bytes() == render_certificate(certs[1], "card_certificate")


def test_wrong_document_for_layout():
    with pytest.raises(LayoutError, match="is a notice layout"):
        render_certificate(CERT, "kyokai_notice")
    with pytest.raises(TypeError):
        render_notice(CERT)  # type: ignore[arg-type]


# -- layout files --------------------------------------------------------------


def test_builtin_layouts_load():
    assert load_layout("kyokai_notice").kind == "notice"
    assert load_layout("default_certificate").page.crop_marks


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "x"\nkind = "notice"\ntext = [{ x = 1, y = 2, text = "a", colour = "red" }]\n', "text[0].colour: Extra inputs"),
        ('name = "x"\nkind = "notice"\ntext = [{ x = 1, y = "top", text = "a" }]\n', "text[0].y: Input should be a valid number"),
        ('name = "x"\nkind = "notice"\ntext = [{ x = 1, y = 2, text = "{nmae}" }]\n', "text[0].text: unknown field {nmae}"),
        ('name = "x"\nkind = "notice"\ntext = [{ x = 1, y = 2, text = "a", when = "ratio" }]\n', "text[0].when: 'ratio' is not a [print] option"),
        ('name = "x"\nkind = "notice"\ndate_style = "koki"\n', "date_style: unknown style 'koki'"),
        ('name = "x"\nkind = "letter"\n', "kind: Input should be"),
        ('base = "no_such_layout"\n', "no layout named 'no_such_layout'"),
        ('name = "x"\nkind = "notice"\n[print]\nco_pay_ratio = true\ntext = []\n', "print.text: Extra inputs"),
        ('name = "x"\nkind = "notice"\ntext = [\n', "not valid TOML"),
    ],
)
def test_layout_errors_name_the_key(tmp_path, body, message):
    path = derived(tmp_path, body)
    with pytest.raises(LayoutError) as exc:
        load_layout(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_layout_glyph_missing_from_font(tmp_path):
    path = derived(tmp_path, 'name = "x"\nkind = "notice"\ntext = [{ x = 1, y = 2, text = "\\ue000" }]\n')
    with pytest.raises(LayoutError, match="U\\+E000"):
        render_notice(NOTICE, path)


def test_layout_changed_on_disk_is_reloaded(tmp_path):
    path = derived(tmp_path, 'base = "card_certificate"\n')
    assert load_layout(path).date_style == "wareki"
    import os
    import time

    path.write_text('base = "card_certificate"\ndate_style = "iso"\n', encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert load_layout(path).date_style == "iso"


def test_layout_fingerprint_follows_what_prints_not_where_the_file_lies(tmp_path):
    base = layout_fingerprint("kyokai_notice")
    assert len(base) == 64 and base == layout_fingerprint("kyokai_notice")
    here, there = tmp_path / "a", tmp_path / "b"
    here.mkdir(), there.mkdir()
    same_here = derived(here, 'base = "card_certificate"\n')
    same_there = derived(there, 'base = "card_certificate"\n')
    assert layout_fingerprint(same_here) == layout_fingerprint(same_there)
    seireki = derived(tmp_path, 'base = "card_certificate"\ndate_style = "seireki"\n')  # also named "mine"
    assert layout_fingerprint(seireki) != layout_fingerprint(same_here)
    assert layout_fingerprint("card_certificate") != layout_fingerprint("default_certificate")


# -- the picture ---------------------------------------------------------------


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_png_via_pdftoppm(tmp_path):
    from PIL import Image

    pdf = tmp_path / "n.pdf"
    pdf.write_bytes(render_notice(NOTICE))
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-singlefile", str(pdf), str(tmp_path / "n")], check=True)
    img = Image.open(tmp_path / "n.png").convert("L")
    assert abs(img.size[0] - 413) <= 1 and abs(img.size[1] - 585) <= 1  # A4 at 50 dpi
    dark = sum(img.histogram()[:128])
    assert 0.01 < dark / (img.size[0] * img.size[1]) < 0.25  # ink, but not a black page
