"""The clinic's reception screen (受付): verification by the numbers on a card or by the card reader,
the patient screen (患者情報), the 被保険者資格申立書, today's verifications and the bulk check of tomorrow's
appointments.  Every verification goes through :func:`onshi.verify.service.verify` (logged and audited there).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import ValidationError
from sqlalchemy.orm import Session

from onshi.interop.oqs.codes import LABELS as OQS_LABELS
from onshi.interop.oqs.codes import screen_label
from onshi.exchange import cards as card_service
from onshi.verify import service as verify_service
from onshi.verify.result import (
    ConsentKind,
    ReferenceClass,
    Validity,
    VerificationError,
    VerificationOutcome,
    VerificationRequest,
)
from onshi.auth.sessions import require
from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.web.pages.common import FormError, FormErrors, pydantic_message, read_date, render, today, wareki

router = APIRouter(include_in_schema=False)
Clinic = Annotated[WebUser, Depends(require("clinic"))]

VALIDITY_CLASS = {1: "ok", 2: "ng", 3: "warn", 4: "ng", 5: "warn", 6: "ok"}
CONSENTS = [(ConsentKind.LIMIT.value, "限度額情報"), (ConsentKind.SPECIFIC_HEALTH_CHECKUPS.value, "特定健診情報"),
            (ConsentKind.PHARMACIST.value, "薬剤情報"), (ConsentKind.DIAGNOSIS.value, "診療情報"),
            (ConsentKind.OPERATION.value, "手術情報")]
READER_OUTCOMES = [("face", "顔認証 成功"), ("pin", "暗証番号 一致"), ("visual", "目視確認（職員が本人確認）"),
                   ("face_failed", "顔認証できない"), ("pin_locked", "暗証番号 3回誤り（ロック）")]
# code tables of the OQS interface: one definition (onshi.interop.oqs.codes), with 認定証 for the screen
LIMIT_CLASSES = {k: v + "認定証" for k, v in OQS_LABELS["OQSCD011"].items()}  # 証区分
LIMIT_CATEGORIES = OQS_LABELS["OQSCD012"]  # 適用区分
CARD_CLASSES = OQS_LABELS["OQSCD010"]  # 被保険者証区分


# ---------------------------------------------------------------- helpers

def institution_of(session: Session, user: WebUser):
    return verify_service.institution_by_code(session, user.institution_code)


def demo_cards(session: Session) -> list[str]:
    """Certificate serials to pick from in the card panel (the stand-in for the reader): the demo's cards."""
    from onshi.config import get_settings

    state = get_settings().var_dir / "demo.json"
    if state.exists():
        try:
            cards = json.loads(state.read_text()).get("cards") or []
            if cards:
                return cards[:30]
        except ValueError:
            pass
    return card_service.card_serials(session, 30)


@dataclass
class Shown:
    """The patient screen's data and what to do next."""

    validity: int
    label: str
    css: str
    answer: object | None
    warning: str | None
    next_steps: list[str]
    claim_link: bool
    care_date: date
    method: str
    receipt_id: str | None = None  #: the signed receipt of this check (docs/receipts.md)
    provisional_billing: object | None = None  #: 期限切れ保険証の暫定的な取扱い, when it applies (docs/rules.md)


def next_steps(outcome: VerificationOutcome, method: str) -> tuple[list[str], bool]:
    v = outcome.validity
    a = outcome.answers[0] if outcome.answers else None
    if v == Validity.VALID:
        steps = ["資格は有効です。表示の負担割合で受け付けてください。"]
        if a is not None and a.limit is None and method in ("card", "smartphone"):
            steps.append("限度額情報は同意がないか、この日の情報がありません。")
        return steps, False
    if v == Validity.INVALID:
        lost = f"（資格喪失日 {wareki(a.disqualification_date)}）" if a and a.disqualification_date else ""
        return [f"この資格は診療日には無効です{lost}。",
                "新しい資格確認書・保険証をお持ちか確認し、その番号で照会するか、マイナ保険証で確認してください。",
                "確認できない場合は、被保険者資格申立書を記入していただき、通常の負担割合で受け付けます。"], True
    if v == Validity.INVALID_NEWER_EXISTS:
        return ["この番号の資格は終わっています。別の保険者で新しい資格が登録されています。",
                "マイナ保険証（カード）で照会するか、新しい資格確認書・保険証の番号で照会し直してください。"], True
    if v == Validity.MULTIPLE:
        return ["この番号では複数の方が該当します。枝番（2桁）を入力して照会し直してください。"], False
    steps = ["入力した保険者番号・記号・番号・枝番・生年月日をもう一度確認してください。"] if method == "numbers" else []
    steps += ["就職・転職の直後は、保険者の登録が間に合っていないことがあります（届出から登録まで数日）。",
              "被保険者資格申立書を記入していただき、通常の負担割合で受け付けてください。"]
    if outcome.warning:
        steps.insert(0, "保険者で登録内容を確認中のため表示できません。資格確認書等で確認してください。")
    return steps, True


def validity_labels() -> dict[int, str]:
    """資格有効性 as the screens word it (4: 資格情報なし) — from the one mapping, onshi.interop.oqs.codes."""
    return {int(v): screen_label("OQSCD006", v) for v in Validity}


def show(outcome: VerificationOutcome, care_date: date, method: str) -> Shown:
    v = int(outcome.validity)
    steps, claim = next_steps(outcome, method)
    return Shown(v, screen_label("OQSCD006", v), VALIDITY_CLASS[v], outcome.answers[0] if outcome.answers else None,
                 outcome.warning, steps, claim, care_date, method, outcome.receipt_id, outcome.provisional_billing)


def _numbers_request(form: dict, institution_code: str, care_date: date, limit_consent: bool,
                     arbitrary_identifier: str | None = None) -> VerificationRequest:
    """Validate the typed numbers with the REST API's own rules; :class:`FormErrors` names every bad field."""
    from onshi.verify.views import NumbersQuery

    labels = {"insurer_number": "保険者番号", "symbol": "記号", "number": "番号", "branch": "枝番"}
    invalid = {}
    try:
        birth = read_date(form.get("birth_date", ""), "birth_date", "生年月日")
    except FormError as exc:
        invalid[exc.field] = exc.message
        birth = None
    try:
        q = NumbersQuery(insurer_number=form.get("insurer_number", "").strip(), symbol=form.get("symbol", ""),
                         number=form.get("number", "").strip(), branch=form.get("branch") or None,
                         birth_date=birth or date(2000, 1, 1), care_date=care_date, limit_consent=limit_consent,
                         arbitrary_identifier=arbitrary_identifier)
    except ValidationError as exc:
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            value = str(form.get(field) or "").strip()
            shown_value = f"「{value}」" if value and e["type"] not in ("string_too_short", "missing") else ""
            invalid.setdefault(field, f"{labels.get(field, field)}{shown_value}: {pydantic_message(e)}")
        q = None
    if invalid:
        order = list(labels) + ["birth_date"]
        raise FormErrors(dict(sorted(invalid.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)))
    return q.to_request(institution_code)


def _care_date(value: str | None) -> date:
    if not value:
        return today()
    return read_date(value, "care_date", "診療日")


# ---------------------------------------------------------------- the screen

def _page(request: Request, session: Session, user: WebUser, **ctx):
    base = {"consents": CONSENTS, "reader_outcomes": READER_OUTCOMES, "cards": demo_cards(session),
            "phones": card_service.card_serials(session, 6, kind=card_service.SMARTPHONE),
            "credentials": card_service.CREDENTIAL_KINDS,
            "form": {}, "care_date": today().isoformat(), "limit_classes": LIMIT_CLASSES,
            "limit_categories": LIMIT_CATEGORIES, "card_classes": CARD_CLASSES, "tab": "numbers"}
    inst = institution_of(session, user)
    base["institution_kind"] = getattr(inst, "kind", None) or "general"  # 限定型: no consent controls
    base.update(ctx)
    return render(request, "reception.html", base, session=session, status_code=ctx.pop("status_code", 200)
                  if "status_code" in ctx else 200)


@router.get("/reception")
def reception(request: Request, user: Clinic, session: DB):
    return _page(request, session, user)


@router.post("/reception/numbers")
async def verify_numbers(request: Request, user: Clinic, session: DB):
    form = dict(await request.form())
    form.pop("csrf_token", None)
    inst = institution_of(session, user)
    invalid: dict[str, str] = {}
    care = None
    try:
        care = _care_date(form.get("care_date"))
    except FormError as exc:
        invalid[exc.field] = exc.message
    try:
        req = _numbers_request(form, inst.code, care or today(), limit_consent=bool(form.get("limit_consent")))
        if invalid:
            raise FormErrors({})
        outcome = verify_service.verify(session, req, inst)
    except FormErrors as exc:
        return _page(request, session, user, form=form, invalid={**exc.invalid, **invalid},
                     care_date=form.get("care_date") or today().isoformat(), status_code=422)
    except VerificationError as exc:
        return _page(request, session, user, form=form, errors=[exc.message],
                     care_date=form.get("care_date") or today().isoformat(), status_code=422)
    return _page(request, session, user, form=form, shown=show(outcome, care, "numbers"),
                 care_date=care.isoformat())


@router.post("/reception/card")
async def verify_card(request: Request, user: Clinic, session: DB):
    form = await request.form()
    inst = institution_of(session, user)
    serial = (form.get("card_serial") or "").strip()
    outcome_kind = form.get("reader") or "face"
    credential = form.get("credential") or card_service.CARD
    consents = {k: bool(form.get(f"consent_{k}")) for k, _ in CONSENTS}
    ctx = {"tab": "card", "card_form": {"card_serial": serial, "reader": outcome_kind, "consents": consents,
                                        "credential": credential}}
    if credential not in card_service.CREDENTIAL_KINDS:
        return _page(request, session, user, errors=[f"読み取った媒体「{credential}」: マイナンバーカードか"
                                                     "スマートフォンを選んでください"], status_code=422, **ctx)
    try:
        care = _care_date(form.get("care_date"))
    except FormError as exc:
        return _page(request, session, user, errors=[exc.message], status_code=422, **ctx)
    if not serial:
        return _page(request, session, user, errors=["カードを選ぶか、証明書シリアル番号を入力してください"],
                     status_code=422, **ctx)
    if outcome_kind == "face_failed":
        return _page(request, session, user, errors=[
            "顔認証ができませんでした。暗証番号の入力か、職員による目視確認に切り替えてください。"], **ctx)
    if outcome_kind == "pin_locked":
        return _page(request, session, user, errors=[
            ("暗証番号が3回誤入力されロックされました。目視確認に切り替えてください。"
             "ロックの解除は市区町村の窓口で行います。")], **ctx)
    reader = {"method": outcome_kind, "pin_failures": 0, "consents": consents}
    req = VerificationRequest(reference_class=ReferenceClass.CARD, care_date=care, institution_code=inst.code,
                              arbitrary_file_identifier=None, insurer_number=None, symbol=None, number=None,
                              branch=None, birth_date=None, limit_consent=consents["limit"],
                              arbitrary_identifier=None, card_serial=serial, reader_outcome=reader,
                              credential=credential)
    try:
        outcome = verify_service.verify(session, req, inst)
    except VerificationError as exc:
        steps = {"E0201": "電子証明書の有効期限が切れています。市区町村で更新の手続きをするよう案内し、"
                          "資格確認書・保険証の番号で照会してください。",
                 "E0202": "このカードの保険証利用登録は解除されています。資格確認書・保険証の番号で照会してください。"}
        return _page(request, session, user, errors=[exc.message, steps.get(exc.code, "")],
                     status_code=403 if exc.code == "E0403" else 200, **ctx)
    return _page(request, session, user, shown=show(outcome, care, credential), care_date=care.isoformat(), **ctx)


# ---------------------------------------------------------------- 被保険者資格申立書

CLAIM_FIELDS = ["name", "name_kana", "birth_date", "address", "phone", "insurer_hint", "employer_hint", "note"]


@router.get("/reception/claim")
def claim_form(request: Request, user: Clinic, session: DB, birth_date: str = "", care_date: str = "",
               insurer_hint: str = ""):
    form = {"birth_date": birth_date, "care_date": care_date or today().isoformat(), "insurer_hint": insurer_hint}
    return render(request, "claim.html", {"form": form}, session=session)


@router.post("/reception/claim")
async def claim_submit(request: Request, user: Clinic, session: DB):
    from onshi.registry.fields import FieldError

    form = {k: (v.strip() if isinstance(v, str) else v) for k, v in (await request.form()).items()}
    errors: list[str] = []
    invalid: dict[str, str] = {}
    for f, label in (("name", "氏名"), ("name_kana", "フリガナ")):
        if not form.get(f):
            invalid[f] = f"{label}: 入力してください"
    try:
        birth = read_date(form.get("birth_date", ""), "birth_date", "生年月日")
    except FormError as exc:
        invalid[exc.field] = exc.message
    try:
        care = _care_date(form.get("care_date"))
    except FormError as exc:
        invalid[exc.field] = exc.message
    if not invalid:
        try:
            with session.begin_nested():
                claim = verify_service.record_eligibility_claim(
                    session, institution_of(session, user), care_date=care, name=form["name"],
                    name_kana=form["name_kana"], birth_date=birth, address=form.get("address") or None,
                    phone=form.get("phone") or None, insurer_hint=form.get("insurer_hint") or None,
                    employer_hint=form.get("employer_hint") or None, note=form.get("note") or None)
        except FieldError as exc:
            errors.append(exc.reason)
    if errors or invalid:
        return render(request, "claim.html", {"form": form, "errors": errors, "invalid": invalid}, session=session,
                      status_code=422)
    return render(request, "claim.html", {"form": form, "claim": claim}, session=session)


# ---------------------------------------------------------------- today's verifications

def todays_log(session: Session, institution_code: str, day: date):
    """This institution's verifications of *day* (Japan time) from the usage log — it holds no names."""
    return verify_service.verifications_of_day(session, institution_code, day)


@router.get("/reception/today")
def today_page(request: Request, user: Clinic, session: DB):
    rows = todays_log(session, user.institution_code, today())
    labels, counts = validity_labels(), {}
    for r in rows:
        counts[labels.get(r.validity, str(r.validity))] = counts.get(labels.get(r.validity, str(r.validity)), 0) + 1
    return render(request, "today.html", {"rows": rows, "counts": counts, "labels": labels, "css": VALIDITY_CLASS,
                                          "day": today()}, session=session)


# ---------------------------------------------------------------- bulk check of tomorrow's appointments

BULK_COLUMNS = {"patient_id": "患者ID", "insurer_number": "保険者番号", "symbol": "記号", "number": "番号",
                "branch": "枝番", "birth_date": "生年月日"}


@dataclass
class BulkRow:
    row: int
    patient_id: str
    numbers: str
    shown: Shown | None
    error: str | None


def read_bulk_csv(data: bytes) -> list[tuple[int, dict]]:
    from onshi.registry.intake import IntakeFileError, decode_text

    try:
        text, _enc = decode_text(data)
    except IntakeFileError as exc:
        raise ValueError(str(exc)) from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in next(reader, [])]
    by_label = {v: k for k, v in BULK_COLUMNS.items()}
    names = [h if h in BULK_COLUMNS else by_label.get(h, "") for h in header]
    missing = [BULK_COLUMNS[c] for c in ("insurer_number", "number", "birth_date") if c not in names]
    if missing:
        raise ValueError(f"見出し行に {', '.join(missing)} の列がありません（列: {', '.join(BULK_COLUMNS.values())}）")
    rows = []
    for n, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        rows.append((n, {k: (values[i] if i < len(values) else "") for i, k in enumerate(names) if k}))
    if not rows:
        raise ValueError("データ行がありません")
    if len(rows) > 2000:
        raise ValueError("一度に照会できるのは2,000件までです")
    return rows


@router.get("/reception/bulk")
def bulk_form(request: Request, user: Clinic, session: DB):
    return render(request, "bulk.html", {"care_date": (today() + timedelta(days=1)).isoformat(),
                                         "columns": BULK_COLUMNS}, session=session)


@router.post("/reception/bulk")
async def bulk_submit(request: Request, user: Clinic, session: DB, file: Annotated[UploadFile, File()],
                      care_date: Annotated[str, Form()] = ""):
    inst = institution_of(session, user)
    ctx = {"care_date": care_date, "columns": BULK_COLUMNS}
    try:
        care = _care_date(care_date or (today() + timedelta(days=1)).isoformat())
    except FormError as exc:
        return render(request, "bulk.html", {**ctx, "invalid": {exc.field: exc.message}}, session=session,
                      status_code=422)
    try:
        rows = read_bulk_csv(await file.read())
    except ValueError as exc:
        return render(request, "bulk.html", {**ctx, "invalid": {"file": f"予約一覧（{file.filename}）: {exc}"}},
                      session=session, status_code=422)
    results = []
    for n, row in rows:
        pid = (row.get("patient_id") or "").strip()[:50]
        numbers = f"{row.get('insurer_number', '')} {row.get('symbol', '')}・{row.get('number', '')}・" \
                  f"{row.get('branch', '')}"
        try:
            req = _numbers_request(row, inst.code, care, limit_consent=False, arbitrary_identifier=pid or None)
            with session.begin_nested():
                outcome = verify_service.verify(session, req, inst)
            results.append(BulkRow(n, pid, numbers, show(outcome, care, "numbers"), None))
        except FormErrors as exc:
            results.append(BulkRow(n, pid, numbers, None, "／".join(exc.invalid.values())))
        except VerificationError as exc:
            results.append(BulkRow(n, pid, numbers, None, exc.message))
    summary = {}
    for r in results:
        key = r.shown.label if r.shown else "入力エラー"
        summary[key] = summary.get(key, 0) + 1
    return render(request, "bulk.html", {**ctx, "care_date": care.isoformat(), "results": results,
                                         "summary": summary, "filename": file.filename}, session=session)
