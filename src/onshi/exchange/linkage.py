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

import jaconv
from sqlalchemy import and_, exists, or_, select
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


def import_extract(session: Session, data: bytes, filename: str) -> LinkageReport:
    """Check every person in the extract; idempotent per file content."""
    from onshi.numbers import my_number as mn
    from onshi.registry.intake import IntakeFileError, decode_text

    report = LinkageReport(filename=filename)
    digest = hashlib.sha256(data).hexdigest()
    if session.scalar(select(ResidentExtract).where(ResidentExtract.sha256 == digest)):
        report.already_imported = True
        return report
    text, _enc = decode_text(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
    if header != EXTRACT_COLUMNS:
        raise IntakeFileError(f"列は {','.join(EXTRACT_COLUMNS)} です (got {','.join(header)})")
    v = vault()
    now = utcnow()
    for row_no, values in enumerate(reader, start=2):
        if not any(x.strip() for x in values):
            continue
        report.rows += 1
        if len(values) != len(EXTRACT_COLUMNS):
            report.errors.append((row_no, "(row)", "列の数が合いません (wrong number of values)"))
            continue
        raw = dict(zip(EXTRACT_COLUMNS, values))
        try:
            number = mn.validate(raw["my_number"])
            rec = {"name": raw["name"], "name_kana": raw["name_kana"], "birth_date": F.parse_date(raw["birth_date"]),
                   "sex": F.parse_sex(raw["sex"]), "address": raw["address"]}
        except F.FieldError as exc:
            report.errors.append((row_no, "?", exc.reason))
            continue
        except Exception as exc:  # stdnum validation: the message never carries the number
            report.errors.append((row_no, "my_number", f"個人番号が正しくありません ({type(exc).__name__})"))
            continue
        h = v.lookup_hash(number)
        person = service.find_person_by_my_number(session, number)
        if person is None:
            report.not_registered += 1
            session.add(LinkageCheck(person_id=None, my_number_hash=h, extract_file=filename, row_number=row_no,
                                     checked_at=now, status="not_registered", mismatches=[]))
            continue
        pv = service.person_on(session, person.id)
        diffs = compare(pv, rec)
        status = "mismatch" if diffs else "match"
        report.matched += not diffs
        report.mismatched += bool(diffs)
        session.add(LinkageCheck(person_id=person.id, my_number_hash=h, extract_file=filename, row_number=row_no,
                                 checked_at=now, status=status, mismatches=diffs))
    session.add(ResidentExtract(sha256=digest, filename=filename, rows=report.rows, mismatches=report.mismatched))
    session.flush()
    return report


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
                          subject_kind="person", subject_id=check.person_id)
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
