"""Recorded time and the business day: one place for the conversion.

Recorded times (受付日時, 登録日時, …) are stored as **naive UTC**.  People — the clerk who types a 受付日時, the
clinic whose 診療日 it is, the insurer whose business day starts a deadline — live in **Japan time** (JST, UTC+9,
no daylight saving).  Every business day derived from a stored time goes through :func:`japan_date`; every time a
person types goes through :func:`from_japan_time`; "today" is :func:`japan_today`.

>>> japan_date(datetime(2026, 12, 25, 23, 30))   # 23:30 UTC is 08:30 on the 26th in Japan
datetime.date(2026, 12, 26)
>>> japan_date(datetime(2026, 12, 25, 14, 59)), japan_date(datetime(2026, 12, 25, 15, 0))
(datetime.date(2026, 12, 25), datetime.date(2026, 12, 26))
>>> from_japan_time(datetime(2026, 11, 20, 9, 30))   # typed 09:30 JST, stored 00:30 UTC
datetime.datetime(2026, 11, 20, 0, 30)
>>> japan_day_start(date(2026, 11, 20))              # JST midnight, as stored
datetime.datetime(2026, 11, 19, 15, 0)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

#: Japan Standard Time (日本標準時).
JST = timezone(timedelta(hours=9), "JST")


def utcnow() -> datetime:
    """The current recorded time: UTC without tzinfo."""
    return datetime.now(UTC).replace(tzinfo=None)


def _as_utc(moment: datetime) -> datetime:
    """An aware datetime for *moment*; a naive one is taken as UTC (the stored convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def to_japan_time(moment: datetime) -> datetime:
    """*moment* (naive = UTC) as an aware JST datetime, for display."""
    return _as_utc(moment).astimezone(JST)


def japan_date(moment: datetime) -> date:
    """The day in Japan of a recorded time (naive = UTC)."""
    return to_japan_time(moment).date()


def japan_today(now: datetime | None = None) -> date:
    """Today in Japan (*now*: a recorded time to use instead of the clock)."""
    return japan_date(now if now is not None else utcnow())


def from_japan_time(typed: datetime) -> datetime:
    """A time a person typed (naive = Japan time) as it is stored: naive UTC.  An aware value is converted."""
    aware = typed.replace(tzinfo=JST) if typed.tzinfo is None else typed
    return aware.astimezone(UTC).replace(tzinfo=None)


def japan_day_start(day: date) -> datetime:
    """The stored (naive UTC) time at which *day* begins in Japan — for range queries on recorded times."""
    return from_japan_time(datetime.combine(day, time()))
