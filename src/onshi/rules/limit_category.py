"""限度額適用区分 (limit categories, OQSCD012) and the monthly ceilings of 高額療養費.

>>> limit_category(on=date(2026, 11, 1), age_70_plus=False, monthly_remuneration=410000)
'A03'
>>> monthly_ceiling('A03', 1_000_000, on=date(2026, 11, 1))
87430
>>> monthly_ceiling('B04', 1_000_000, on=date(2026, 11, 1), outpatient_only=True)
18000
"""

from __future__ import annotations

from datetime import date

from onshi.rules.dated import DatedTable

LIMIT_CATEGORY_NAMES = {
    "A01": "ア", "A02": "イ", "A03": "ウ", "A04": "エ", "A05": "オ", "A06": "オ（境）",
    "B01": "現役並みⅢ", "B02": "現役並みⅡ", "B03": "現役並みⅠ", "B04": "一般", "B05": "低所得Ⅱ", "B06": "低所得Ⅰ",
    "B07": "低所得Ⅰ（老福）", "B08": "低所得Ⅰ（境）", "B09": "一般Ⅱ", "B10": "一般Ⅰ",
}
# 標準報酬月額 bands: (lower bound, category under 70, category 70–74)
BANDS = DatedTable("限度額区分の標準報酬月額", ((date(2018, 8, 1), (
    (830_000, "A01", "B01"), (530_000, "A02", "B02"), (280_000, "A03", "B03"), (0, "A04", "B04"))),))
# ceilings: base, threshold for the 1 % term, many-times amount; outpatient-only amounts for 70–74
CEILINGS = DatedTable("高額療養費 自己負担限度額", ((date(2018, 8, 1), {
    "A01": (252_600, 842_000, 140_100), "A02": (167_400, 558_000, 93_000), "A03": (80_100, 267_000, 44_400),
    "A04": (57_600, None, 44_400), "A05": (35_400, None, 24_600),
    "B01": (252_600, 842_000, 140_100), "B02": (167_400, 558_000, 93_000), "B03": (80_100, 267_000, 44_400),
    "B04": (57_600, None, 44_400), "B05": (24_600, None, None), "B06": (15_000, None, None),
    "outpatient": {"B04": 18_000, "B05": 8_000, "B06": 8_000},
}),))


def limit_category(*, on: date, age_70_plus: bool, monthly_remuneration: int, tax_exempt: bool = False,
                   low_income_1: bool = False) -> str:
    if tax_exempt:
        if age_70_plus:
            return "B06" if low_income_1 else "B05"
        return "A05"
    for lower, under70, over70 in BANDS.at(on):
        if monthly_remuneration >= lower:
            return over70 if age_70_plus else under70
    raise AssertionError("bands end at 0")


def monthly_ceiling(code: str, total_medical_cost: int, *, on: date, many_times: bool = False,
                    outpatient_only: bool = False) -> int:
    """Monthly ceiling in yen; the 1 % term is rounded to the nearest yen (1円未満四捨五入)."""
    table = CEILINGS.at(on)
    if outpatient_only:
        if code in table["outpatient"]:
            return table["outpatient"][code]
    base, threshold, many = table[code]
    if many_times and many is not None:
        return many
    if threshold is None:
        return base
    extra = max(total_medical_cost - threshold, 0)
    return base + (extra + 50) // 100
