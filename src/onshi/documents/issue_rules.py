"""When a 資格確認書 is issued and until when it is valid (pure; no database).

* Issue date: the next business day (行政機関の休日) after the enrollment data were received (seed 000:
  協会けんぽ issues it the next business day after the data arrive from 日本年金機構).
* Validity: set per insurer — ``validity_years`` (1 to the legal maximum, 5 years:
  :data:`onshi.rules.certificates.CERTIFICATE_MAX_YEARS`) from the issue date, or a common expiry date
  (``common_expiry``) when the insurer aligns them — and cut at the day before the 75th birthday (the member's,
  for a dependent) and at the end of 任意継続 (2 years after its start:
  :data:`onshi.rules.certificates.VOLUNTARY_CONTINUATION_YEARS`).
* Who gets one without applying, card or not: every member of a 後期高齢者医療 insurer (法別番号 39) until
  2026-07-31 (:data:`onshi.rules.transition.LATE_ELDERLY_CERTIFICATE_FOR_ALL`) — :func:`late_elderly_reason`.

>>> issue_date_for(date(2026, 11, 20))   # Friday; Monday 23 Nov is a holiday
datetime.date(2026, 11, 24)
>>> valid_until(issue=date(2026, 11, 24), birth_date=date(1980, 1, 1), validity_years=5)
datetime.date(2031, 11, 23)
"""

from __future__ import annotations

from datetime import date, timedelta

from onshi.rules.age import birthday
from onshi.rules.calendar import next_business_day
from onshi.rules.certificates import certificate_max_years, voluntary_continuation_last_day
from onshi.rules.co_pay import late_elderly_transition
from onshi.rules.transition import late_elderly_certificate_for_all

#: the reason a 資格確認書 is due to a 後期高齢者 member who holds a working マイナ保険証 (暫定的な運用)
LATE_ELDERLY_ALL = "late_elderly_all"


def late_elderly_reason(insurer_number: str | None, day: date) -> str | None:
    """:data:`LATE_ELDERLY_ALL` when every member of this insurer gets a 資格確認書 on *day* whatever their card
    (後期高齢者医療, to 2026-07-31), else None: then only those without a working マイナ保険証 do.

    >>> late_elderly_reason('39131015', date(2026, 7, 31)), late_elderly_reason('39131015', date(2026, 8, 1))
    ('late_elderly_all', None)
    >>> late_elderly_reason('01130012', date(2026, 1, 1)) is None
    True
    """
    return LATE_ELDERLY_ALL if insurer_number and late_elderly_certificate_for_all(insurer_number, day) else None


def issue_date_for(received: date) -> date:
    return next_business_day(received)


def valid_until(*, issue: date, birth_date: date, validity_years: int | None = None, common_expiry: date | None = None,
                member_birth_date: date | None = None, voluntary_continuation_from: date | None = None) -> date:
    """The last day a 資格確認書 issued on *issue* is valid; *validity_years* None is the legal maximum."""
    max_years = certificate_max_years(issue)
    years = max_years if validity_years is None else validity_years
    if not 1 <= years <= max_years:
        raise ValueError(f"資格確認書の有効期間は1〜{max_years}年です (validity must be 1–{max_years} years)")
    end = birthday(issue, years) - timedelta(days=1)
    if common_expiry is not None and issue <= common_expiry < end:
        end = common_expiry
    for b in (birth_date, member_birth_date):
        if b is not None:
            end = min(end, late_elderly_transition(b) - timedelta(days=1))
    if voluntary_continuation_from is not None:
        end = min(end, voluntary_continuation_last_day(voluntary_continuation_from))
    return end
