"""The insurer's back office (保険者事務): the dashboard, intake with correction of rejected rows, the 5-day SLA
board, the linkage-suspect list and the documents (資格確認書 queue, mailing runs); the member search and page are
:mod:`onshi.web.pages.members`.

Every screen is scoped to the user's insurer.  Pages only call service functions and render: each read of a
person's data goes through a service that writes the audit row itself (``registry.service.member_view``,
``search_members``; ``registry.intake`` ``intake_overview``, ``quarantine_entry``; ``exchange.linkage.suspect_list``;
``documents.runs.certificate_queue``, ``reprint_for``) — no page queries a table.
"""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as Path_
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from onshi.auth import users
from onshi.interop.oqs.codes import LABELS as OQS_LABELS
from onshi.registry import intake
from onshi.registry import service as registry
from onshi.registry.models import NotificationType
from onshi.store.clock import from_japan_time
from onshi.auth.sessions import require
from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.web.pages.common import render, today, wareki
from onshi.web.limits import DbId

router = APIRouter(include_in_schema=False, prefix="/office")
Staff = Annotated[WebUser, Depends(require("clerk", "supervisor"))]
Supervisor = Annotated[WebUser, Depends(require("supervisor"))]

NTYPE_LABELS = {"employer": "新規適用届（事業所）", "acquisition": "資格取得届", "loss": "資格喪失届",
                "dependent": "被扶養者（異動）届", "name_change": "氏名変更届", "address_change": "住所変更届",
                "remuneration": "標準報酬月額の決定・改定", "limit_application": "限度額適用認定申請"}
SLA_LABELS = {"on_time": "期限内に登録", "late": "期限後に登録", "overdue": "期限超過（未登録）",
              "due_soon": "期限間近（未登録）", "pending": "登録待ち"}
SLA_ORDER = ["on_time", "late", "pending", "due_soon", "overdue"]
CARD_STATE = {None: "利用可", "cancelled": "利用登録解除", "expired": "電子証明書 失効"}
LINKAGE_FIELDS = {"name": "氏名", "name_kana": "フリガナ", "birth_date": "生年月日", "sex": "性別", "address": "住所"}
DOC_KINDS = {"certificate": "資格確認書", "notice": "資格情報のお知らせ", "cost_notice": "医療費のお知らせ"}
DOC_REASONS = {"no_my_number": "個人番号未登録", "no_card": "マイナ保険証なし", "card_cancelled": "利用登録解除",
               "card_expired": "電子証明書失効", "mailing": "一斉送付", "reissue:name_change": "氏名変更による再交付",
               "reissue:numbers_change": "記号・番号の変更による再交付",
               "reissue:ratio_change": "負担割合の変更による再交付", "reissue:request": "本人の求めによる再発行",
               "application:card_lost": "紛失による再交付", "application:card_renewal": "カード更新中のため",
               "application:needs_support": "要配慮者の申請", "application:national_list": "国の一覧による申請",
               "application:other": "申請による再交付（その他）"}
COLUMN_LABELS = {c: j for layout in intake.LAYOUTS.values() for c, j in layout.items()}


def insurer_of(session: Session, user: WebUser):
    return registry.get_insurer(session, id=user.insurer_id)


def _actor(user: WebUser) -> str:
    return users.actor(user)


def _scope(session: Session, user: WebUser) -> dict:
    """The insurer scope of the quarantine reads: the insurer and who imports for it."""
    ins = insurer_of(session, user)
    return {"insurer_id": ins.id, "insurer_number": ins.number,
            "importers": users.actors_of_insurer(session, ins.id)}


def reader(user: WebUser) -> dict:
    """The actor of an audited read."""
    return {"actor_kind": "user", "actor_id": user.username}


def flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def take_flash(request: Request) -> str | None:
    return request.session.pop("flash", None)


# ---------------------------------------------------------------- dashboard

@router.get("")
def dashboard(request: Request, user: Staff, session: DB):
    from onshi.documents import service as documents
    from onshi.exchange import linkage, sla
    from onshi.exchange.publish import pending_count

    ins = insurer_of(session, user)
    summary = sla.sla_summary(session, insurer_id=ins.id, today=today())["by_status"]
    quarantine = intake.quarantine_count(session, **_scope(session, user))
    due = documents.due_certificates(session, today(), insurer_id=ins.id)
    tiles = [("取込エラー（未処理）", quarantine, "/office/intake", "warn" if quarantine else "ok"),
             ("登録期限超過", summary.get("overdue", 0), "/office/sla", "ng" if summary.get("overdue") else "ok"),
             ("登録待ち", pending_count(session, ins.id), "/office/sla", ""),
             ("紐付け誤りの疑い", len(linkage.suspects(session, insurer_id=ins.id)), "/office/linkage", ""),
             ("資格確認書 発行待ち", len(due), "/office/documents", "")]
    return render(request, "office/dashboard.html", {"tiles": tiles, "flash": take_flash(request)},
                  session=session)


@router.get("/documents/{document_id}.pdf")
def document_pdf(request: Request, user: Staff, session: DB, document_id: DbId):
    from onshi.documents import runs as document_runs

    printed = document_runs.reprint_for(session, document_id, insurer_id=user.insurer_id, **reader(user))
    if printed is None:
        return render(request, "office/not_found.html", {"what": "文書"}, session=session, status_code=404)
    doc, pdf = printed
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{doc.kind}_{document_id}.pdf"', "Cache-Control": "no-store"})


# ---------------------------------------------------------------- intake

def _foreign_rows(data: bytes, ntype: intake.NotificationType, insurer_number: str) -> list[str]:
    """Rows that name another (valid) insurer: a clerk imports only for their own insurer."""
    from onshi.numbers import insurer_number as ins_no

    _enc, rows = intake.read_rows(data, ntype)
    out = []
    for n, raw in rows:
        value = raw.get("insurer_number", "")
        try:
            number = ins_no.validate(value)
        except Exception:  # noqa: BLE001, S112 - a malformed number is the row check's job
            continue
        if number != insurer_number:
            out.append(f"{n}行目: 保険者番号 {number} は担当の保険者ではありません")
    return out


def _intake_page(request: Request, session: Session, user: WebUser, **ctx):
    overview = intake.intake_overview(session, report=ctx.get("report"), **_scope(session, user), **reader(user))
    base = {"ntypes": NTYPE_LABELS, "quarantine": [e.row for e in overview.quarantine], "files": overview.files,
            "qids": overview.qids, "columns": COLUMN_LABELS,
            "flash": take_flash(request), "ntype": ctx.get("ntype", "acquisition")}
    base.update(ctx)
    return render(request, "office/intake.html", base, session=session, status_code=ctx.get("status_code", 200))


@router.get("/intake")
def intake_form(request: Request, user: Staff, session: DB):
    return _intake_page(request, session, user)


@router.post("/intake")
async def intake_upload(request: Request, user: Staff, session: DB, file: Annotated[UploadFile, File()],
                        ntype: Annotated[str, Form()], received_at: Annotated[str, Form()] = ""):
    ins = insurer_of(session, user)
    try:
        nt = NotificationType(ntype)
    except ValueError:
        return _intake_page(request, session, user, errors=["届出の種類を選んでください"], status_code=422)
    received = None
    if received_at.strip():
        try:
            # typed in Japan time; stored like the default (utcnow): UTC without tzinfo
            received = from_japan_time(datetime.fromisoformat(received_at.strip().replace("T", " ")))
        except ValueError:
            return _intake_page(request, session, user, ntype=ntype, status_code=422, invalid={
                "received_at": f"受付日時「{received_at}」: 2026-11-20 09:30 の形で入力してください"})
    data = await file.read()
    name = Path(file.filename or "upload.csv").name or "upload.csv"
    try:
        foreign = _foreign_rows(data, nt, ins.number)
        if foreign:
            raise intake.IntakeFileError("他の保険者の届出が含まれています。ファイルを分けてください: "
                                         + "; ".join(foreign[:10]) + (" …" if len(foreign) > 10 else ""))
        with tempfile.TemporaryDirectory(prefix="onshi-upload-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            with session.begin_nested():  # a file that cannot be read applies nothing
                report = intake.import_file(session, path, nt, received_at=received, actor=_actor(user),
                                            insurer=ins.number)
    except intake.IntakeFileError as exc:
        return _intake_page(request, session, user, ntype=ntype, status_code=422,
                            errors=[f"{name}: ファイル全体を取り込めませんでした（何も反映していません）: {exc}"])
    from onshi.documents import gaiji_review

    gaiji = gaiji_review.names_in_file(session, report.file_id, insurer_id=ins.id, **reader(user)) \
        if report.file_id else []
    return _intake_page(request, session, user, report=report, ntype=ntype, gaiji=gaiji)


@router.get("/quarantine/{qid}")
def quarantine_form(request: Request, user: Staff, session: DB, qid: DbId):
    entry = intake.quarantine_entry(session, qid, **_scope(session, user), **reader(user))
    if entry is None:
        return render(request, "office/not_found.html", {"what": "エラー行"}, session=session, status_code=404)
    return _quarantine_page(request, session, entry, entry.row.errors)


#: Coded columns of a notification row, corrected with a <select> of their labels (from the one code tables).
CODED_COLUMNS = {"sex": OQS_LABELS["OQSCD007"], "card_classification": OQS_LABELS["OQSCD010"],
                 "voluntary_continuation": {"0": "いいえ（任意継続ではない）", "1": "はい（任意継続）"},
                 "loss_reason": intake.LOSS_REASONS}


def _quarantine_page(request: Request, session: Session, entry, errors: list[dict], status_code: int = 200):
    row = entry.row
    layout = intake.LAYOUTS[row.notification_type]
    bad = {e["column"] for e in errors}
    return render(request, "office/quarantine.html", {
        "row": row, "file": entry.file, "layout": layout, "values": entry.values,
        "row_errors": errors, "bad": bad, "secret": intake.SECRET_COLUMNS, "ntypes": NTYPE_LABELS,
        "optional": intake.OPTIONAL, "choices": {c: v for c, v in CODED_COLUMNS.items() if c in layout}},
        session=session, status_code=status_code)


@router.post("/quarantine/{qid}")
async def quarantine_fix(request: Request, user: Staff, session: DB, qid: DbId):
    entry = intake.quarantine_entry(session, qid, open_only=True, **_scope(session, user), **reader(user))
    if entry is None:
        return render(request, "office/not_found.html", {"what": "エラー行"}, session=session, status_code=404)
    row = entry.row
    form = await request.form()
    if form.get("action") == "withdraw":
        intake.withdraw(session, qid, actor=_actor(user))
        flash(request, f"{row.row_number}行目を取り下げました（反映しません）")
        return RedirectResponse("/office/intake", status_code=303)
    before = entry.values
    corrections = {}
    for column in intake.LAYOUTS[row.notification_type]:
        new = form.get(f"col_{column}")
        if new is None:
            continue
        new = str(new)
        if column in intake.SECRET_COLUMNS:
            if new.strip():
                corrections[column] = new.strip()
        elif new != before.get(column, ""):
            corrections[column] = new
    if not corrections:
        return _quarantine_page(request, session, entry, row.errors + [{"column": "", "value": "",
                                "reason": "どの項目も変更されていません"}], status_code=422)
    with session.begin_nested():
        report = intake.resubmit(session, qid, corrections, actor=_actor(user))
    if report.rejected:  # the row now holds the corrections and their errors: show those (read, audited, above)
        entry = dataclasses.replace(entry, values=intake.quarantined_values(row))
        return _quarantine_page(request, session, entry, row.errors, status_code=422)
    flash(request, f"{row.row_number}行目を訂正して反映しました" + ("（反映済みの届出と同じでした）" if report.duplicate
                                                              else ""))
    return RedirectResponse("/office/intake", status_code=303)


# ---------------------------------------------------------------- SLA board

def sla_chart(by_day: dict[str, dict[str, int]], days: int = 21) -> dict:
    """Stacked bars per day of receipt (server-rendered SVG)."""
    if not by_day:
        return {}
    end = max(today(), date.fromisoformat(max(by_day)))
    start = max(date.fromisoformat(min(by_day)), end - timedelta(days=days - 1))
    start = min(start, end - timedelta(days=13))  # at least two weeks, every day shown (empty days too)
    items = [((start + timedelta(days=i)).isoformat(), by_day.get((start + timedelta(days=i)).isoformat(), {}))
             for i in range((end - start).days + 1)]
    top = max(sum(v.values()) for _, v in items) or 1
    height, base, left, bw = 220, 190, 44, 34
    bars = []
    for i, (day, counts) in enumerate(items):
        y = base
        x = left + i * (bw + 8)
        for status in SLA_ORDER:
            n = counts.get(status, 0)
            if not n:
                continue
            h = round(n / top * (base - 20), 1)
            y -= h
            bars.append({"x": x, "y": round(y, 1), "w": bw, "h": max(h, 1), "status": status, "n": n, "day": day})
        bars.append({"label": f"{int(day[5:7])}/{int(day[8:])}", "x": x + bw / 2,
                     "total": sum(counts.values()) or "", "ty": round(y - 4, 1)})
    ticks = [{"y": round(base - t / top * (base - 20), 1), "v": t} for t in sorted({0, top // 2, top})]
    return {"bars": bars, "ticks": ticks, "width": left + len(items) * (bw + 8) + 10, "height": height,
            "base": base, "left": left}


@router.get("/sla")
def sla_board(request: Request, user: Staff, session: DB):
    """The registration SLA board, and what lateness cost: the 返納金 cases caused by our late registration per
    month of care (counts and yen; each month links to its cases on /office/claims)."""
    from onshi.claims import service as claims
    from onshi.exchange import sla

    ins = insurer_of(session, user)
    board = sla.board(session, insurer_id=ins.id, today=today())
    summary = board.summary
    employers = {e.id: e for e in registry.list_employers(session, insurer_id=ins.id)}
    by_employer = sorted(summary["by_employer"].items(), key=lambda kv: (-kv[1].get("overdue", 0), kv[0]))
    lateness = claims.lateness_cost_by_month(session, insurer_id=ins.id)
    return render(request, "office/sla.html", {
        "summary": summary, "totals": board.totals, "chart": sla_chart(summary["by_day"]), "labels": SLA_LABELS,
        "order": SLA_ORDER, "by_employer": by_employer, "late": board.late, "employers": employers,
        "ntypes": NTYPE_LABELS, "pending": board.pending, "flash": take_flash(request), "lateness": lateness,
        "lateness_total": {"cases": sum(r["cases"] for r in lateness),
                           "amount_yen": sum(r["amount_yen"] for r in lateness)}},
        session=session)


@router.post("/sla/publish")
def sla_publish(request: Request, user: Staff, session: DB):
    """Register pending changes in the verification index now (中間サーバーへの登録)."""
    from onshi.exchange.publish import publish_all

    n = publish_all(request.app.state.engine, insurer_id=user.insurer_id)
    flash(request, f"{n}件を資格確認の索引に登録しました")
    return RedirectResponse("/office/sla", status_code=303)


# ---------------------------------------------------------------- linkage suspects

@router.get("/linkage")
def linkage_list(request: Request, user: Staff, session: DB):
    from onshi.exchange import linkage

    ins = insurer_of(session, user)
    rows = linkage.suspect_list(session, insurer_id=ins.id, **reader(user))
    return render(request, "office/linkage.html", {"rows": rows, "fields": LINKAGE_FIELDS,
                                                   "flash": take_flash(request), "errors": []}, session=session)


@router.post("/linkage/{check_id}/clear")
def linkage_clear(request: Request, user: Supervisor, session: DB, check_id: DbId,
                  reason: Annotated[str, Form()] = ""):
    from onshi.exchange import linkage

    ins = insurer_of(session, user)
    if check_id not in {c.id for c in linkage.suspects(session, insurer_id=ins.id)}:
        return render(request, "office/not_found.html", {"what": "紐付け確認"}, session=session, status_code=404)
    try:
        linkage.clear(session, check_id, reason=reason, user=_actor(user))
    except ValueError as exc:
        flash(request, f"記録できません: {str(exc).split(' (')[0]}")
        return RedirectResponse("/office/linkage", status_code=303)
    flash(request, "「理由付き疑いなし」として記録しました。この方はマイナ保険証で確認できるようになります")
    return RedirectResponse("/office/linkage", status_code=303)


# ---------------------------------------------------------------- documents

def out_dir() -> Path:
    from onshi.config import get_settings

    return get_settings().var_dir / "documents"


def _starters(session: Session, rows) -> None:
    """実行者 by name: ``web:<username>`` becomes the account's display name (the command line stays コマンド)."""
    names: dict[str, str] = {}
    for row in rows:
        by = row.started_by
        if by not in names:
            if by.startswith("web:"):
                account = users.get_by_username(session, by[4:])
                names[by] = (account.display_name or account.username) if account is not None else by[4:]
            elif by.startswith("cli") or by in ("onshi", "test"):
                names[by] = "コマンド（onshi）"
            else:
                names[by] = by
        row.started_by = names[by]


@router.get("/documents")
def documents_page(request: Request, user: Staff, session: DB):
    from onshi.documents import mailing_view
    from onshi.documents import runs as document_runs
    from onshi.documents import service as documents

    live = {p.run_name: p for p in document_runs.live_runs(user.insurer_id)}
    session.commit()  # the records read below are at least as new as the progress (SQLite's snapshot: views.py)
    ins = insurer_of(session, user)
    due = document_runs.certificate_queue(session, today(), insurer_id=ins.id, limit=200, **reader(user))
    runs = mailing_view.run_rows(session, ins.id, live)
    _starters(session, runs)
    returns = documents.outstanding_returns(session, ins.id)[:100]
    return render(request, "office/documents.html", {
        "due": due, "runs": runs, "returns": returns, "reasons": DOC_REASONS,
        "today": today(), "flash": take_flash(request), "doc_kinds": DOC_KINDS,
        "mailing_total": mailing_view.mailing_total(session, ins.id, today()),
        "falling_due": mailing_view.falling_due(session, ins.id, today()),
        "run_states": RUN_STATES, "contact": registry.contact_line(ins), "default_run": f"{wareki(today()).split('年')[0]}年{today().month}月分"},
        session=session)


RUN_STATES = {"running": "実行中", "done": "完了", "failed": "失敗", "stopped": "中断"}


@router.get("/documents/runs/{run_id}/files/{index}")
def document_run_file(request: Request, user: Staff, session: DB, run_id: DbId,
                      index: Annotated[int, Path_(ge=0, le=100000)]):
    """One file of a run: an employer's bundle (PDF), the manifest (CSV), a certificate — audited per person."""
    from onshi.documents import mailing_view

    path = mailing_view.run_file(session, run_id, index, out_dir(), insurer_id=user.insurer_id, **reader(user))
    if path is None:
        return render(request, "office/not_found.html", {"what": "ファイル"}, session=session, status_code=404)
    media = "text/csv; charset=utf-8" if path.suffix == ".csv" else "application/pdf"
    from urllib.parse import quote

    return FileResponse(path, media_type=media, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(path.name)}", "Cache-Control": "no-store"})


@router.post("/documents/daily")
def documents_daily(request: Request, user: Supervisor, session: DB):
    """Issue today's 資格確認書 of the supervisor's insurer (never another insurer's)."""
    from onshi.documents import service as documents

    ins = insurer_of(session, user)
    report = documents.daily_run(session, today(), out_dir(), actor=_actor(user), insurer=ins.number)
    flash(request, f"資格確認書を{report.issued}件発行しました" + (f"（{report.skipped}件は発行できず）"
                                                                if report.skipped else ""))
    return RedirectResponse("/office/documents", status_code=303)


@router.post("/documents/mailing")
def documents_mailing(request: Request, user: Supervisor, session: DB, run_name: Annotated[str, Form()] = ""):
    """Start a mailing run of 資格情報のお知らせ in the background; progress is polled by the page."""
    from onshi.documents import mailing_view
    from onshi.documents import runs as document_runs

    ins = insurer_of(session, user)
    run_name, refused = mailing_view.clean_run_name(run_name)
    if refused:
        flash(request, refused)
        return RedirectResponse("/office/documents", status_code=303)
    try:
        progress = document_runs.start_mailing(session, request.app.state.session_factory, insurer_id=ins.id,
                                               insurer_number=ins.number, run_name=run_name, issue=today(),
                                               out_dir=out_dir(), actor=_actor(user))
    except document_runs.RunAlreadyRunning:
        flash(request, f"送付回「{run_name}」は実行中です")
        return RedirectResponse("/office/documents", status_code=303)
    flash(request, f"送付回「{run_name}」を開始しました（{progress.total}件）")
    return RedirectResponse("/office/documents", status_code=303)


@router.get("/documents/progress.json")
def documents_progress(user: Staff):
    from onshi.documents import runs as document_runs

    return JSONResponse([{"run": p.run_name, "total": p.total, "done": p.done, "state": p.state,
                          "message": run_message(p)} for p in document_runs.live_runs(user.insurer_id)],
                        headers={"Cache-Control": "no-store"})


def run_message(progress) -> str:
    """What the page says of a run of this process: counts when done, the error when it failed."""
    if progress.state == "done":
        return f"{progress.issued}件作成" + (f"、{progress.skipped}件は作成済み" if progress.skipped else "")
    return progress.error if progress.state == "failed" else ""
