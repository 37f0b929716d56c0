"""The one clock: every "today" and "now" in onshi, and the one place where recorded and Japan time meet.

Recorded times (受付日時, 登録日時, …) are stored as **naive UTC**.  People — the clerk who types a 受付日時, the
clinic whose 診療日 it is, the insurer whose business day starts a deadline — live in **Japan time** (JST, UTC+9,
no daylight saving).  So:

* the current instant is :func:`utcnow` (to store) or :func:`japan_now` (to show or to reason about the day);
* "today" is :func:`japan_today` — never ``date.today()``, which is the *machine's* day and differs from Japan's
  from 15:00 to 24:00 UTC;
* a business day derived from a stored time goes through :func:`japan_date`; a time a person typed goes through
  :func:`from_japan_time`; a stored time shown to a person goes through :func:`to_japan_time`.

Nothing else in the code base reads the system clock (``tests/store/test_clock.py`` walks the source and fails on
``date.today()``, ``datetime.now()``, ``datetime.utcnow()`` or ``time.time()`` anywhere else).  That makes the clock
settable in one place: tests and demos call :func:`set_now` / :func:`frozen_at`, and an operator may start a process
at another time with ``ONSHI_NOW`` (ISO 8601 with an offset, e.g. ``2026-12-28T09:00:00+09:00``; the clock then
runs on from that instant).  Without either it is the system clock, read as UTC.

>>> japan_date(datetime(2026, 12, 25, 23, 30))   # 23:30 UTC is 08:30 on the 26th in Japan
datetime.date(2026, 12, 26)
>>> japan_date(datetime(2026, 12, 25, 14, 59)), japan_date(datetime(2026, 12, 25, 15, 0))
(datetime.date(2026, 12, 25), datetime.date(2026, 12, 26))
>>> from_japan_time(datetime(2026, 11, 20, 9, 30))   # typed 09:30 JST, stored 00:30 UTC
datetime.datetime(2026, 11, 20, 0, 30)
>>> japan_day_start(date(2026, 11, 20))              # JST midnight, as stored
datetime.datetime(2026, 11, 19, 15, 0)
>>> with frozen_at(datetime(2026, 12, 4, 23, 30, tzinfo=UTC)):
...     japan_today(), japan_now().isoformat(), utcnow()
(datetime.date(2026, 12, 5), '2026-12-05T08:30:00+09:00', datetime.datetime(2026, 12, 4, 23, 30))
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta, timezone

__all__ = ["JST", "epoch_seconds", "epoch_millis", "millis_of", "instant_of_millis", "from_japan_time", "frozen_at", "japan_date", "japan_day_start",
           "japan_iso", "japan_now",
           "japan_today", "parse_instant", "set_now", "to_japan_time", "utcnow"]

#: Japan Standard Time (日本標準時).
JST = timezone(timedelta(hours=9), "JST")

# The clock's state: None = the system clock; else (the instant it was set to, whether it runs on, the system
# instant at which it was set).  A plain module global, not a context variable, so that a server thread started
# by a test (uvicorn in the browser tests) sees the same clock as the test.
_setting: tuple[datetime, bool, datetime] | None = None


def _system_now() -> datetime:
    """The machine's clock as an aware UTC datetime — the only read of the system clock for dates in onshi."""
    return datetime.now(UTC)


def parse_instant(text: str) -> datetime:
    """An instant written in ISO 8601 *with* an offset (``2026-12-28T09:00:00+09:00``, ``…Z``), as aware UTC.

    >>> parse_instant("2026-12-28T09:00:00+09:00")
    datetime.datetime(2026, 12, 28, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_instant("2026-12-28 09:00")
    Traceback (most recent call last):
    ...
    ValueError: ONSHI_NOW / set_now need an offset (…+09:00 or …Z): '2026-12-28 09:00'
    """
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"ONSHI_NOW / set_now need an offset (…+09:00 or …Z): {text!r}")
    return moment.astimezone(UTC)


def set_now(moment: datetime | str | None, *, ticking: bool = False) -> None:
    """Set the clock to *moment* (an aware datetime or an ISO 8601 text with offset); ``None`` puts the system
    clock back.  ``ticking=True`` lets time run on from *moment* (a server's recorded times stay in order);
    otherwise the clock stands still.  A naive datetime is refused: which zone it meant is exactly the mistake
    this module exists to prevent."""
    global _setting
    if moment is None:
        _setting = None
        return
    if isinstance(moment, str):
        moment = parse_instant(moment)
    if moment.tzinfo is None:
        raise ValueError(f"set_now needs an aware datetime (tzinfo=JST or UTC), not {moment!r}")
    _setting = (moment.astimezone(UTC), ticking, _system_now())


@contextmanager
def frozen_at(moment: datetime | str, *, ticking: bool = False) -> Iterator[None]:
    """The clock set to *moment* inside the block (see :func:`set_now`), put back as it was afterwards."""
    global _setting
    before = _setting
    set_now(moment, ticking=ticking)
    try:
        yield
    finally:
        _setting = before


def _now() -> datetime:
    """The current instant, aware UTC, as the clock is set."""
    if _setting is None:
        return _system_now()
    moment, ticking, set_at = _setting
    return moment + (_system_now() - set_at) if ticking else moment


def utcnow() -> datetime:
    """The current recorded time: UTC without tzinfo (the stored convention)."""
    return _now().replace(tzinfo=None)


def japan_now() -> datetime:
    """The current time in Japan, aware (tzinfo JST)."""
    return _now().astimezone(JST)


def epoch_seconds() -> int:
    """Seconds since 1970-01-01 UTC on this clock — for signed timestamps (sessions, tokens)."""
    return int(_now().timestamp())


def epoch_millis() -> int:
    """Milliseconds since 1970-01-01 UTC on this clock — for ids that sort by time (receipt ids)."""
    return millis_of(_now())


_EPOCH = datetime(1970, 1, 1)
_ONE_MS = timedelta(milliseconds=1)


def millis_of(moment: datetime) -> int:
    """Milliseconds since 1970-01-01 UTC of *moment* (naive = UTC), exactly (integer arithmetic, no float): a
    recorded time as the millisecond count that receipt ids begin with."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // _ONE_MS


def instant_of_millis(millis: int) -> datetime:
    """The recorded instant (naive UTC) of a millisecond count — :func:`millis_of` undone, to the millisecond."""
    return _EPOCH + millis * _ONE_MS


def _as_utc(moment: datetime) -> datetime:
    """An aware datetime for *moment*; a naive one is taken as UTC (the stored convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def to_japan_time(moment: datetime) -> datetime:
    """*moment* (naive = UTC) as an aware JST datetime, for display."""
    return _as_utc(moment).astimezone(JST)


def japan_iso(moment: datetime) -> str:
    """A recorded time (naive = UTC) as ISO 8601 in Japan time with its offset, for answers that people's software
    shows: unambiguous to a machine, the wall-clock time to a person.

    >>> japan_iso(datetime(2026, 12, 4, 23, 30))
    '2026-12-05T08:30:00+09:00'
    """
    return to_japan_time(moment).isoformat()


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


def _from_environment() -> None:
    """``ONSHI_NOW``: start this process's clock at that instant, running on (a demo of another day)."""
    text = os.environ.get("ONSHI_NOW", "").strip()
    if text:
        set_now(parse_instant(text), ticking=True)


_from_environment()
