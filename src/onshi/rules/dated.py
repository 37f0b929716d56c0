"""Dated tables: every amount, threshold and deadline that law sets, with the day it takes effect."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

T = TypeVar("T")


class NotInForce(LookupError):
    """No row of a dated table is in force on the day asked."""


@dataclass(frozen=True)
class DatedTable(Generic[T]):
    """Rows ``(effective_from, value)``; :meth:`at` returns the value in force on a day.

    >>> t = DatedTable("demo", ((date(2024, 1, 1), 1), (date(2025, 4, 1), 2)))
    >>> t.at(date(2025, 3, 31)), t.at(date(2025, 4, 1))
    (1, 2)
    """

    name: str
    rows: tuple[tuple[date, T], ...]

    def __post_init__(self) -> None:
        days = [d for d, _ in self.rows]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError(f"{self.name}: rows must be in strictly increasing date order")

    def at(self, day: date) -> T:
        i = bisect_right([d for d, _ in self.rows], day)
        if i == 0:
            raise NotInForce(f"{self.name}: nothing in force on {day} (first row {self.rows[0][0]})")
        return self.rows[i - 1][1]
