"""Identifiers, one stdnum-style module each: 保険者番号, 記号・番号・枝番, 医療機関コード, 個人番号."""

from onshi.numbers import institution_code, insured_card, insurer_number, my_number, prefectures

__all__ = ["institution_code", "insured_card", "insurer_number", "my_number", "prefectures"]
