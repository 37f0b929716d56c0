"""Dated tables: every amount, threshold and deadline that law sets, with the day it takes effect.

A change in law is a new row, never an ``if``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Generic, TypeVar

T = TypeVar("T")


class NotInForce(LookupError):
    """No row of a dated table is in force on the day asked (the day is before the first row)."""


@dataclass(frozen=True)
class DatedTable(Generic[T]):
    """Rows ``(effective_from, value)`` in increasing date order; :meth:`at` returns the value in force on a day.

    >>> t = DatedTable("demo", ((date(2024, 1, 1), 1), (date(2025, 4, 1), 2)))
    >>> t.at(date(2025, 3, 31)), t.at(date(2025, 4, 1)), t.effective_from(date(2026, 1, 1))
    (1, 2, datetime.date(2025, 4, 1))
    >>> t.at(date(2023, 12, 31))
    Traceback (most recent call last):
      ...
    onshi.rules.dated.NotInForce: demo: nothing in force on 2023-12-31 (the first row takes effect on 2024-01-01)
    """

    name: str
    rows: tuple[tuple[date, T], ...]
    _days: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days = tuple(d for d, _ in self.rows)
        if not days:
            raise ValueError(f"{self.name}: a dated table needs at least one row")
        if any(a >= b for a, b in pairwise(days)):
            raise ValueError(f"{self.name}: rows must be in strictly increasing date order")
        object.__setattr__(self, "_days", days)

    def _index(self, day: date) -> int:
        i = bisect_right(self._days, day)
        if i == 0:
            raise NotInForce(f"{self.name}: nothing in force on {day} (the first row takes effect on {self._days[0]})")
        return i - 1

    def at(self, day: date) -> T:
        """The value in force on *day*."""
        return self.rows[self._index(day)][1]

    def effective_from(self, day: date) -> date:
        """The day the row in force on *day* took effect."""
        return self._days[self._index(day)]
