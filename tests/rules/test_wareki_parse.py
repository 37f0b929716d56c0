"""Reading dates as people type them (onshi.rules.wareki.parse_date): 西暦, 和暦, full width, at every era boundary."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onshi.rules.wareki import DateError, format_date, parse_date, parse_month

ACCEPTED = [
    ("2026-12-05", date(2026, 12, 5)), ("2026/12/5", date(2026, 12, 5)), ("20261205", date(2026, 12, 5)),
    ("2026年12月5日", date(2026, 12, 5)), ("R8.12.5", date(2026, 12, 5)), ("r8.12.5", date(2026, 12, 5)),
    ("R081205", date(2026, 12, 5)), ("令和8年12月5日", date(2026, 12, 5)), ("令和元年5月1日", date(2019, 5, 1)),
    ("H1.1.8", date(1989, 1, 8)), ("平成元年1月8日", date(1989, 1, 8)), ("Ｒ８．１２．５", date(2026, 12, 5)),
    ("２０２６－１２－０５", date(2026, 12, 5)), ("令和８年１２月５日", date(2026, 12, 5)), (" S45.1.1 ", date(1970, 1, 1)),
    ("S450101", date(1970, 1, 1)), ("㍻31.4.30", date(2019, 4, 30)), ("R1.5.1", date(2019, 5, 1)),
    ("R01.05.01", date(2019, 5, 1)), ("令和 8年 1月 5日", date(2026, 1, 5)),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_forms(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # 昭和 → 平成: 1989-01-07 / 1989-01-08
    ("S64.1.7", date(1989, 1, 7)), ("昭和64年1月7日", date(1989, 1, 7)), ("H1.1.8", date(1989, 1, 8)),
    ("平成元年1月8日", date(1989, 1, 8)),
    # 平成 → 令和: 2019-04-30 / 2019-05-01
    ("H31.4.30", date(2019, 4, 30)), ("平成31年4月30日", date(2019, 4, 30)), ("R1.5.1", date(2019, 5, 1)),
    ("令和元年5月1日", date(2019, 5, 1)),
    # 大正 → 昭和: 1926-12-24 / 1926-12-25
    ("T15.12.24", date(1926, 12, 24)), ("S1.12.25", date(1926, 12, 25)), ("昭和元年12月25日", date(1926, 12, 25)),
    # 明治 → 大正: 1912-07-29 / 1912-07-30
    ("M45.7.29", date(1912, 7, 29)), ("T1.7.30", date(1912, 7, 30)), ("大正元年7月30日", date(1912, 7, 30)),
    # 29 February in 和暦
    ("R6.2.29", date(2024, 2, 29)), ("H12.2.29", date(2000, 2, 29)), ("S63.2.29", date(1988, 2, 29)),
    # 明治 from the Gregorian adoption
    ("M6.1.1", date(1873, 1, 1)),
])
def test_era_boundaries_accepted(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(("text", "why"), [
    ("H31.5.1", "平成は31年4月30日までです"), ("平成31年5月1日", "平成は31年4月30日までです"),
    ("R1.4.30", "令和は元年5月1日からです"), ("令和元年4月30日", "令和は元年5月1日からです"),
    ("S64.1.8", "昭和は64年1月7日までです"), ("H1.1.7", "平成は元年1月8日からです"),
    ("T16.1.1", "大正は15年12月24日までです"), ("T15.12.25", "大正は15年12月24日までです"),
    ("S1.12.24", "昭和は元年12月25日からです"), ("M45.7.30", "明治は45年7月29日までです"),
    ("T1.7.29", "大正は元年7月30日からです"), ("S99.9.9", "昭和は64年1月7日までです"),
    ("R0.1.1", "令和0年はありません"), ("H00.1.1", "平成0年はありません"), ("M5.12.31", "明治は6年1月1日からです"),
    ("R7.2.29", "存在しない日付です（令和7年2月は28日まで）"), ("H11.2.29", "存在しない日付です"),
    ("2025-02-29", "存在しない日付です（2025年2月は28日まで）"), ("R8.13.1", "存在しない日付です（13月はありません）"),
    ("R8.4.31", "存在しない日付です（令和8年4月は30日まで）"), ("Ｈ３１．５．１", "平成は31年4月30日までです"),
    ("元年5月1日", "日付として読めません"), ("R元.5", "日付として読めません"), ("", "入力してください"),
    ("1970-01", "日付として読めません"), ("X8.1.1", "日付として読めません"), ("٢٠٢٦-١٢-٠٥", "日付として読めません"),
])
def test_refused_with_a_japanese_reason(text, why):
    with pytest.raises(DateError) as info:
        parse_date(text)
    assert why in info.value.ja
    assert info.value.value == text
    assert info.value.en[:1].isascii() and info.value.en != info.value.ja  # English for logs and the API
    assert all(not ("a" <= ch <= "z") for ch in info.value.ja)  # no English on the screen


def test_message_names_field_and_value():
    with pytest.raises(DateError) as info:
        parse_date("H31.5.1")
    assert info.value.message("生年月日") == "生年月日「H31.5.1」: 平成は31年4月30日までです"


def test_gannen_only_as_year_one():
    assert parse_date("平成元年1月8日") == parse_date("平成1年1月8日")
    for text in ("平成元元年1月8日", "平成元2年1月8日", "元1.1.8"):
        with pytest.raises(DateError):
            parse_date(text)


@given(st.dates(min_value=date(1873, 1, 1), max_value=date(2200, 12, 31)),
       st.sampled_from(["wareki", "wareki_short", "wareki_padded", "seireki", "iso"]))
@settings(max_examples=400)
def test_round_trip_every_printed_style(d, style):
    assert parse_date(format_date(d, style)) == d


def test_round_trip_every_day_since_1873():
    d, end = date(1873, 1, 1), date(2040, 1, 1)
    from datetime import timedelta
    while d < end:
        assert parse_date(format_date(d, "wareki")) == d
        assert parse_date(format_date(d, "wareki_short")) == d
        d += timedelta(days=1)


@given(st.text(max_size=30))
@settings(max_examples=500)
def test_random_text_raises_only_date_error(text):
    try:
        result = parse_date(text)
    except DateError as exc:
        assert exc.ja and exc.en
    else:
        assert isinstance(result, date)


@given(st.text(alphabet="0123456789０１２３４５６７８９MTSHRmtshr.-/年月日元明治大正昭和平成令和 ", max_size=14))
@settings(max_examples=500)
def test_date_like_text_raises_only_date_error(text):
    for parse in (parse_date, parse_month):
        try:
            parse(text)
        except DateError:
            pass


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12", date(2026, 12, 1)), ("202612", date(2026, 12, 1)), ("2026年12月", date(2026, 12, 1)),
    ("R8.12", date(2026, 12, 1)), ("令和元年5月", date(2019, 5, 1)), ("平成31年4月", date(2019, 4, 1)),
    ("２０２６－１２", date(2026, 12, 1)), ("2026-12-05", date(2026, 12, 1)),
])
def test_months(text, expected):
    assert parse_month(text) == expected


@pytest.mark.parametrize("text", ["令和元年4月", "平成31年5月", "2026-13", "R0.5", "abc"])
def test_months_refused(text):
    with pytest.raises(DateError):
        parse_month(text)
