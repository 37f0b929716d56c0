"""Rows of a notification file (届出ファイルの行): column layouts, header, records, and the field-level checks of
one row — pure, no database.

Shared by the importer (:mod:`onshi.registry.intake.importer`) and the reading process of the PostgreSQL fast path
(:mod:`onshi.registry.intake.pg.worker`), so both read headers and accept values exactly alike.  Column layouts
are documented in docs/intake.md.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any

from stdnum.exceptions import ValidationError

from onshi.registry import fields as F
from onshi.registry.models import NotificationType

T = NotificationType


# Column layouts: canonical name -> Japanese header also accepted.  Every column
# must be present in the header (blank values are allowed where a column is optional).
NUMBERS = {"insurer_number": "保険者番号", "employer_symbol": "記号", "number": "番号", "branch": "枝番"}
IDENTITY = {"my_number": "個人番号", "name": "氏名", "name_kana": "フリガナ", "birth_date": "生年月日", "sex": "性別",
            "postal_code": "郵便番号", "address": "住所"}
LAYOUTS: dict[NotificationType, dict[str, str]] = {
    T.employer: {"insurer_number": "保険者番号", "employer_symbol": "記号", "employer_name": "事業所名称",
                 "postal_code": "郵便番号", "address": "所在地", "prefecture_code": "都道府県コード"},
    T.acquisition: {**NUMBERS, **IDENTITY, "acquisition_date": "資格取得年月日", "monthly_remuneration": "標準報酬月額",
                    "card_classification": "被保険者証区分", "voluntary_continuation": "任意継続"},
    T.loss: {**NUMBERS, "loss_date": "資格喪失年月日", "loss_reason": "喪失事由"},
    T.dependent: {**NUMBERS, "change": "異動区分", **IDENTITY, "effective_date": "異動年月日", "loss_reason": "喪失事由"},
    T.name_change: {**NUMBERS, "name": "氏名", "name_kana": "フリガナ", "effective_date": "変更年月日"},
    T.address_change: {**NUMBERS, "postal_code": "郵便番号", "address": "住所", "effective_date": "変更年月日"},
    T.remuneration: {**NUMBERS, "monthly_remuneration": "標準報酬月額", "effective_month": "適用年月",
                     "reason": "決定区分"},
    T.limit_application: {**NUMBERS, "application_date": "申請年月日", "tax_exempt": "住民税非課税",
                          "low_income_1": "低所得Ⅰ", "income_exemption": "基準収入額適用"},
}
OPTIONAL = {"my_number", "postal_code", "address", "card_classification", "voluntary_continuation", "loss_reason",
            "reason", "tax_exempt", "low_income_1", "income_exemption", "branch"}
SECRET_COLUMNS = {"my_number"}
LOSS_REASONS = {"01": "死亡", "02": "生活保護受給開始", "03": "医療保険等の資格取得", "99": "その他"}
CARD_CLASSES = {"01", "02", "03", "04", "05", "06", "07"}


class IntakeFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, empty, binary); nothing was applied."""



def _unknown_column(i: int, key: str, ntype: NotificationType, by_label: dict[str, str]) -> str:
    """``列名「生年月日x」は使えません。「生年月日」ですか？`` — the nearest accepted name (difflib), in Japanese,
    then the English for logs."""
    import difflib

    layout = LAYOUTS[ntype]
    near = difflib.get_close_matches(key, list(by_label), n=1, cutoff=0.5)
    hint = ""
    if near:
        name = by_label[near[0]]
        hint = f"「{layout[name] if near[0] == layout.get(name) else near[0]}」ですか？"
    else:
        hint = f"使える列名: {'、'.join(layout.values())}"
    return (f"{i}列目の列名「{key}」は使えません。{hint} (unexpected column {i}; expected: "
            f"{', '.join(layout)})")


def header_map(header: list[str], ntype: NotificationType) -> list[str]:
    layout = LAYOUTS[ntype]
    by_label = {ja: name for name, ja in layout.items()} | {name: name for name in layout}
    names = []
    for i, raw in enumerate(header, start=1):
        key = raw.strip().lstrip("\ufeff")
        if key not in by_label:
            raise IntakeFileError(_unknown_column(i, key, ntype, by_label))
        names.append(by_label[key])
    missing = [n for n in layout if n not in names]
    if missing:
        raise IntakeFileError(f"必要な列がありません: {', '.join(missing)} (missing columns)")
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise IntakeFileError(f"列が重複しています: {', '.join(sorted(dup))} (duplicate columns)")
    return names



def rows_from(reader, ntype: NotificationType) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise IntakeFileError(f"ヘッダー行が読めません (cannot read the header: {exc})") from None
    names = header_map(header, ntype)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for line_no, values in enumerate(reader, start=2):
            if (record := row_record(line_no, values, names)) is not None:
                yield record

    return rows()


def row_record(line_no: int, values: list[str], names: list[str]) -> tuple[int, dict[str, str]] | None:
    """A record as a row: ``(row_number, {column: value})``, a wrong shape marked, None for a blank line."""
    if not any(v.strip() for v in values):
        return None
    if len(values) != len(names):
        return line_no, {"__shape__": f"{len(values)} 個の値 (expected {len(names)} values)"}
    return line_no, dict(zip(names, values))



def shown(column: str, value: str) -> str:
    """The value as errors and forms show it: a My Number hidden."""
    return "(非表示)" if column in SECRET_COLUMNS and value else value


class ParsedRow:
    """Collects parsed values and errors of one row."""

    __slots__ = ("raw", "values", "errors", "row_hash", "my_number_hash", "my_number_enc")

    def __init__(self, raw: dict[str, str]):
        self.raw = raw
        self.values: dict[str, Any] = {}
        self.errors: list[tuple[str, str, str]] = []
        self.row_hash: str | None = None  # set by prepare_acquisition
        self.my_number_hash: str | None = None
        self.my_number_enc: bytes | None = None

    def take(self, column: str, parser: Callable[[str], Any], optional: bool = False) -> Any:
        value = self.raw.get(column, "")
        if not value.strip():
            if optional or column in OPTIONAL:
                self.values[column] = None
                return None
            self.errors.append((column, value, "必須項目が空です (required value is empty)"))
            return None
        ok, parsed = parse_value(column, parser, value)
        if not ok:
            self.errors.append((column, shown(column, value), parsed))
            return None
        self.values[column] = parsed
        return parsed

    def fail(self, column: str, reason: str) -> None:
        self.errors.append((column, shown(column, self.raw.get(column, "")), reason))


# Parsed values by (parser, column, raw value).  Every parser is a pure function of its value, so a cached answer is
# exactly the answer: a file repeats its 保険者番号, 記号, dates, addresses and flags thousands of times.  Columns that
# differ on every row are not cached; the cache is emptied when full, so memory stays bounded whatever the file.
_UNCACHED = frozenset({"my_number", "number"})
_PARSE_CACHE: dict[tuple[Callable[[str], Any], str, str], tuple[bool, Any]] = {}
_PARSE_CACHE_MAX = 200_000


def parse_value(column: str, parser: Callable[[str], Any], value: str) -> tuple[bool, Any]:
    """``(True, parsed)`` or ``(False, reason)``."""
    key = (parser, column, value)
    hit = _PARSE_CACHE.get(key)
    if hit is not None:
        return hit
    try:
        hit = (True, parser(value))
    except F.FieldError as exc:
        hit = (False, exc.reason)
    except ValidationError as exc:
        hit = (False, _stdnum_reason(column, exc))
    if column not in _UNCACHED:
        if len(_PARSE_CACHE) >= _PARSE_CACHE_MAX:
            _PARSE_CACHE.clear()
        _PARSE_CACHE[key] = hit
    return hit


def _stdnum_reason(column: str, exc: ValidationError) -> str:
    label = {"insurer_number": "保険者番号", "my_number": "個人番号", "employer_symbol": "記号", "number": "番号",
             "branch": "枝番"}.get(column, column)
    return f"{label}が正しくありません ({exc.message})"


def _insurer_number(v: str) -> str:
    from onshi.numbers import insurer_number

    return insurer_number.validate(v)


def _symbol(v: str) -> str:
    from onshi.numbers import insured_card

    return insured_card.compact_symbol(v)


def _number(v: str) -> str:
    from onshi.numbers import insured_card

    return insured_card.compact_number(v)


def _branch(v: str) -> str:
    from onshi.numbers import insured_card

    return insured_card.compact_branch(v)


def _my_number(v: str) -> str:
    from onshi.numbers import my_number

    return my_number.validate(v)


def _loss_reason(v: str) -> str:
    code = F.half_width(v).zfill(2)
    if code not in LOSS_REASONS:
        raise F.FieldError("喪失事由は 01 死亡, 02 生活保護, 03 他の医療保険, 99 その他 です (loss reason code)")
    return code


def _card_class(v: str) -> str:
    code = F.half_width(v).zfill(2)
    if code not in CARD_CLASSES:
        raise F.FieldError("被保険者証区分は 01〜07 です (card classification, OQSCD010)")
    return code


def _change(v: str) -> str:
    text = F.half_width(v)
    mapping = {"add": "add", "該当": "add", "追加": "add", "1": "add", "remove": "remove", "非該当": "remove",
               "削除": "remove", "2": "remove"}
    if text not in mapping:
        raise F.FieldError("異動区分は 該当(add) か 非該当(remove) です (change must be add or remove)")
    return mapping[text]


def _prefecture(v: str) -> str:
    code = F.half_width(v).zfill(2)
    if not code.isdigit() or not 1 <= int(code) <= 47:
        raise F.FieldError("都道府県コードは 01〜47 です (prefecture code 01–47)")
    return code


def _take_numbers(r: ParsedRow, branch_optional: bool) -> None:
    r.take("insurer_number", _insurer_number)
    r.take("employer_symbol", _symbol)
    r.take("number", _number)
    r.take("branch", _branch, optional=branch_optional)


def _take_identity(r: ParsedRow) -> None:
    r.take("my_number", _my_number)
    r.take("name", F.parse_name)
    r.take("name_kana", F.parse_kana)
    r.take("birth_date", F.parse_date)
    r.take("sex", F.parse_sex)
    r.take("postal_code", F.parse_postal_code)
    r.take("address", F.parse_address)


# A 資格取得届 row's columns and their parsers, in the order they are checked (shared with the reading process's
# fast path, onshi.registry.intake.pg.worker, so both accept exactly the same values).
ACQUISITION_FIELDS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    ("insurer_number", _insurer_number), ("employer_symbol", _symbol), ("number", _number), ("branch", _branch),
    ("my_number", _my_number), ("name", F.parse_name), ("name_kana", F.parse_kana), ("birth_date", F.parse_date),
    ("sex", F.parse_sex), ("postal_code", F.parse_postal_code), ("address", F.parse_address),
    ("acquisition_date", F.parse_date), ("monthly_remuneration", F.parse_yen),
    ("card_classification", _card_class), ("voluntary_continuation", F.parse_flag))
ACQUISITION_BEFORE_BIRTH = "資格取得日が生年月日より前です (acquisition before birth)"


def validate_row(ntype: NotificationType, raw: dict[str, str]) -> ParsedRow:
    """Field-level checks that need no database."""
    r = ParsedRow(raw)
    if "__shape__" in raw:
        r.errors.append(("(row)", raw["__shape__"], "列の数が合いません (wrong number of values in the row)"))
        return r
    if ntype is T.employer:
        r.take("insurer_number", _insurer_number)
        r.take("employer_symbol", _symbol)
        r.take("employer_name", F.parse_name)
        r.take("postal_code", F.parse_postal_code)
        r.take("address", F.parse_address)
        r.take("prefecture_code", _prefecture)
    elif ntype is T.acquisition:
        for column, parser in ACQUISITION_FIELDS:
            r.take(column, parser)
        acq, birth = r.values.get("acquisition_date"), r.values.get("birth_date")
        if acq and birth and acq < birth:
            r.fail("acquisition_date", ACQUISITION_BEFORE_BIRTH)
    elif ntype is T.loss:
        _take_numbers(r, branch_optional=True)
        r.take("loss_date", F.parse_date)
        r.take("loss_reason", _loss_reason)
    elif ntype is T.dependent:
        _take_numbers(r, branch_optional=False)
        change = r.take("change", _change)
        if change == "add":
            _take_identity(r)
        else:
            r.take("my_number", _my_number, optional=True)
        r.take("effective_date", F.parse_date)
        r.take("loss_reason", _loss_reason)
    elif ntype is T.name_change:
        _take_numbers(r, branch_optional=False)
        r.take("name", F.parse_name)
        r.take("name_kana", F.parse_kana)
        r.take("effective_date", F.parse_date)
    elif ntype is T.address_change:
        _take_numbers(r, branch_optional=False)
        r.take("postal_code", F.parse_postal_code)
        r.take("address", F.parse_address, optional=False)
        r.take("effective_date", F.parse_date)
    elif ntype is T.remuneration:
        _take_numbers(r, branch_optional=True)
        r.take("monthly_remuneration", F.parse_yen)
        r.take("effective_month", F.parse_month)
        r.values["reason"] = raw.get("reason", "").strip() or None
    elif ntype is T.limit_application:
        _take_numbers(r, branch_optional=True)
        r.take("application_date", F.parse_date)
        for flag in ("tax_exempt", "low_income_1", "income_exemption"):
            r.take(flag, F.parse_flag)
    return r

