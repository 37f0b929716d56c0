"""資格確認書 validity, the 任意継続 period and the マイナ保険証 grace (rules.certificates), at their boundaries."""

from __future__ import annotations

from datetime import date

import pytest

from onshi.rules.certificates import (
    CARD_GRACE_MONTHS,
    CERTIFICATE_MAX_YEARS,
    VOLUNTARY_CONTINUATION_YEARS,
    card_usable_until,
    certificate_max_years,
    voluntary_continuation_last_day,
)
from onshi.rules.dated import NotInForce


def test_certificate_validity_starts_with_the_certificate():
    assert CERTIFICATE_MAX_YEARS.effective_from(date(2030, 1, 1)) == date(2024, 12, 2)
    assert certificate_max_years(date(2024, 12, 2)) == 5
    with pytest.raises(NotInForce):  # no 資格確認書 before 2 December 2024
        certificate_max_years(date(2024, 12, 1))


@pytest.mark.parametrize(("start", "last"), [
    (date(2024, 4, 1), date(2026, 3, 31)),
    (date(2024, 3, 31), date(2026, 3, 30)),
    (date(2024, 2, 29), date(2026, 2, 28)),  # 2nd anniversary of 29 Feb is 1 March
    (date(2023, 3, 1), date(2025, 2, 28)),
    (date(2022, 3, 1), date(2024, 2, 29)),
    (date(2024, 12, 31), date(2026, 12, 30)),
    (date(2025, 1, 1), date(2026, 12, 31)),
])
def test_voluntary_continuation_ends_the_day_before_the_2nd_anniversary(start, last):
    assert VOLUNTARY_CONTINUATION_YEARS.at(start) == 2
    assert voluntary_continuation_last_day(start) == last


@pytest.mark.parametrize(("expires", "until"), [
    (date(2024, 8, 15), date(2024, 11, 30)),
    (date(2024, 8, 31), date(2024, 11, 30)),
    (date(2024, 9, 1), date(2024, 12, 31)),
    (date(2023, 11, 30), date(2024, 2, 29)),  # into a leap February
    (date(2024, 11, 1), date(2025, 2, 28)),
    (date(2025, 2, 28), date(2025, 5, 31)),  # 多摩市's example: expiry in February → end of May
    (date(2024, 12, 31), date(2025, 3, 31)),
])
def test_card_grace_is_the_end_of_the_third_month_after_expiry(expires, until):
    assert CARD_GRACE_MONTHS.at(expires) == 3
    assert card_usable_until(expires) == until


def test_card_grace_table_starts_with_the_first_cards():
    assert CARD_GRACE_MONTHS.effective_from(date(2024, 1, 1)) == date(2016, 1, 1)
    assert card_usable_until(date(2016, 1, 1)) == date(2016, 4, 30)
    with pytest.raises(NotInForce):
        card_usable_until(date(2015, 12, 31))
