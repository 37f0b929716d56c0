"""How long a proof of eligibility lasts: the 資格確認書 (eligibility certificate), the 任意継続 (voluntary
continuation) period that cuts it, and the grace of a マイナ保険証 whose electronic certificate has expired.

Each number sits in a dated table with its source; the functions are pure.

>>> certificate_max_years(date(2024, 12, 2))
5
>>> voluntary_continuation_last_day(date(2024, 4, 1)), voluntary_continuation_last_day(date(2024, 2, 29))
(datetime.date(2026, 3, 31), datetime.date(2026, 2, 28))
>>> card_usable_until(date(2024, 8, 15)), card_usable_until(date(2025, 11, 30))
(datetime.date(2024, 11, 30), datetime.date(2026, 2, 28))
"""

from __future__ import annotations

from datetime import date, timedelta

from onshi.rules.age import birthday
from onshi.rules.calendar import add_months_end
from onshi.rules.dated import DatedTable

#: 資格確認書の有効期間 — at most this many years from the issue date, the insurer choosing within it (協会けんぽ
#: 5, many 健保組合 1–5).  健康保険法 §51の3 (資格確認書, 令和5年法律第48号) and 健康保険法施行規則 §47–§51, in force
#: from 2024-12-02 (the day no new 健康保険証 is issued); the 5-year limit as MHLW states it (「有効期限は5年以内で
#: 保険者が設定」, 厚生労働省「資格確認書について」).  Keyed by the issue date.
CERTIFICATE_MAX_YEARS: DatedTable[int] = DatedTable("資格確認書の有効期間の上限 (年)", (
    (date(2024, 12, 2), 5),
))

#: 任意継続被保険者: the qualification ends when 2 years have passed from the day it began (健康保険法 §38 (i):
#: 「任意継続被保険者となった日から起算して二年を経過したとき」).  Keyed by the first day of 任意継続.
#: **Choice**: the row is dated from the Act's coming into force (1927-01-01) only so that every period the registry
#: may hold has an answer; earlier versions of §38 are not modelled.
VOLUNTARY_CONTINUATION_YEARS: DatedTable[int] = DatedTable("任意継続被保険者の期間 (年)", (
    (date(1927, 1, 1), 2),
))

#: マイナ保険証: a card whose electronic certificate (利用者証明用電子証明書) has expired still verifies until the end
#: of the 3rd month after the month of expiry (厚生労働省「マイナ保険証の電子証明書の有効期限」: 「有効期限満了日の属する
#: 月の末日から3か月間」; e.g. an expiry in February works until the end of May).  Keyed by the certificate's expiry
#: date.  **Choice**: the sources give no start date; the row takes effect on 2016-01-01, when the first 個人番号
#: カード were issued, so that every certificate that can exist has an answer.
CARD_GRACE_MONTHS: DatedTable[int] = DatedTable("マイナ保険証 電子証明書有効期限後の猶予 (月)", (
    (date(2016, 1, 1), 3),
))


def certificate_max_years(issue: date) -> int:
    """The longest validity (years) a 資格確認書 issued on *issue* may have."""
    return CERTIFICATE_MAX_YEARS.at(issue)


def voluntary_continuation_last_day(start: date) -> date:
    """The last day of 任意継続 that began on *start*: the day before the 2nd anniversary (29 February → 1 March
    in a common year, as :func:`onshi.rules.age.birthday`)."""
    return birthday(start, VOLUNTARY_CONTINUATION_YEARS.at(start)) - timedelta(days=1)


def card_usable_until(certificate_expires_on: date) -> date:
    """The last day a マイナ保険証 works as insurance card: the end of the 3rd month after the expiry month."""
    return add_months_end(certificate_expires_on, CARD_GRACE_MONTHS.at(certificate_expires_on))
