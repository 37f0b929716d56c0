"""Intake of employer / 日本年金機構 notification files (届出ファイルの取込).

A file is read as a stream (UTF-8 with or without BOM, or Shift_JIS/CP932),
checked as a whole (encoding, header), then row by row.  Every row is either
applied, recognised as already applied (a re-import), or quarantined with
file, row, column, value and reason.  All of a file's outcomes are written in
the caller's one transaction, so a crash applies nothing.  Column layouts are
documented in docs/intake.md.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError

from onshi.config import get_settings
from onshi.privacy.crypto import vault
from onshi.registry import bulk
from onshi.registry import fields as F
from onshi.registry import service
from onshi.registry.models import (
    Employer,
    Insurer,
    IntakeFile,
    LimitCertificateVersion,
    NotificationType,
    Person,
    PersonVersion,
    Qualification,
    QualificationVersion,
    QuarantinedRow,
    RegistryChange,
    RemunerationVersion,
    Role,
)
from onshi.store.db import is_postgres, utcnow
from onshi.store.history import change_valid_period

T = NotificationType
CHUNK = 5000

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


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str


@dataclass
class IntakeReport:
    filename: str
    notification_type: NotificationType
    encoding: str = ""
    file_id: int | None = None
    received_at: datetime | None = None
    already_imported: bool = False
    rows_total: int = 0
    applied: int = 0
    duplicate: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    quarantine_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0


# ---------------------------------------------------------------- reading the file

def _decode(data: bytes) -> tuple[str, str]:
    if not data.strip():
        raise IntakeFileError("ファイルが空です (the file is empty)")
    if b"\x00" in data[:65536]:
        raise IntakeFileError("バイナリファイルです: CSV ではありません (binary data, not a CSV file)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise IntakeFileError(
            f"文字コードが UTF-8 でも Shift_JIS でもありません (byte {exc.start}: not UTF-8 or Shift_JIS)") from None


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


def _header_map(header: list[str], ntype: NotificationType) -> list[str]:
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


def sniff(path: Path) -> tuple[str, str]:
    """Check a file as a whole without holding it in memory: returns ``(encoding, sha256)``.

    UTF-8 (with or without BOM) is tried first, then CP932 (Shift_JIS); a file that is
    neither, empty, or binary raises :class:`IntakeFileError` and nothing is applied.
    """
    digest = hashlib.sha256()
    size, non_blank = 0, False
    candidates = {"utf-8-sig": codecs.getincrementaldecoder("utf-8-sig")(),
                  "cp932": codecs.getincrementaldecoder("cp932")()}
    failed: dict[str, int] = {}
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if size == 0 and b"\x00" in chunk[:65536]:
                raise IntakeFileError("バイナリファイルです: CSV ではありません (binary data, not a CSV file)")
            digest.update(chunk)
            non_blank = non_blank or bool(chunk.strip())
            for name, dec in candidates.items():
                if name in failed:
                    continue
                try:
                    dec.decode(chunk)
                except UnicodeDecodeError as exc:
                    failed[name] = size + exc.start
            size += len(chunk)
            if len(failed) == len(candidates):
                break
    if not non_blank:
        raise IntakeFileError("ファイルが空です (the file is empty)")
    for name, dec in candidates.items():
        if name not in failed:
            try:
                dec.decode(b"", final=True)
            except UnicodeDecodeError:
                failed[name] = size
                continue
            return ("utf-8" if name == "utf-8-sig" else "cp932"), digest.hexdigest()
    raise IntakeFileError(f"文字コードが UTF-8 でも Shift_JIS でもありません (byte {failed.get('utf-8-sig', 0)}: "
                          "not UTF-8 or Shift_JIS)")


def _rows_from(reader, ntype: NotificationType) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise IntakeFileError(f"ヘッダー行が読めません (cannot read the header: {exc})") from None
    names = _header_map(header, ntype)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for line_no, values in enumerate(reader, start=2):
            if (record := _record(line_no, values, names)) is not None:
                yield record

    return rows()


def _record(line_no: int, values: list[str], names: list[str]) -> tuple[int, dict[str, str]] | None:
    """A record as a row: ``(row_number, {column: value})``, a wrong shape marked, None for a blank line."""
    if not any(v.strip() for v in values):
        return None
    if len(values) != len(names):
        return line_no, {"__shape__": f"{len(values)} 個の値 (expected {len(names)} values)"}
    return line_no, dict(zip(names, values))


def read_rows(data: bytes, ntype: NotificationType) -> tuple[str, Iterator[tuple[int, dict[str, str]]]]:
    """Rows of a small in-memory file: ``(row_number, {column: value})``; row 1 is the header."""
    text, encoding = _decode(data)
    return encoding, _rows_from(csv.reader(io.StringIO(text, newline="")), ntype)


# ---------------------------------------------------------------- validating a row (pure)

def _shown(column: str, value: str) -> str:
    return "(非表示)" if column in SECRET_COLUMNS and value else value


class _Row:
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
        ok, parsed = _parse(column, parser, value)
        if not ok:
            self.errors.append((column, _shown(column, value), parsed))
            return None
        self.values[column] = parsed
        return parsed

    def fail(self, column: str, reason: str) -> None:
        self.errors.append((column, _shown(column, self.raw.get(column, "")), reason))


# Parsed values by (parser, column, raw value).  Every parser is a pure function of its value, so a cached answer is
# exactly the answer: a file repeats its 保険者番号, 記号, dates, addresses and flags thousands of times.  Columns that
# differ on every row are not cached; the cache is emptied when full, so memory stays bounded whatever the file.
_UNCACHED = frozenset({"my_number", "number"})
_PARSE_CACHE: dict[tuple[Callable[[str], Any], str, str], tuple[bool, Any]] = {}
_PARSE_CACHE_MAX = 200_000


def _parse(column: str, parser: Callable[[str], Any], value: str) -> tuple[bool, Any]:
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


def _take_numbers(r: _Row, branch_optional: bool) -> None:
    r.take("insurer_number", _insurer_number)
    r.take("employer_symbol", _symbol)
    r.take("number", _number)
    r.take("branch", _branch, optional=branch_optional)


def _take_identity(r: _Row) -> None:
    r.take("my_number", _my_number)
    r.take("name", F.parse_name)
    r.take("name_kana", F.parse_kana)
    r.take("birth_date", F.parse_date)
    r.take("sex", F.parse_sex)
    r.take("postal_code", F.parse_postal_code)
    r.take("address", F.parse_address)


# A 資格取得届 row's columns and their parsers, in the order they are checked (shared with the reading process's
# fast path, onshi.registry.intake_worker, so both accept exactly the same values).
ACQUISITION_FIELDS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    ("insurer_number", _insurer_number), ("employer_symbol", _symbol), ("number", _number), ("branch", _branch),
    ("my_number", _my_number), ("name", F.parse_name), ("name_kana", F.parse_kana), ("birth_date", F.parse_date),
    ("sex", F.parse_sex), ("postal_code", F.parse_postal_code), ("address", F.parse_address),
    ("acquisition_date", F.parse_date), ("monthly_remuneration", F.parse_yen),
    ("card_classification", _card_class), ("voluntary_continuation", F.parse_flag))
ACQUISITION_BEFORE_BIRTH = "資格取得日が生年月日より前です (acquisition before birth)"


def validate_row(ntype: NotificationType, raw: dict[str, str]) -> _Row:
    """Field-level checks that need no database."""
    r = _Row(raw)
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


def row_hash(ntype: NotificationType, values: dict[str, Any], *, my_number_hash: str | None = None) -> str:
    """Identity of an applied row: same type and same normalised values = same filing.

    The My Number enters as its keyed hash (*my_number_hash* when the caller has it already)."""
    def secret(v: str) -> str:
        return my_number_hash if my_number_hash is not None else vault().lookup_hash(v)

    canon = {k: (secret(v) if k in SECRET_COLUMNS and v else v) for k, v in sorted(values.items())}
    blob = json.dumps([ntype.value, canon], default=str, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _derived_hash(row_hash_: str, qualification_id: int) -> str:
    """The row hash of a change a row makes besides its own (a dependent's loss with the member's): a digest too."""
    return hashlib.sha256(f"{row_hash_}:{qualification_id}".encode()).hexdigest()


# ---------------------------------------------------------------- applying (database)

@dataclass
class _Context:
    session: Session
    file_id: int | None
    received_at: datetime
    now: datetime
    actor: str
    insurers: dict[str, Insurer | None] = field(default_factory=dict)
    employers: dict[tuple[int, str], Employer | None] = field(default_factory=dict)

    def insurer(self, number: str) -> Insurer | None:
        if number not in self.insurers:
            self.insurers[number] = service.get_insurer(self.session, number=number)
        return self.insurers[number]

    def employer(self, insurer_id: int, symbol: str) -> Employer | None:
        key = (insurer_id, symbol)
        if key not in self.employers:
            self.employers[key] = service.get_employer(self.session, insurer_id=insurer_id, symbol=symbol)
        return self.employers[key]

    def load_employers(self, keys) -> None:
        """Fill the employer cache for many (保険者番号, 記号) at once: one query per insurer and 500 symbols."""
        wanted: dict[int, set[str]] = {}
        for number, symbol in keys:
            insurer = self.insurer(number) if number else None
            if insurer is not None and symbol is not None and (insurer.id, symbol) not in self.employers:
                wanted.setdefault(insurer.id, set()).add(symbol)
        for insurer_id, symbols in wanted.items():
            todo = sorted(symbols)
            for i in range(0, len(todo), 500):
                part = todo[i:i + 500]
                found = {e.symbol: e for e in self.session.scalars(select(Employer).where(
                    Employer.insurer_id == insurer_id, Employer.symbol.in_(part)))}
                for symbol in part:
                    self.employers[(insurer_id, symbol)] = found.get(symbol)

    def change(self, *, kind: NotificationType, insurer_id: int, rhash: str, row_number: int | None,
               effective: date | None, person_id=None, qualification_id=None, employer_id=None,
               note: str | None = None) -> RegistryChange:
        ch = RegistryChange(insurer_id=insurer_id, kind=kind, row_hash=rhash, file_id=self.file_id,
                            row_number=row_number, employer_id=employer_id, person_id=person_id,
                            qualification_id=qualification_id, effective_date=effective,
                            received_at=self.received_at, recorded_at=self.now, note=note)
        self.session.add(ch)
        self.session.flush()
        return ch


@dataclass
class _Outcome:
    row_number: int
    status: str  # applied | duplicate | rejected
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    change_id: int | None = None


def _resolve_insurer_employer(ctx: _Context, r: _Row, need_employer: bool = True):
    insurer = ctx.insurer(r.values["insurer_number"])
    if insurer is None:
        r.fail("insurer_number", "この保険者番号は onshi に登録されていません (unknown insurer; `onshi insurer add`)")
        return None, None
    if not need_employer:
        return insurer, None
    employer = ctx.employer(insurer.id, r.values["employer_symbol"])
    if employer is None:
        r.fail("employer_symbol", "この記号の事業所は登録されていません (unknown employer symbol; file an employer "
                                  "notification first)")
    return insurer, employer


def _find_target(ctx: _Context, r: _Row, insurer: Insurer, *, default_branch: str | None = "00",
                 on: date | None = None) -> QualificationVersion | None:
    branch = r.values.get("branch") or default_branch
    qv = service.current_by_numbers(ctx.session, insurer_id=insurer.id, symbol=r.values["employer_symbol"],
                                    number=r.values["number"], branch=branch)
    if qv is None:
        r.fail("number", f"記号・番号・枝番 {r.values['employer_symbol']}・{r.values['number']}・{branch} の資格が"
                         "ありません (no qualification with these numbers)")
    return qv


def prepare_acquisition(r: _Row) -> None:
    """The CPU-only part of a valid 資格取得届 row (no database): My Number hash and encryption, the row hash.

    Done while the previous chunk is being stored (see :func:`_import_rows`)."""
    v = vault()
    mn = r.values.get("my_number")
    r.my_number_hash = v.lookup_hash(mn) if mn else None
    r.my_number_enc = v.encrypt(mn) if mn else None
    r.row_hash = row_hash(T.acquisition, r.values, my_number_hash=r.my_number_hash)


def _acquisition_candidate(ctx: _Context, n: int, r: _Row) -> bulk.Candidate | None:
    """Insurer, employer and age checks of a valid 資格取得届 row; the row ready to stage, or None (``r`` failed)."""
    from onshi.rules.age import age_on

    if r.row_hash is None:
        prepare_acquisition(r)
    insurer, employer = _resolve_insurer_employer(ctx, r)
    vals = r.values
    if insurer and age_on(vals["birth_date"], vals["acquisition_date"]) >= 75:
        r.fail("birth_date", "資格取得日に75歳以上です: 後期高齢者医療の対象 (75 or older on acquisition)")
    if r.errors:
        return None
    return bulk.Candidate(
        n, r.my_number_hash, r.my_number_enc, r.row_hash, insurer.id, employer.id, vals["employer_symbol"],
        vals["number"], vals["branch"], vals["name"], vals["name_kana"], vals["birth_date"], vals["sex"],
        vals["postal_code"], vals["address"], vals["acquisition_date"], vals["monthly_remuneration"],
        vals.get("card_classification") or "01", bool(vals.get("voluntary_continuation")))


def _decide_acquisitions(items, known: bulk.Known) -> tuple[dict[int, _Outcome], list[bulk.Accepted]]:
    """The checks against the database and the rest of the chunk, in file order.

    *items* are ``(row, _Row)`` where ``row`` has row_number, row_hash, my_number_hash, insurer_id, symbol, number,
    branch and acquisition_date.  Returns the outcomes of rows not accepted, and the accepted rows."""
    outcomes: dict[int, _Outcome] = {}
    accepted: list[bulk.Accepted] = []
    seen_hash: set[str] = set()
    chunk_open: set[tuple[str, int]] = set()
    first_row_of: dict[str, int] = {}  # My Number hash -> the row creating that person in this chunk
    for c, r in items:
        n = c.row_number
        if c.row_hash in known.duplicates or c.row_hash in seen_hash:
            outcomes[n] = _Outcome(n, "duplicate")
            continue
        key = (c.insurer_id, c.symbol, c.number, c.branch)
        if key in known.in_use:
            r.fail("number", "この記号・番号・枝番は別の加入者が使用中です (numbers already in use)")
        h = c.my_number_hash
        pid = known.person_by_hash.get(h) if h else None
        if h:
            if pid and any(loss is None or loss > c.acquisition_date
                           for loss in known.losses.get((pid, c.insurer_id), ())):
                r.fail("my_number", "同じ保険者で喪失していない資格があります (this person already has an open "
                                    "qualification with this insurer)")
            if (h, c.insurer_id) in chunk_open:
                r.fail("my_number", "同じファイル内で同じ人が二度取得しています (same person twice in this file)")
        if r.errors:
            outcomes[n] = _Outcome(n, "rejected", r.errors)
            continue
        seen_hash.add(c.row_hash)
        known.in_use.add(key)
        a = bulk.Accepted(n, person_id=pid, candidate=c if isinstance(c, bulk.Candidate) else None)
        if h:
            chunk_open.add((h, c.insurer_id))
            if pid is None:  # new to onshi: one person row even when the file enrols them with two insurers
                if h in first_row_of:
                    a.same_person_as = first_row_of[h]
                else:
                    first_row_of[h] = n
        accepted.append(a)
    return outcomes, accepted


def _store_staged(ctx: _Context, row_for: Callable[[bulk.Exceptional], _Row], *,
                  change_ids: bool = True) -> tuple[dict[int, _Outcome], int]:
    """PostgreSQL: decide the staged chunk's exceptional rows (*row_for* gives their parsed row), store the rest.

    Returns the outcomes (of every staged row; with ``change_ids=False`` of the rows not stored only) and how many
    rows were stored."""
    session = ctx.session
    ex = bulk.exceptional(session)
    persons = {e.my_number_hash: e.person_id for e in ex if e.person_id is not None}
    known = bulk.Known(duplicates={e.row_hash for e in ex if e.duplicate}, person_by_hash=persons,
                       losses=bulk.open_loss_dates(session, persons.values()),
                       in_use={(e.insurer_id, e.symbol, e.number, e.branch) for e in ex if e.in_use})
    outcomes, accepted = _decide_acquisitions([(e, row_for(e)) for e in ex], known)
    stored = bulk.store_staged(
        session, drop=list(outcomes), known=[(a.row_number, a.person_id) for a in accepted if a.person_id],
        same=[(a.row_number, a.same_person_as) for a in accepted if a.same_person_as],
        file_id=ctx.file_id, received_at=ctx.received_at, now=ctx.now,
        set_based_references=get_settings().intake_set_based_references, change_ids=change_ids)
    if not change_ids:
        return outcomes, stored
    for n, chid in stored.items():
        outcomes[n] = _Outcome(n, "applied", change_id=chid)
    return outcomes, len(stored)


def _apply_acquisitions(ctx: _Context, rows: list[tuple[int, _Row]]) -> list[_Outcome]:
    """Bulk path for 資格取得届: set-based checks against the database, then one bulk store of every new row."""
    session = ctx.session
    outcomes: dict[int, _Outcome] = {}
    ctx.load_employers((r.values["insurer_number"], r.values["employer_symbol"]) for _, r in rows)
    candidates: list[bulk.Candidate] = []
    row_of: dict[int, _Row] = {}
    for n, r in rows:
        c = _acquisition_candidate(ctx, n, r)
        if c is None:
            outcomes[n] = _Outcome(n, "rejected", r.errors)
        else:
            candidates.append(c)
            row_of[n] = r
    session.flush()
    if candidates and is_postgres(session):
        bulk.stage(session, candidates)
        outcomes.update(_store_staged(ctx, lambda e: row_of[e.row_number])[0])
    elif candidates:
        decided, accepted = _decide_acquisitions([(c, row_of[c.row_number]) for c in candidates],
                                                 bulk.look_up(session, candidates))
        outcomes.update(decided)
        changes = bulk.store(session, accepted, file_id=ctx.file_id, received_at=ctx.received_at, now=ctx.now)
        for n, chid in changes.items():
            outcomes[n] = _Outcome(n, "applied", change_id=chid)
    return [outcomes[n] for n, _ in rows]


def _apply_one(ctx: _Context, ntype: NotificationType, n: int, r: _Row) -> _Outcome:
    """The per-row path for every notification other than 資格取得届."""
    session, vals, now = ctx.session, r.values, ctx.now
    h = row_hash(ntype, vals)
    if session.scalar(select(RegistryChange.id).where(RegistryChange.row_hash == h)):
        return _Outcome(n, "duplicate")

    if ntype is T.employer:
        insurer, _ = _resolve_insurer_employer(ctx, r, need_employer=False)
        if insurer and ctx.employer(insurer.id, vals["employer_symbol"]):
            r.fail("employer_symbol", "この記号の事業所は登録済みです (employer symbol already registered)")
        if r.errors:
            return _Outcome(n, "rejected", r.errors)
        emp = Employer(insurer_id=insurer.id, symbol=vals["employer_symbol"], name=vals["employer_name"],
                       postal_code=vals["postal_code"], address=vals["address"],
                       prefecture_code=vals["prefecture_code"])
        session.add(emp)
        session.flush()
        ctx.employers[(insurer.id, emp.symbol)] = emp
        ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=h, row_number=n, effective=None, employer_id=emp.id)
        return _Outcome(n, "applied", change_id=ch.id)

    insurer, employer = _resolve_insurer_employer(ctx, r)
    if r.errors:
        return _Outcome(n, "rejected", r.errors)

    if ntype is T.loss:
        qv = _find_target(ctx, r, insurer)
        if qv is None:
            return _Outcome(n, "rejected", r.errors)
        loss = vals["loss_date"]
        if loss <= qv.acquisition_date:
            r.fail("loss_date", f"喪失日が取得日 {qv.acquisition_date:%Y-%m-%d} 以前です (loss must be after "
                                "acquisition)")
            return _Outcome(n, "rejected", r.errors)
        reason = vals.get("loss_reason") or "99"
        if qv.loss_date == loss and qv.loss_reason == reason:
            return _Outcome(n, "duplicate")
        ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=h, row_number=n, effective=loss,
                        person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id,
                        note="correction" if qv.loss_date else None)
        service.supersede_qualification(session, qv, now=now, change_id=ch.id, loss_date=loss, loss_reason=reason)
        if qv.role == Role.insured:  # 被扶養者 lose their status with the member
            for dep in service.dependents_of(session, qv.qualification_id):
                if dep.loss_date is None or dep.loss_date > loss:
                    dep_ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=_derived_hash(h, dep.qualification_id),
                                        row_number=n, effective=loss, person_id=dep.person_id,
                                        qualification_id=dep.qualification_id, employer_id=employer.id,
                                        note="dependent follows member")
                    service.supersede_qualification(session, dep, now=now, change_id=dep_ch.id, loss_date=loss,
                                                    loss_reason="99")
        return _Outcome(n, "applied", change_id=ch.id)

    if ntype is T.dependent:
        eff = vals["effective_date"]
        if vals["change"] == "remove":
            qv = _find_target(ctx, r, insurer, default_branch=None)
            if qv is None:
                return _Outcome(n, "rejected", r.errors)
            if qv.role != Role.dependent:
                r.fail("branch", "この枝番は被扶養者ではありません (these numbers are not a dependent)")
            elif eff <= qv.acquisition_date:
                r.fail("effective_date", "削除日が認定日以前です (removal must be after the dependent's start)")
            if r.errors:
                return _Outcome(n, "rejected", r.errors)
            ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                            person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id)
            service.supersede_qualification(session, qv, now=now, change_id=ch.id, loss_date=eff,
                                            loss_reason=vals.get("loss_reason") or "99")
            return _Outcome(n, "applied", change_id=ch.id)
        member = service.current_by_numbers(session, insurer_id=insurer.id, symbol=vals["employer_symbol"],
                                            number=vals["number"], branch="00")
        member = member or next((q for q in service.qualification_versions(
            session, insurer_id=insurer.id, numbers=(vals["employer_symbol"], vals["number"], None))
            if q.role == Role.insured), None)
        if member is None or member.role != Role.insured:
            r.fail("number", "被保険者(本人)が見つかりません (the member of this dependent is unknown)")
            return _Outcome(n, "rejected", r.errors)
        if member.acquisition_date > eff or (member.loss_date and member.loss_date <= eff):
            r.fail("effective_date", "その日に本人の資格がありません (the member is not insured on that date)")
        if service.current_by_numbers(session, insurer_id=insurer.id, symbol=vals["employer_symbol"],
                                      number=vals["number"], branch=vals["branch"]) is not None:
            r.fail("branch", "この枝番は使用済みです (branch number already used)")
        person = service.find_person_by_my_number(session, vals["my_number"]) if vals.get("my_number") else None
        if person and service.open_qualification_for(session, person_id=person.id, insurer_id=insurer.id, on=eff):
            r.fail("my_number", "同じ保険者で喪失していない資格があります (this person already has an open "
                                "qualification with this insurer)")
        if r.errors:
            return _Outcome(n, "rejected", r.errors)
        ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                        employer_id=employer.id)
        if person is None:
            v = vault()
            person = Person(my_number_hash=v.lookup_hash(vals["my_number"]) if vals.get("my_number") else None,
                            my_number_enc=v.encrypt(vals["my_number"]) if vals.get("my_number") else None)
            session.add(person)
            session.flush()
            session.add(PersonVersion(person_id=person.id, valid_from=vals["birth_date"], recorded_at=now,
                                      name=vals["name"], name_kana=vals["name_kana"], birth_date=vals["birth_date"],
                                      sex=vals["sex"], postal_code=vals["postal_code"], address=vals["address"],
                                      change_id=ch.id))
        q = Qualification(person_id=person.id, insurer_id=insurer.id)
        session.add(q)
        session.flush()
        session.add(QualificationVersion(
            qualification_id=q.id, recorded_at=now, person_id=person.id, insurer_id=insurer.id,
            employer_id=employer.id, role=Role.dependent, member_qualification_id=member.qualification_id,
            symbol=vals["employer_symbol"], number=vals["number"], branch=vals["branch"],
            card_classification=member.card_classification, acquisition_date=eff, change_id=ch.id))
        ch.person_id, ch.qualification_id = person.id, q.id
        return _Outcome(n, "applied", change_id=ch.id)

    # the remaining notifications change one qualification's person or member data
    qv = _find_target(ctx, r, insurer)
    if qv is None:
        return _Outcome(n, "rejected", r.errors)
    if ntype in (T.name_change, T.address_change):
        values = ({"name": vals["name"], "name_kana": vals["name_kana"]} if ntype is T.name_change
                  else {"postal_code": vals["postal_code"], "address": vals["address"]})
        eff = vals["effective_date"]
        ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                        person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id)
        if change_valid_period(session, PersonVersion, key={"person_id": qv.person_id}, effective_from=eff,
                               values=values, now=now, change_id=ch.id) is None:
            session.delete(ch)
            session.flush()
            return _Outcome(n, "duplicate")
        return _Outcome(n, "applied", change_id=ch.id)
    if qv.role != Role.insured:
        r.fail("branch", "被保険者(本人)の番号を指定してください (must name the insured member)")
        return _Outcome(n, "rejected", r.errors)
    if ntype is T.remuneration:
        eff = vals["effective_month"]
        if qv.loss_date and eff >= qv.loss_date:
            r.fail("effective_month", "資格喪失後の月です (month after the loss of qualification)")
            return _Outcome(n, "rejected", r.errors)
        eff = max(eff, qv.acquisition_date)
        ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                        person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id,
                        note=vals.get("reason"))
        if change_valid_period(session, RemunerationVersion, key={"qualification_id": qv.qualification_id},
                               effective_from=eff, values={"monthly_amount": vals["monthly_remuneration"]},
                               now=now, change_id=ch.id) is None:
            session.delete(ch)
            session.flush()
            return _Outcome(n, "duplicate")
        return _Outcome(n, "applied", change_id=ch.id)
    if ntype is T.limit_application:
        from onshi.rules.co_pay import elderly_start
        from onshi.rules.limit_category import limit_category

        day = vals["application_date"]
        if day < qv.acquisition_date or (qv.loss_date and day >= qv.loss_date):
            r.fail("application_date", "その日に資格がありません (not insured on the application date)")
            return _Outcome(n, "rejected", r.errors)
        pv = service.person_on(session, qv.person_id)
        remuneration = service.remuneration_on(session, qv.qualification_id, day) or 0
        # 70歳以上の区分 from the day the person is 高齢受給者 (the 1st of the month after reaching 70, the birthday
        # when it is the 1st) — the co-pay rule's day, not the legal age, which is 70 from the day before the birthday
        code = limit_category(on=day, age_70_plus=day >= elderly_start(pv.birth_date, qv.acquisition_date),
                              monthly_remuneration=remuneration, tax_exempt=bool(vals.get("tax_exempt")),
                              low_income_1=bool(vals.get("low_income_1")))
        start = day.replace(day=1)
        end = date(start.year + (1 if start.month >= 8 else 0), 8, 1)  # valid until 31 July
        ch = ctx.change(kind=ntype, insurer_id=insurer.id, rhash=h, row_number=n, effective=start,
                        person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id)
        for old in session.scalars(select(LimitCertificateVersion).where(
                LimitCertificateVersion.qualification_id == qv.qualification_id,
                LimitCertificateVersion.superseded_at.is_(None), LimitCertificateVersion.valid_from == start)):
            old.superseded_at = now
        session.add(LimitCertificateVersion(
            qualification_id=qv.qualification_id, valid_from=start, valid_to=end, recorded_at=now,
            classification="02" if vals.get("tax_exempt") else "01", category_code=code, certificate_date=day,
            tax_exempt=bool(vals.get("tax_exempt")), income_exemption=bool(vals.get("income_exemption")),
            change_id=ch.id))
        return _Outcome(n, "applied", change_id=ch.id)
    raise AssertionError(ntype)


def _apply_chunk(ctx: _Context, ntype: NotificationType, chunk: list[tuple[int, _Row]]) -> list[_Outcome]:
    valid = [(n, r) for n, r in chunk if not r.errors]
    outcomes = {n: _Outcome(n, "rejected", r.errors) for n, r in chunk if r.errors}
    if ntype is T.acquisition:
        for o in _apply_acquisitions(ctx, valid):
            outcomes[o.row_number] = o
    else:
        for n, r in valid:  # every check in _apply_one runs before its first write
            outcomes[n] = _apply_one(ctx, ntype, n, r)
    return [outcomes[n] for n, _ in chunk]


# ---------------------------------------------------------------- the use cases

def import_file(session: Session, path: Path | str, ntype: NotificationType | str, *,
                received_at: datetime | None = None, actor: str = "cli", insurer: str | None = None,
                progress: Callable[[int], None] | None = None) -> IntakeReport:
    """Import one notification file.  Raises :class:`IntakeFileError` for a file that cannot be read at all.

    The file is recorded with the insurer it was filed for (``IntakeFile.insurer_id``): *insurer* (保険者番号)
    when the caller knows it — a row naming another insurer is then rejected — else the one insurer every row
    names; a file whose rows name several insurers (or none that is registered) is recorded without one.
    """
    path = Path(path)
    ntype = NotificationType(ntype)
    report = IntakeReport(filename=path.name, notification_type=ntype)
    filed_for = None
    if insurer is not None:
        filed_for = service.get_insurer(session, number=insurer)
        if filed_for is None:
            raise IntakeFileError(f"保険者番号 {insurer} は onshi に登録されていません (unknown insurer)")
    encoding, digest = sniff(path)
    report.encoding = encoding
    if (ntype is T.acquisition and is_postgres(session)
            and path.stat().st_size >= get_settings().intake_parallel_min_bytes):
        return _import_rows(session, path, ntype, report, digest, None, received_at=received_at, actor=actor,
                            progress=progress, filed_for=filed_for)
    fh = path.open("r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="")
    try:
        return _import_rows(session, path, ntype, report, digest, _rows_from(csv.reader(fh), ntype),
                            received_at=received_at, actor=actor, progress=progress, filed_for=filed_for)
    finally:
        fh.close()


def _import_in_parallel(ctx: _Context, path: Path, report: IntakeReport, filed_for: Insurer | None,
                        store, account) -> set[str]:
    """Stream the worker's staged chunks into PostgreSQL and decide what needs deciding; returns the insurers named.

    *store* and *account* are :func:`_import_rows`'s: the rows the worker sends back as read go through the same
    path as a small file's rows."""
    from onshi.registry import intake_worker

    session, v = ctx.session, vault()
    job = {"path": str(path), "encoding": report.encoding, "filed_for": filed_for.number if filed_for else None,
           "enc_key": v.enc_key, "hash_key": v.hash_key, "chunk": intake_worker.CHUNK,
           "database_url": session.get_bind().url.render_as_string(hide_password=False)}
    worker = intake_worker.Worker(job)
    names: list[str] = []
    try:
        while True:
            message = worker.recv()
            kind = message[0]
            if kind == "file-error":
                raise IntakeFileError(message[1])
            if kind == "error":
                raise RuntimeError(f"the intake reader process failed:\n{message[1]}")
            if kind == "done":
                return message[1]
            if kind == "names":
                names = message[1]
                continue
            _, payload, others, _count, staged = message
            results: list[tuple[_Outcome, int | None]] = []
            applied = 0
            if payload:
                session.flush()
                bulk.stage(session, payload=[payload])
                raw_of: dict[int, dict[str, str]] = {}
                rebuilt: dict[int, _Row] = {}

                def row_for(e: bulk.Exceptional) -> _Row:
                    if not raw_of:  # only a chunk with rows to decide needs its raw rows
                        raw_of.update(intake_worker.raw_rows(names, staged))
                    rebuilt[e.row_number] = validate_row(T.acquisition, raw_of[e.row_number])
                    return rebuilt[e.row_number]

                # the rows stored are only counted: a million applied rows need no outcome each
                not_stored, applied = _store_staged(ctx, row_for, change_ids=False)
                for o in not_stored.values():
                    qid = None
                    if o.status == "rejected":
                        qid = _quarantine(ctx, T.acquisition, o, rebuilt[o.row_number].raw)
                    results.append((o, qid))
            if others:
                checked = []
                for n, raw in others:
                    row = validate_row(T.acquisition, raw)
                    _check_filed_for(row, filed_for)
                    checked.append((n, row))
                results += store(checked)
            results.sort(key=lambda item: item[0].row_number)
            account(results, applied)
    finally:
        worker.stop()


def _check_filed_for(row: _Row, filed_for: Insurer | None) -> str | None:
    """Fail a row naming another insurer than the one the file was filed for; returns the 保険者番号 it names."""
    number = row.values.get("insurer_number")
    if number and filed_for is not None and number != filed_for.number:
        row.fail("insurer_number", f"保険者 {filed_for.number} の届出ファイルに他の保険者の行があります "
                                   f"(this file was filed for insurer {filed_for.number})")
    return number


def _quarantine(ctx: _Context, ntype: NotificationType, o: _Outcome, raw: dict[str, str]) -> int:
    q = QuarantinedRow(file_id=ctx.file_id, row_number=o.row_number, notification_type=ntype,
                       errors=[{"column": c, "value": val, "reason": why} for c, val, why in o.errors],
                       raw_sealed=vault().seal(json.dumps(raw, ensure_ascii=False).encode()))
    ctx.session.add(q)
    ctx.session.flush()
    return q.id


def _import_rows(session: Session, path: Path, ntype: NotificationType, report: IntakeReport, digest: str, rows,
                 *, received_at: datetime | None, actor: str, progress, filed_for: Insurer | None = None
                 ) -> IntakeReport:
    encoding = report.encoding
    existing = session.scalar(select(IntakeFile).where(IntakeFile.sha256 == digest))
    if existing is not None:
        report.already_imported = True
        report.file_id = existing.id
        report.received_at = existing.received_at
        report.rows_total = existing.rows_total
        report.duplicate = existing.rows_total
        return report
    now = utcnow()
    received_at = received_at or now
    f = IntakeFile(sha256=digest, filename=path.name, notification_type=ntype, encoding=encoding,
                   received_at=received_at, imported_at=now, imported_by=actor)
    session.add(f)
    session.flush()
    report.file_id, report.received_at = f.id, received_at
    ctx = _Context(session=session, file_id=f.id, received_at=received_at, now=now, actor=actor)

    def store(chunk: list[tuple[int, _Row]]) -> list[tuple[_Outcome, int | None]]:
        """The database part of a chunk: apply it, quarantine its rejected rows."""
        raw_of = {n: r.raw for n, r in chunk}
        out = []
        for o in _apply_chunk(ctx, ntype, chunk):
            out.append((o, _quarantine(ctx, ntype, o, raw_of[o.row_number]) if o.status == "rejected" else None))
        return out

    def account(results: list[tuple[_Outcome, int | None]], applied: int = 0) -> None:
        """Count a chunk's outcomes into the report, and *applied* rows stored without an outcome each."""
        report.rows_total += applied
        report.applied += applied
        for o, qid in results:
            report.rows_total += 1
            if o.status == "applied":
                report.applied += 1
            elif o.status == "duplicate":
                report.duplicate += 1
            else:
                report.rejected += 1
                report.quarantine_ids.append(qid)
                report.errors.extend(RowError(o.row_number, c, val, why) for c, val, why in o.errors)
        if progress:
            progress(len(results) + applied)

    chunk: list[tuple[int, _Row]] = []
    named: set[str] = set()  # the insurer numbers the rows name
    if rows is None:  # a large 資格取得届 on PostgreSQL: a second process reads (onshi.registry.intake_worker)
        named = _import_in_parallel(ctx, path, report, filed_for, store, account)
        rows = ()
    for n, raw in rows:
        row = validate_row(ntype, raw)
        if number := _check_filed_for(row, filed_for):
            named.add(number)
        chunk.append((n, row))
        if len(chunk) >= CHUNK:
            account(store(chunk))
            chunk = []
    if chunk:
        account(store(chunk))
    bulk.restore_jit(session)  # the import's `jit = off` ends with it, not with the caller's transaction
    if report.rows_total == 0:
        raise IntakeFileError("データ行がありません (the file has a header but no rows)")
    if filed_for is not None:
        f.insurer_id = filed_for.id
    elif len(named) == 1:
        only = ctx.insurer(next(iter(named)))
        f.insurer_id = only.id if only is not None else None
    f.rows_total, f.rows_applied = report.rows_total, report.applied
    f.rows_duplicate, f.rows_rejected = report.duplicate, report.rejected
    return report


def open_quarantine(session: Session, *, file_id: int | None = None) -> list[QuarantinedRow]:
    q = select(QuarantinedRow).where(QuarantinedRow.status == "open")
    if file_id is not None:
        q = q.where(QuarantinedRow.file_id == file_id)
    return list(session.scalars(q.order_by(QuarantinedRow.file_id, QuarantinedRow.row_number)))


def quarantined_values(row: QuarantinedRow, *, reveal_secrets: bool = False) -> dict[str, str]:
    """The rejected row's values for a correction form; My Number masked unless asked for."""
    raw = json.loads(vault().unseal(row.raw_sealed))
    if not reveal_secrets:
        raw = {k: _shown(k, v) for k, v in raw.items()}
    return raw


def resubmit(session: Session, quarantine_id: int, corrections: dict[str, str], *, actor: str) -> IntakeReport:
    """Correct a quarantined row and apply it.  The 5-day clock keeps the original file's receipt time."""
    row = session.get(QuarantinedRow, quarantine_id)
    if row is None or row.status != "open":
        raise ValueError(f"quarantined row {quarantine_id} is not open")
    f = session.get(IntakeFile, row.file_id)
    raw = json.loads(vault().unseal(row.raw_sealed))
    layout = LAYOUTS[row.notification_type]
    unknown = [c for c in corrections if c not in layout]
    if unknown:
        raise ValueError(f"unknown column(s) for {row.notification_type.value}: {', '.join(unknown)}")
    if "__shape__" in raw:
        raw = {c: "" for c in layout}
    raw.update(corrections)
    report = IntakeReport(filename=f.filename, notification_type=row.notification_type, encoding=f.encoding,
                          file_id=f.id, received_at=f.received_at)
    ctx = _Context(session=session, file_id=f.id, received_at=f.received_at, now=utcnow(), actor=actor)
    [o] = _apply_chunk(ctx, row.notification_type, [(row.row_number, validate_row(row.notification_type, raw))])
    report.rows_total = 1
    v = vault()
    if o.status == "rejected":
        report.rejected = 1
        report.errors = [RowError(row.row_number, c, val, why) for c, val, why in o.errors]
        row.errors = [{"column": c, "value": val, "reason": why} for c, val, why in o.errors]
        row.raw_sealed = v.seal(json.dumps(raw, ensure_ascii=False).encode())
        return report
    report.applied = int(o.status == "applied")
    report.duplicate = int(o.status == "duplicate")
    row.status, row.resolved_at, row.resolved_by, row.resolved_change_id = "resolved", ctx.now, actor, o.change_id
    f.rows_applied += report.applied
    f.rows_rejected -= 1
    return report


def withdraw(session: Session, quarantine_id: int, *, actor: str) -> None:
    """Close a quarantined row that will not be applied (e.g. the employer withdrew the filing)."""
    row = session.get(QuarantinedRow, quarantine_id)
    if row is None or row.status != "open":
        raise ValueError(f"quarantined row {quarantine_id} is not open")
    row.status, row.resolved_at, row.resolved_by = "withdrawn", utcnow(), actor
