"""Incentive tables at every boundary: support money, lump sum, 医療DX推進体制整備加算, 医療情報取得加算."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.analytics.incentives import (
    OutsideKnownPeriod,
    dx_promotion_tier,
    dx_promotion_tier_from_rates,
    dx_rate_month,
    lump_sum_2024,
    medical_information_points,
    support_money_2024,
)
from onshi.rules.dated import NotInForce
from onshi.rules.incentives import DX_THRESHOLDS, LUMP_SUM_2024

P1, P2 = date(2024, 1, 1), date(2024, 6, 1)


def price(rise, period=P1, base=10.0):
    return support_money_2024(period_month=period, october_2023_rate_pct=base, period_average_rate_pct=base + rise,
                              card_uses=100).unit_price_yen


# ---------------------------------------------------------------------------------------------- support money

@pytest.mark.parametrize(("rise", "p1", "p2"), [
    (0, 0, 0), (4.99, 0, 0), (4.999999, 0, 0), (5, 20, 0), (5.01, 20, 0), (9.99, 20, 0), (10, 40, 40),
    (19.99, 40, 40), (20, 60, 60), (29.99, 60, 60), (30, 80, 80), (39.99, 80, 80), (40, 100, 100),
    (49.99, 100, 100), (50, 120, 120), (80, 120, 120),
])
def test_support_money_unit_price_at_every_tier_boundary(rise, p1, p2):
    assert price(rise, P1) == p1
    assert price(rise, P2) == p2


def test_support_money_rise_is_exact_in_decimal():
    # 10.3 − 5.3 in binary floats is 5.000000000000001 or 4.999…; read as decimals it is exactly 5 %pt
    s = support_money_2024(period_month=P1, october_2023_rate_pct=5.3, period_average_rate_pct=10.3, card_uses=7)
    assert s.rise_pt == Decimal("5.0") and s.tier_min_rise_pt == 5 and s.amount_yen == 140
    s = support_money_2024(period_month=P1, october_2023_rate_pct=0.1, period_average_rate_pct=5.09, card_uses=7)
    assert s.tier_min_rise_pt is None and s.amount_yen == 0 and "支援金なし" in s.reason


def test_support_money_amount_and_reason():
    s = support_money_2024(period_month=date(2024, 11, 30), october_2023_rate_pct=3, period_average_rate_pct=45,
                           card_uses=1234)
    assert (s.tier_min_rise_pt, s.unit_price_yen, s.amount_yen) == (40, 100, 123_400)
    assert "42%pt" in s.reason and "100円/件 × 1,234件 = 123,400円" in s.reason
    assert "一時金" in s.reason  # the second period was replaced by the lump sum: the result says so


@pytest.mark.parametrize(("day", "label"), [
    (date(2024, 1, 1), "前半"), (date(2024, 5, 31), "前半"), (date(2024, 6, 1), "後半"), (date(2024, 11, 30), "後半"),
])
def test_support_money_period_first_and_last_days(day, label):
    s = support_money_2024(period_month=day, october_2023_rate_pct=1, period_average_rate_pct=21, card_uses=1)
    assert s.period.startswith(label)


@pytest.mark.parametrize("day", [date(2023, 12, 31), date(2024, 12, 1), date(2025, 3, 1)])
def test_support_money_outside_its_periods_is_an_error(day):
    with pytest.raises(OutsideKnownPeriod):
        support_money_2024(period_month=day, october_2023_rate_pct=1, period_average_rate_pct=21, card_uses=1)


def test_support_money_rejects_fractions_and_negative_counts():
    with pytest.raises(ValueError, match="percent, not a fraction"):
        support_money_2024(period_month=P1, october_2023_rate_pct=0.05, period_average_rate_pct=150, card_uses=1)
    with pytest.raises(ValueError, match="count"):
        support_money_2024(period_month=P1, october_2023_rate_pct=1, period_average_rate_pct=2, card_uses=-1)


rates = st.decimals(min_value=0, max_value=100, places=2)


@given(base=rates, a=rates, b=rates, period=st.sampled_from([P1, P2]))
def test_a_higher_rise_never_gives_a_lower_unit_price(base, a, b, period):
    lo, hi = sorted((a, b))
    assert price_at(base, lo, period) <= price_at(base, hi, period)


def price_at(base, avg, period):
    return support_money_2024(period_month=period, october_2023_rate_pct=base, period_average_rate_pct=avg,
                              card_uses=3).unit_price_yen


@given(base=rates, avg=rates, uses=st.integers(0, 10**6), period=st.sampled_from([P1, P2]))
def test_support_money_amount_is_price_times_uses(base, avg, uses, period):
    s = support_money_2024(period_month=period, october_2023_rate_pct=base, period_average_rate_pct=avg,
                           card_uses=uses)
    assert s.amount_yen == s.unit_price_yen * uses
    assert (s.tier_min_rise_pt is None) == (s.unit_price_yen == 0)
    if s.tier_min_rise_pt is not None:
        assert s.rise_pt >= s.tier_min_rise_pt


# ---------------------------------------------------------------------------------------------- lump sum

BEFORE, AFTER = date(2024, 5, 1), date(2024, 6, 21)


def lump(kind="hospital", rate=4.0, oct_users=100, best=0, receipts=5000, as_of=BEFORE, month="2024-06", **kw):
    return lump_sum_2024(facility_type=kind, october_2023_rate_pct=rate, october_2023_users=oct_users,
                         monthly_users={month: oct_users + best}, october_2023_receipts=receipts, as_of=as_of, **kw)


@pytest.mark.parametrize(("rate", "need"), [
    (0, 450), (2.99, 450), (3, 350), (4.99, 350), (5, 250), (9.99, 250), (10, 150), (19.99, 150), (20, 80),
    (29.99, 80), (30, 40), (39.99, 40), (40, 10), (100, 10),
])
def test_hospital_200k_tier_from_the_secondary_source(rate, need):
    r = lump(rate=rate, best=need)
    assert r.amount_yen == 200_000 and not r.placeholder and r.scale == "hospital"
    below = lump(rate=rate, best=need - 1)
    assert below.amount_yen < 200_000


def test_hospital_half_tier_is_a_labelled_placeholder():
    r = lump(rate=4, best=175)  # half of 350
    assert r.amount_yen == 100_000 and r.placeholder and "暫定値" in r.reason
    assert lump(rate=4, best=174).amount_yen == 0


def test_clinic_and_pharmacy_scale_is_placeholder_and_capped_at_100k_before_the_doubling():
    for kind in ("clinic", "dental", "pharmacy"):
        r = lump(kind, rate=4, best=175)  # placeholder: half the hospital's 350
        assert (r.amount_yen, r.scale, r.placeholder) == (100_000, "clinic_pharmacy", True)
        assert lump(kind, rate=4, best=10_000).amount_yen == 100_000  # the cap
        assert lump(kind, rate=4, best=88).amount_yen == 50_000
        assert lump(kind, rate=4, best=87).amount_yen == 0


def test_the_doubling_of_2024_06_21_is_a_dated_change():
    assert LUMP_SUM_2024.effective_from(date(2024, 6, 20)) == date(2024, 4, 10)
    assert LUMP_SUM_2024.effective_from(date(2024, 6, 21)) == date(2024, 6, 21)
    assert lump(rate=4, best=10_000, as_of=date(2024, 6, 20)).amount_yen == 200_000
    assert lump(rate=4, best=10_000, as_of=AFTER).amount_yen == 400_000
    assert lump("clinic", rate=4, best=10_000, as_of=AFTER).amount_yen == 200_000
    assert lump(rate=4, best=10_000).amount_yen == 200_000  # as_of=BEFORE
    default = lump_sum_2024(facility_type="clinic", october_2023_rate_pct=4, october_2023_users=0,
                            monthly_users={"2024-05": 10_000}, october_2023_receipts=5000)
    assert default.amount_yen == 200_000 and default.rules_from == AFTER  # the rules it was paid under
    # same thresholds below the new tier: the 20万円 hospital tier is unchanged
    assert lump(rate=4, best=350, as_of=AFTER).amount_yen == 200_000


def test_best_month_of_the_period_counts_and_august_only_after_the_extension():
    users = {"2024-04": 5000, "2024-05": 300, date(2024, 6, 1): 460, "2024-07": 420, "2024-08": 700}
    before = lump_sum_2024(facility_type="hospital", october_2023_rate_pct=4, october_2023_users=100,
                           monthly_users=users, october_2023_receipts=3000, as_of=BEFORE)
    assert (before.best_month, before.increase, before.amount_yen) == ("2024-06", 360, 200_000)
    after = lump_sum_2024(facility_type="hospital", october_2023_rate_pct=4, october_2023_users=100,
                          monthly_users=users, october_2023_receipts=3000, as_of=AFTER)
    assert (after.best_month, after.increase) == ("2024-08", 600)
    with pytest.raises(ValueError, match="none of the months"):
        lump_sum_2024(facility_type="hospital", october_2023_rate_pct=4, october_2023_users=100,
                      monthly_users={"2024-04": 1}, october_2023_receipts=3000)


def test_no_increase_pays_nothing_and_promotion_is_a_condition():
    r = lump(rate=50, best=-5)
    assert r.amount_yen == 0 and r.increase == -5 and "支給なし" in r.reason
    r = lump(rate=50, best=500, promotion_done=False)
    assert r.amount_yen == 0 and "支給条件" in r.reason


@pytest.mark.parametrize(("receipts", "small"), [(150, True), (151, False), (0, True)])
def test_small_facility_limit_is_150_receipts(receipts, small):
    r = lump("clinic", rate=2, best=8, receipts=receipts)
    assert r.small_facility is small
    assert r.amount_yen == (100_000 if small else 0)


def test_small_facility_scale_and_the_seed_rules():
    # small scale (placeholders): under 5 % +4 → 5万円, +8 → 10万円; 5–10 % +3 → 5万円, +6 → 10万円
    assert lump("clinic", rate=4.99, best=3, receipts=50).amount_yen == 0
    assert lump("clinic", rate=4.99, best=4, receipts=50).amount_yen == 50_000
    r = lump("clinic", rate=4.99, best=8, receipts=50)
    assert (r.amount_yen, r.scale, r.placeholder) == (100_000, "small", True)
    assert lump("pharmacy", rate=5, best=3, receipts=50).amount_yen == 50_000
    assert lump("pharmacy", rate=9.99, best=9, receipts=50).scale == "small"
    # seed 003: 5–10 % with 10 or more users, or 10 % and above, meets the normal requirements
    r = lump("pharmacy", rate=5, best=10, receipts=50)
    assert (r.scale, r.amount_yen) == ("deemed_normal", 100_000) and "通常の要件を満たす" in r.reason
    r = lump("dental", rate=10, best=1, receipts=50)
    assert (r.scale, r.amount_yen) == ("deemed_normal", 100_000)
    assert lump("dental", rate=10, best=0, receipts=50).amount_yen == 0  # no increase, no money
    assert lump("dental", rate=10, best=1, receipts=151).amount_yen == 0  # not small: normal scale only


def test_small_facility_over_the_small_cap_may_take_the_normal_scale():
    # after the doubling a small clinic with a large increase gets the normal scale's 20万円
    r = lump("clinic", rate=2, best=450, receipts=120, as_of=AFTER)
    assert (r.scale, r.amount_yen, r.small_facility) == ("clinic_pharmacy", 200_000, True)
    assert "有利な方" in r.reason
    # a small hospital: the normal hospital scale beats the small scale's 10万円
    r = lump("hospital", rate=2, best=450, receipts=100)
    assert (r.scale, r.amount_yen) == ("hospital", 200_000)


@given(rate=rates, a=st.integers(-50, 1500), b=st.integers(-50, 1500),
       kind=st.sampled_from(["hospital", "clinic", "pharmacy"]), receipts=st.sampled_from([40, 150, 151, 5000]),
       as_of=st.sampled_from([BEFORE, AFTER]))
def test_more_users_never_pay_less(rate, a, b, kind, receipts, as_of):
    lo, hi = sorted((a, b))
    assert lump(kind, rate=rate, best=lo, receipts=receipts, as_of=as_of).amount_yen <= \
        lump(kind, rate=rate, best=hi, receipts=receipts, as_of=as_of).amount_yen


@given(a=rates, b=rates, best=st.integers(0, 1500), kind=st.sampled_from(["hospital", "clinic"]),
       as_of=st.sampled_from([BEFORE, AFTER]))
def test_a_higher_october_rate_never_needs_more_users(a, b, best, kind, as_of):
    lo, hi = sorted((a, b))
    assert lump(kind, rate=lo, best=best, as_of=as_of).amount_yen <= \
        lump(kind, rate=hi, best=best, as_of=as_of).amount_yen


def test_lump_sum_tables_are_ordered():
    for _, rules in LUMP_SUM_2024.rows:
        for bands in rules.scales.values():
            for band in bands:
                incs = [t.min_increase for t in band.tiers]
                amounts = [t.amount_yen for t in band.tiers]
                assert incs == sorted(set(incs)) and amounts == sorted(set(amounts))
            assert bands[0].rate_from_pct == 0
            for x, y in zip(bands, bands[1:]):
                assert x.rate_below_pct == y.rate_from_pct
        assert max(t.amount_yen for b in rules.scales["hospital"] for t in b.tiers) == rules.caps["hospital"]
        assert max(t.amount_yen for b in rules.scales["clinic_pharmacy"] for t in b.tiers) == \
            rules.caps["clinic_pharmacy"]


# ---------------------------------------------------------------------------------------------- 医療DX推進体制整備加算

@pytest.mark.parametrize(("month", "thresholds"), [
    (date(2024, 10, 1), (15, 10, 5)), (date(2024, 12, 1), (15, 10, 5)),
    (date(2025, 1, 1), (30, 20, 10)), (date(2025, 3, 1), (30, 20, 10)),
    (date(2025, 4, 1), (45, 30, 15)), (date(2025, 9, 1), (45, 30, 15)),
    (date(2025, 10, 1), (60, 40, 25)), (date(2026, 2, 1), (60, 40, 25)),
    (date(2026, 3, 1), (70, 50, 30)), (date(2026, 5, 1), (70, 50, 30)),
])
def test_dx_tier_exactly_at_each_threshold_of_each_period(month, thresholds):
    t1, t2, t3 = thresholds
    tier = lambda r: dx_promotion_tier(billing_month=month, usage_rate_pct=r).tier  # noqa: E731
    assert tier(100) == 1 and tier(t1) == 1
    assert tier(t1 - 0.01) == 2 and tier(t2) == 2
    assert tier(t2 - 0.01) == 3 and tier(t3) == 3
    assert tier(t3 - 0.01) is None and tier(0) is None
    assert dx_promotion_tier(billing_month=month, usage_rate_pct=0).points == 0


@pytest.mark.parametrize(("month", "erx", "points", "labels"), [
    (date(2024, 10, 1), True, (11, 10, 8), ("加算1", "加算2", "加算3")),
    (date(2025, 3, 1), False, (11, 10, 8), ("加算1", "加算2", "加算3")),
    (date(2025, 4, 1), True, (12, 11, 10), ("加算1", "加算2", "加算3")),
    (date(2025, 4, 1), False, (10, 9, 8), ("加算4", "加算5", "加算6")),
    (date(2026, 5, 1), False, (10, 9, 8), ("加算4", "加算5", "加算6")),
])
def test_dx_points_by_period_and_e_prescription(month, erx, points, labels):
    th = DX_THRESHOLDS.at(month).tier_rates_pct
    got = [dx_promotion_tier(billing_month=month, usage_rate_pct=r, with_e_prescription=erx) for r in th]
    assert tuple(t.points for t in got) == points
    assert tuple(t.label for t in got) == labels


def test_dx_billing_month_is_any_day_of_the_month_and_the_rate_is_three_months_earlier():
    t = dx_promotion_tier(billing_month=date(2025, 3, 31), usage_rate_pct=20)
    assert t.billing_month == date(2025, 3, 1) and t.rate_month == date(2024, 12, 1) and t.tier == 2
    assert "2024-12 の利用率 20%" in t.reason and "加算2" in t.reason
    assert dx_rate_month(date(2024, 10, 1)) == date(2024, 7, 1)
    assert dx_rate_month(date(2026, 5, 31)) == date(2026, 2, 1)
    assert all(row.rate_lag_months == 3 for _, row in DX_THRESHOLDS.rows if row)


def test_dx_from_monthly_rates_picks_the_lagged_month():
    rates = {"2024-07": 16.0, "2024-08": 1.0, date(2024, 9, 1): 11.0}
    assert dx_promotion_tier_from_rates(billing_month=date(2024, 10, 1), monthly_rates_pct=rates).tier == 1
    assert dx_promotion_tier_from_rates(billing_month=date(2024, 11, 1), monthly_rates_pct=rates).tier is None
    assert dx_promotion_tier_from_rates(billing_month=date(2024, 12, 1), monthly_rates_pct=rates).tier == 2
    with pytest.raises(LookupError, match="2024-10"):
        dx_promotion_tier_from_rates(billing_month=date(2025, 1, 1), monthly_rates_pct=rates)


@pytest.mark.parametrize("month", [date(2024, 9, 30), date(2024, 6, 1), date(2026, 6, 1), date(2027, 1, 1)])
def test_dx_outside_the_known_periods_is_an_error_not_a_guess(month):
    with pytest.raises(OutsideKnownPeriod):
        dx_promotion_tier(billing_month=month, usage_rate_pct=99)
    with pytest.raises(NotInForce):  # one except clause catches both "before" and "after"
        dx_rate_month(month)


@given(month=st.sampled_from([d for d, row in DX_THRESHOLDS.rows if row]), a=rates, b=rates,
       erx=st.booleans())
def test_dx_a_higher_rate_never_gives_a_lower_tier_or_fewer_points(month, a, b, erx):
    lo, hi = (dx_promotion_tier(billing_month=month, usage_rate_pct=r, with_e_prescription=erx)
              for r in sorted((a, b)))
    rank = lambda t: 4 if t.tier is None else t.tier  # noqa: E731
    assert rank(hi) <= rank(lo) and hi.points >= lo.points


def test_dx_thresholds_rise_with_time_and_tiers_are_ordered():
    rows = [row.tier_rates_pct for _, row in DX_THRESHOLDS.rows if row]
    for t in rows:
        assert t[0] > t[1] > t[2] > 0
    for x, y in zip(rows, rows[1:]):
        assert all(b > a for a, b in zip(x, y))


# ---------------------------------------------------------------------------------------------- 医療情報取得加算

@pytest.mark.parametrize(("day", "without", "with_"), [
    (date(2024, 6, 1), 3, 1), (date(2024, 11, 30), 3, 1), (date(2024, 12, 1), 1, 1), (date(2026, 4, 1), 1, 1),
])
def test_medical_information_points(day, without, with_):
    assert medical_information_points(visit_date=day, with_my_number_card=False).points == without
    assert medical_information_points(visit_date=day, with_my_number_card=True).points == with_


def test_medical_information_points_before_june_2024_is_an_error():
    with pytest.raises(OutsideKnownPeriod, match="2024-06-01"):
        medical_information_points(visit_date=date(2024, 5, 31), with_my_number_card=True)
    r = medical_information_points(visit_date=date(2024, 11, 1), with_my_number_card=False)
    assert "マイナ保険証利用なし: 3点" in r.reason
