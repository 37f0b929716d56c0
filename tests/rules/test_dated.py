"""DatedTable: the row in force at its boundaries, and every table of the rules is in force today."""

from __future__ import annotations

from datetime import date

import pytest

from onshi.rules import calendar, co_pay, limit_category
from onshi.rules.dated import DatedTable, NotInForce

TABLE = DatedTable("demo", ((date(2024, 1, 1), "a"), (date(2025, 4, 1), "b")))


@pytest.mark.parametrize("day, value", [(date(2024, 1, 1), "a"), (date(2025, 3, 31), "a"), (date(2025, 4, 1), "b"),
                                        (date(2099, 12, 31), "b")])
def test_row_in_force(day, value):
    assert TABLE.at(day) == value


def test_effective_from():
    assert TABLE.effective_from(date(2025, 3, 31)) == date(2024, 1, 1)
    assert TABLE.effective_from(date(2025, 4, 1)) == date(2025, 4, 1)


def test_before_the_first_row_is_a_clear_error():
    with pytest.raises(NotInForce, match="demo: nothing in force on 2023-12-31.*2024-01-01"):
        TABLE.at(date(2023, 12, 31))


@pytest.mark.parametrize("rows", [(), ((date(2025, 1, 1), 1), (date(2024, 1, 1), 2)),
                                  ((date(2025, 1, 1), 1), (date(2025, 1, 1), 2))])
def test_rows_must_be_strictly_increasing_and_not_empty(rows):
    with pytest.raises(ValueError):
        DatedTable("bad", rows)


@pytest.mark.parametrize("table", [calendar.REGISTRATION_DEADLINE, co_pay.RATIOS, co_pay.ACTIVE_INCOME_THRESHOLD,
                                   co_pay.ELDERLY_RATIO_BY_DAY_REACHING_70, limit_category.BANDS,
                                   limit_category.CEILINGS])
def test_every_rule_table_is_in_force_now(table):
    assert table.at(date(2026, 11, 23)) is not None
