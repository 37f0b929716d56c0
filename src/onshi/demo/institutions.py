"""The demo's medical institutions (医療機関・薬局): synthetic, with valid 医療機関コード check digits."""

from __future__ import annotations

DEMO_INSTITUTIONS = [
    # 医療機関コード body (pref + 点数表 + 6 digits); the check digit is computed
    ("13", "1", "000001", "オンシ内科クリニック", "clinic"),
    ("13", "1", "000002", "オンシ総合病院", "hospital"),
    ("13", "3", "000003", "オンシ歯科医院", "dental"),
    ("04", "4", "000004", "オンシ薬局 仙台店", "pharmacy"),
]


def demo_institution_codes() -> list[str]:
    from onshi.numbers import institution_code

    return [body_pref + kind + body + institution_code.calc_check_digit(body_pref + kind + body)
            for body_pref, kind, body, _n, _t in DEMO_INSTITUTIONS]
