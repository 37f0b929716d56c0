"""The incentive tables (rules.incentives) on the days their values change, and the shape of their rows."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from onshi.rules.dated import NotInForce
from onshi.rules.incentives import (
    DX_POINTS,
    DX_THRESHOLDS,
    LUMP_SUM_2024,
    MEDICAL_INFORMATION_POINTS,
    SUPPORT_MONEY_2024,
    band_label,
    format_pct,
)


@pytest.mark.parametrize(("day", "before", "after"), [
    (date(2025, 1, 1), (15, 10, 5), (30, 20, 10)),
    (date(2025, 4, 1), (30, 20, 10), (45, 30, 15)),
    (date(2025, 10, 1), (45, 30, 15), (60, 40, 25)),
    (date(2026, 3, 1), (60, 40, 25), (70, 50, 30)),
])
def test_dx_thresholds_change_on_the_first_of_the_period(day, before, after):
    assert DX_THRESHOLDS.at(day - timedelta(days=1)).tier_rates_pct == before
    assert DX_THRESHOLDS.at(day).tier_rates_pct == after


def test_dx_tables_know_nothing_outside_their_periods():
    with pytest.raises(NotInForce):
        DX_THRESHOLDS.at(date(2024, 9, 30))
    assert DX_THRESHOLDS.at(date(2026, 5, 31)) is not None and DX_THRESHOLDS.at(date(2026, 6, 1)) is None
    assert DX_POINTS.at(date(2025, 3, 31)).without_e_prescription == (11, 10, 8)
    assert DX_POINTS.at(date(2025, 4, 1)).without_e_prescription == (10, 9, 8)


def test_medical_information_points_change_on_1_december_2024():
    assert MEDICAL_INFORMATION_POINTS.at(date(2024, 11, 30)).without_card == 3
    assert MEDICAL_INFORMATION_POINTS.at(date(2024, 12, 1)).without_card == 1
    with pytest.raises(NotInForce):
        MEDICAL_INFORMATION_POINTS.at(date(2024, 5, 31))


def test_support_money_periods_and_their_end():
    assert SUPPORT_MONEY_2024.at(date(2024, 5, 31)).tiers[0].min_rise_pt == 5
    assert SUPPORT_MONEY_2024.at(date(2024, 6, 1)).tiers[0].min_rise_pt == 10
    assert SUPPORT_MONEY_2024.at(date(2024, 11, 30)) is not None and SUPPORT_MONEY_2024.at(date(2024, 12, 1)) is None


def test_lump_sum_doubles_on_21_june_2024_and_keeps_the_deemed_normal_rows():
    before, after = LUMP_SUM_2024.at(date(2024, 6, 20)), LUMP_SUM_2024.at(date(2024, 6, 21))
    assert (before.caps["hospital"], after.caps["hospital"]) == (200_000, 400_000)
    assert before.months[-1] == "2024-07" and after.months[-1] == "2024-08"
    for rules in (before, after):
        rows = [(d.label, d.min_increase) for d in rules.deemed_normal]
        assert rows == [("10%以上", 1), ("5%以上10%未満", 10)]
        top, middle = rules.deemed_normal
        assert top.contains(Decimal(10)) and not top.contains(Decimal("9.99"))
        assert middle.contains(Decimal(5)) and middle.contains(Decimal("9.99")) and not middle.contains(Decimal(10))


def test_labels():
    assert format_pct(Decimal("5.0")) == "5" and format_pct(Decimal("4.99")) == "4.99"
    assert band_label(Decimal(0), Decimal(3)) == "3%未満"
    assert band_label(Decimal(3), Decimal(5)) == "3%以上5%未満"
    assert band_label(Decimal(40), None) == "40%以上"
