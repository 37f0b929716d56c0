"""Identifiers, one python-stdnum-style module each (``compact``, ``validate``, ``is_valid``, ``format``):
保険者番号 (:mod:`insurer_number`), 記号・番号・枝番 (:mod:`insured_card`), 医療機関コード
(:mod:`institution_code`), 個人番号 (:mod:`my_number`), and the 都道府県 table (:mod:`prefectures`).

Pure: nothing here imports the rest of onshi.  Errors are ``stdnum.exceptions`` subclasses of
``ValidationError`` whose message says what is wrong and how to fix it.
"""

from onshi.numbers import institution_code, insured_card, insurer_number, my_number, prefectures

__all__ = ["institution_code", "insured_card", "insurer_number", "my_number", "prefectures"]
