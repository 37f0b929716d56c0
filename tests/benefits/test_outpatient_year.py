"""外来年間合算 (70歳以上 一般・低所得: 年間上限 144,000円, 計算期間 8月〜翌7月) and 基準収入額適用 in 高額療養費, through
the service on both databases.

Members (born 1955-10-15: 70 on 2025-10-14, 高齢受給者 from 2025-11-01 — so August–October 2025 are under 70):
401 高齢 一郎 (標準報酬月額 260,000 → 一般), 402 現役 次郎 (440,000 → 現役並みⅠ), and 403 高齢 三郎 (born 1955-11-15:
高齢受給者 from 2025-12-01, 一般).  Each has one 外来 claim a month, 30,000円 on 100,000円, from July 2025 to August 2026:
a 70–74 一般 month leaves 18,000円 borne (the 外来 individual limit), so 9 such months make 162,000円 → 18,000円
above the cap, and 8 months make exactly 144,000円 → nothing.
"""

from __future__ import annotations

from datetime import date

import pytest

from onshi.benefits import service
from onshi.claims.service import high_cost_months
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.benefits.conftest import app_input
from tests.claims.helpers import import_claims, line, load_master, write_claims
from tests.registry.helpers import acquisition, load, numbers, write

MONTHS = [f"{y}-{m:02d}" for y, m in [(2025, 7)] + [(2025, m) for m in range(8, 13)] + [(2026, m) for m in range(1, 9)]]
BIRTHS = {"401": "1955-10-15", "402": "1955-10-15", "403": "1955-11-15"}


@pytest.fixture
def elderly(members, tmp_path):
    rows = [acquisition(number=n, my_number="", name=name, name_kana=kana, birth_date=BIRTHS[n],
                        acquisition_date="2024-01-01", monthly_remuneration=rem)
            for n, name, kana, rem in (("401", "高齢　一郎", "コウレイ　イチロウ", "260000"),
                                       ("402", "現役　次郎", "ゲンエキ　ジロウ", "440000"),
                                       ("403", "高齢　三郎", "コウレイ　サブロウ", "260000"))]
    assert load(write(tmp_path, "old.csv", T.acquisition, rows), T.acquisition).applied == 3
    return members


def _claims(tmp_path, *numbers: str, months=MONTHS) -> None:
    """One 外来 claim a month for each of *numbers* (one file: a clinic's month comes in one file)."""
    load_master()
    rows = [line(month=m, claim_number=f"{number}{i:02d}", number=number, birth_date=BIRTHS[number], setting="外来",
                 care_days="5", patient_share="30000", points="10000")
            for number in numbers for i, m in enumerate(months)]
    report = import_claims(write_claims(tmp_path, "claims.csv", rows), today=date(2026, 9, 30))
    assert report.claims_applied == len(rows), report


def _year(insurer_id, number: str, *, claims=high_cost_months, received=date(2026, 9, 1), key=None, **details):
    with unit_of_work() as s:
        a = service.receive(s, app_input("high_cost", number=number, received_on=received, source_key=key,
                                         details={"outpatient_year": "2026", **details}),
                            insurer_id=insurer_id, actor="clerk")
        if a.status == "complete":
            service.decide(s, a.id, on=date(2026, 9, 5), actor="clerk", claims=claims)
        s.expunge(a)
        return a


def test_from_the_claims_the_months_at_70_74_above_the_cap_are_paid(elderly, tmp_path):
    _claims(tmp_path, "401")
    a = _year(elderly, "401")
    # November 2025 – July 2026: 9 × 18,000 = 162,000 − 144,000; July 2025 and August 2026 are other periods,
    # August–October 2025 under 70
    assert (a.status, a.amount) == ("decided", 18_000), a.explanation
    text = "\n".join(a.explanation)
    assert "計算期間 2025-08-01 〜 2026-07-31" in text and "レセプトから算定（12か月）" in text
    assert text.count("70歳未満の月のため合算しない") == 3
    assert "2026年07月: 外来 30,000円 − 月間の高額療養費 12,000円 → 18,000円（一般）" in text
    assert "2026年08月" not in text and "2025年07月" not in text
    assert a.explanation[-1] == "合算額 162,000円 − 年間上限 144,000円 = 18,000円"


def test_the_cap_reached_exactly_is_refused_with_the_reason(elderly, tmp_path):
    _claims(tmp_path, "403")  # 70–74 from December 2025: 8 × 18,000 = 144,000
    a = _year(elderly, "403")
    assert a.status == "refused" and "年間上限を超えていない" in a.refused_reason
    assert a.explanation[-1] == "合算額 144,000円 − 年間上限 144,000円 = 0円"


def test_genekinami_has_no_yearly_cap_unless_a_kijun_shunyu_application_makes_it_ippan(elderly, tmp_path):
    _claims(tmp_path, "402")
    a = _year(elderly, "402")
    assert a.status == "refused" and any("区分 現役並みⅠのため対象外" in x for x in a.explanation)
    # 基準収入額適用 applied for in January (income 3,000,000円, alone): 一般 from January, the application's month
    # (the reference's rule, the co-pay's month) — 7 months, 126,000 — nothing
    c = _year(elderly, "402", key="c", income_basis={"applied_on": "2026-01-20", "incomes": [3_000_000]})
    assert c.status == "refused" and c.explanation[-1] == "合算額 126,000円 − 年間上限 144,000円 = 0円"
    assert "基準収入額適用: 申請 2026-01-20 の月 2026-01-01 から一般" in c.explanation
    # at or above the 基準収入額: still 現役並み
    d = _year(elderly, "402", key="d", income_basis={"applied_on": "2025-10-20", "incomes": [3_830_000]})
    assert d.status == "refused" and "基準収入額適用: 基準収入額以上のため現役並みのまま" in d.explanation
    assert any("区分 現役並みⅠのため対象外" in x for x in d.explanation)
    # applied for on 2025-11-05 (income 3,000,000円, alone): 一般 from November — the months and their own
    # 高額療養費 (外来 18,000円) become 一般's: as 401
    b = _year(elderly, "402", key="b", income_basis={"applied_on": "2025-11-05", "incomes": [3_000_000]})
    assert (b.status, b.amount) == ("decided", 18_000), b.explanation


def test_declared_months_without_claims_and_the_checks(elderly):
    months = [{"month": m, "paid": 20_000, "refunded": 2_000} for m in MONTHS[4:13]]  # Nov 2025 – Jul 2026
    a = _year(elderly, "401", outpatient_months=months)
    assert (a.status, a.amount) == ("decided", 9 * 18_000 - 144_000)
    assert any("申請の申告（9か月）" in x for x in a.explanation)
    # a second application of the same year, one before the 基準日 has passed, bad rows: incomplete, named
    b = _year(elderly, "401", key="again", outpatient_months=months)
    assert b.status == "incomplete" and f"申請番号 {a.id}" in b.missing[0]["reason"]
    early = _year(elderly, "403", key="early", received=date(2026, 7, 31))
    assert early.status == "incomplete" and "計算期間（2025-08-01 〜 2026-07-31）が終わっていません" in \
        early.missing[0]["reason"]
    bad = _year(elderly, "403", key="bad", outpatient_months=[{"month": "2026-08", "paid": 1},
                                                             {"month": "x", "paid": 1},
                                                             {"month": "2026-01", "paid": 10, "refunded": 11}])
    reasons = [m["reason"] for m in bad.missing if m["field"] == "outpatient_months"]
    assert len(reasons) == 3 and "計算期間" in reasons[0] and "1行目" in reasons[0]
    wrong_year = _year(elderly, "403", key="y", **{"outpatient_year": "2016"})
    assert wrong_year.status == "incomplete" and wrong_year.missing[0]["field"] == "outpatient_year"


def _monthly(insurer_id, number: str, month: str, key: str, **details):
    items = [{"person": "本人", "institution": "B医院 外来", "paid": 30_000, "total_cost": 100_000}]
    with unit_of_work() as s:
        a = service.receive(s, app_input("high_cost", number=number, source_key=key,
                                         details={"month": month, "items": items, **details}),
                            insurer_id=insurer_id, actor="clerk")
        assert a.status == "complete", a.missing
        service.decide(s, a.id, on=date(2026, 5, 1), actor="clerk")
        s.expunge(a)
        return a


def test_the_registrys_kijun_shunyu_makes_the_application_month_ippan(elderly, tmp_path):
    """The application's month is 一般 (the reference's rule, and the month the co-pay ratio shows 2割); the month
    before stays 現役並み."""
    # 現役並みⅠ: no 外来 individual limit, 30,000 is under 80,100+: nothing
    assert _monthly(elderly, "402", "2026-03", "m0").status == "refused"
    rep = load(write(tmp_path, "lim.csv", T.limit_application,
                     [numbers(number="402", application_date="2026-02-10", income_exemption="1")]),
               T.limit_application)
    assert rep.applied == 1, rep.errors
    jan = _monthly(elderly, "402", "2026-01", "m1")  # the month before the application: still 現役並み
    assert jan.status == "refused", jan.explanation
    feb = _monthly(elderly, "402", "2026-02", "m2")  # the application's month: 一般, 外来 18,000
    assert (feb.status, feb.amount) == ("decided", 12_000), feb.explanation
    assert any("登録済み（申請 2026-02-10、2026-02-01 から一般）" in x for x in feb.explanation)


def test_an_applications_own_kijun_shunyu_and_a_bad_one(elderly):
    a = _monthly(elderly, "402", "2026-03", "k1", income_basis={"applied_on": "2026-02-27",
                                                                 "incomes": [3_000_000, 2_100_000]})
    assert (a.status, a.amount) == ("decided", 12_000)
    assert any("2人の収入の合計 5,100,000円 < 基準収入額 5,200,000円" in x for x in a.explanation)
    with unit_of_work() as s:
        b = service.receive(s, app_input("high_cost", number="402", source_key="k2", details={
            "month": "2026-03", "items": [{"person": "本人", "institution": "B", "paid": 1, "total_cost": 1}],
            "income_basis": {"applied_on": "いつか", "incomes": ["x"]}}), insurer_id=elderly, actor="clerk")
        assert b.status == "incomplete" and [m["field"] for m in b.missing] == ["income_basis"]


def test_a_batch_decides_the_yearly_sum_as_one_at_a_time_does(elderly, tmp_path):
    from sqlalchemy import select

    from onshi.benefits.models import BenefitApplication

    _claims(tmp_path, "401", "403")
    with unit_of_work() as s:
        for n in ("401", "403"):
            service.receive(s, app_input("high_cost", number=n, received_on=date(2026, 9, 1), source_key=n,
                                         details={"outpatient_year": "2026"}), insurer_id=elderly, actor="clerk")
    with unit_of_work() as s:
        assert service.decide_batch(s, insurer_id=elderly, on=date(2026, 9, 5), actor="batch",
                                    claims=high_cost_months) == 2
    with unit_of_work() as s:
        got = {a.source_key: (a.status, a.amount) for a in s.scalars(select(BenefitApplication))}
    assert got == {"401": ("decided", 18_000), "403": ("refused", 0)}
