"""Pure rules over dates and money: :mod:`age`, :mod:`calendar` (business days, deadlines), :mod:`co_pay`
(一部負担金の割合), :mod:`limit_category` (限度額適用区分, 高額療養費).  Every amount, threshold and deadline is a
row of a :class:`~onshi.rules.dated.DatedTable`.  Nothing here touches a database or imports the rest of onshi.
"""

from onshi.rules import age, calendar, co_pay, dated, limit_category

__all__ = ["age", "calendar", "co_pay", "dated", "limit_category"]
