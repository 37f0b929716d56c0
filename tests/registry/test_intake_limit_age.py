"""The 70+ decision of a 限度額適用認定 application agrees with the co-pay rule's 高齢受給者 start on every day.

Legal age (年齢計算ニ関スル法律) is 70 from the day before the 70th birthday, but the 70歳以上 区分 (like the
高齢受給者 ratio) starts on the 1st of the month after that day — the birthday itself when it is the 1st.  The old
``age_on(...) >= 70`` gave 現役並みⅠ for the days between; this walks birthdays across month ends, a 1st-of-month
birthday and 29 February, on both databases.
"""

from __future__ import annotations

from datetime import date, timedelta

from onshi.registry import service
from onshi.registry.models import NotificationType as T
from onshi.rules.age import day_reaching_age
from onshi.rules.co_pay import co_pay_ratio, elderly_start

from .helpers import INSURER, SYMBOL, acquisition, load, numbers, setup_insurers, write

BIRTHS = [date(1954, 10, 28) + timedelta(days=i) for i in range(38)]  # 28 Oct – 4 Dec: 1 Nov and 1 Dec inside
BIRTHS += [date(1952, 2, 29), date(1954, 2, 28), date(1954, 3, 1)]  # 29 Feb: 70 reached on 28 Feb (common year)


def _days(birth: date) -> list[date]:
    start = elderly_start(birth)
    return sorted({day_reaching_age(birth, 70) - timedelta(days=1), day_reaching_age(birth, 70),
                   start - timedelta(days=1), start})


def test_limit_application_70_plus_matches_elderly_start(tmp_path, engine, session):
    setup_insurers(tmp_path)
    members, applications, expected = [], [], {}
    n = 1000
    for birth in BIRTHS:
        for day in _days(birth):
            n += 1
            members.append(acquisition(number=str(n), my_number="", birth_date=birth.isoformat(),
                                       acquisition_date="2020-04-01", monthly_remuneration="410000"))
            applications.append(numbers(number=str(n), application_date=day.isoformat(), tax_exempt="0",
                                        low_income_1="0", income_exemption="0"))
            elderly = co_pay_ratio(birth_date=birth, on=day, member_monthly_remuneration=410_000,
                                   acquisition_date=date(2020, 4, 1)).elderly
            expected[str(n)] = (birth, day, "B03" if elderly else "A03")
    rep = load(write(tmp_path, "a.csv", T.acquisition, members), T.acquisition)
    assert rep.applied == len(members), rep.errors
    rep = load(write(tmp_path, "l.csv", T.limit_application, applications), T.limit_application)
    assert rep.applied == len(applications), rep.errors
    wrong = []
    for number, (birth, day, code) in expected.items():
        [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number=number, branch="00")
        lc = service.limit_certificate_on(session, qv.qualification_id, day)
        if lc.category_code != code:
            wrong.append((birth, day, lc.category_code, code))
    assert not wrong
    # the walk does reach the days on which legal age and 高齢受給者 differ
    assert any(day_reaching_age(b, 70) <= d < elderly_start(b) for b, d, _ in expected.values())
