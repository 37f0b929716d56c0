"""Every read of personal data is audited, checked over EVERY route of the app (docs/audit.md).

The walker iterates ``app.routes`` (through FastAPI's route contexts), builds each route's request from the seeded
world (:data:`REQUESTS` for bodies and query strings, :func:`_params` for path parameters) and sends it with every
credential: no one, a clerk, a supervisor, an administrator, a clinic's receptionist, its doctor (有資格者, whom 太郎
has consented to), 太郎 himself signed in as a member (加入者) and an institution's token.
When an answer — HTML, JSON, XML in any encoding, CSV or a PDF's text — holds a seeded person's name, フリガナ, birth
date (西暦, 和暦, ``YYYYMMDD``) or address, an audit row naming that person (or the quarantined row / intake file
that holds their data) must have been written by the same request.  A route the walker cannot build a request for
fails the suite: a new route must be described here, and then it is checked.  A My Number in any answer fails at
once.  ``test_the_walker_finds_a_planted_unaudited_read`` proves the walker sees a read that writes no row.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from onshi.auth.deps import DB
from onshi.interop.fhir.coverage import MEMBER_ID_SYSTEM
from onshi.privacy import audit
from onshi.store.db import unit_of_work
from tests.registry.helpers import INSURER, MN_HANAKO, MN_TARO, SYMBOL, acquisition, load, write
from tests.web.conftest import CLINIC, MN_LATE, MN_MOVED, PASSWORD

TOKEN = "route-walker-institution-token"
CREDENTIALS = ("anonymous", "clerk", "supervisor", "admin", "reception", "doctor", "member", "institution")
#: routes that are not HTTP request/answer pairs the walker can send (said why)
NOT_WALKED = {
    "/myclinic/ws": "a WebSocket that pushes face file names only (the files are read through /myclinic/face/{name})",
}
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "onshi" / "web" / "templates"
BAD_ROW_NAME, BAD_ROW_KANA, BAD_ROW_BIRTH = "誤記　五郎", "ゴキ　五郎", "1966-06-06"  # フリガナ in kanji: refused, shown


def _norm(text: str) -> str:
    """NFKC (half-width kana, full-width digits and spaces folded) without any white space."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _date_forms(d: date) -> list[str]:
    from onshi.rules.wareki import format_wareki

    return [d.isoformat(), f"{d:%Y%m%d}", f"{d:%Y/%m/%d}", f"{d.year}年{d.month}月{d.day}日", format_wareki(d)]


@dataclass
class Seeded:
    """One seeded person: what identifies them on an answer, and the audit subjects that count as their read."""

    label: str
    markers: list[str]
    subjects: set[tuple[str, str]] = field(default_factory=set)

    def shown_in(self, text: str) -> str | None:
        return next((m for m in self.markers if _norm(m) in text), None)


@dataclass
class Walk:
    people: list[Seeded]
    params: dict[str, str]
    qualification_id: int


def _seed(tmp_path) -> Walk:
    """On top of the web world: an institution token, a quarantined row, issued 資格確認書."""
    from onshi.documents import service as documents
    from onshi.exchange.models import LinkageCheck
    from onshi.registry.models import IntakeFile, Insurer, NotificationType as T, PersonVersion, \
        QualificationVersion, QuarantinedRow
    from onshi.store.clock import japan_today
    from onshi.verify.institutions import token_digest
    from onshi.verify.models import Institution

    report = load(write(tmp_path, "bad.csv", T.acquisition, [acquisition(
        number="104", my_number="123456789012", name=BAD_ROW_NAME, name_kana=BAD_ROW_KANA, birth_date=BAD_ROW_BIRTH,
        address="北海道札幌市中央区北1条西2丁目")]), T.acquisition)
    assert report.rejected == 1, report
    with unit_of_work() as s:
        s.scalar(select(Institution).where(Institution.code == CLINIC)).token_digest = token_digest(TOKEN)
        from onshi.auth import users
        from onshi.registry import service as registry
        from onshi.store.clock import utcnow
        from onshi.verify import service as verify

        # the clinic's doctor, and 太郎's consent at its card reader: the consented clinical views show him
        users.add_user(s, username="doctor", password=PASSWORD, role="clinician", display_name="医師 健",
                       institution_code=CLINIC)
        # 太郎 himself (加入者本人): the member pages show his and his family's own data, audited like any read
        users.add_member(s, username="member", password=PASSWORD, insurer_number=INSURER, symbol=SYMBOL, number="101",
                         password_policy=False)
        verify.record_consents(s, person_id=registry.find_person_by_my_number(s, MN_TARO).id, institution_code=CLINIC,
                               kinds={"pharmacist": True, "specific_health_checkups": True}, now=utcnow(),
                               method="card")
        from onshi.config import get_settings

        # where the server keeps documents: the run's files can be downloaded (and each person printed audited)
        documents.daily_run(s, japan_today(), get_settings().var_dir / "documents", actor="test", insurer=INSURER)
    with unit_of_work() as s:
        people = []
        for pv in s.scalars(select(PersonVersion).where(PersonVersion.superseded_at.is_(None))):
            markers = [pv.name, pv.name_kana, *_date_forms(pv.birth_date)] + ([pv.address] if pv.address else [])
            people.append(Seeded(pv.name, markers, {("person", str(pv.person_id))}))
        row = s.scalar(select(QuarantinedRow))
        file = s.get(IntakeFile, row.file_id)
        people.append(Seeded(BAD_ROW_NAME, [BAD_ROW_NAME, BAD_ROW_KANA, *_date_forms(date.fromisoformat(
            BAD_ROW_BIRTH)), "北海道札幌市中央区北1条西2丁目"],
            {("quarantined_row", str(row.id)), ("intake_file", str(file.id)), ("intake_file", "*")}))
        # a marker that two people share (the same address) tells nobody apart: only the distinctive ones count
        counts: dict[str, int] = {}
        for p in people:
            for m in set(map(_norm, p.markers)):
                counts[m] = counts.get(m, 0) + 1
        # nor does one that the screens print as an example (the placeholder "S45.1.1 / 1970-01-01")
        examples = _norm("".join(f.read_text(encoding="utf-8") for f in TEMPLATES.rglob("*.html")))
        for p in people:
            p.markers = [m for m in p.markers if counts[_norm(m)] == 1 and _norm(m) not in examples]
        def person_of(label: str) -> str:
            return next(iter(next(p for p in people if p.label == label).subjects))[1]

        def qualification_of(person: str) -> int:
            return s.scalar(select(QualificationVersion.qualification_id).where(
                QualificationVersion.person_id == int(person), QualificationVersion.superseded_at.is_(None),
                QualificationVersion.insurer_id == s.scalar(select(Insurer.id).where(Insurer.number == INSURER))))

        person_id = person_of("厚労　太郎")
        # 太郎 lost his card today: a 資格確認書 is due for him from the next business day (POST …/certificates)
        documents.apply_for_certificate(s, qualification_id=qualification_of(person_id), applied_on=japan_today(),
                                        reason="card_lost", applicant="本人", channel="employer")
        from onshi.documents.models import IssuedDocument

        doc = s.scalar(select(IssuedDocument).order_by(IssuedDocument.id))
        assert doc is not None, "the daily run issued nothing: the walker needs a document"
        check = s.scalar(select(LinkageCheck).where(LinkageCheck.status == "mismatch"))
        # a national list naming 太郎 (its report) and 太郎 recorded during an outage and checked (the outage page)
        from onshi.documents import national_lists
        from onshi.outage import service as outage

        listed = national_lists.import_list(s, _ex_officio_list(), kind="ex_officio", month=japan_today())
        outage_rep = outage.record_patients(s, CLINIC, [_outage_taro(japan_today())], source="cli", actor="test",
                                            today=japan_today())
        outage.check(s, CLINIC, actor_kind="cli", actor_id="test")
        case_id = _seed_claims(s, int(person_id))
        # a decided cash-benefit application of 太郎: its pages, API answers and letter show him
        from onshi.benefits import service as benefits
        from tests.benefits.conftest import app_input

        ins_id = s.scalar(select(Insurer.id).where(Insurer.number == INSURER))
        benefit = benefits.receive(s, app_input("burial", received_on=japan_today(), attachments=["埋葬許可証"],
                                                details={"death_date": "2025-01-01"}), insurer_id=ins_id, actor="walk")
        benefits.decide(s, benefit.id, on=japan_today(), actor="walk")
        from onshi.documents.models import DocumentRun

        run_id = s.scalar(select(DocumentRun.id).order_by(DocumentRun.id))
        params = {"person_id": person_id, "quarantine_id": str(row.id), "qid": str(row.id), "run_id": str(run_id),
                  "index": "0",
                  "document_id": str(doc.id), "run_name": "walk", "name": "20260101120000_face.xml",
                  "check_id": str(check.id), "case_id": str(case_id), "username": "clerk", "application_id": str(benefit.id),
                  "file_id": str(listed.file_id), "record_id": str(outage_rep.added[0]), "kind": "trend", "fmt": "svg",
                  "resource_id": "not-a-sealed-id",  # /fhir/Coverage/{id}: an id no search gave → 404, nothing shown
                  "run_key": "daily:2026-01-01",  # /office/batch/run/{run_key}: a run (none shows a person)
                  "rest": "Patient"}  # /fhir/{rest}: what onshi does not serve (404 OperationOutcome)
        return Walk(people, params, qualification_of(person_id))


def _seed_claims(s, person_id: int) -> int:
    """A claim of 太郎's, a 返納金 case on it and a 資格点検 finding (claims, issue 21): the claims routes show him."""
    from onshi.claims.models import Claim, ClaimFile, EligibilityFinding, RefundCase
    from onshi.registry.models import Insurer
    from onshi.store.clock import japan_today

    ins = s.scalar(select(Insurer).where(Insurer.number == INSURER))
    month = f"{japan_today():%Y-%m}"
    f = ClaimFile(sha256="0" * 64, filename="walk.csv", encoding="utf-8", received_at=datetime(2026, 1, 1))
    s.add(f)
    s.flush()
    claim = Claim(file_id=f.id, institution_code=CLINIC, month=month, claim_number="1", setting="outpatient",
                  insurer_id=ins.id, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00",
                  birth_date=date(1970, 1, 1), person_id=person_id, care_dates=[f"{month}-01"], days=1, points=100,
                  total_yen=1000, copay_ratio=2, patient_share_yen=300, insurer_share_yen=700, content_hash="0" * 64)
    s.add(claim)
    s.flush()
    case = RefundCase(claim_id=claim.id, insurer_id=ins.id, person_id=person_id, month=month, days_after_loss=[],
                      days_valid_then=[], amount_yen=700, debtor="member", status="open", found_on=date(2026, 1, 1))
    s.add(case)
    s.add(EligibilityFinding(claim_id=claim.id, insurer_id=ins.id, person_id=person_id, month=month, reason="ratio",
                             care_date=date.fromisoformat(f"{month}-01"), detail="請求 2割 / 登録 3割"))
    s.flush()
    return case.id


def _params(walk: Walk, path: str, fmt: str, override: dict | None = None) -> str:
    names = re.findall(r"{(\w+)}", fmt)
    missing = [n for n in names if n not in walk.params]
    assert not missing, f"{path}: the route walker has no value for {missing}; add one in _seed()"
    values = {**walk.params, **(override or {})}
    if path == "/analytics/kpi/sheet.{fmt}":
        values["fmt"] = "pdf"
    return fmt.format(**values)


def _ex_officio_list() -> bytes:
    return (f"保険者番号,記号,番号,枝番,カナ氏名,生年月日,交付事由\n{INSURER},{SYMBOL},101,00,コウロウ　タロウ,"
            "1970-01-01,01\n").encode()


def _outage_taro(care: date, **over) -> dict:
    return {"care_date": care.isoformat(), "name": "厚労　太郎", "name_kana": "コウロウ　タロウ", "sex": "1",
            "birth_date": "1970-01-01", "address": "東京都港区虎ノ門1-1", **over}


def _outage_csv(care: date) -> bytes:
    return ("診療日,氏名,カナ氏名,性別,生年月日,住所\n"
            f"{care.isoformat()},厚労　太郎,コウロウ　タロウ,1,S45.1.1,東京都港区虎ノ門1-1\n").encode()


def _numbers_xml(today: date) -> bytes:
    return (f'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>'
            f"<XmlMsg><MessageHeader><QualificationConfirmationDate>{today:%Y%m%d}</QualificationConfirmationDate>"
            f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader>"
            f"<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>{INSURER}</InsurerNumber>"
            f"<InsuredCardSymbol>{SYMBOL}</InsuredCardSymbol><InsuredIdentificationNumber>101"
            f"</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber>"
            f"<Birthdate>19700101</Birthdate><LimitApplicationCertificateRelatedConsFlg>0"
            f"</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody>"
            f"</XmlMsg>").encode("cp932")


def _requests(walk: Walk, today: date) -> dict[tuple[str, str], list[dict]]:
    """Each route's requests beyond the bare one (``{"params"|"json"|"data"|"content"|"files": …}``).  A POST
    without an entry is an error of the walker (the route is new: describe it)."""
    taro = {"insurer_number": INSURER, "symbol": SYMBOL, "number": "101", "branch": "00",
            "birth_date": "1970-01-01", "care_date": today.isoformat()}
    oqs_json = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": f"{today:%Y%m%d}",
                                             "MedicalInstitutionCode": CLINIC},
                           "MessageBody": {"QualificationConfirmSearchInfo": {
                               "InsurerNumber": INSURER, "InsuredCardSymbol": SYMBOL,
                               "InsuredIdentificationNumber": "101", "InsuredBranchNumber": "00",
                               "Birthdate": "19700101", "LimitApplicationCertificateRelatedConsFlg": "0"}}}}
    claim = {"care_date": today.isoformat(), "name": "申立　三子", "name_kana": "モウシタテ　ミツコ",
             "birth_date": "1999-09-09"}
    fhir_request = {
        "resourceType": "CoverageEligibilityRequest", "status": "active", "purpose": ["validation"],
        "contained": [{"resourceType": "Patient", "id": "pat", "birthDate": "1970-01-01"},
                      {"resourceType": "Coverage", "id": "cov", "status": "active",
                       "beneficiary": {"reference": "#pat"}, "payor": [{"display": "保険者"}],
                       "identifier": [{"system": MEMBER_ID_SYSTEM, "value": f"{INSURER}:{SYMBOL}:101:00"}]}],
        "patient": {"reference": "#pat"}, "servicedDate": today.isoformat(), "created": today.isoformat(),
        "insurer": {"display": "オンライン資格確認"}, "insurance": [{"coverage": {"reference": "#cov"}}]}
    bulk = f"患者ID,保険者番号,記号,番号,枝番,生年月日\nP1,{INSURER},{SYMBOL},101,00,1970-01-01\n".encode()
    intake_csv = ("insurer_number,employer_symbol,number,branch,my_number,name,name_kana,birth_date,sex,postal_code,"
                  "address,acquisition_date,monthly_remuneration,card_classification,voluntary_continuation\n"
                  f"{INSURER},{SYMBOL},105,00,123456789012,{BAD_ROW_NAME},{BAD_ROW_KANA},{BAD_ROW_BIRTH},2,1000001,"
                  f"東京都千代田区1,2024-04-01,300000,01,0\n").encode()
    return {
        ("GET", "/api/v1/registry/members"): [{"params": {"symbol": SYMBOL, "number": "101"}},
                                              {"params": {"name": "厚労　太郎", "birth_date": "1970-01-01"}}],
        ("GET", "/office/members"): [{"params": {"symbol": SYMBOL, "number": "101"}},
                                     {"params": {"name": "厚労　花子", "birth_date": "1972-05-05"}},
                                     {"params": {"name": "こうろう"}}, {"params": {"symbol": SYMBOL}},
                                     {"params": {"employer": "テスト", "per_page": "1", "page": "2"}}],
        ("POST", "/api/v1/verifications/numbers"): [{"json": taro}],
        ("POST", "/api/v1/verifications/requery"): [{"json": taro}],  # a general institution: 403
        ("POST", "/api/v1/verifications/card"): [{"json": {"certificate_serial": "TESTCARD0001",
                                                           "care_date": today.isoformat(),
                                                           "reader": {"method": "face", "consents": {}}}}],
        ("POST", "/api/v1/reference-numbers"): [{"json": {"reference_number": "R-1", "insurer_number": INSURER,
                                                          "symbol": SYMBOL, "number": "101", "branch": "00"}}],
        ("POST", "/api/v1/eligibility-claims"): [{"json": claim}],
        ("POST", "/api/v1/claim-rerouting"): [{"json": taro}],
        ("POST", "/oqs/xml"): [{"content": _numbers_xml(today)}],
        ("POST", "/oqs/json"): [{"content": json.dumps(oqs_json).encode()}],
        ("POST", "/fhir/verify"): [{"json": taro}],
        ("POST", "/myclinic/onshi/kakunin"): [{"json": {
            "hokensha": INSURER.lstrip("0"), "hihokensha": "101", "kigou": SYMBOL, "edaban": "00",
            "birthdate": "19700101", "confirmationDate": f"{today:%Y%m%d}", "limitAppConsFlag": "0"}}],
        ("POST", "/oqs-api-pro/MSA01030/ILI01030SV01/search"): [{"content": json.dumps(oqs_json).encode()}],
        ("POST", "/api/v1/documents/persons/{person_id}/certificates"): [{"json": {
            "qualification_id": walk.qualification_id, "issue_date": (today + timedelta(days=7)).isoformat()}},
            {"json": {}}],
        ("POST", "/api/v1/documents/applications"): [{"json": {
            "qualification_id": walk.qualification_id, "applied_on": today.isoformat(), "reason": "card_lost",
            "applicant": "本人"}}],
        ("POST", "/api/v1/documents/daily-runs"): [{"json": {"date": today.isoformat()}}],
        ("POST", "/api/v1/documents/mailing-runs"): [{"json": {"run_name": "walk"}}],
        ("POST", "/api/v1/documents/{document_id}/return"): [{"json": {"returned_on": today.isoformat()}}],
        ("POST", "/login"): [{"data": {"username": "clerk", "password": "wrong-password"}}],
        ("POST", "/logout"): [{"data": {}}],
        ("POST", "/reception/numbers"): [{"data": taro}],
        ("POST", "/reception/card"): [{"data": {"card_serial": "TESTCARD0001", "reader": "face",
                                                "care_date": today.isoformat()}}],
        ("POST", "/reception/claim"): [{"data": claim}],
        ("POST", "/reception/bulk"): [{"files": {"file": ("bulk.csv", bulk, "text/csv")},
                                       "data": {"care_date": today.isoformat()}}],
        ("POST", "/office/intake"): [{"files": {"file": ("acq.csv", intake_csv, "text/csv")},
                                      "data": {"ntype": "acquisition"}}],
        ("POST", "/office/quarantine/{qid}"): [{"data": {}}],
        ("POST", "/office/sla/publish"): [{"data": {}}],
        ("POST", "/office/linkage/{check_id}/clear"): [{"data": {"reason": ""}}],
        ("POST", "/office/documents/daily"): [{"data": {}}],
        ("POST", "/office/documents/mailing"): [{"data": {"run_name": ""}}],
        ("POST", "/office/members/{person_id}/certificates"): [{"data": {}}, {"data": {"reason": "card_lost"}}],
        ("POST", "/office/members/{person_id}/notices"): [{"data": {}}],
        ("POST", "/office/members/{person_id}/gaiji"): [{"data": {"decision": "substitute"}}],
        ("POST", "/office/documents/{document_id}/return"): [{"data": {}}],
        ("POST", "/office/insurer"): [{"data": {"phone": "03-1234-5678", "contact_hours": "平日 8:30〜17:15"}}],
        ("POST", "/admin/users"): [{"data": {"username": "x", "password": "short", "role": "clerk"}}],
        ("POST", "/admin/users/{username}/unlock"): [{"data": {}}],
        # the administrator's actions on a user who does not exist: refused, and nobody else is signed out midway
        **{("POST", f"/admin/users/{{username}}/{action}"): [{"data": data, "path_params": {"username": "walk-nobody"}}]
           for action, data in (("disable", {}), ("enable", {}), ("signout-all", {}), ("reset-password", {}),
                                ("role", {"role": "clerk", "scope": INSURER}))},
        ("POST", "/account/password"): [{"data": {"current": "wrong-password", "new": "x", "confirm": "y"}}],
        ("POST", "/api/v1/receipts/verify"): [{"json": {"receipt": "not.a.receipt"}}],
        ("POST", "/fhir/CoverageEligibilityRequest/$submit"): [{"json": fhir_request}],
        ("POST", "/fhir/CoverageEligibilityRequest"): [{"json": fhir_request}],
        ("POST", "/fhir/Coverage/_search"): [{"data": {"identifier": f"{MEMBER_ID_SYSTEM}|{INSURER}:{SYMBOL}:101:00",
                                                       "beneficiary.birthdate": "1970-01-01"}}],
        **{(m, "/fhir/{rest:path}"): [{"path_params": {"rest": "Patient"}}]
           for m in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS")},
        ("POST", "/oqs-api-pro/MSA12020/ILI12020SV01/auth"): [{"json": {"password": "wrong", "loginId": CLINIC}}],
        # claims (issue 21): the lists show people (audited by the read services); the actions answer states only
        ("GET", "/api/v1/claims/checks"): [{"params": {"month": f"{today:%Y-%m}"}}],
        ("POST", "/api/v1/claims/refunds/match"): [{"json": {"month": f"{today:%Y-%m}"}}],
        ("POST", "/api/v1/claims/checks"): [{"json": {"month": "2020-01"}}],
        ("POST", "/api/v1/claims/refunds/{case_id}/notice"): [{"json": {"noticed_on": today.isoformat()}}],
        ("POST", "/api/v1/claims/refunds/{case_id}/instalments"): [{"json": {"instalments": 3}}],
        ("POST", "/api/v1/claims/refunds/{case_id}/payments"): [{"json": {"paid_on": today.isoformat(),
                                                                          "amount_yen": 100}}],
        ("POST", "/api/v1/claims/refunds/{case_id}/write-off"): [{"json": {"on": today.isoformat(),
                                                                           "reason": "所在不明"}}],
        ("POST", "/api/v1/documents/national-lists"): [{"files": {"file": ("list.csv", _ex_officio_list(), "text/csv")},
                                                        "data": {"kind": "ex_officio", "month": f"{today:%Y-%m}"}}],
        ("POST", "/office/national-lists"): [{"files": {"file": ("list.csv", _ex_officio_list(), "text/csv")},
                                              "data": {"kind": "ex_officio", "month": f"{today:%Y-%m}"}}],
        ("POST", "/api/v1/outage/records"): [{"json": {"records": [_outage_taro(today, address="東京都港区虎ノ門1-1-1")]}}],
        ("POST", "/api/v1/outage/checks"): [{"json": {}}],
        ("POST", "/api/v1/outage/checks/file"): [{"files": {"file": ("outage.csv", _outage_csv(today), "text/csv")}}],
        ("POST", "/api/v1/outage/records/{record_id}/unknown-insurer"): [{"json": {"amount_yen": 1000}}],
        ("POST", "/reception/outage/sync"): [{"json": {"records": [_outage_taro(today, record_key="walk-1")]}}],
        ("POST", "/reception/outage/check"): [{"data": {}}],
        ("POST", "/reception/outage/upload"): [{"files": {"file": ("outage.csv", _outage_csv(today), "text/csv")}}],
        ("POST", "/reception/outage/{record_id}/unknown"): [{"data": {"amount_yen": "1000"}}],
        ("POST", "/api/v1/benefits/applications"): [{"json": {
            "source_key": "walk", "kind": "burial", "channel": "electronic", "symbol": SYMBOL, "number": "101",
            "branch": "00", "details": {"death_date": "2025-01-02"}, "attachments": ["埋葬許可証"]}}],
        ("POST", "/api/v1/benefits/applications/{application_id}/decide"): [{}],
        ("POST", "/office/benefits/{application_id}/decide"): [{"data": {}}],
        ("POST", "/office/benefits/{application_id}/refuse"): [{"data": {"reason": ""}}],
        ("POST", "/office/benefits/{application_id}/approve"): [{"data": {}}],
        ("POST", "/office/benefits/pay"): [{"data": {}}],
        ("POST", "/member/benefits"): [{"data": {"kind": "burial", "death_date": "2025-01-03"}}],
        ("POST", "/api/v1/clinical/drugs"): [{"json": {**taro, "branch": "00"}}],
        ("POST", "/api/v1/clinical/checkups"): [{"json": {**taro, "branch": "00"}}],
        ("POST", "/clinical"): [{"data": {**taro, "branch": "00"}}],
        ("GET", "/office/claims"): [{"params": {"status": "open", "month": f"{today:%Y-%m}"}}],
        ("GET", "/office/claims/checks"): [{"params": {"month": f"{today:%Y-%m}"}}],
    }


def _text(resp) -> str:
    """The answer as text a person would read: JSON decoded (no \\u escapes), XML in its charset, PDF text."""
    kind = resp.headers.get("content-type", "")
    if "pdf" in kind:
        from pypdf import PdfReader

        return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(resp.content)).pages)
    m = re.search(r"charset=([\w-]+)", kind, re.I)
    text = resp.content.decode({"shift_jis": "cp932"}.get((m.group(1) if m else "utf-8").lower(),
                                                          m.group(1) if m else "utf-8"), errors="replace")
    if "json" in kind:
        try:
            text = json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
    return text


@dataclass
class Client:
    name: str
    http: TestClient
    headers: dict[str, str]


def _csrf_of(client: Client) -> str:
    for path in ("/office", "/reception", "/clinical", "/admin/users", "/login"):
        r = client.http.get(path, follow_redirects=False)
        m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        if r.status_code == 200 and m:
            return m.group(1)
    return ""


def _clients(app) -> dict[str, Client]:
    out = {}
    for name in CREDENTIALS:
        http = TestClient(app)
        headers = {}
        if name == "institution":
            headers = {"Authorization": f"Bearer {TOKEN}", "x-onshi-view-secret": TOKEN}
        elif name != "anonymous":
            _sign_in(http, name)
        out[name] = Client(name, http, headers)
    return out


def _sign_in(http: TestClient, name: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text).group(1)
    r = http.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token},
                  follow_redirects=False)
    assert r.status_code == 303, f"{name} cannot sign in: {r.status_code}"


def walk_routes(app, walk: Walk, today: date, only: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Send every route's requests with every credential; ``(violations, routes that showed personal data)``."""
    # the walk sends hundreds of refused credentials from one address; the rate limits (tested in tests/auth) would
    # turn the institution's own requests into 429s midway and the walk would see nothing
    app.state.rate_limits.enabled = False
    table = _requests(walk, today)
    clients = _clients(app)
    contexts = [c for c in iter_route_contexts(app.routes) if only is None or c.path in only]
    # reads first, then the writes (a POST may resolve the row a later GET shows); sign-out last
    contexts.sort(key=lambda c: (c.path == "/logout", "move-to-archive" in c.path,
                                 "GET" not in (getattr(c, "methods", None) or {"GET"})))
    violations, shown = [], []
    for ctx in contexts:
        path = ctx.path
        if path in NOT_WALKED:
            continue
        methods = sorted((getattr(ctx, "methods", None) or {"GET"}) - {"HEAD"})
        if path == "/static":
            methods, url_fmt = ["GET"], "/static/onshi.css"
        else:
            url_fmt = getattr(ctx, "path_format", None) or path
        for method in methods:
            variants = table.get((method, path))
            if variants is None:
                assert method == "GET", f"{method} {path}: the route walker has no request for it; add one to " \
                                        "_requests() (tests/web/test_route_audit.py)"
                variants = [{}]
            elif method == "GET":
                variants = [{}, *variants]
            for who, client in clients.items():
                for variant in variants:
                    variant = dict(variant)
                    url = _params(walk, path, url_fmt, variant.pop("path_params", None))
                    violations += _one(client, method, url, variant, walk, shown)
                if path == "/logout" and who != "institution" and who != "anonymous":
                    _sign_in(client.http, who)
    return violations, shown


def _one(client: Client, method: str, url: str, variant: dict, walk: Walk, shown: list[str]) -> list[str]:
    headers = dict(client.headers)
    kwargs = dict(variant)
    if method != "GET" and client.name not in ("anonymous", "institution"):
        token = _csrf_of(client)
        headers["X-CSRF-Token"] = token
        if "data" in kwargs or "files" in kwargs:
            kwargs["data"] = {**kwargs.get("data", {}), "csrf_token": token}
    with unit_of_work() as s:
        before = audit.last_id(s)
    resp = client.http.request(method, url, headers=headers, follow_redirects=False, **kwargs)
    where = f"{method} {url} as {client.name} ({resp.status_code})"
    assert resp.status_code < 500, f"{where}: {resp.text[:300]}"
    text = _norm(_text(resp))
    out = []
    for mn in (MN_TARO, MN_HANAKO, MN_MOVED, MN_LATE):
        assert mn not in text, f"{where}: a My Number in the answer"
    with unit_of_work() as s:
        written = audit.subjects_written_since(s, before)
    for person in walk.people:
        marker = person.shown_in(text)
        if marker is None:
            continue
        shown.append(f"{method} {url}")
        if not person.subjects & (written | {(kind, "*") for kind, _ in written}):
            out.append(f"{where} shows {person.label} ({marker}) and wrote no audit row for them "
                       f"(written: {sorted(written) or 'none'})")
    return out


@pytest.fixture
def walk(world, tmp_path, client) -> Walk:
    """The seeded world, and the app bound to a terminal folder whose face/ holds a card answer for 太郎 (as the
    terminal writes it, Shift_JIS) — what myclinic-ts reads through /myclinic/face."""
    from onshi.interop.myclinic.http import bind_terminal

    seeded = _seed(tmp_path)
    answer = client.post("/oqs/xml", content=_numbers_xml(world.today), headers={"Authorization": f"Bearer {TOKEN}"})
    assert "厚労" in answer.content.decode("cp932")
    (tmp_path / "terminal" / "face").mkdir(parents=True)
    (tmp_path / "terminal" / "face" / seeded.params["name"]).write_bytes(answer.content)
    bind_terminal(client.app, tmp_path / "terminal", CLINIC)
    return seeded


def test_every_route_that_shows_a_person_writes_its_audit_row(client, walk, world):
    violations, shown = walk_routes(client.app, walk, world.today)
    assert not violations, "reads of personal data without an audit row:\n" + "\n".join(violations)
    # the walk really reached personal data on every kind of route (else it proves nothing)
    for expected in ("/api/v1/registry/members/", "/office/members/", "/oqs/xml", "/fhir/verify",
                     "/office/quarantine/", "/api/v1/registry/quarantine", "/reception/numbers", "/office/intake",
                     "/myclinic/onshi/kakunin", "/office/linkage", "/api/v1/documents/", "/myclinic/face",
                     "/myclinic/face/20", ".pdf", "/certificates", "/reception/bulk", "/api/v1/claims/refunds",
                     "/api/v1/claims/checks", "/office/benefits/",
                     "/api/v1/benefits/applications/", "/letter.pdf", "/api/v1/clinical/drugs", "/clinical"):
        assert any(expected in s for s in shown), f"the walker never saw personal data on {expected}"


def test_the_walker_finds_a_planted_unaudited_read(client, walk, world):
    """A route that shows a member's name without the audit row is caught; the same read through the audited
    service passes."""
    from onshi.registry import service as registry

    app = client.app
    planted = APIRouter()

    @planted.get("/planted/{person_id}")
    def unaudited(person_id: int, session: DB) -> dict:
        pv = registry.person_on(session, person_id)  # a read of the record that writes no row
        return {"name": pv.name}

    @planted.get("/planted-audited/{person_id}")
    def audited(person_id: int, session: DB) -> dict:
        view = registry.member_view(session, person_id, actor_kind="user", actor_id="planted")
        return {"name": view.name}

    app.include_router(planted)
    violations, shown = walk_routes(app, walk, world.today, only={"/planted/{person_id}",
                                                                  "/planted-audited/{person_id}"})
    assert shown, "the planted routes showed nothing"
    assert violations and all("/planted/" in v and "厚労" in v for v in violations), violations
    assert len(violations) == len(CREDENTIALS)  # every credential's read of the planted route, nothing else


def test_a_route_the_walker_cannot_build_fails(client, walk, world):
    app = client.app
    extra = APIRouter()

    @extra.post("/planted-post")
    def post_it() -> dict:
        return {}

    @extra.get("/planted-param/{mystery}")
    def get_it(mystery: str) -> dict:
        return {}

    app.include_router(extra)
    with pytest.raises(AssertionError, match="no request for it"):
        walk_routes(app, walk, world.today, only={"/planted-post"})
    with pytest.raises(AssertionError, match="no value for"):
        walk_routes(app, walk, world.today, only={"/planted-param/{mystery}"})
