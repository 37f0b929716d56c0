"""After an outage (システム障害時): record the patients seen, check them in one go, keep what stays unknown.

* :func:`record_patients` — records typed at reception while verification was impossible (from the page's
  offline queue, an uploaded list, the REST API or the command line).  Each is validated the way the reception
  forms are (dates through :func:`onshi.registry.fields.parse_date`: a 和暦 outside its era is an error, never a
  date); a record without an address is refused.  ``record_key`` makes a record sent twice one record.  A list
  (file, REST batch) is applied whole or not at all: one bad row refuses the list, every bad row is named.
* :func:`check` — the batch check: each record matched against the verification index *as registered now*
  (:mod:`onshi.outage.lookup`, read-only) by numbers and by the four items, and answered 有効 / 無効 / 要確認 with
  the responsible insurer and numbers on the day of care (:func:`onshi.outage.matching.decide`).  Audited: one
  ``outage.check`` row per record read and per registered person whose data the answer shows.
* :func:`record_unknown_insurer` and :func:`apportionment` — a claim whose insurer stays unknown (不詳) is recorded,
  and each month's unknown claims are shared among insurers (:mod:`onshi.outage.apportion`, the rule an
  assumption documented in docs/outage.md).

Service functions flush, never commit: the entry point owns the transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from onshi.outage import apportion, lookup
from onshi.outage.matching import INVALID, UNSURE, VALID, Decision, Typed, identify, judge
from onshi.outage.models import OutageCheck, OutageRecord, UnknownInsurerClaim
from onshi.privacy import audit
from onshi.privacy.models import AuditEntry
from onshi.store.db import bulk_insert, utcnow

#: the columns of an outage list (CSV) and of a record: name -> Japanese header also accepted
COLUMNS = {"record_key": "記録ID", "care_date": "診療日", "name": "氏名", "name_kana": "カナ氏名", "sex": "性別",
           "birth_date": "生年月日", "address": "住所", "insurer_number": "保険者番号", "symbol": "記号",
           "number": "番号", "branch": "枝番"}
REQUIRED = ("care_date", "name", "name_kana", "sex", "birth_date", "address")
LABELS = COLUMNS


class OutageInputError(ValueError):
    """A list or record that cannot be accepted; ``errors`` names each row, field, value and reason (Japanese).
    Nothing of it was recorded."""

    def __init__(self, errors: list[RowError]):
        super().__init__("\n".join(e.line() for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    value: str
    reason: str

    def line(self) -> str:
        value = f"「{self.value}」" if self.value else ""
        return f"{self.row}行目 {self.field}{value}: {self.reason}"


@dataclass
class RecordReport:
    added: list[int] = field(default_factory=list)  # record ids
    duplicate: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)  # record_key -> record id (the browser's queue)


def validate(raw: dict, row: int, *, today: date) -> tuple[dict | None, list[RowError]]:
    """One record's values normalised, or its errors (every bad field, in the order of :data:`COLUMNS`)."""
    from onshi.numbers import insured_card, insurer_number
    from onshi.numbers.messages import japanese
    from onshi.registry import fields as F

    def val(name: str) -> str:
        v = raw.get(name)
        return "" if v is None else str(v).strip()

    errors: list[RowError] = []
    out: dict = {}
    for name in REQUIRED:
        if not val(name):
            errors.append(RowError(row, LABELS[name], "", "入力してください" if name != "address" else
                                   "住所がありません。保険者を探す手がかりです。患者に確認して入力してください"))
    for name in ("care_date", "birth_date"):
        if val(name):
            try:
                out[name] = F.parse_date(val(name))
            except F.FieldError as exc:
                errors.append(RowError(row, LABELS[name], val(name), exc.reason))
    if "care_date" in out and out["care_date"] > today:
        errors.append(RowError(row, LABELS["care_date"], val("care_date"), "診療日が未来の日付です"))
    if "birth_date" in out and "care_date" in out and out["birth_date"] > out["care_date"]:
        errors.append(RowError(row, LABELS["birth_date"], val("birth_date"), "生年月日が診療日より後です"))
    for name, parse in (("name", F.parse_name), ("name_kana", F.parse_kana), ("sex", F.parse_sex),
                        ("address", F.parse_address)):
        if val(name):
            try:
                out[name] = parse(val(name))
            except F.FieldError as exc:
                errors.append(RowError(row, LABELS[name], val(name), exc.reason))
    if val("insurer_number") or val("number") or val("symbol"):
        for name, check in (("insurer_number", insurer_number.validate), ("symbol", insured_card.compact_symbol),
                            ("number", insured_card.compact_number),
                            ("branch", lambda v: insured_card.compact_branch(v) if v else None)):
            try:
                out[name] = check(val(name))
            except Exception as exc:  # noqa: BLE001 - stdnum's errors name the field's problem
                errors.append(RowError(row, LABELS[name], val(name), japanese(str(getattr(exc, "message", exc)))))
    key = val("record_key")
    if len(key) > 64:
        errors.append(RowError(row, LABELS["record_key"], key[:20] + "…", "記録IDは64文字以内です"))
    if errors:
        return None, errors
    out["record_key"] = key or _content_key(out)
    return out, []


def _content_key(v: dict) -> str:
    """A record without an id of its own is the same record when its content is the same."""
    parts = [v["care_date"].isoformat(), v["name"], v["name_kana"], str(v["sex"]), v["birth_date"].isoformat(),
             v["address"] or "", v.get("insurer_number") or "", v.get("symbol") or "", v.get("number") or "",
             v.get("branch") or ""]
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:56]


def record_patients(session: Session, institution_code: str, raws: list[dict], *, source: str, actor: str,
                    today: date, atomic: bool = True) -> RecordReport:
    """Record outage patients.  *atomic*: the list is refused whole (:class:`OutageInputError`) when a row is bad;
    otherwise (the browser's queue, each record its own unit) a bad record is reported and the rest recorded."""
    report = RecordReport()
    checked: list[tuple[int, dict]] = []
    for i, raw in enumerate(raws, start=1):
        row = int(raw.get("__row__", i)) if isinstance(raw, dict) else i
        values, errors = validate(raw, row, today=today)
        report.errors.extend(errors)
        if values is not None:
            checked.append((row, values))
    if atomic and report.errors:
        raise OutageInputError(report.errors)
    keys = [v["record_key"] for _, v in checked]
    existing = {}
    for block in lookup.blocks(keys, 2000) if keys else ():
        existing.update(session.execute(select(OutageRecord.record_key, OutageRecord.id).where(
            OutageRecord.institution_code == institution_code, OutageRecord.record_key.in_(block))).all())
    new: list[dict] = []
    now = utcnow()
    for row, v in checked:
        if v["record_key"] in existing:
            report.duplicate.append(existing[v["record_key"]])
            report.keys[v["record_key"]] = existing[v["record_key"]]
            continue
        existing[v["record_key"]] = -1  # the same record twice in one list is one record
        new.append({"institution_code": institution_code, "source": source, "recorded_by": actor[:100],
                    "recorded_at": now, "insurer_number": None, "symbol": None, "number": None, "branch": None,
                    "status": None, "checked_at": None, "check_id": None, "person_id": None, "result": None, **v})
    if new:  # COPY on PostgreSQL: a list of 10,000 is one statement, not 10,000 round trips
        bulk_insert(session, OutageRecord.__table__, new)
        ids = {}
        for block in lookup.blocks([r["record_key"] for r in new], 2000):
            ids.update(session.execute(select(OutageRecord.record_key, OutageRecord.id).where(
                OutageRecord.institution_code == institution_code, OutageRecord.record_key.in_(block))).all())
        for r in new:
            report.added.append(ids[r["record_key"]])
            report.keys[r["record_key"]] = ids[r["record_key"]]
    return report


def read_list(data: bytes) -> list[dict]:
    """The rows of an outage list (CSV, UTF-8 or CP932; headers in English or Japanese), each with ``__row__``.
    Raises :class:`OutageInputError` for a file that cannot be read as a whole."""
    from onshi.registry.intake import IntakeFileError, decode_text

    try:
        text, _ = decode_text(data)
    except IntakeFileError as exc:
        raise OutageInputError([RowError(0, "ファイル", "", str(exc))]) from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in next(reader, [])]
    by_label = {ja: name for name, ja in COLUMNS.items()} | {name: name for name in COLUMNS}
    unknown = [(i, h) for i, h in enumerate(header, start=1) if h not in by_label]
    if unknown:
        i, h = unknown[0]
        raise OutageInputError([RowError(1, f"{i}列目", h, "使えない列名です（列: " + ", ".join(COLUMNS.values()) + "）")])
    names = [by_label[h] for h in header]
    missing = [COLUMNS[c] for c in REQUIRED if c not in names]
    if missing:
        raise OutageInputError([RowError(1, "見出し", "", "必要な列がありません: " + ", ".join(missing))])
    rows = []
    for n, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            raise OutageInputError([RowError(n, "行", "", f"列の数が {len(values)} です（{len(names)} 列のはずです）")])
        rows.append({"__row__": n, **dict(zip(names, values))})
    if not rows:
        raise OutageInputError([RowError(1, "ファイル", "", "データ行がありません")])
    return rows


# ---------------------------------------------------------------- the batch check

@dataclass
class CheckReport:
    check_id: int
    results: list[tuple[OutageRecord, Decision]]

    def counts(self) -> dict[str, int]:
        out = {VALID: 0, INVALID: 0, UNSURE: 0}
        for _, d in self.results:
            out[d.status] += 1
        return out


def _typed(r: OutageRecord) -> Typed:
    return Typed(care_date=r.care_date, birth_date=r.birth_date, sex=r.sex, name=r.name, name_kana=r.name_kana,
                 address=r.address, insurer_number=r.insurer_number, symbol=r.symbol, number=r.number,
                 branch=r.branch)


def decide_all(session: Session, records: list[OutageRecord]) -> list[Decision]:
    """The decisions for *records*, read in a few statements per 5,000 records (nothing written): candidates by
    numbers and by birth date and name, who each record is, then every registered row of the people identified."""
    typed = [(i, _typed(r)) for i, r in enumerate(records)]
    by_num = lookup.by_numbers(session, typed)
    by_birth = lookup.by_birth_and_name(session, typed)
    who = {i: identify(t, by_num.get(i, []), by_birth.get(i, [])) for i, t in typed}
    rows_of = lookup.rows_of_persons(session, {w[0] for w in who.values() if w[0] is not None})
    out = []
    for i, t in typed:
        person, matched_by, notes, unsure = who[i]
        out.append(unsure if unsure is not None else judge(t, person, rows_of.get(person, []), matched_by, notes))
    return out


def check(session: Session, institution_code: str, *, actor_kind: str, actor_id: str,
          record_ids: list[int] | None = None, care_from: date | None = None, care_to: date | None = None,
          unchecked_only: bool = False) -> CheckReport:
    """Check an institution's outage records (those of *record_ids*, or of the days of care in range, or all),
    keep each answer on its record, and audit the reads."""
    q = select(OutageRecord).where(OutageRecord.institution_code == institution_code)
    if record_ids is not None:
        q = q.where(OutageRecord.id.in_(record_ids))
    if care_from is not None:
        q = q.where(OutageRecord.care_date >= care_from)
    if care_to is not None:
        q = q.where(OutageRecord.care_date <= care_to)
    if unchecked_only:
        q = q.where(OutageRecord.status.is_(None))
    records = list(session.scalars(q.order_by(OutageRecord.care_date, OutageRecord.id)))
    decisions = decide_all(session, records)
    now = utcnow()
    chk = OutageCheck(institution_code=institution_code, checked_by=f"{actor_kind}:{actor_id}"[:100], checked_at=now,
                      records=len(records))
    session.add(chk)
    session.flush()
    audits, answers = [], []
    for rec, d in zip(records, decisions):
        answer = d.answer()
        answers.append({"rid": rec.id, "st": d.status, "at": now, "cid": chk.id, "res": answer, "pid": d.person_id})
        # the objects show what was stored, without a flush of their own (one UPDATE per record was the time)
        for attr, value in (("status", d.status), ("checked_at", now), ("check_id", chk.id), ("result", answer),
                            ("person_id", d.person_id)):
            set_committed_value(rec, attr, value)
        base = {"actor_kind": actor_kind, "actor_id": str(actor_id)[:100], "action": "outage.check", "at": now}
        audits.append({**base, "subject_kind": "outage_record", "subject_id": str(rec.id),
                       "detail": f"check {chk.id}", "insurer_number": None})
        if d.person_id is not None:
            audits.append({**base, "subject_kind": "person", "subject_id": str(d.person_id),
                           "detail": f"outage record {rec.id}",
                           "insurer_number": d.row.insurer_number if d.row is not None else None})
    counts = {VALID: 0, INVALID: 0, UNSURE: 0}
    for d in decisions:
        counts[d.status] += 1
    chk.valid, chk.invalid, chk.unsure = counts[VALID], counts[INVALID], counts[UNSURE]
    session.flush()
    if answers and session.get_bind().dialect.name == "postgresql":
        _update_answers_pg(session, answers, now, chk.id)
    elif answers:
        t = OutageRecord.__table__
        session.execute(t.update().where(t.c.id == bindparam("rid")).values(
            status=bindparam("st"), checked_at=bindparam("at"), check_id=bindparam("cid"), result=bindparam("res"),
            person_id=bindparam("pid")), answers)
    bulk_insert(session, AuditEntry.__table__, audits)
    return CheckReport(chk.id, list(zip(records, decisions)))


def _update_answers_pg(session: Session, answers: list[dict], now, check_id: int, block: int = 5000) -> None:
    """The answers kept on their records in one UPDATE … FROM (VALUES …) per 5,000 records (an executemany of
    10,000 UPDATEs took a third of a check at 1,000,000 members)."""
    import json

    for i in range(0, len(answers), block):
        part = answers[i:i + block]
        rows = ", ".join(["(%s::bigint, %s::text, %s::json, %s::bigint)"] + ["(%s, %s, %s, %s)"] * (len(part) - 1))
        params = [x for a in part for x in (a["rid"], a["st"], json.dumps(a["res"], ensure_ascii=False), a["pid"])]
        session.connection().exec_driver_sql(
            f"UPDATE outage_records r SET status = v.st, result = v.res, person_id = v.pid, checked_at = %s, "
            f"check_id = %s FROM (VALUES {rows}) AS v(rid, st, res, pid) WHERE r.id = v.rid",
            tuple([now, check_id, *params]))


def records_of(session: Session, institution_code: str, *, actor_kind: str, actor_id: str,
               care_from: date | None = None, care_to: date | None = None, limit: int = 500) -> list[OutageRecord]:
    """An institution's outage records (newest care date first) — a read of the patients' data, audited
    (``outage.list``, one row per record shown, and one per registered person a check found)."""
    q = select(OutageRecord).where(OutageRecord.institution_code == institution_code)
    if care_from is not None:
        q = q.where(OutageRecord.care_date >= care_from)
    if care_to is not None:
        q = q.where(OutageRecord.care_date <= care_to)
    rows = list(session.scalars(q.order_by(OutageRecord.care_date.desc(), OutageRecord.id.desc()).limit(limit)))
    for r in rows:
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="outage.list",
                          subject_kind="outage_record", subject_id=r.id)
        if r.person_id is not None:  # a record the check found in the index is that person's data
            audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="outage.list",
                              subject_kind="person", subject_id=r.person_id, detail=f"outage record {r.id}")
    return rows


# ---------------------------------------------------------------- insurer unknown: apportionment

def record_unknown_insurer(session: Session, institution_code: str, record_id: int, *, amount_yen: int,
                           actor: str) -> UnknownInsurerClaim:
    """Record that the claim of an outage record is billed with the insurer unknown (不詳), for apportionment.
    Refused for a record whose check found the insurer (有効); recorded once (a second call returns the first)."""
    rec = session.get(OutageRecord, record_id)
    if rec is None or rec.institution_code != institution_code:
        raise LookupError(f"障害時記録 {record_id} はありません")
    if rec.status is None:
        raise ValueError("まだ照合していない記録です。先に一括照合してください")
    if rec.status == VALID:
        raise ValueError("照合で保険者が分かった記録です。その保険者に請求してください（按分の対象ではありません）")
    if not 0 < amount_yen <= 100_000_000:
        raise ValueError(f"請求額（保険者負担分）「{amount_yen}」は 1〜100,000,000 円です")
    existing = session.scalar(select(UnknownInsurerClaim).where(UnknownInsurerClaim.outage_record_id == record_id))
    if existing is not None:
        return existing
    claim = UnknownInsurerClaim(outage_record_id=record_id, institution_code=institution_code,
                                care_date=rec.care_date, month=rec.care_date.replace(day=1), amount_yen=amount_yen,
                                recorded_by=actor[:100])
    session.add(claim)
    session.flush()
    return claim


@dataclass
class ApportionmentReport:
    month: date
    claims: int
    total_yen: int
    basis_day: date
    shares: list[apportion.Share]


def apportionment(session: Session, month: date) -> ApportionmentReport:
    """The month's claims with the insurer unknown, shared among insurers by their registered members in force on
    the month's last day (docs/outage.md, "Apportionment" — an assumption).  No person's data."""
    import calendar

    first = month.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    claims = list(session.scalars(select(UnknownInsurerClaim.amount_yen).where(
        UnknownInsurerClaim.month == month.replace(day=1))))
    total = sum(claims)
    weights = lookup.members_by_insurer(session, last)
    return ApportionmentReport(month.replace(day=1), len(claims), total, last, apportion.shares(total, weights))


__all__ = ["COLUMNS", "OutageInputError", "RowError", "RecordReport", "CheckReport", "ApportionmentReport",
           "validate", "record_patients", "read_list", "check", "decide_all", "records_of",
           "record_unknown_insurer", "apportionment"]
