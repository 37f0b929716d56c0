"""Dates and numbers typed on the screens: one input layer (onshi.rules.wareki through onshi.registry.fields), a
refused value named in Japanese with field and value, the field marked (aria-invalid, aria-describedby) and focused,
and no result count after an input error."""

from __future__ import annotations

import re

import pytest

from tests.registry.helpers import INSURER, SYMBOL
from tests.web.test_auth import csrf, login

#: English that must not reach a clerk's or receptionist's screen.
ENGLISH_FRAGMENTS = ("check digit", "no such date", "String should", "Value error", "Field required",
                     "Input should", "add a dated row", "docs/", "date must be", "digits only", "length must",
                     "required value", "Traceback", "missing columns", "unexpected column")

TARO = {"insurer_number": INSURER, "symbol": SYMBOL, "number": "101", "branch": "00"}


def input_tag(html: str, name: str) -> str:
    m = re.search(r'<(?:input|select)[^>]*\bname="%s"[^>]*>' % re.escape(name), html)
    assert m, f"no input {name}"
    return m.group(0)


def assert_marked(html: str, name: str, first: bool = True) -> None:
    """The field *name* is marked invalid, linked to its message, and (if it is the first) focused."""
    tag = input_tag(html, name)
    assert 'aria-invalid="true"' in tag and f'aria-describedby="err-{name}"' in tag, tag
    assert re.search(r'<li id="err-%s">' % re.escape(name), html)
    if first:
        assert "autofocus" in tag
        assert html.count("autofocus") == 1, "only the first invalid field is focused"


def assert_japanese_only(html: str) -> None:
    for fragment in ENGLISH_FRAGMENTS:
        assert fragment not in html, fragment


@pytest.mark.parametrize(("typed", "why"), [
    ("H31.5.1", "平成は31年4月30日までです"), ("S99.9.9", "昭和は64年1月7日までです"),
    ("R0.1.1", "令和0年はありません"), ("T16.1.1", "大正は15年12月24日までです"),
    ("R7.2.29", "存在しない日付です（令和7年2月は28日まで）"), ("1970-02-30", "存在しない日付です"),
    ("ＳＸ４５", "日付として読めません"),
])
def test_reception_numbers_refuses_an_impossible_birth_date(client, typed, why):
    login(client, "reception")
    page = client.post("/reception/numbers", data={**TARO, "birth_date": typed,
                                                   "csrf_token": csrf(client, "/reception")})
    assert page.status_code == 422
    assert f"生年月日「{typed}」: {why}" in page.text
    assert_marked(page.text, "birth_date")
    assert 'data-testid="validity"' not in page.text and "0件" not in page.text
    assert_japanese_only(page.text)


def test_reception_numbers_takes_wareki_and_full_width(client):
    login(client, "reception")
    for typed in ("S45.1.1", "昭和45年1月1日", "s450101", "Ｓ４５．１．１", "１９７０－０１－０１", "1970/1/1"):
        page = client.post("/reception/numbers", data={**TARO, "birth_date": typed, "care_date": "R8.1.5",
                                                       "csrf_token": csrf(client, "/reception")})
        assert page.status_code == 200, typed
        assert re.search(r'data-testid="validity">\s*<strong>', page.text), typed
        assert "aria-invalid" not in page.text


def test_reception_numbers_names_every_bad_field_in_japanese(client):
    login(client, "reception")
    page = client.post("/reception/numbers", data={"insurer_number": "01130013", "symbol": SYMBOL, "number": "",
                                                   "branch": "1234", "birth_date": "H31.5.1",
                                                   "care_date": "R1.4.30",
                                                   "csrf_token": csrf(client, "/reception")})
    assert page.status_code == 422
    assert "保険者番号「01130013」: 保険者番号の検証番号が一致しません" in page.text
    assert "番号: 入力してください" in page.text
    assert "枝番「1234」" in page.text
    assert "診療日「R1.4.30」: 令和は元年5月1日からです" in page.text
    assert_marked(page.text, "insurer_number")
    for name in ("number", "branch", "birth_date", "care_date"):
        assert_marked(page.text, name, first=False)
    assert_japanese_only(page.text)


def test_claim_form_refuses_a_date_outside_its_era(client):
    login(client, "reception")
    page = client.post("/reception/claim", data={"name": "申立　太郎", "name_kana": "モウシタテ　タロウ",
                                                 "birth_date": "平成31年5月1日", "care_date": "2026-12-05",
                                                 "csrf_token": csrf(client, "/reception/claim")})
    assert page.status_code == 422
    assert "生年月日「平成31年5月1日」: 平成は31年4月30日までです" in page.text
    assert_marked(page.text, "birth_date")
    assert 'data-testid="claim-recorded"' not in page.text
    assert_japanese_only(page.text)
    # the same form with a 和暦 birth date in full width is recorded
    ok = client.post("/reception/claim", data={"name": "申立　太郎", "name_kana": "モウシタテ　タロウ",
                                               "birth_date": "Ｈ１．１．８", "care_date": "R8.12.5",
                                               "csrf_token": csrf(client, "/reception/claim")})
    assert ok.status_code == 200 and 'data-testid="claim-recorded"' in ok.text
    assert "平成元年1月8日" in ok.text and "令和8年12月5日" in ok.text


def test_claim_form_empty_name_is_named_and_focused(client):
    login(client, "reception")
    page = client.post("/reception/claim", data={"name": "", "name_kana": "", "birth_date": "R8.2.30",
                                                 "care_date": "", "csrf_token": csrf(client, "/reception/claim")})
    assert page.status_code == 422
    assert "氏名: 入力してください" in page.text and "生年月日「R8.2.30」: 存在しない日付です" in page.text
    assert_marked(page.text, "name")
    assert_marked(page.text, "birth_date", first=False)
    assert_japanese_only(page.text)


def test_bulk_upload_refuses_a_bad_care_date_and_names_bad_rows(client):
    login(client, "reception")
    token = csrf(client, "/reception/bulk")
    csv = ("患者ID,保険者番号,記号,番号,枝番,生年月日\n"
           f"P1,{INSURER},{SYMBOL},101,00,S45.1.1\n"
           f"P2,{INSURER},{SYMBOL},101,00,H31.5.1\n").encode()
    page = client.post("/reception/bulk", data={"care_date": "S64.1.8", "csrf_token": token},
                       files={"file": ("appointments.csv", csv, "text/csv")})
    assert page.status_code == 422
    assert "診療日「S64.1.8」: 昭和は64年1月7日までです" in page.text
    assert_marked(page.text, "care_date")
    assert 'data-testid="bulk-summary"' not in page.text and "0件" not in page.text
    assert_japanese_only(page.text)

    page = client.post("/reception/bulk", data={"care_date": "R8.12.5", "csrf_token": token},
                       files={"file": ("appointments.csv", csv, "text/csv")})
    assert page.status_code == 200
    errors = re.findall(r'data-testid="row-error">(.*?)</td>', page.text)
    assert errors == ["生年月日「H31.5.1」: 平成は31年4月30日までです"]
    assert "入力エラー 1件" in page.text
    assert_japanese_only(page.text)


def test_bulk_upload_without_the_needed_columns_marks_the_file(client):
    login(client, "reception")
    page = client.post("/reception/bulk", data={"care_date": "", "csrf_token": csrf(client, "/reception/bulk")},
                       files={"file": ("x.csv", "患者ID,番号\nP1,1\n".encode(), "text/csv")})
    assert page.status_code == 422
    assert "予約一覧（x.csv）: 見出し行に 保険者番号, 生年月日 の列がありません" in page.text
    assert_marked(page.text, "file")


def test_member_search_refused_on_input_prints_no_count(client):
    login(client, "clerk")
    page = client.get("/office/members", params={"name": "厚労 太郎", "birth_date": "H31.5.1"})
    assert page.status_code == 422
    assert "生年月日「H31.5.1」: 平成は31年4月30日までです" in page.text
    assert_marked(page.text, "birth_date")
    assert "件</h2>" not in page.text and "該当する加入者はいません" not in page.text
    assert_japanese_only(page.text)

    page = client.get("/office/members", params={"symbol": SYMBOL, "number": "12●4"})
    assert page.status_code == 422
    assert "番号「12●4」: 番号に使えない文字 「●」 があります" in page.text
    assert_marked(page.text, "number")
    assert "件</h2>" not in page.text
    assert_japanese_only(page.text)

    found = client.get("/office/members", params={"name": "厚労 太郎", "birth_date": "昭和４５年１月１日"})
    assert found.status_code == 200 and "結果 1件" in found.text


def test_quarantine_form_offers_coded_columns_as_selects(client, tmp_path):
    from onshi.registry.models import NotificationType as T
    from tests.registry.helpers import acquisition, load, write

    load(write(tmp_path, "bad.csv", T.acquisition, [acquisition(number="150", my_number="", sex="9",
                                                                birth_date="H31.5.1")]), T.acquisition)
    login(client, "clerk")
    intake_page = client.get("/office/intake").text
    assert "生年月日「H31.5.1」: 平成は31年4月30日までです" in intake_page
    qid = re.search(r'href="/office/quarantine/(\d+)"', intake_page).group(1)
    page = client.get(f"/office/quarantine/{qid}").text
    sex = re.search(r'<select name="col_sex".*?</select>', page, re.S).group(0)
    assert 'aria-invalid="true"' in sex and "「9」（使えない値）" in sex
    assert all(f">{code} {label}</option>" in sex for code, label in (("1", "男"), ("2", "女"), ("3", "未設定")))
    card = re.search(r'<select name="col_card_classification".*?</select>', page, re.S).group(0)
    assert '<option value="01" selected>01 一般</option>' in card and "資格証明書" in card
    voluntary = re.search(r'<select name="col_voluntary_continuation".*?</select>', page, re.S).group(0)
    assert "はい（任意継続）" in voluntary and '<option value="0" selected>' in voluntary
    birth = input_tag(page, "col_birth_date")
    assert 'aria-invalid="true"' in birth and 'aria-describedby="err-birth_date"' in birth
    assert "平成は31年4月30日までです" in page
    assert_japanese_only(page)
