"""My Number linkage check (紐付け確認) against a resident-registry extract (住民基本台帳).

All five items must match — kanji name, kana name, birth date, sex, address —
after normalisation: Unicode NFKC (full/half width, compatibility ideographs),
no spaces, hiragana → katakana, common old/variant kanji forms (異体字) folded
to their standard form, and address punctuation (丁目・番地・号 and dash
variants) unified.  A mismatch blocks card verification for that person until
the record is corrected (a later check matches) or a clerk marks it
「理由付き疑いなし」 with a reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

import jaconv
from sqlalchemy import and_, exists, or_, select, text
from sqlalchemy.orm import Session, aliased

from onshi.exchange.models import LinkageCheck, ResidentExtract
from onshi.privacy import audit
from onshi.privacy.crypto import vault
from onshi.registry import fields as F
from onshi.registry import service
from onshi.store.db import utcnow

# 異体字 → 標準字形 (names are often registered in one form and printed in the other)
KANJI_VARIANTS = str.maketrans({
    "髙": "高", "﨑": "崎", "嵜": "崎", "濵": "浜", "濱": "浜", "邊": "辺", "邉": "辺", "齋": "斎", "齊": "斉",
    "澤": "沢", "廣": "広", "國": "国", "德": "徳", "眞": "真", "櫻": "桜", "槇": "槙", "﨔": "欅",
    "冨": "富", "條": "条", "實": "実", "惠": "恵", "圓": "円", "龍": "竜", "藏": "蔵", "萬": "万", "壽": "寿",
    "曾": "曽", "靜": "静", "彌": "弥", "淺": "浅", "瀨": "瀬", 
})
EXTRACT_COLUMNS = ["my_number", "name", "name_kana", "birth_date", "sex", "address"]
FIELDS = ("name", "name_kana", "birth_date", "sex", "address")


def normalise_name(value: str) -> str:
    text = unicodedata.normalize("NFKC", value or "")
    text = re.sub(r"\s+", "", text).translate(KANJI_VARIANTS)
    return text


def normalise_kana(value: str) -> str:
    text = unicodedata.normalize("NFKC", value or "")
    return re.sub(r"\s+", "", jaconv.hira2kata(text))


_KANJI_DIGITS = str.maketrans("〇一二三四五六七八九", "0123456789")


def normalise_address(value: str) -> str:
    text = unicodedata.normalize("NFKC", value or "")
    text = re.sub(r"\s+", "", text).translate(KANJI_VARIANTS)
    text = re.sub(r"[‐‑‒–—―−ーｰ－]", "-", text)
    text = re.sub(r"(\d)丁目", r"\1-", text)
    text = re.sub(r"(\d)番地?", r"\1-", text)
    text = re.sub(r"(\d)号", r"\1", text)
    text = text.translate(_KANJI_DIGITS) if re.search(r"[一二三四五六七八九〇]丁目", text) else text
    return text.rstrip("-")


@dataclass
class LinkageReport:
    filename: str
    already_imported: bool = False
    rows: int = 0
    matched: int = 0
    mismatched: int = 0
    not_registered: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, reason)


def compare(person_version, extract: dict) -> list[str]:
    """Names of the items that differ (never the values)."""
    diffs = []
    if normalise_name(person_version.name) != normalise_name(extract["name"]):
        diffs.append("name")
    if normalise_kana(person_version.name_kana) != normalise_kana(extract["name_kana"]):
        diffs.append("name_kana")
    if person_version.birth_date != extract["birth_date"]:
        diffs.append("birth_date")
    if person_version.sex != extract["sex"]:
        diffs.append("sex")
    if normalise_address(person_version.address or "") != normalise_address(extract["address"]):
        diffs.append("address")
    return diffs


CHUNK_BYTES = 4 << 20  # a chunk of an extract, ~40,000 rows: one task, one transaction (docs/batch.md)
BLOCK = 5000  # My Numbers looked up per statement


def check_records(session: Session, records, filename: str, now, report: LinkageReport) -> None:
    """Check *records* ``[(row number, values)]`` of an extract and add one ``linkage_checks`` row each (not
    committed) — in bulk: the people found by their keyed hashes and their current records read a block at a
    time, the checks inserted together.  Counts and unreadable rows go into *report*."""
    from onshi.numbers import my_number as mn
    from onshi.registry.models import Person, PersonVersion
    from onshi.store.db import is_postgres
    from onshi.store.history import current

    hasher = vault().lookup_hash
    parse_date, parse_sex, field_error = F.parse_date, F.parse_sex, F.FieldError
    ncols = len(EXTRACT_COLUMNS)
    parsed: list[tuple[int, str, tuple]] = []
    for row_no, values in records:
        if not any(x.strip() for x in values):
            continue
        report.rows += 1
        if len(values) != ncols:
            report.errors.append((row_no, "(row)", "列の数が合いません (wrong number of values)"))
            continue
        my_number, name, kana, birth, sex, address = values
        try:
            number = mn.validate(my_number)
            day = None
            if len(birth) == 10 and birth[4] == "-" and birth[7] == "-" and birth.isascii():
                try:  # the usual 西暦 YYYY-MM-DD, read directly (the same day parse_date reads)
                    day = date.fromisoformat(birth)
                except ValueError:
                    pass
            rec = (name, kana, day or parse_date(birth), parse_sex(sex), address)
        except field_error as exc:
            report.errors.append((row_no, "?", exc.reason))
            continue
        except Exception as exc:  # stdnum validation: the message never carries the number
            report.errors.append((row_no, "my_number", f"個人番号が正しくありません ({type(exc).__name__})"))
            continue
        parsed.append((row_no, hasher(number), rec))
    rows = []
    pg = is_postgres(session)
    for i in range(0, len(parsed), BLOCK):
        part = parsed[i:i + BLOCK]
        versions: dict[int, object] = {}
        pv = PersonVersion
        if pg:  # one array parameter, not thousands of bound values to compile and send
            people = {bytes(h).hex(): pid for h, pid in session.execute(text(
                "SELECT my_number_hash, id FROM persons WHERE my_number_hash = ANY(:hs)"),
                {"hs": [bytes.fromhex(h) for _, h, _ in part]}).all()}
            found = session.execute(text(
                "SELECT person_id, name, name_kana, birth_date, sex, address FROM person_versions "
                "WHERE person_id = ANY(:ids) AND superseded_at IS NULL ORDER BY person_id, valid_from DESC"),
                {"ids": list(set(people.values()))}).all() if people else ()
        else:
            people = dict(session.execute(select(Person.my_number_hash, Person.id).where(
                Person.my_number_hash.in_({h for _, h, _ in part}))).all())
            found = session.execute(select(pv.person_id, pv.name, pv.name_kana, pv.birth_date, pv.sex, pv.address)
                                    .where(pv.person_id.in_(set(people.values())), current(pv))
                                    .order_by(pv.person_id, pv.valid_from.desc())) if people else ()
        for v in found:
            versions.setdefault(v.person_id, v)  # the latest valid_from: what person_on answers
        for row_no, h, rec in part:
            person_id = people.get(h)
            if person_id is None:
                report.not_registered += 1
                rows.append({"person_id": None, "my_number_hash": h, "extract_file": filename, "row_number": row_no,
                             "checked_at": now, "status": "not_registered", "mismatches": []})
                continue
            diffs = _compare(versions.get(person_id), rec)
            report.matched += not diffs
            report.mismatched += bool(diffs)
            rows.append({"person_id": person_id, "my_number_hash": h, "extract_file": filename,
                         "row_number": row_no, "checked_at": now, "status": "mismatch" if diffs else "match",
                         "mismatches": diffs})
    _insert_checks(session, rows)


def _insert_checks(session: Session, rows: list[dict]) -> None:
    """The checks in one go: COPY on PostgreSQL (ids drawn from the sequence first), executemany elsewhere."""
    import json

    from onshi.store.db import allocate_ids, bulk_insert, is_postgres

    if not rows:
        return
    table = LinkageCheck.__table__
    if is_postgres(session):
        for row, id_ in zip(rows, allocate_ids(session, table.name, len(rows))):
            row["id"], row["mismatches"] = id_, json.dumps(row["mismatches"])
        bulk_insert(session, table, rows)
    else:
        session.execute(table.insert(), rows)


def _compare(pv, rec: tuple) -> list[str]:
    """:func:`compare` on a tuple ``(name, kana, birth date, sex, address)`` of the extract."""
    if pv is None:
        return list(FIELDS)
    name, kana, birth, sex, address = rec
    diffs = []
    if pv.name != name and normalise_name(pv.name) != normalise_name(name):
        diffs.append("name")
    if pv.name_kana != kana and normalise_kana(pv.name_kana) != normalise_kana(kana):
        diffs.append("name_kana")
    if pv.birth_date != birth:
        diffs.append("birth_date")
    if pv.sex != sex:
        diffs.append("sex")
    if (pv.address or "") != address and normalise_address(pv.address or "") != normalise_address(address):
        diffs.append("address")
    return diffs


def _header(header: list[str]) -> None:
    from onshi.registry.intake import IntakeFileError

    header = [h.strip().lstrip("\ufeff") for h in header]
    if header != EXTRACT_COLUMNS:
        raise IntakeFileError(f"列は {','.join(EXTRACT_COLUMNS)} です (got {','.join(header)})")


def import_extract(session: Session, data: bytes, filename: str) -> LinkageReport:
    """Check every person in the extract in this session; idempotent per file content.  (Large extracts run in
    chunks on the task engine: :func:`onshi.exchange.tasks.run_linkage`.)"""
    from onshi.registry.intake import decode_text

    report = LinkageReport(filename=filename)
    digest = hashlib.sha256(data).hexdigest()
    if session.scalar(select(ResidentExtract).where(ResidentExtract.sha256 == digest)):
        report.already_imported = True
        return report
    text, _enc = decode_text(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    _header(next(reader, []))
    check_records(session, enumerate(reader, start=2), filename, utcnow(), report)
    session.add(ResidentExtract(sha256=digest, filename=filename, rows=report.rows, mismatches=report.mismatched))
    session.flush()
    return report


@dataclass
class Chunk:
    start: int  # byte offsets in the file
    end: int
    first_row: int  # the row number (as the single-session import counts them: header = 1) of its first record


def extract_chunks(path, *, chunk_bytes: int = CHUNK_BYTES) -> tuple[str, str, list[Chunk]]:
    """``(sha256, encoding, chunks)`` of an extract file, its header checked: cut at record ends (a newline
    outside quotes — ``"`` and newline bytes never occur inside a Shift_JIS character) about every *chunk_bytes*."""
    from pathlib import Path

    from onshi.registry.intake.files import sniff

    path = Path(path)
    encoding, digest = sniff(path)
    data = path.read_bytes()
    first_nl = data.find(b"\n")
    head = data[:first_nl if first_nl >= 0 else len(data)]
    _header(next(csv.reader([head.decode(encoding).rstrip("\r")]), []))
    if first_nl < 0:
        return digest, encoding, []
    chunks, pos, row = [], first_nl + 1, 2
    quoted = b'"' in data
    while pos < len(data):
        end = data.find(b"\n", min(pos + chunk_bytes, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        while quoted and data.count(b'"', pos, end) % 2 and end < len(data):  # inside a quoted field: go on
            nxt = data.find(b"\n", end)
            end = len(data) if nxt < 0 else nxt + 1
        chunks.append(Chunk(pos, end, row))
        if quoted:  # records, not lines: count with the csv reader itself
            row += sum(1 for _ in csv.reader(io.StringIO(data[pos:end].decode(encoding), newline="")))
        else:
            row += data.count(b"\n", pos, end) + (0 if data.endswith(b"\n") or end < len(data) else 1)
        pos = end
    return digest, encoding, chunks


def check_chunk(session: Session, path, encoding: str, chunk: Chunk, filename: str, now) -> LinkageReport:
    """Check one chunk of an extract in *session* (the caller commits it with the chunk's row)."""
    with open(path, "rb") as fh:
        fh.seek(chunk.start)
        text = fh.read(chunk.end - chunk.start).decode(encoding)
    report = LinkageReport(filename=filename)
    check_records(session, enumerate(csv.reader(io.StringIO(text, newline="")), start=chunk.first_row), filename,
                  now, report)
    return report


def record_extract(session: Session, digest: str, filename: str, rows: int, mismatches: int) -> bool:
    """Record an extract as checked (once: the unique ``sha256``); False when it already was."""
    from sqlalchemy.exc import IntegrityError

    if session.scalar(select(ResidentExtract.id).where(ResidentExtract.sha256 == digest)):
        return False
    session.add(ResidentExtract(sha256=digest, filename=filename, rows=rows, mismatches=mismatches))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def already_checked(session: Session, digest: str) -> bool:
    return session.scalar(select(ResidentExtract.id).where(ResidentExtract.sha256 == digest)) is not None


def latest_check(session: Session, person_id: int) -> LinkageCheck | None:
    return session.scalars(select(LinkageCheck).where(LinkageCheck.person_id == person_id)
                           .order_by(LinkageCheck.checked_at.desc(), LinkageCheck.id.desc())).first()


def is_blocked(session: Session, person_id: int) -> bool:
    """True while the latest check is a mismatch that nobody has cleared (照会停止)."""
    lc = LinkageCheck
    latest = session.execute(select(lc.status, lc.decision).where(lc.person_id == person_id)
                             .order_by(lc.checked_at.desc(), lc.id.desc()).limit(1)).first()
    return latest is not None and latest.status == "mismatch" and latest.decision is None


def _is_latest():
    """Filter: the check is its person's latest (by ``checked_at``, then ``id``) — what :func:`latest_check`
    returns, as a correlated ``NOT EXISTS`` so a whole list needs one statement."""
    later = aliased(LinkageCheck)
    return ~exists().where(later.person_id == LinkageCheck.person_id,
                           or_(later.checked_at > LinkageCheck.checked_at,
                               and_(later.checked_at == LinkageCheck.checked_at, later.id > LinkageCheck.id)))


def _open_mismatches():
    return select(LinkageCheck).where(LinkageCheck.status == "mismatch", LinkageCheck.decision.is_(None),
                                      LinkageCheck.person_id.is_not(None), _is_latest())


def blocked_person_ids(session: Session, person_ids: set[int]) -> set[int]:
    """Of *person_ids*, those :func:`is_blocked` — in one statement."""
    if not person_ids:
        return set()
    q = _open_mismatches().where(LinkageCheck.person_id.in_(person_ids)).with_only_columns(LinkageCheck.person_id)
    return set(session.scalars(q))


def suspects(session: Session, *, insurer_id: int | None = None) -> list[LinkageCheck]:
    """The open mismatches (紐付け誤りの疑い) — each person's latest check when it is an undecided mismatch —
    newest first; with *insurer_id*, of people with a qualification at that insurer.  One statement."""
    q = _open_mismatches()
    if insurer_id is not None:
        q = q.where(LinkageCheck.person_id.in_(service.insurer_person_ids(insurer_id)))
    return list(session.scalars(q.order_by(LinkageCheck.checked_at.desc(), LinkageCheck.id.desc())))


def suspect_list(session: Session, *, insurer_id: int, actor_kind: str, actor_id: str) -> list[tuple]:
    """:func:`suspects` of an insurer with each person's current record (氏名, 生年月日 …), as
    ``[(check, person_version)]``; each person shown is written to the audit log (``linkage.list``)."""
    rows = []
    for check in suspects(session, insurer_id=insurer_id):
        pv = service.person_on(session, check.person_id)
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="linkage.list",
                          subject_kind="person", subject_id=check.person_id,
                          insurer_number=service.insurer_number_of(session, insurer_id))
        rows.append((check, pv))
    return rows


def clear(session: Session, check_id: int, *, reason: str, user: str) -> LinkageCheck:
    """Mark a mismatch 「理由付き疑いなし」: the clerk states why the record is right after all."""
    if not reason or not reason.strip():
        raise ValueError("理由を入力してください (a reason is required)")
    check = session.get(LinkageCheck, check_id)
    if check is None or check.status != "mismatch":
        raise ValueError(f"照合 {check_id} は不一致ではありません — `onshi linkage suspects` で番号を確認してください (linkage check {check_id} is not a mismatch)")
    check.decision, check.decision_reason, check.decided_by, check.decided_at = "cleared", reason.strip(), user, \
        utcnow()
    return check
