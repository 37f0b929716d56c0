"""The transition to マイナ保険証: how long an old 健康保険証 works, the provisional billing on an expired one, the
後期高齢者 資格確認書 for everyone, and the 居宅同意取得型 re-query period.

Each date sits in a :class:`~onshi.rules.dated.DatedTable` with its source (docs/rules.md, "The transition to
マイナ保険証"); the functions are pure and take the day as an argument.

The insurer kind is read from the 保険者番号 (:func:`insurer_kind`): a 6-digit number or 法別番号 67 is 国民健康保険,
法別番号 39 後期高齢者医療, every other medical insurer employee insurance (被用者保険: 協会けんぽ, 健保組合, 共済, 船員).

>>> insurer_kind('01130012'), insurer_kind('138057'), insurer_kind('39131015')
('employee', 'national', 'late_elderly')
>>> old_card_valid_until('01130012'), old_card_valid_until('39131015')
(datetime.date(2025, 12, 1), datetime.date(2025, 7, 31))
>>> old_card_valid_until('01130012', printed_expiry=date(2025, 3, 31))
datetime.date(2025, 3, 31)
>>> provisional_billing('01130012', date(2025, 12, 1)) is None, provisional_billing('01130012', date(2025, 12, 2))
(True, ProvisionalBilling(kind='employee', lapsed_after=datetime.date(2025, 12, 1), until=datetime.date(2026, 3, 31)))
>>> late_elderly_certificate_for_all('39131015', date(2026, 7, 31)), \\
...     late_elderly_certificate_for_all('39131015', date(2026, 8, 1))
(True, False)
>>> requery_last_day(date(2026, 1, 31))
datetime.date(2026, 4, 30)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from onshi.rules.calendar import add_months_end
from onshi.rules.dated import DatedTable, NotInForce

EMPLOYEE, NATIONAL, LATE_ELDERLY = "employee", "national", "late_elderly"
INSURER_KINDS = (EMPLOYEE, NATIONAL, LATE_ELDERLY)


def insurer_kind(insurer_number: str) -> str:
    """``employee`` | ``national`` | ``late_elderly`` from a (valid, compact) 保険者番号."""
    if len(insurer_number) == 6 or insurer_number[:2] == "67":
        return NATIONAL
    if insurer_number[:2] == "39":
        return LATE_ELDERLY
    return EMPLOYEE


#: The last day an old 健康保険証 (issued before 2024-12-02) works at the latest, whatever its printed expiry, by
#: insurer kind.  Keyed by the day no new card was issued any more.
#: Sources: 令和5年法律第48号 附則 (経過措置: a card issued by 2024-12-01 stays usable until its printed expiry, at the
#: latest one year, 2025-12-01); 厚生労働省「マイナ保険証を基本とする仕組みへの移行」(https://www.mhlw.go.jp/stf/
#: newpage_08277.html); for 国保 and 後期高齢者 the printed expiry of the last cards, 2025-07-31, as municipalities and
#: 広域連合 announced it (e.g. https://www.city.minamiboso.chiba.jp/0000021464.html: 「令和6年12月1日までに交付された
#: 被保険者証は、令和7年7月31日まで使用できます」; https://www.city.yonago.lg.jp/1148.htm for 国保).
#: **Choice** (as /work/shared/reference/insurance-rules.md): 国保 cards are taken to end on 2025-07-31, the date most
#: municipalities printed; a 国保 card printed with a later expiry is cut by ``printed_expiry``'s own argument only
#: when earlier — the law's latest for 国保 is 2025-12-01 as for the others.
OLD_CARD_LATEST: DatedTable[dict[str, date]] = DatedTable("旧健康保険証の使用期限 (最長)", (
    (date(2024, 12, 2), {EMPLOYEE: date(2025, 12, 1), NATIONAL: date(2025, 7, 31), LATE_ELDERLY: date(2025, 7, 31)}),
))

#: 有効期限切れの健康保険証の暫定的な取扱い: a patient showing an expired 健康保険証 (or only a 資格情報のお知らせ) whose
#: qualification the clinic confirms online with the card's numbers is billed at the normal ratio, not 10割.  Keyed
#: by the day of care; the value is the set of insurer kinds it applies to and the last day of the measure.
#: Sources: 厚生労働省保険局 事務連絡 令和7年6月27日「国民健康保険の被保険者証の有効期限切れに伴う当面の取扱いについて」
#: (国保, from 2025-08-01; reported at https://hodanren.doc-net.or.jp/info/news/2025-06-30), its extension to every
#: insurer from 2025-12-02 (https://prorelations.jp/?p=550: 「2025年12月2日以降…2026年3月31日までの間」) and the 事務連絡
#: of 2025-09 that lets 後期高齢者 be treated as 国保 (https://kyotoihou.t-reader.jp/2025/2025-sep-15/30098); the end,
#: 2026-03-31 (https://news.livedoor.com/article/detail/30634237/: 「暫定措置は3月末で終了」).
PROVISIONAL_BILLING: DatedTable[tuple[frozenset[str], date | None]] = DatedTable("期限切れ保険証の暫定的な取扱い", (
    (date(2024, 12, 2), (frozenset(), None)),
    (date(2025, 8, 1), (frozenset({NATIONAL, LATE_ELDERLY}), date(2026, 3, 31))),
    (date(2025, 12, 2), (frozenset(INSURER_KINDS), date(2026, 3, 31))),
    (date(2026, 4, 1), (frozenset(), None)),
))

#: 後期高齢者医療: every member gets a 資格確認書 without applying, whether or not they hold a マイナ保険証 (暫定的な運用),
#: keyed by the day the decision is taken.  Sources: 厚生労働省 通知 令和7年4月3日 and 東京都後期高齢者医療広域連合
#: 「令和6年12月2日から令和8年7月31日までの取扱い」 (as quoted at https://hodanren.doc-net.or.jp/?p=27171); 福島市
#: https://www.city.fukushima.fukushima.jp/soshiki/7/1030/3/13609.html (「令和8年7月31日まで…一律「資格確認書」を交付」,
#: 「令和8年8月1日以降は、マイナ保険証をお持ちでない方に交付」).  Before 2024-12-02 there was no 資格確認書: the row
#: dated 2008-04-01 (the 後期高齢者医療制度's start) says "no" so that every day has an answer.
LATE_ELDERLY_CERTIFICATE_FOR_ALL: DatedTable[bool] = DatedTable("後期高齢者 資格確認書の一律交付", (
    (date(2008, 4, 1), False),
    (date(2024, 12, 2), True),
    (date(2026, 8, 1), False),
))

#: 居宅同意取得型 (訪問診療・訪問看護): after a check by マイナ保険証 at the patient's home, the institution re-queries
#: (再照会) on later visits without the card, for this many months after the month of the card check (the re-query's
#: day of care up to the end of that month).  The law allows it 「当該保険医療機関等との継続的な関係のもと訪問診療等が
#: 行われている間」 (療担規則 as amended from 2023-12-01: 中医協 総会 第559回 2023-10-18, 個別改定項目 第1,
#: https://www.mhlw.go.jp/stf/shingi2/0000212500_00218.html; https://onshikaku.mic.jp/?p=8283) without a number of
#: months.  **Assumption**: onshi reads "a continuing relationship" as a card check within the last 3 calendar months
#: (visits are planned at least monthly; a quarter without one is no continuing relationship) — a new card check
#: starts the period again.  Keyed by the day of the card check.
HOME_VISIT_REQUERY_MONTHS: DatedTable[int] = DatedTable("居宅同意取得型 再照会の期間 (月)", (
    (date(2023, 12, 1), 3),
))


def old_card_valid_until(insurer_number: str, *, printed_expiry: date | None = None,
                         on: date = date(2024, 12, 2)) -> date:
    """The last day an old 健康保険証 of this insurer works: its printed expiry, at the latest the kind's date."""
    latest = OLD_CARD_LATEST.at(on)[insurer_kind(insurer_number)]
    return latest if printed_expiry is None else min(printed_expiry, latest)


@dataclass(frozen=True)
class ProvisionalBilling:
    """The provisional measure in force on a day of care for an insurer kind: old cards lapsed after
    ``lapsed_after``; an expired card confirmed online bills at the normal ratio until ``until``."""

    kind: str
    lapsed_after: date
    until: date


def provisional_billing(insurer_number: str, care_date: date) -> ProvisionalBilling | None:
    """The measure when it applies on *care_date* to this insurer's old cards (they have lapsed and the measure
    covers the kind), else None (the old card still works, or the measure is over)."""
    kind = insurer_kind(insurer_number)
    try:
        kinds, until = PROVISIONAL_BILLING.at(care_date)
        lapsed_after = OLD_CARD_LATEST.at(care_date)[kind]
    except NotInForce:
        return None
    if kind not in kinds or until is None or care_date <= lapsed_after:
        return None
    return ProvisionalBilling(kind=kind, lapsed_after=lapsed_after, until=until)


def late_elderly_certificate_for_all(insurer_number: str, day: date) -> bool:
    """Does every member of this insurer get a 資格確認書 on *day*, card or not (後期高齢者, until 2026-07-31)?"""
    if insurer_kind(insurer_number) != LATE_ELDERLY:
        return False
    try:
        return LATE_ELDERLY_CERTIFICATE_FOR_ALL.at(day)
    except NotInForce:
        return False


def requery_last_day(card_check_care_date: date) -> date:
    """The last day of care a 居宅同意取得型 institution may re-query after a card check on *card_check_care_date*."""
    return add_months_end(card_check_care_date, HOME_VISIT_REQUERY_MONTHS.at(card_check_care_date))
