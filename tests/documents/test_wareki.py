"""和暦/西暦 formatting, at every era boundary."""

from datetime import date

import pytest

from onshi.rules.wareki import DATE_STYLES, era_of, format_date


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1990, 1, 1), "平成2年1月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(2026, 11, 22), "令和8年11月22日"),
        (date(1970, 1, 1), "昭和45年1月1日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1873, 1, 1), "明治6年1月1日"),
    ],
)
def test_wareki_boundaries(d, expected):
    assert format_date(d, "wareki") == expected


def test_other_styles():
    d = date(2026, 11, 22)
    assert format_date(d, "seireki") == "2026年11月22日"
    assert format_date(d, "iso") == "2026-11-22"
    assert format_date(d, "wareki_short") == "R8.11.22"
    assert format_date(date(1989, 1, 7), "wareki_short") == "S64.1.7"
    assert format_date(date(2019, 5, 1), "wareki_seireki") == "令和元年(2019年)5月1日"
    assert format_date(date(2026, 1, 5), "wareki_padded") == "令和 8年 1月 5日"
    assert format_date(date(2019, 5, 1), "wareki_padded") == "令和元年 5月 1日"


def test_blank_and_errors():
    assert all(format_date(None, s) == "" for s in DATE_STYLES)
    with pytest.raises(ValueError, match="unknown date style"):
        format_date(date(2026, 1, 1), "japanese")
    with pytest.raises(ValueError, match="before 1873"):
        format_date(date(1872, 12, 31), "wareki")


def test_era_of_every_day_is_monotonic():
    """Walking day by day from 1900 to 2030, the (era, year) only ever moves forward."""
    from datetime import timedelta

    order = {e: i for i, e in enumerate(["明治", "大正", "昭和", "平成", "令和"])}
    d, prev = date(1900, 1, 1), (0, 0)
    while d < date(2030, 1, 1):
        era, year = era_of(d)
        key = (order[era.name], year)
        assert key >= prev
        prev = key
        d += timedelta(days=1)
