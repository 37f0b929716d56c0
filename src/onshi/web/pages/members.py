"""The member page as the clerk's workbench (加入者の検索・加入者の画面) of the back office: search by any term
with paging; the page of one person — qualifications over time with the family, 標準報酬月額 and 限度額 history,
cards and linkage, the documents with their actions (発行 / 再交付 / 返納 / お知らせ再発行, through
:mod:`onshi.documents.counter`: the daily run's rules) and the person's recent verifications.

Pages only call services and render; every read of a person's data is audited by the service that reads it
(``registry.service.member_view``, ``search_members``; ``verify.person_history.recent_verifications``;
``documents.counter``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from onshi.auth.deps import DB
from onshi.interop.oqs.codes import LABELS as OQS_LABELS
from onshi.registry import service as registry
from onshi.web.limits import DbId
from onshi.web.pages.common import render, today, wareki
from onshi.web.pages.office import (CARD_STATE, DOC_KINDS, DOC_REASONS, LINKAGE_FIELDS, Staff, flash, out_dir,
                                    reader, take_flash, insurer_of)

router = APIRouter(include_in_schema=False, prefix="/office")


# ---------------------------------------------------------------- members

@dataclass
class Hit:
    person_id: int
    name: str
    name_kana: str
    birth_date: date
    numbers: str
    status: str
    employer: str = ""


@router.get("/members")
def member_search(request: Request, user: Staff, session: DB, name: str = "", birth_date: str = "",
                  symbol: str = "", number: str = "", branch: str = "", employer: str = "", page: int = 1,
                  per_page: int = 50):
    ins = insurer_of(session, user)
    invalid: dict[str, str] = {}
    hits, found = [], None
    employers = registry.list_employers(session, insurer_id=ins.id)
    names = {e.id: e.name for e in employers}
    try:
        found = registry.search_members(session, insurer_id=ins.id, name=name, birth_date=birth_date, symbol=symbol,
                                        number=number, branch=branch, employer=employer, today=today(),
                                        page=max(1, min(page, 10**6)), per_page=max(1, min(per_page, 200)),
                                        **reader(user))
    except registry.SearchInputError as exc:
        invalid = exc.invalid
    else:
        hits = [Hit(h.person_id, h.name, h.name_kana, h.birth_date, h.numbers,
                    "" if h.active is None else ("加入中" if h.active else f"喪失 {wareki(h.loss_date)}"),
                    names.get(h.employer_id, ""))
                for h in found.hits]
    q = {"name": name, "birth_date": birth_date, "symbol": symbol, "number": number, "branch": branch,
         "employer": employer}
    from urllib.parse import urlencode

    def page_url(n: int) -> str:
        return "/office/members?" + urlencode({**{k: v for k, v in q.items() if v}, "page": n,
                                               **({"per_page": per_page} if per_page != 50 else {})})

    return render(request, "office/members.html", {
        "q": q, "hits": hits, "invalid": invalid, "searched": bool(found and found.searched), "found": found,
        "page_url": page_url, "employers": employers},
        session=session, status_code=422 if invalid else 200)


@dataclass
class QualificationLine:
    qualification_id: int
    current: object
    versions: list
    employer: str
    co_pay: str


def timeline_svg(lines: list[QualificationLine], day: date) -> dict:
    """Bars of each qualification's valid period [acquisition, loss) on a year axis (drawn by the template)."""
    spans = [(ln.current.acquisition_date, ln.current.loss_date) for ln in lines if ln.current is not None]
    if not spans:
        return {}
    start = min(s for s, _ in spans).replace(month=1, day=1)
    end = max([day] + [e for _, e in spans if e]).replace(month=12, day=31)
    total = max((end - start).days, 1)
    width, left = 860, 150

    def x(d: date) -> float:
        return round(left + (d - start).days / total * width, 1)

    bars = []
    for i, ln in enumerate(lines):
        c = ln.current
        if c is None:
            continue
        x0, x1 = x(c.acquisition_date), x(c.loss_date or end)
        bars.append({"y": 24 + i * 30, "x": x0, "w": max(x1 - x0, 2), "open": c.loss_date is None,
                     "label": f"{c.symbol}・{c.number}・{c.branch}", "role": "本人" if c.role.value == "insured"
                     else "家族"})
    years = [{"x": x(date(y, 1, 1)), "y": y} for y in range(start.year, end.year + 2)
             if date(y, 1, 1) <= end and (end.year - start.year < 12 or y % 2 == 0)]
    return {"bars": bars, "years": years, "height": 40 + len(bars) * 30, "today": x(day), "left": left,
            "width": left + width + 10}


@router.get("/members/{person_id}")
def member_page(request: Request, user: Staff, session: DB, person_id: DbId):
    from onshi.documents import service as documents
    from onshi.documents import gaiji
    from onshi.exchange import cards, linkage
    from onshi.verify.person_history import METHODS, SETTINGS, recent_verifications

    ins = insurer_of(session, user)
    try:
        view = registry.member_view(session, person_id, insurer_id=ins.id, **reader(user))
    except registry.RegistryError:
        return render(request, "office/not_found.html", {"what": "加入者"}, session=session, status_code=404)
    employers = {e.id: e.name for e in registry.list_employers(session, insurer_id=ins.id)}
    groups: dict[int, list] = defaultdict(list)
    for v in view.qualifications:
        if v.insurer_id == ins.id:  # another insurer's record is not this clerk's business
            groups[v.qualification_id].append(v)
    lines = []
    for qid, versions in groups.items():
        versions.sort(key=lambda v: (v.recorded_at, v.id))
        current = next((v for v in reversed(versions) if v.superseded_at is None), None)
        co_pay = ""
        if current is not None and current.acquisition_date <= today() and \
                (current.loss_date is None or current.loss_date > today()):
            try:
                co_pay = f"{registry.co_pay_on(session, current, today()).ratio_tenths}割"
            except Exception:  # noqa: BLE001 - a missing 標準報酬 must not hide the page
                co_pay = "算定不可"
        lines.append(QualificationLine(qid, current, versions, employers.get(current.employer_id, "")
                                       if current else "", co_pay))
    lines.sort(key=lambda ln: ln.current.acquisition_date if ln.current else date.min)
    open_lines = [ln for ln in lines if ln.current is not None
                  and (ln.current.loss_date is None or ln.current.loss_date > today())]
    card_rows = [(c, cards.card_state(c, today())) for c in cards.cards_of(session, person_id)]
    check = linkage.latest_check(session, person_id)
    docs = documents.documents_of_person(session, person_id, insurer_id=ins.id)
    seen = recent_verifications(session, person_id, insurer_number=ins.number, limit=15, **reader(user))
    from onshi.documents import gaiji_review

    printed_name = gaiji.check(view.name).text
    gaiji_found = gaiji_review.flagged(view.name)
    decision = gaiji_review.latest_decision(session, person_id, view.name) if gaiji_found else None
    return render(request, "office/member.html", {
        "m": view, "lines": lines, "open_lines": open_lines, "timeline": timeline_svg(lines, today()),
        "cards": card_rows, "card_state": CARD_STATE, "check": check, "linkage_fields": LINKAGE_FIELDS,
        "docs": docs, "doc_kinds": DOC_KINDS, "doc_reasons": DOC_REASONS,
        "blocked": linkage.is_blocked(session, person_id), "today": today(), "family": view.family,
        "remuneration": view.remuneration, "limits": view.limits, "limit_labels": OQS_LABELS["OQSCD012"],
        "seen": seen, "methods": METHODS, "settings_labels": SETTINGS, "flash": take_flash(request),
        "application_reasons": documents.APPLICATION_REASONS,
        "printed_name": printed_name if printed_name != view.name else None,
        "gaiji_chars": gaiji_found[1] if gaiji_found else "", "gaiji_decision": decision,
        "gaiji_decisions": gaiji_review.DECISIONS,
        "issued": request.session.pop("issued", None)}, session=session)


def _member_action_done(request: Request, person_id: int, message: str, doc_ids: list[int] | None = None):
    flash(request, message)
    if doc_ids:
        request.session["issued"] = doc_ids
    return RedirectResponse(f"/office/members/{person_id}#documents", status_code=303)


@router.post("/members/{person_id}/certificates")
def member_issue_certificate(request: Request, user: Staff, session: DB, person_id: DbId,
                             qualification_id: Annotated[int | None, Form()] = None,
                             reason: Annotated[str, Form()] = ""):
    """発行 (reason empty: what the daily run would issue today) or 再交付 (reason: the application's)."""
    from onshi.documents import counter

    ins = insurer_of(session, user)
    if not registry.person_in_scope(session, person_id, ins.id):
        return render(request, "office/not_found.html", {"what": "加入者"}, session=session, status_code=404)
    try:
        qv = counter.member_qualification(session, person_id, ins.id, qualification_id)
        with session.begin_nested():  # a refused issue leaves nothing behind (no half-recorded application)
            if reason:
                doc, report = counter.reissue(session, person_id, qv.qualification_id, reason, today(), out_dir(),
                                              insurer_id=ins.id, **reader(user))
                docs = [doc] if doc else []
                if not docs and not report.skipped:
                    return _member_action_done(request, person_id, "同じ理由の再交付は本日発行済みです（二重には発行しません）")
            else:
                docs, report = counter.issue(session, person_id, qv.qualification_id, today(), out_dir(),
                                             insurer_id=ins.id, **reader(user))
    except (counter.NothingDue, ValueError, LookupError) as exc:
        return _member_action_done(request, person_id, f"発行できません: {exc}")
    if not docs:
        return _member_action_done(request, person_id, "発行できません: " + "；".join(report.lines))
    what = "再交付しました" if reason else "発行しました"
    return _member_action_done(request, person_id, f"資格確認書を{what}（{len(docs)}件）。印刷してお渡しください",
                               [d.id for d in docs])


@router.post("/members/{person_id}/gaiji")
def member_gaiji_decision(request: Request, user: Staff, session: DB, person_id: DbId,
                          decision: Annotated[str, Form()] = "", note: Annotated[str, Form()] = ""):
    """The clerk's decision on a name with 外字: print the substitute, or handle it otherwise."""
    from onshi.auth import users
    from onshi.documents import gaiji_review

    ins = insurer_of(session, user)
    if not registry.person_in_scope(session, person_id, ins.id):
        return render(request, "office/not_found.html", {"what": "加入者"}, session=session, status_code=404)
    try:
        gaiji_review.decide(session, person_id, decision, by=users.actor(user), note=note, insurer_id=ins.id,
                            **reader(user))
    except ValueError as exc:
        return _member_action_done(request, person_id, f"記録できません: {exc}")
    return _member_action_done(request, person_id, f"外字の判断を記録しました（{gaiji_review.DECISIONS[decision]}）")


@router.post("/members/{person_id}/notices")
def member_reissue_notice(request: Request, user: Staff, session: DB, person_id: DbId,
                          qualification_id: Annotated[int | None, Form()] = None):
    from onshi.documents import counter

    ins = insurer_of(session, user)
    if not registry.person_in_scope(session, person_id, ins.id):
        return render(request, "office/not_found.html", {"what": "加入者"}, session=session, status_code=404)
    try:
        qv = counter.member_qualification(session, person_id, ins.id, qualification_id)
        doc = counter.reissue_notice(session, person_id, qv.qualification_id, today(), out_dir(),
                                     insurer_id=ins.id, **reader(user))
    except (counter.NothingDue, ValueError, LookupError) as exc:
        return _member_action_done(request, person_id, f"発行できません: {exc}")
    return _member_action_done(request, person_id, "資格情報のお知らせを再発行しました。印刷してお渡しください", [doc.id])


@router.post("/documents/{document_id}/return")
def document_return(request: Request, user: Staff, session: DB, document_id: DbId,
                    returned_on: Annotated[str, Form()] = ""):
    from onshi.documents import counter
    from onshi.web.pages.common import read_date

    ins = insurer_of(session, user)
    doc = None
    try:
        day = read_date(returned_on, "returned_on", "返納日") if returned_on.strip() else today()
        if day > today():
            raise ValueError(f"返納日「{returned_on}」: 未来の日付は記録できません")
        doc = counter.record_return(session, document_id, day, insurer_id=ins.id, **reader(user))
    except ValueError as exc:
        from onshi.documents import service as documents

        found = documents.get_document(session, document_id)
        if found is None or found.insurer_id != ins.id:
            return render(request, "office/not_found.html", {"what": "文書"}, session=session, status_code=404)
        return _member_action_done(request, found.person_id, f"返納を記録できません: {str(exc).split(' (')[0]}")
    if doc is None:
        return render(request, "office/not_found.html", {"what": "文書"}, session=session, status_code=404)
    return _member_action_done(request, doc.person_id, f"返納を記録しました（{wareki(doc.returned_at)}）")


