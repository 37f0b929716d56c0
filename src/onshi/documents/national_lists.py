"""The national lists an insurer receives each month (docs/national-lists.md), imported with one machinery.

* ``ex_officio`` — 職権交付対象者リスト: the people to whom a 資格確認書 must be issued without application, sent by
  the national system (資格確認等システム) monthly: マイナ保険証 registration cancelled, the card's certificate
  expired past its grace, the card returned.  A listed member is a *fact* of the 資格確認書 decision — "on the
  national list for month M" (:func:`listed_for_certificate`) — and the daily run issues one
  (``documents.service.due_certificates``, reason ``national_list:<code>``).
* ``cannot_use`` — the older list of people who cannot use マイナ保険証 (layout ``insurer_number,symbol,number,
  branch``): each listed member is recorded as an application for a 資格確認書 (reason ``national_list``), as
  before this module existed.

The rules are the intake's (docs/intake.md): the file is checked as a whole first (encoding UTF-8 or CP932,
header) — a file that cannot be read raises :class:`NationalListError` and nothing is written; then row by row, each
row applied, recognised as already listed, or kept as a problem with row, field, value and reason in Japanese
(``rejected``: unreadable; ``unmatched``: names nobody).  All in the caller's one transaction.  Importing the same
file again changes nothing (its SHA-256), and a member listed twice in one month is one entry.

Why in ``documents`` and not ``registry``: the list decides who gets a document; the registry below must not know
documents, and the older list already lived here.  The registry is read through its service functions.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.documents.models import CertificateApplication, NationalListEntry, NationalListFile
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.store.db import utcnow

KINDS = {"ex_officio": "職権交付対象者リスト", "cannot_use": "マイナ保険証を利用できない者のリスト"}

#: 交付事由 of the 職権交付対象者リスト (docs/national-lists.md; insurance-rules.md "The transition to マイナ保険証")
REASONS = {"01": "マイナ保険証の利用登録の解除", "02": "電子証明書の有効期限切れ（経過措置の後）",
           "03": "マイナンバーカードの返納・失効"}

#: column name -> Japanese header also accepted, per kind
LAYOUTS: dict[str, dict[str, str]] = {
    "ex_officio": {"insurer_number": "保険者番号", "symbol": "記号", "number": "番号", "branch": "枝番",
                   "name_kana": "カナ氏名", "birth_date": "生年月日", "reason": "交付事由"},
    "cannot_use": {"insurer_number": "保険者番号", "symbol": "記号", "number": "番号", "branch": "枝番"},
}
#: columns a row may leave blank
OPTIONAL = {"branch", "name_kana", "symbol"}


class NationalListError(ValueError):
    """The list as a whole cannot be read (encoding, layout, empty, unknown kind or month); nothing was applied."""


@dataclass(frozen=True)
class ListProblem:
    row: int
    field: str
    value: str
    reason: str
    kind: str = "rejected"  # rejected (unreadable) | unmatched (names nobody) | other_insurer


@dataclass
class ListAddition:
    row: int
    qualification_id: int
    person_id: int
    numbers: str
    reason: str  # why: the 交付事由 (or the list's own meaning)


@dataclass
class ListReport:
    kind: str
    month: date
    filename: str
    encoding: str = ""
    file_id: int | None = None
    already_imported: bool = False
    rows_total: int = 0
    added: list[ListAddition] = field(default_factory=list)
    already: int = 0
    problems: list[ListProblem] = field(default_factory=list)

    @property
    def unmatched(self) -> list[ListProblem]:
        return [p for p in self.problems if p.kind == "unmatched"]

    @property
    def rejected(self) -> list[ListProblem]:
        return [p for p in self.problems if p.kind != "unmatched"]

    def lines(self) -> list[str]:
        """The report as a clerk reads it (Japanese)."""
        out = [f"{KINDS[self.kind]} {self.month:%Y-%m} ({self.filename}): {self.rows_total}行 — 追加 {len(self.added)}件,"
               f" 登録済み {self.already}件, 該当者なし {len(self.unmatched)}件, 読めない行 {len(self.rejected)}件"
               + ("（同じファイルは取込済みです。何も変更していません）" if self.already_imported else "")]
        out += [f"{a.row}行目: {a.numbers} を追加 — {a.reason}" for a in self.added]
        out += [problem_line(p) for p in self.problems]
        return out


def problem_line(p: ListProblem | dict) -> str:
    p = p if isinstance(p, dict) else p.__dict__
    value = f"「{p['value']}」" if p["value"] else ""
    return f"{p['row']}行目 {p['field']}{value}: {p['reason']}"


def parse_month(value: str | date) -> date:
    """The list's month (YYYY-MM, R8.12 …) as its first day; :class:`NationalListError` otherwise."""
    if isinstance(value, date):
        return value.replace(day=1)
    from onshi.registry.fields import FieldError
    from onshi.registry.fields import parse_month as read_month

    try:
        return read_month(value)
    except FieldError as exc:
        raise NationalListError(f"対象月「{value}」: {exc.reason}") from None


def read_list(data: bytes, kind: str) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """``(encoding, [(row number, {column: value})])`` — row 1 is the header.  Raises :class:`NationalListError`
    for a file in another encoding or layout, naming what is wrong."""
    from onshi.registry.intake import IntakeFileError, decode_text

    if kind not in LAYOUTS:
        raise NationalListError(f"リストの種類「{kind}」はありません（{', '.join(LAYOUTS)} のいずれか）")
    try:
        text, encoding = decode_text(data)
    except IntakeFileError as exc:
        raise NationalListError(str(exc)) from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = next(reader, None) or []
    layout = LAYOUTS[kind]
    by_label = {ja: name for name, ja in layout.items()} | {name: name for name in layout}
    names = []
    for i, raw in enumerate(header, start=1):
        key = raw.strip()
        if key not in by_label:
            raise NationalListError(f"{i}列目の列名「{key}」は{KINDS[kind]}の列ではありません（列: "
                                    f"{', '.join(layout.values())}）")
        names.append(by_label[key])
    missing = [layout[n] for n in layout if n not in names and n not in OPTIONAL]
    if missing:
        raise NationalListError(f"{KINDS[kind]}に必要な列がありません: {', '.join(missing)}")
    rows = []
    for n, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            rows.append((n, {"__count__": str(len(values)), "__expected__": str(len(names))}))
            continue
        rows.append((n, {k: v.strip() for k, v in zip(names, values)}))
    if not rows:
        raise NationalListError("データ行がありません (the list has a header but no rows)")
    return encoding, rows


def _row_numbers(raw: dict[str, str]) -> tuple[dict[str, str] | None, ListProblem | None, int]:
    """The row's numbers normalised, or its first problem."""
    from onshi.numbers import insured_card, insurer_number
    from onshi.numbers.messages import japanese

    checks = (("insurer_number", "保険者番号", insurer_number.validate),
              ("symbol", "記号", insured_card.compact_symbol), ("number", "番号", insured_card.compact_number),
              ("branch", "枝番", lambda v: insured_card.compact_branch(v) if v else None))
    out: dict[str, str] = {}
    for name, label, check in checks:
        value = raw.get(name, "")
        try:
            out[name] = check(value)
        except Exception as exc:  # noqa: BLE001 - stdnum's errors, each a row's problem
            return None, ListProblem(0, label, value, japanese(str(getattr(exc, "message", exc)))), 0
    return out, None, 0


def import_list(session: Session, data: bytes, *, kind: str, month: date | str, filename: str = "list.csv",
                actor: str = "cli", insurer_number: str | None = None, listed_on: date | None = None) -> ListReport:
    """Import one national list of *month* (see the module's docstring).  *insurer_number* scopes the import to
    one insurer (a clerk's upload): a row naming another insurer is a problem.  *listed_on* (default: the month's
    first day) is the day the list's members are looked up on and, for ``cannot_use``, the application day."""
    month = parse_month(month)
    encoding, rows = read_list(data, kind)
    report = ListReport(kind=kind, month=month, filename=filename, encoding=encoding)
    digest = hashlib.sha256(data).hexdigest()
    previous = session.scalar(select(NationalListFile).where(NationalListFile.kind == kind,
                                                             NationalListFile.sha256 == digest))
    if previous is not None:
        report.already_imported, report.file_id = True, previous.id
        report.rows_total, report.already = previous.rows_total, previous.rows_total
        return report
    scope = None
    if insurer_number is not None:
        scope = registry.get_insurer(session, number=insurer_number)
        if scope is None:
            raise NationalListError(f"保険者番号 {insurer_number} は onshi に登録されていません")
    day = listed_on or month
    f = NationalListFile(kind=kind, month=month, insurer_id=scope.id if scope else None, sha256=digest,
                         filename=filename[:200], encoding=encoding, imported_at=utcnow(), imported_by=actor[:100])
    session.add(f)
    session.flush()
    report.file_id = f.id
    listed = set(session.scalars(select(NationalListEntry.qualification_id).where(
        NationalListEntry.kind == kind, NationalListEntry.month == month)))
    for n, raw in rows:
        report.rows_total += 1
        if "__count__" in raw:
            report.problems.append(ListProblem(n, "行", "", f"列の数が {raw['__count__']} です（"
                                                            f"{raw['__expected__']} 列のはずです）"))
            continue
        numbers, problem, _ = _row_numbers(raw)
        if problem is not None:
            report.problems.append(ListProblem(n, problem.field, problem.value, problem.reason))
            continue
        birth = reason = None
        if kind == "ex_officio":
            from onshi.registry.fields import FieldError, parse_date

            try:
                birth = parse_date(raw.get("birth_date", ""))
            except FieldError as exc:
                report.problems.append(ListProblem(n, "生年月日", raw.get("birth_date", ""), exc.reason))
                continue
            reason = raw.get("reason", "").zfill(2) if raw.get("reason", "").isdigit() else raw.get("reason", "")
            if reason not in REASONS:
                report.problems.append(ListProblem(n, "交付事由", raw.get("reason", ""), "交付事由は " + "、".join(
                    f"{k}({v})" for k, v in REASONS.items()) + " のいずれかです"))
                continue
        shown = f"{numbers['insurer_number']} {numbers['symbol']}-{numbers['number']}-{numbers['branch'] or '**'}"
        if scope is not None and numbers["insurer_number"] != scope.number:
            report.problems.append(ListProblem(n, "保険者番号", numbers["insurer_number"],
                                               f"保険者 {scope.number} のリストに他の保険者の行があります",
                                               "other_insurer"))
            continue
        found = registry.find_by_numbers(session, insurer_number=numbers["insurer_number"], symbol=numbers["symbol"],
                                         number=numbers["number"], branch=numbers["branch"], about_day=day)
        if birth is not None and found:
            found = [qv for qv in found if (pv := registry.person_on(session, qv.person_id)) is not None
                     and pv.birth_date == birth]
            if not found:
                report.problems.append(ListProblem(n, "生年月日", raw.get("birth_date", ""),
                                                   f"{shown} の加入者と生年月日が一致しません（該当者なし）", "unmatched"))
                continue
        if not found:
            report.problems.append(ListProblem(n, "番号", shown, f"{day:%Y-%m-%d} に資格のある加入者がいません（該当者なし）",
                                               "unmatched"))
            continue
        qv = found[-1]
        if qv.qualification_id in listed:
            report.already += 1
            continue
        listed.add(qv.qualification_id)
        session.add(NationalListEntry(kind=kind, month=month, file_id=f.id, row=n, qualification_id=qv.qualification_id,
                                      person_id=qv.person_id, insurer_id=qv.insurer_id, reason=reason or ""))
        why = REASONS[reason] if reason else KINDS[kind]
        if kind == "cannot_use":
            _apply(session, qv.qualification_id, day)
        report.added.append(ListAddition(n, qv.qualification_id, qv.person_id,
                                         f"{qv.symbol}-{qv.number}-{qv.branch}", why))
    f.rows_total, f.added, f.already = report.rows_total, len(report.added), report.already
    f.unmatched, f.rejected = len(report.unmatched), len(report.rejected)
    f.problems = [p.__dict__ for p in report.problems]
    # the report shows who was added and the values of the rows not applied: a read of their data, audited here
    kind_, id_ = actor_of(actor)
    for a in report.added:
        audit.record_read(session, actor_kind=kind_, actor_id=id_, action="national_list.import",
                          subject_kind="person", subject_id=a.person_id, detail=f"file {f.id} row {a.row}",
                          insurer_number=scope.number if scope else None)
    if report.problems:
        audit.record_read(session, actor_kind=kind_, actor_id=id_, action="national_list.import",
                          subject_kind="national_list_file", subject_id=f.id)
    session.flush()
    return report


def actor_of(actor: str) -> tuple[str, str]:
    """An ``imported_by`` (``web:<user>``, ``cli`` …) as the audit log's actor kind and id."""
    if actor.startswith("web:"):
        return "user", actor[4:]
    return ("cli", actor) if actor == "cli" else ("system", actor)


def _apply(session: Session, qualification_id: int, day: date) -> None:
    """The cannot-use list's effect: an application for a 資格確認書 (reason ``national_list``) on *day*, once —
    as ``documents.service.apply_for_certificate`` records it (that module imports this one)."""
    exists = session.scalar(select(CertificateApplication.id).where(
        CertificateApplication.qualification_id == qualification_id, CertificateApplication.reason == "national_list",
        CertificateApplication.applied_on == day))
    if exists is None:
        session.add(CertificateApplication(qualification_id=qualification_id, applied_on=day, reason="national_list",
                                           applicant="資格確認等システム", channel="national"))


# ---------------------------------------------------------------- reads

def imports(session: Session, *, insurer_id: int | None = None, limit: int = 50) -> list[NationalListFile]:
    """The lists imported, newest first (counts only: no person's data) — of one insurer's staff when given
    (their own uploads and the unscoped ones)."""
    q = select(NationalListFile)
    if insurer_id is not None:
        q = q.where((NationalListFile.insurer_id == insurer_id) | NationalListFile.insurer_id.is_(None))
    return list(session.scalars(q.order_by(NationalListFile.id.desc()).limit(limit)))


def import_report(session: Session, file_id: int, *, insurer_id: int | None, actor_kind: str,
                  actor_id: str) -> tuple[NationalListFile, list[NationalListEntry]] | None:
    """One import's report — who was added (audited: ``national_list.report`` per person shown) and the rows that
    were not applied (the file's problems hold typed values: audited as ``national_list_file``).  An insurer's
    staff see their own insurer's members only; None for a list they may not see."""
    f = session.get(NationalListFile, file_id)
    if f is None or (insurer_id is not None and f.insurer_id not in (None, insurer_id)):
        return None
    q = select(NationalListEntry).where(NationalListEntry.file_id == file_id)
    if insurer_id is not None:
        q = q.where(NationalListEntry.insurer_id == insurer_id)
    entries = list(session.scalars(q.order_by(NationalListEntry.row)))
    for e in entries:
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="national_list.report",
                          subject_kind="person", subject_id=e.person_id, detail=f"file {file_id}")
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="national_list.report",
                      subject_kind="national_list_file", subject_id=file_id)
    return f, entries


def stored_report(session: Session, file_id: int, *, actor: str = "cli", already_imported: bool = False) -> ListReport:
    """An import's report rebuilt from what it recorded — for an import done elsewhere (a worker of the task engine,
    ``onshi lists import`` with a broker): the same lines :meth:`ListReport.lines` printed where it ran.  A read of
    the people added and of the rows' values: audited as in :func:`import_report`."""
    kind_, id_ = actor_of(actor)
    found = import_report(session, file_id, insurer_id=None, actor_kind=kind_, actor_id=id_)
    if found is None:
        raise NationalListError(f"取込の記録 {file_id} がありません")
    f, entries = found
    report = ListReport(kind=f.kind, month=f.month, filename=f.filename, encoding=f.encoding, file_id=f.id,
                        already_imported=already_imported, rows_total=f.rows_total, already=f.already,
                        problems=[] if already_imported else [ListProblem(**p) for p in f.problems or []])
    if already_imported:  # as import_list says of a list seen before: its rows are all "already", nothing else
        report.already = f.rows_total
        return report
    for e in entries:
        qv = registry.qualification_history(session, e.qualification_id)[-1]
        report.added.append(ListAddition(e.row, e.qualification_id, e.person_id, f"{qv.symbol}-{qv.number}-{qv.branch}",
                                         REASONS[e.reason] if e.reason else KINDS[e.kind]))
    return report


def listed_for_certificate(session: Session, qualification_ids=None, *,
                           day: date | None = None) -> list[NationalListEntry]:
    """The fact the 資格確認書 decision reads: members on a 職権交付対象者リスト of a month up to *day*'s month
    (every month when *day* is None), oldest first."""
    q = select(NationalListEntry).where(NationalListEntry.kind == "ex_officio")
    if day is not None:
        q = q.where(NationalListEntry.month <= day.replace(day=1))
    if qualification_ids is not None:
        q = q.where(NationalListEntry.qualification_id.in_(list(qualification_ids)))
    return list(session.scalars(q.order_by(NationalListEntry.month, NationalListEntry.id)))
