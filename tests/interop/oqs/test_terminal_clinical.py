"""The terminal's 薬剤情報 / 特定健診情報 requests (issue 21 point 6) as OQSDrug2 sends them and reads their answers
(YUKI-ENT/OQSDrug2 ``OQSDrug/Form1.cs`` at 4673bb2c86999f851091e31732ba2ef2480e329f — docs/oqs-clients.md).

What the client does, restated in our words (no .NET here: its reader is restated by :func:`oqsdrug_reads`):

* It writes ``req/{YZK|TKK}siquc01req_{FileCategory:00}{yyMMdd}{HHmm}{patient id}.xml`` in Shift_JIS with its own
  declaration line, indented; header ``MedicalInstitutionCode``, ``InsurerNumber``, ``InsuranceCardSymbol``,
  ``InsuredPersonIdentificationNumber``, ``BranchNumber``, ``ArbitraryFileIdentifier`` (the patient id); body
  (drugs only) ``StartDate``/``EndDate`` as yyyyMM, then ``FileCategory``, ``PrDiInfClassification`` 1,
  ``MedicalTreatmentFlag`` 1/2/3.  No birth date.
* It waits for ``res/`` + its request name with ``req`` → ``res``, any extension; an ``.xml`` is loaded as a whole
  document; ``//ResultCode`` must be ``1``, else ``//MessageContents`` is recorded as the outcome (or "tag not found").
* Drugs: ``/XmlMsg/MessageHeader/QuaInf`` must exist (``Name``, ``KanaName``, ``Birth``, ``AdmGendCode``); every
  ``/XmlMsg/MessageBody/MeTrMonthInf`` (and the e-prescription roots ``ShPrInf/ShPrMonthInf``, ``CzDiInf/CzDiMonthInf``)
  → ``DiDateInfs/DiDateInf`` → ``DrugInfs/DrugInf``: one drug-history row each, institution from ``MeTrDiHCd``, month
  ``MeTrMonth``, day ``DiDate``, ``DrugC``, ``DrugN``, ``Qua1`` as a number (0 when not one), and so on; a missing
  element reads as empty.  Rows it already holds for (patient, institution, DiDate) are skipped.
* Check-ups: ``/XmlMsg/MessageHeader/QualificationsInfo`` must exist; every ``//SpecificHealthCheckupInfo`` with its
  ``EffectiveTime`` (yyyyMMdd; the newest becomes the date of the PDF it may ask for next) and
  ``HealthCheckupResultAndQuestionInfos/HealthCheckupResultAndQuestionInfo`` (``ItemCode``, ``ItemName``,
  ``DataType``, ``DataValue``, ``Unit``, ``Oid``, ``DataValueName``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from onshi.exchange.publish import publish_batch
from onshi.interop.oqs import clinical as oqs_clinical
from onshi.interop.oqs.terminal import Terminal, TerminalHandlers, served
from onshi.interop.oqs.terminal_service import run_terminal
from onshi.privacy.models import AuditEntry
from onshi.registry.models import NotificationType as T
from onshi.store.clock import frozen_at
from onshi.store.db import unit_of_work
from onshi.verify.result import VerificationError
from tests.claims.helpers import CLINIC
from tests.claims.test_clinical import LIMITED, OTHER_CLINIC, T0, clinic_world  # noqa: F401 (the fixture)
from tests.registry.helpers import INSURER, MN_CHILD, SYMBOL, dependent, load, write

AT = T0.replace(tzinfo=timezone.utc) + timedelta(hours=1)  # 11:00 in Japan, one hour after the consents


def oqsdrug_request(kind: str = "YZK", *, category: int = 2, number: str = "101", branch: str = "00",
                    institution: str = CLINIC, start: str | None = "202206", end: str | None = "202506",
                    flag: str = "1", patient_id: str = "10010") -> tuple[str, bytes]:
    """A request as OQSDrug2's ``GenerateXML`` writes it: its name and its Shift_JIS bytes."""
    body = ""
    if kind == "YZK":
        body += (f"    <StartDate>{start}</StartDate>\n" if start is not None else "") + \
                (f"    <EndDate>{end}</EndDate>\n" if end is not None else "")
    body += (f"    <FileCategory>{category}</FileCategory>\n    <PrDiInfClassification>1</PrDiInfClassification>\n"
             f"    <MedicalTreatmentFlag>{flag}</MedicalTreatmentFlag>\n")
    text = ('<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>\n<XmlMsg>\n  <MessageHeader>\n'
            f"    <MedicalInstitutionCode>{institution}</MedicalInstitutionCode>\n"
            f"    <InsurerNumber>{INSURER}</InsurerNumber>\n    <InsuranceCardSymbol>{SYMBOL}</InsuranceCardSymbol>\n"
            f"    <InsuredPersonIdentificationNumber>{number}</InsuredPersonIdentificationNumber>\n"
            f"    <BranchNumber>{branch}</BranchNumber>\n"
            f"    <ArbitraryFileIdentifier>{patient_id}</ArbitraryFileIdentifier>\n  </MessageHeader>\n"
            f"  <MessageBody>\n{body}  </MessageBody>\n</XmlMsg>")
    return f"{kind}siquc01req_{category:02d}2506101100{patient_id}.xml", text.encode("cp932")


def oqsdrug_reads(res: Path, kind: str) -> dict:
    """What OQSDrug2 takes from an answer file, restated: the outcome text it records and the rows it would store."""
    doc = etree.parse(str(res))  # the whole document, its declared encoding honoured (like XmlDocument.Load)
    code = doc.xpath("//ResultCode")
    if not code or code[0].text != "1":
        msg = doc.xpath("//MessageContents")
        return {"ok": False, "message": msg[0].text if msg else "<MessageContents> タグが見つかりません"}

    def value(node, path: str) -> str:
        found = node.xpath(path)
        return (found[0].text or "") if found else ""

    def number(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return 0.0

    if kind == "YZK":
        [head] = doc.xpath("/XmlMsg/MessageHeader/QuaInf") or [None]
        if head is None:
            return {"ok": False, "message": "エラー：xmlヘッダー情報の取得に失敗しました"}
        rows = []
        for month in doc.xpath("/XmlMsg/MessageBody/MeTrMonthInf"):
            for day in month.xpath("DiDateInfs/DiDateInf"):
                for d in day.xpath("DrugInfs/DrugInf"):
                    rows.append({"institution": value(month, "MeTrDiHCd"),
                                 "institution_name": value(month, "MeTrDiHNm"), "month": value(month, "MeTrMonth"),
                                 "day": value(day, "DiDate"),
                                 "code": value(d, "DrugC"), "name": value(d, "DrugN"), "qty": number(value(d, "Qua1")),
                                 "prescriber": value(month, "PrlsHCd"), "usage": value(d, "UsageN")})
        return {"ok": True, "patient": (value(head, "Name"), value(head, "KanaName"), value(head, "Birth"),
                                        int(number(value(head, "AdmGendCode")))), "rows": rows}
    [head] = doc.xpath("/XmlMsg/MessageHeader/QualificationsInfo") or [None]
    if head is None:
        return {"ok": False, "message": "エラー：xmlヘッダー情報の取得に失敗しました"}
    results = []
    for r in doc.xpath("//SpecificHealthCheckupInfo"):
        items = [{k: value(i, k) for k in ("ItemCode", "ItemName", "DataType", "DataValue", "Unit", "Oid",
                                           "DataValueName")}
                 for i in r.xpath("HealthCheckupResultAndQuestionInfos/HealthCheckupResultAndQuestionInfo")]
        results.append((value(r, "EffectiveTime"), items))
    return {"ok": True, "patient": (value(head, "Name"), value(head, "KanasName"), value(head, "Birthday"),
                                    int(number(value(head, "AdministrativeGenderCode")))), "results": results}


def ask(root: Path, engine, name: str, data: bytes, *, institution: str = CLINIC, at: datetime = AT) -> Path:
    (root / "req").mkdir(parents=True, exist_ok=True)
    (root / "req" / name).write_bytes(data)
    with frozen_at(at):
        run_terminal(root, institution, once=True, engine=engine)
    assert not (root / "req" / name).exists()
    # OQSDrug2 looks for the request's name with "req" replaced by "res", whatever the extension
    res = root / "res" / name.replace("req", "res")
    assert res.exists(), sorted(p.name for p in (root / "res").iterdir())
    return res


def audit(action: str) -> list[AuditEntry]:
    with unit_of_work() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        s.expunge_all()
        return rows


# ---------------------------------------------------------------- on the database, both kinds

def test_drug_request_is_answered_with_three_years_of_claims_in_the_shape_oqsdrug2_reads(clinic_world, engine,
                                                                                       tmp_path):
    name, data = oqsdrug_request("YZK")
    res = ask(tmp_path / "OQS", engine, name, data)
    raw = res.read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="Shift_JIS"')  # the request's encoding
    got = oqsdrug_reads(res, "YZK")
    assert got["ok"] and got["patient"] == ("厚労　太郎", "ｺｳﾛｳ ﾀﾛｳ", "19700101", 1)
    assert [(r["institution"], r["institution_name"], r["month"], r["day"], r["code"], r["name"], r["qty"])
            for r in got["rows"]] == [
        (OTHER_CLINIC, "よその薬局", "202505", "20250512", "990000202", "ロキソプロフェンNa錠60mg「トーワ」", 14.0),
        (CLINIC, "テスト内科", "202411", "20241105", "990000102", "アムロジピン錠5mg「サワイ」", 28.0)]
    # 2022-05 is more than three years back; what onshi does not know is absent, read as empty
    assert all(r["prescriber"] == "" and r["usage"] == "" for r in got["rows"])
    [row] = audit("clinical.drugs")
    assert (row.actor_kind, row.actor_id, row.subject_id) == ("terminal", f"terminal:{CLINIC}",
                                                              str(clinic_world["taro"]))


def test_months_asked_bound_the_drug_rows(clinic_world, engine, tmp_path):
    name, data = oqsdrug_request("YZK", start="202501", end="202512")
    got = oqsdrug_reads(ask(tmp_path / "OQS", engine, name, data), "YZK")
    assert [r["month"] for r in got["rows"]] == ["202505"]


def test_checkup_request_gives_five_years_of_results_with_item_codes(clinic_world, engine, tmp_path):
    name, data = oqsdrug_request("TKK")
    got = oqsdrug_reads(ask(tmp_path / "OQS", engine, name, data), "TKK")
    assert got["ok"] and got["patient"] == ("厚労　太郎", "ｺｳﾛｳ ﾀﾛｳ", "19700101", 1)
    assert [day for day, _ in got["results"]] == ["20240601", "20210601"]  # 2019 is more than five years back
    items = {i["ItemCode"]: i for i in got["results"][0][1]}
    assert items["3D046000001920402"]["DataValue"] == "5.9" and items["3D046000001920402"]["DataType"] == "PQ"
    assert items["9N011000000000001"]["DataValue"] == "24.4" and items["9N011000000000001"]["Unit"] == "kg/m2"
    assert len(audit("clinical.checkups")) == 1


@pytest.mark.parametrize("kind,number,at,code,words", [
    ("YZK", "102", AT, "declined", "同意していません"),
    ("TKK", "102", AT, "no_consent", "同意を得ていません"),
    ("YZK", "101", AT + timedelta(hours=24), "expired", "期限が切れました"),
    ("TKK", "999", AT, "not_found", "登録されていません"),
])
def test_refusals_show_nothing_and_say_why(clinic_world, engine, tmp_path, kind, number, at, code, words):
    name, data = oqsdrug_request(kind, number=number)
    res = ask(tmp_path / "OQS", engine, name, data, at=at)
    got = oqsdrug_reads(res, kind)
    assert not got["ok"] and words in got["message"]
    text = res.read_bytes().decode("cp932")
    assert f"<onshic:Reason>{code}</onshic:Reason>" in text and "<ResultCode>2</ResultCode>" in text
    assert "厚労" not in text and "MeTrMonthInf" not in text and "SpecificHealthCheckupInfo" not in text
    assert len(audit("clinical.refused")) == 1 and not audit("clinical.drugs") and not audit("clinical.checkups")


@pytest.mark.parametrize("number,category", [("101", 2), ("102", 2), ("101", 9)])
def test_smartkartes_agent_finds_its_answer_by_the_identifier_text(clinic_world, engine, tmp_path, number, category):
    """SmartKarte's agent writes these requests in UTF-8, reads any ``{YZK|TKK}siquc01res_*`` created in res/ as
    UTF-8 text and takes it only if it contains its request's ``<ArbitraryFileIdentifier>…</ArbitraryFileIdentifier>``
    verbatim — granted, refused or bad alike."""
    name, data = oqsdrug_request("YZK", number=number, category=category, patient_id=" SK-予約 17 ")
    data = data.decode("cp932").replace('encoding="Shift_JIS"', 'encoding="UTF-8"').encode("utf-8")
    text = ask(tmp_path / "OQS", engine, name, data).read_bytes().decode("utf-8")
    assert "<ArbitraryFileIdentifier> SK-予約 17 </ArbitraryFileIdentifier>" in text


def test_a_limited_institution_sees_nothing(clinic_world, engine, tmp_path):
    name, data = oqsdrug_request("YZK", institution=LIMITED)
    got = oqsdrug_reads(ask(tmp_path / "OQS", engine, name, data, institution=LIMITED), "YZK")
    assert not got["ok"] and "資格確認限定型" in got["message"]


def test_bad_requests_are_answered_in_the_clients_shape(clinic_world, engine, tmp_path):
    root = tmp_path / "OQS"
    for (name, data), words in [
        (oqsdrug_request("YZK", category=7), "ファイル区分"),
        (oqsdrug_request("TKK", category=4), "ファイル区分"),  # 4 (with 診療情報) is a drug category only
        (oqsdrug_request("YZK", start="202213"), "yyyyMM"),
        (oqsdrug_request("YZK", start="202506", end="202501"), "より後"),
        (oqsdrug_request("YZK", flag="9", patient_id="10020"), "診療区分"),
        (oqsdrug_request("YZK", institution=OTHER_CLINIC, patient_id="10030"), "端末と一致しません"),
    ]:
        got = oqsdrug_reads(ask(root, engine, name, data), name[:3])
        assert not got["ok"] and words in got["message"], (name, got)
    assert not audit("clinical.drugs") and not audit("clinical.checkups")


def test_pdf_is_refused_with_a_message_and_nothing_is_read(clinic_world, engine, tmp_path):
    name, data = oqsdrug_request("YZK", category=1)
    res = ask(tmp_path / "OQS", engine, name, data)
    assert res.suffix == ".xml"  # OQSDrug2 reads an .xml answer to a PDF request through //ResultCode
    got = oqsdrug_reads(res, "YZK")
    assert not got["ok"] and "PDF" in got["message"]
    assert not audit("clinical.drugs") and not audit("clinical.refused")


def test_the_numbers_alone_name_the_patient_and_a_family_needs_the_branch(clinic_world, engine, tmp_path):
    """No birth date in these requests: the numbers alone must name one person.  101 alone is 太郎 until his
    dependent joins under 101-01; then a request without a 枝番 is refused (``multiple``) and 101-00 is 太郎."""
    root = tmp_path / "OQS"
    name, data = oqsdrug_request("YZK", branch="")
    got = oqsdrug_reads(ask(root, engine, name, data), "YZK")
    assert got["ok"] and got["patient"][0] == "厚労　太郎"
    load(write(tmp_path, "d.csv", T.dependent, [dependent(my_number=MN_CHILD, effective_date="2020-04-01")]),
         T.dependent, received_at=datetime(2020, 3, 30))
    with unit_of_work() as s:
        assert publish_batch(s, now=datetime(2020, 4, 2, 3, 0))
    name, data = oqsdrug_request("YZK", branch="", patient_id="10011")
    got = oqsdrug_reads(ask(root, engine, name, data), "YZK")
    assert not got["ok"] and "枝番" in got["message"]
    assert audit("clinical.refused")[-1].detail.endswith("multiple")
    name, data = oqsdrug_request("YZK", branch="00", patient_id="10012")
    assert oqsdrug_reads(ask(root, engine, name, data), "YZK")["patient"][0] == "厚労　太郎"


def test_the_same_request_after_a_restart_is_answered_from_the_journal_and_read_once(clinic_world, engine,
                                                                                     tmp_path):
    root = tmp_path / "OQS"
    name, data = oqsdrug_request("YZK")
    first = ask(root, engine, name, data).read_bytes()
    (root / "res" / name.replace("req", "res")).unlink()
    second = ask(root, engine, name, data, at=AT + timedelta(minutes=5)).read_bytes()  # a new terminal each time
    assert second == first and len(audit("clinical.drugs")) == 1


def test_a_terminal_that_does_not_serve_them_leaves_them_alone(tmp_path):
    """Handlers without ``clinical`` (a folder shared with a real terminal): the files stay where they are."""
    def refuse(*_a):
        raise AssertionError("not called")

    term = Terminal(tmp_path, TerminalHandlers(verify=refuse, register_reference_number=refuse, submit_bulk=refuse,
                                               fetch_bulk=refuse))
    name, data = oqsdrug_request("TKK")
    (tmp_path / "req" / name).write_bytes(data)
    assert term.run_once() == [] and (tmp_path / "req" / name).read_bytes() == data
    assert not list((tmp_path / "res").iterdir())
    assert served(name, clinical=True) and not served(name)


def test_no_clinical_on_the_database_leaves_them_too(clinic_world, engine, tmp_path):
    """``onshi terminal --no-clinical``: a folder shared with a real terminal that answers them."""
    name, data = oqsdrug_request("YZK")
    (tmp_path / "req").mkdir()
    (tmp_path / "req" / name).write_bytes(data)
    with frozen_at(AT):
        run_terminal(tmp_path, CLINIC, once=True, engine=engine, clinical=False)
    assert (tmp_path / "req" / name).read_bytes() == data and not list((tmp_path / "res").iterdir())
    assert not audit("clinical.drugs") and not audit("clinical.refused")


# ---------------------------------------------------------------- parsing, no database

def test_the_request_as_oqsdrug2_writes_it_is_read_field_by_field():
    _, data = oqsdrug_request("YZK", branch="01", flag="2")
    r = oqs_clinical.parse(data, "drugs")
    assert (r.institution_code, r.insurer_number, r.symbol, r.number, r.branch) == (CLINIC, INSURER, SYMBOL, "101",
                                                                                    "01")
    assert (r.arbitrary_file_identifier, r.file_category, r.start_month, r.end_month, r.treatment_flag) == \
        ("10010", "2", "202206", "202506", "2")
    _, data = oqsdrug_request("TKK")
    assert oqs_clinical.parse(data, "checkups").start_month is None


def test_a_request_without_the_numbers_names_the_field():
    _, data = oqsdrug_request("YZK")
    data = data.replace(b"<InsuredPersonIdentificationNumber>101</InsuredPersonIdentificationNumber>", b"")
    with pytest.raises(VerificationError) as e:
        oqs_clinical.parse(data, "drugs")
    assert e.value.code == "E0101" and "InsuredPersonIdentificationNumber" in e.value.field
    assert e.value.request_header.institution_code == CLINIC  # the answer still echoes the header
