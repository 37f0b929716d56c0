"""Importing a claim file (レセプトデータの取込): one CSV row per claim line, the claim's columns repeated on each
of its lines (layout: docs/claims.md; example: docs/examples/claims.csv).

The file is decoded **line by line** (UTF-8 with or without BOM, or CP932/Shift_JIS — whichever most of its lines
are): a line with a broken byte is quarantined with the byte's position, the others are read.  Rows are grouped
into claims by (医療機関コード, 診療年月, レセプト番号); a claim is applied whole or not at all — when any of its rows
is bad, every row of it is quarantined (the bad ones with their reasons, the others pointing at them).  Reasons, in
Japanese with the English beside: unknown insurer or numbers, numbers matching two people, a month of the
institution already imported from another file, a claim number already imported with other content, a drug code
with no entry in the drug master, a negative or unreadable quantity, a broken byte.

The same file twice changes nothing (its SHA-256 is recorded); a claim already imported with the same content is
counted as a duplicate.  Everything is written in the caller's one transaction; claims and lines go in with
:func:`onshi.store.db.bulk_insert` (PostgreSQL ``COPY``).

Long: the file's use case is one pass — decode, parse (:class:`RowParser`, whose per-claim cache is what makes a
million lines affordable), group, decide per claim, write — and its decisions share the file's state (the people,
the master, the months already imported); cutting it into modules would pass that state around for no reader's
benefit.  The drug master's loader sits at the end.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError

from onshi.numbers.messages import RowError  # noqa: F401 - the one class of every intake, re-exported
from onshi.claims.models import Claim, ClaimFile, ClaimLine, DrugMasterEntry, QuarantinedClaimRow
from onshi.numbers import institution_code as inst_code
from onshi.numbers import insured_card, insurer_number as ins_number
from onshi.privacy.crypto import vault
from onshi.registry import service as registry
from onshi.rules.calendar import month_bounds
from onshi.rules.claims import SETTING_ALIASES, yen_of_points
from onshi.store.clock import japan_today, utcnow
from onshi.store.db import allocate_ids, bulk_insert

#: the columns of a claim file, with the Japanese headers accepted for them
COLUMNS: dict[str, tuple[str, ...]] = {
    "institution_code": ("医療機関コード",), "month": ("診療年月",), "claim_number": ("レセプト番号",),
    "setting": ("区分", "入院外来区分"), "insurer_number": ("保険者番号",), "symbol": ("記号",), "number": ("番号",),
    "branch": ("枝番",), "birth_date": ("生年月日",), "copay_ratio": ("負担割合",), "care_days": ("診療日",),
    "patient_share": ("一部負担金",), "line_number": ("行番号",), "kind": ("種別",), "code": ("コード",),
    "name": ("名称",), "quantity": ("数量",), "points": ("点数",),
}
KINDS = {"drug": "drug", "procedure": "procedure", "医薬品": "drug", "診療行為": "procedure", "IY": "drug",
         "SI": "procedure"}
MAX_POINTS = 10_000_000


class ClaimFileError(ValueError):
    """The file cannot be read at all (empty, binary, no header): nothing is applied."""


@dataclass
class ClaimImportReport:
    filename: str
    encoding: str = ""
    file_id: int | None = None
    already_imported: bool = False
    rows_total: int = 0
    claims_applied: int = 0
    lines_applied: int = 0
    claims_duplicate: int = 0
    rows_rejected: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rows_rejected == 0


# ---------------------------------------------------------------- decoding, line by line

def decode_lines(data: bytes) -> tuple[str, list[tuple[int, str | None, str]]]:
    """``(encoding, [(row number, text or None, why)])``: each line decoded on its own, so one broken byte costs
    one row.  The encoding is the one most non-ASCII lines decode in (UTF-8 on a tie)."""
    if not data.strip():
        raise ClaimFileError("ファイルが空です (the file is empty)")
    if b"\x00" in data[:65536]:
        raise ClaimFileError("バイナリファイルです: CSV ではありません (binary data, not a CSV file)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    raw = [line[:-1] if line.endswith(b"\r") else line for line in raw]
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        votes = {"utf-8": 0, "cp932": 0}
        for line in raw:
            if line.isascii():
                continue
            for enc in votes:
                try:
                    line.decode(enc)
                    votes[enc] += 1
                except UnicodeDecodeError:
                    pass
        encoding = "cp932" if votes["cp932"] > votes["utf-8"] else "utf-8"
    out = []
    for n, line in enumerate(raw, start=1):
        try:
            out.append((n, line.decode(encoding), ""))
        except UnicodeDecodeError as exc:
            out.append((n, None, f"文字コード {encoding} で読めないバイトがあります (byte {exc.start + 1} of the "
                                 f"line: not {encoding})"))
    return encoding, out


def header_map(names: list[str]) -> dict[str, int]:
    """Column positions by their English name; raises :class:`ClaimFileError` naming missing columns."""
    by_name = {}
    for i, h in enumerate(names):
        h = h.strip()
        for col, ja in COLUMNS.items():
            if h == col or h in ja:
                by_name[col] = i
    missing = [c for c in COLUMNS if c not in by_name and c != "branch"]
    if missing:
        raise ClaimFileError("見出し行に列がありません: " + ", ".join(f"{c} ({COLUMNS[c][0]})" for c in missing)
                             + " (missing columns)")
    return by_name


# ---------------------------------------------------------------- one row

def _month(v: str, today: date) -> str:
    m = re.fullmatch(r"(\d{4})[-/年]?(\d{1,2})月?", v.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError("診療年月は YYYY-MM で書いてください (month must be YYYY-MM)")
    month = f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"
    if month > f"{today:%Y-%m}":
        raise ValueError("未来の診療年月です (month of care is in the future)")
    return month


def _int(v: str, lo: int, hi: int, what: str) -> int:
    try:
        n = int(v.replace(",", "").strip())
    except ValueError:
        raise ValueError(f"{what}は整数で書いてください (not an integer)") from None
    if not lo <= n <= hi:
        raise ValueError(f"{what}は {lo:,}〜{hi:,} です (out of range)")
    return n


def _fail(message: str):
    raise ValueError(message)


def _claim_number(s: str) -> str:
    s = s.strip()
    plain = s.replace("-", "")
    return s if (0 < len(s) <= 20 and plain.isascii() and plain.isalnum()) else \
        _fail("レセプト番号は英数字20文字までです (claim number: 1–20 letters/digits)")


def _code(s: str) -> str:
    s = s.strip()
    return s if _CODE.fullmatch(s) else _fail("コードは英数字12文字までです (code)")


def _birth(s: str) -> date:
    s = s.strip()
    return date.fromisoformat(s.replace("/", "-")) if _DATE.fullmatch(s) else \
        _fail("生年月日は YYYY-MM-DD で書いてください (birth date)")


def _quantity(s: str) -> Decimal:
    try:
        q = Decimal(s.replace(",", "").strip())
    except InvalidOperation:
        raise ValueError("数量は数で書いてください (quantity is not a number)") from None
    if not q.is_finite() or q < 0:
        raise ValueError("数量が負です: 数量は 0 以上です (negative quantity)")
    if q >= Decimal("1e11"):
        raise ValueError("数量が大きすぎます (quantity too large)")
    return q


def _care_days(month: str, s: str) -> list[str]:
    first, after = month_bounds(month)
    last = after - timedelta(days=1)
    try:
        ds = sorted({int(x) for x in re.split(r"[;・ ]+", s.strip()) if x})
    except ValueError:
        raise ValueError("診療日は日の数字を ; で区切って書いてください (e.g. 3;10;17)") from None
    if not ds or not all(1 <= d <= last.day for d in ds):
        raise ValueError(f"診療日は {first:%Y-%m} の 1〜{last.day} 日です (days of care in the month)")
    return [date(first.year, first.month, d).isoformat() for d in ds]


_CODE = re.compile(r"[0-9A-Za-z]{1,12}")
_DATE = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}")
#: a claim's own columns (repeated on each of its lines: parsed once per claim; care_days last) and a line's
_HEAD = ("institution_code", "month", "setting", "insurer_number", "symbol", "number", "branch", "birth_date",
         "copay_ratio", "patient_share", "care_days")
_LINE = ("line_number", "kind", "code", "name", "points", "quantity")


class RowParser:
    """Parses and checks rows on their own (no database).  A claim's own columns repeat on each of its lines: they
    are parsed once per claim (the raw values as the key); a line's columns are parsed per column, a value seen
    before not again (codes, names, quantities repeat across claims).  At most :attr:`CACHE` entries each."""

    CACHE = 200_000

    def __init__(self, today: date):
        self.today = today
        self.readers = {
            "institution_code": inst_code.validate,
            "month": lambda s: _month(s, today),
            "setting": lambda s: SETTING_ALIASES.get(s.strip()) or _fail(
                "区分は 入院/外来/調剤/歯科 (inpatient/outpatient/pharmacy/dental) です"),
            "insurer_number": ins_number.validate,
            "symbol": insured_card.compact_symbol,
            "number": insured_card.compact_number,
            "branch": lambda s: insured_card.compact_branch(s) if s.strip() else "",
            "birth_date": _birth,
            "copay_ratio": lambda s: _int(s.replace("割", ""), 0, 10, "負担割合 (割)"),
            "patient_share": lambda s: _int(s, 0, MAX_POINTS * 10, "一部負担金 (円)"),
            "line_number": lambda s: _int(s, 1, 9999, "行番号"),
            "kind": lambda s: KINDS.get(s.strip()) or _fail("種別は 医薬品/診療行為 (drug/procedure) です"),
            "code": _code,
            "name": lambda s: s.strip()[:200],
            "points": lambda s: _int(s, 0, MAX_POINTS, "点数"),
            "quantity": _quantity,
        }
        self.cache: dict[str, dict] = {c: {} for c in (*self.readers, "claim_number", "care_days")}
        self.heads: dict[tuple, tuple] = {}  # raw claim columns → (values, errors, raw)

    @staticmethod
    def _one(cache: dict | None, raw, read) -> tuple:
        hit = cache.get(raw) if cache is not None else None
        if hit is None:
            try:
                hit = (True, read(raw))
            except (ValueError, ValidationError) as exc:
                hit = (False, getattr(exc, "ja", None) or str(exc))
            if cache is not None and len(cache) < RowParser.CACHE:
                cache[raw] = hit
        return hit

    def _head(self, raw: tuple) -> tuple[dict, list[tuple[str, str, str]]]:
        out: dict = {}
        bad: list[tuple[str, str, str]] = []
        for col, value in zip(_HEAD, raw):
            if col == "care_days":
                continue
            # by value, like a line's columns: 250,000 claims share 50 institution codes, 12 months, 2,000 births
            good, parsed = self._one(self.cache[col], value, self.readers[col])
            if good:
                out[col] = parsed
            else:
                bad.append((col, value, parsed))
        if "month" in out:
            good, parsed = self._one(self.cache["care_days"], (out["month"], raw[-1]),
                                     lambda k: (lambda days: (days, json.dumps(days)))(_care_days(*k)))
            if good:
                out["care_days"], out["care_json"] = parsed
            else:
                bad.append(("care_days", raw[-1], parsed))
        return out, bad

    def bind(self, cols: dict[str, int]) -> None:
        """Read rows by position (:meth:`parse_values`): *cols* from :func:`header_map`; a column the header lacks
        reads as empty (the row gets one empty value appended)."""
        def at(c: str) -> int:
            return cols.get(c, -1)

        self.head_of = itemgetter(*(at(c) for c in _HEAD))
        self.line_of = [(c, at(c)) for c in _LINE]
        self.claim_number_at = at("claim_number")

    def parse_values(self, n: int, values: list[str], errors: list[RowError]) -> tuple[dict, bool, tuple]:
        """:meth:`parse` of a row as the CSV reader gives it (after :meth:`bind`): ``(values, ok, the claim's raw
        columns)`` — rows of one claim have equal raw columns."""
        values.append("")
        raw = self.head_of(values)
        head = self.heads.get(raw)
        if head is None:
            head = (*self._head(raw), raw)
            if len(self.heads) < self.CACHE:
                self.heads[raw] = head
        raw = head[2]  # the first row's tuple: the rows after it keep none of their own strings alive
        out = {"head": head[0]}  # the claim's values, shared by its rows (a million rows hold 250,000 of them)
        ok = not head[1]
        for col, value, why in head[1]:
            errors.append(RowError(n, col, value, why))
        width = len(values)
        for col, i in self.line_of:
            value = values[i] if i < width else ""
            hit = self.cache[col].get(value)
            if hit is None:
                hit = self._one(self.cache[col], value, self.readers[col])
            if hit[0]:
                out[col] = hit[1]
            else:
                errors.append(RowError(n, col, value, hit[1]))
                ok = False
        value = values[self.claim_number_at] if self.claim_number_at < width else ""
        good, parsed = self._one(self.cache["claim_number"], value, _claim_number)
        if good:
            out["claim_number"] = parsed
        else:
            errors.append(RowError(n, "claim_number", value, parsed))
            ok = False
        return out, ok, raw

    def parse(self, n: int, v: dict[str, str], errors: list[RowError]) -> tuple[dict, bool]:
        """``(values, ok)``: the values that parsed; the errors appended."""
        raw = tuple(v.get(c, "") for c in _HEAD)
        head = self.heads.get(raw)
        if head is None:
            head = (*self._head(raw), raw)
            if len(self.heads) < self.CACHE:
                self.heads[raw] = head
        out = dict(head[0])
        ok = not head[1]
        for col, value, why in head[1]:
            errors.append(RowError(n, col, value, why))
        for col in _LINE:
            value = v.get(col, "")
            good, parsed = self._one(self.cache[col], value, self.readers[col])
            if good:
                out[col] = parsed
            else:
                errors.append(RowError(n, col, value, parsed))
                ok = False
        value = v.get("claim_number", "")
        good, parsed = self._one(None, value, _claim_number)
        if good:
            out["claim_number"] = parsed
        else:
            errors.append(RowError(n, "claim_number", value, parsed))
            ok = False
        return out, ok


def parse_row(n: int, v: dict[str, str], today: date, errors: list[RowError]) -> dict | None:
    """One row's values, checked on their own (no database); errors appended, None when any."""
    out, ok = RowParser(today).parse(n, v, errors)
    return out if ok else None


# ---------------------------------------------------------------- the file

def import_claims(session: Session, path: Path | str, *, received_at: datetime | None = None, actor: str = "cli",
                  today: date | None = None) -> ClaimImportReport:
    """Import one claim file (see the module's docstring).  Raises :class:`ClaimFileError` when the file cannot be
    read at all; otherwise every row is applied, a duplicate, or quarantined with its reason.

    Python's cyclic garbage collector is paused meanwhile: the rows held for the file's decisions are millions of
    small containers, and each collection walks them all (a million lines took three times as long per line as a
    hundred thousand); nothing the import makes is cyclic, and the collector runs again once it returns."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _import(session, Path(path), received_at=received_at, actor=actor, today=today)
    finally:
        if enabled:
            gc.enable()


def _import(session: Session, path: Path, *, received_at: datetime | None, actor: str,
            today: date | None) -> ClaimImportReport:
    path = Path(path)
    today = today or japan_today()
    data = path.read_bytes()
    report = ClaimImportReport(filename=path.name)
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(ClaimFile).where(ClaimFile.sha256 == digest))
    if existing is not None:
        report.already_imported, report.file_id, report.rows_total = True, existing.id, existing.rows_total
        report.encoding = existing.encoding
        return report
    report.encoding, lines = decode_lines(data)
    if lines[0][1] is None:
        raise ClaimFileError("見出し行が読めません: " + lines[0][2])
    header = next(csv.reader([lines[0][1]]))
    cols = header_map(header)
    now = utcnow()
    f = ClaimFile(sha256=digest, filename=path.name[:300], encoding=report.encoding,
                  received_at=received_at or now, imported_at=now, imported_by=actor)
    session.add(f)
    session.flush()
    report.file_id = f.id

    errors: dict[int, list[RowError]] = defaultdict(list)
    key_of_row: dict[int, tuple | None] = {}
    groups: dict[tuple, list[tuple]] = defaultdict(list)  # (row, values or None, the claim's raw columns, text)
    parser = RowParser(today)
    parser.bind(cols)
    readable = [(n, text) for n, text, _why in lines[1:] if text is not None and text.strip()]
    for n, text, why in lines[1:]:
        if text is None:
            report.rows_total += 1
            errors[n].append(RowError(n, "*", "", why))
            key_of_row[n] = None
    report.rows_total += len(readable)
    for (n, text), values in zip(readable, csv.reader(text for _n, text in readable)):
        row_errors: list[RowError] = []
        parsed, ok, head_raw = parser.parse_values(n, values, row_errors)
        try:
            key = (parsed["head"]["institution_code"], parsed["head"]["month"], parsed["claim_number"])
        except KeyError:
            key = None
        key_of_row[n] = key
        if row_errors:
            errors[n].extend(row_errors)
        if key is not None:
            groups[key].append((n, parsed if ok else None, head_raw, text))

    master = {m.code: m for m in session.scalars(select(DrugMasterEntry))}
    insurers = {i.number: i for i in registry.list_insurers(session)}
    wanted = {r[1]["head"]["insurer_number"] for rows in groups.values() for r in rows
              if r[1] and r[1]["head"]["insurer_number"] in insurers}
    people: dict[tuple, set[int]] = defaultdict(set)
    for ins_id, symbol, number, branch, birth, person_id, _qid in registry.numbers_of_insurers(
            session, [insurers[n].id for n in wanted]):
        people[(ins_id, symbol, number, birth)].add(person_id)
        people[(ins_id, symbol, number, branch, birth)].add(person_id)
    months = {(k[0], k[1]) for k in groups}
    imported_months: dict[tuple[str, str], int] = {}
    existing_claims: dict[tuple, str] = {}
    # one statement for every (institution, month) of the file (was one per pair: 600 for 50 × 12, 14 % of a run)
    codes, mons = sorted({m[0] for m in months}), sorted({m[1] for m in months})
    for start in range(0, len(codes), 500):
        for code, month, fid, number, chash in session.execute(
                select(Claim.institution_code, Claim.month, Claim.file_id, Claim.claim_number, Claim.content_hash)
                .where(Claim.institution_code.in_(codes[start:start + 500]), Claim.month.in_(mons))):
            if (code, month) in months:
                imported_months.setdefault((code, month), fid)
                existing_claims[(code, month, number)] = chash

    claims_out, lines_out = [], []
    for key, rows in groups.items():
        bad = {r[0] for r in rows if r[1] is None}
        claim_errors: list[RowError] = []
        parsed = [(r[0], r[1]) for r in rows if r[1] is not None]
        first_n, first_raw = rows[0][0], rows[0][2]
        if not bad:
            head = parsed[0][1]["head"]
            for n, _p, raw, _text in rows[1:]:
                if raw != first_raw:
                    for c, mine, theirs in zip(_HEAD, raw, first_raw):
                        if mine != theirs:
                            errors[n].append(RowError(n, c, mine, f"同じレセプトの{first_n}行目と違います "
                                                                  f"(differs from row {first_n} of the claim)"))
                    bad.add(n)
            seen_lines: dict[int, int] = {}
            for n, p in parsed:
                if p["line_number"] in seen_lines:
                    errors[n].append(RowError(n, "line_number", str(p["line_number"]),
                                              f"{seen_lines[p['line_number']]}行目と同じ行番号です (duplicate line)"))
                    bad.add(n)
                seen_lines.setdefault(p["line_number"], n)
                if p["kind"] == "drug" and p["code"] not in master:
                    errors[n].append(RowError(n, "code", p["code"], "医薬品マスターにないコードです "
                                                                    "(no drug master entry)"))
                    bad.add(n)
        if not bad:
            head = parsed[0][1]["head"]
            ins = insurers.get(head["insurer_number"])
            lines_data = [p for _, p in parsed]
            chash = hashlib.sha256("\n".join(r[3] for r in rows).encode()).hexdigest()
            where = f"{key[0]} {key[1]} {key[2]}"
            persons: set[int] = set()
            if ins is None:
                claim_errors.append(RowError(first_n, "insurer_number", head["insurer_number"],
                                             "onshi に登録されていない保険者です (unknown insurer)"))
            else:
                k = (ins.id, head["symbol"], head["number"], head["branch"], head["birth_date"]) if head["branch"] \
                    else (ins.id, head["symbol"], head["number"], head["birth_date"])
                persons = people.get(k, set())
                if not persons:
                    claim_errors.append(RowError(first_n, "number", f"{head['symbol']}・{head['number']}",
                                                 "記号・番号・枝番と生年月日に合う加入者がいません (unknown numbers)"))
                elif len(persons) > 1:
                    claim_errors.append(RowError(first_n, "branch", head["branch"],
                                                 f"{len(persons)}人の加入者に当てはまります: 枝番で一人に決めてください "
                                                 "(matches two members)"))
            if key in existing_claims:
                if existing_claims[key] == chash:
                    report.claims_duplicate += 1
                    continue
                claim_errors.append(RowError(first_n, "claim_number", key[2],
                                             f"{where} は取込済みで内容が違います: 訂正は再請求で (already imported "
                                             "with other content)"))
            elif (key[0], key[1]) in imported_months and imported_months[(key[0], key[1])] != f.id:
                claim_errors.append(RowError(first_n, "month", key[1], f"医療機関 {key[0]} の {key[1]} 診療分は取込済み"
                                             "です (month already imported from another file)"))
            if not claim_errors:
                points = sum(p["points"] for p in lines_data)
                total = yen_of_points(points, date.fromisoformat(head["care_days"][0]))
                if head["patient_share"] > total:
                    claim_errors.append(RowError(first_n, "patient_share", str(head["patient_share"]),
                                                 f"一部負担金が医療費 {total:,} 円を超えています (more than the cost)"))
            if not claim_errors:
                claims_out.append((key, head, ins, next(iter(persons)), points, total, chash, lines_data))
                existing_claims[key] = chash
                imported_months.setdefault((key[0], key[1]), f.id)
                continue
            errors[first_n].extend(claim_errors)
            bad.add(first_n)
        for n, *_r in rows:
            if n not in bad:
                errors[n].append(RowError(n, "*", "", f"同じレセプトの他の行 ({', '.join(map(str, sorted(bad)))}行目) "
                                                      "に誤りがあります (another row of this claim is bad)"))
    # write
    ids = allocate_ids(session, "claims", len(claims_out))
    pg = session.get_bind().dialect.name == "postgresql"
    claim_rows, line_rows = [], []
    # plain tuples for the loops below (an ORM attribute read costs ~1 µs, a million lines read four each)
    drugs = {code: (m.name, bool(m.generic), bool(m.generic_exists)) for code, m in master.items()}
    no_drug = ("", False, False)
    ins_ids = {id(i): (i.id, i.number) for i in insurers.values()}
    for cid, (key, head, ins, person_id, points, total, chash, lines_data) in zip(ids, claims_out):
        ins_id, ins_number = ins_ids[id(ins)]
        claim_rows.append({
            "id": cid, "file_id": f.id, "institution_code": key[0], "month": key[1], "claim_number": key[2],
            "setting": head["setting"], "insurer_id": ins_id, "insurer_number": ins_number, "symbol": head["symbol"],
            "number": head["number"], "branch": head["branch"], "birth_date": head["birth_date"],
            "person_id": person_id, "care_dates": head["care_json"] if pg else head["care_days"],
            "days": len(head["care_days"]),
            "points": points, "total_yen": total, "copay_ratio": head["copay_ratio"],
            "patient_share_yen": head["patient_share"], "insurer_share_yen": total - head["patient_share"],
            "content_hash": chash})
        for p in lines_data:
            name, generic, exists = drugs.get(p["code"], no_drug) if p["kind"] == "drug" else no_drug
            line_rows.append({
                "claim_id": cid, "line_number": p["line_number"], "kind": p["kind"],
                "code": p["code"], "name": p["name"] or name, "quantity": p["quantity"],
                "points": p["points"], "generic": generic, "generic_exists": exists})
    bulk_insert(session, Claim.__table__, claim_rows)
    bulk_insert(session, ClaimLine.__table__, line_rows)
    sealer = vault()
    bad_rows = sorted(n for n in errors if errors[n])
    quarantine_ids = allocate_ids(session, "claim_quarantine", len(bad_rows))
    quarantined = []
    for qid, n in zip(quarantine_ids, bad_rows):
        key = key_of_row.get(n)
        found = [{"column": e.column, "value": e.value, "reason": e.reason} for e in errors[n]]
        quarantined.append({"id": qid, "file_id": f.id, "row_number": n,
                            "claim_ref": " ".join(key) if key else None,
                            "errors": json.dumps(found, ensure_ascii=False) if pg else found,
                            "raw_sealed": sealer.seal((lines[n - 1][1] or "").encode()), "status": "open"})
        report.errors.extend(errors[n])
        report.rows_rejected += 1
    bulk_insert(session, QuarantinedClaimRow.__table__, quarantined)
    report.claims_applied, report.lines_applied = len(claim_rows), len(line_rows)
    f.rows_total, f.claims_applied, f.lines_applied = report.rows_total, report.claims_applied, report.lines_applied
    f.rows_rejected = report.rows_rejected
    session.flush()
    return report


def load_drug_master(session: Session, path: Path | str) -> int:
    """Load (or update) the drug master from a CSV ``code,name,generic,generic_exists,unit`` (UTF-8 or CP932;
    1/0 flags).  Returns the number of entries written; the same file twice changes nothing."""
    from onshi.registry.intake import decode_text

    text, _enc = decode_text(Path(path).read_bytes())
    rows = list(csv.DictReader(text.splitlines()))
    have = {m.code: m for m in session.scalars(select(DrugMasterEntry))}
    written = 0
    for r in rows:
        code = r["code"].strip()
        values = {"name": r["name"].strip(), "generic": r["generic"].strip() == "1",
                  "generic_exists": r["generic_exists"].strip() == "1", "unit": (r.get("unit") or "").strip() or None}
        cur = have.get(code)
        if cur is None:
            session.add(DrugMasterEntry(code=code, **values))
            written += 1
        elif any(getattr(cur, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(cur, k, v)
            written += 1
    session.flush()
    return written


#: the drug master that comes with onshi (a small sample; docs/claims.md)
BUNDLED_DRUG_MASTER = Path(__file__).parent / "data" / "drug_master.csv"
