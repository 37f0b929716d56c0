"""JP Core mapping of a verification answer."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle

from onshi.interop.fhir.coverage import (
    EXT_NUMBER,
    EXT_SUB_NUMBER,
    EXT_SYMBOL,
    INSURER_SYSTEM,
    MEMBER_ID_SYSTEM,
    PATIENT_SYSTEM_PREFIX,
    RELATIONSHIP_SYSTEM,
    answer_to_bundle,
    outcome_to_bundle,
)
from onshi.verify.result import PersonalFamily, Validity, VerificationOutcome


def by_type(bundle: Bundle) -> dict:
    return {e.resource.get_resource_type(): e for e in bundle.entry}


def test_dependent_coverage_bundle(make_answer):
    bundle = answer_to_bundle(make_answer(), institution_code="1311234569")
    assert bundle.type == "collection"
    entries = by_type(bundle)
    assert set(entries) == {"Coverage", "Organization", "Patient"}
    cov, org, pat = (entries[k].resource for k in ("Coverage", "Organization", "Patient"))
    ext = {e.url: e.valueString for e in cov.extension}
    assert ext == {EXT_SYMBOL: "あいう", EXT_NUMBER: "187", EXT_SUB_NUMBER: "05"}
    assert (cov.identifier[0].system, cov.identifier[0].value) == (MEMBER_ID_SYSTEM, "06139992:あいう:187:05")
    assert cov.subscriberId == "あいう:187"
    assert cov.dependent == "05"
    assert (cov.relationship.coding[0].system, cov.relationship.coding[0].code) == (RELATIONSHIP_SYSTEM, "2")
    assert cov.subscriber.display == "広労 一郎"
    assert cov.status == "active"
    assert cov.period.start.isoformat() == "2020-04-01" and cov.period.end is None
    assert cov.costToBeneficiary[0].valueQuantity.value == 30
    # references resolve inside the bundle
    assert cov.payor[0].reference == entries["Organization"].fullUrl
    assert cov.beneficiary.reference == entries["Patient"].fullUrl
    assert (org.identifier[0].system, org.identifier[0].value) == (INSURER_SYSTEM, "06139992")
    assert org.name == "全国健康保険協会東京支部"
    assert INSURER_SYSTEM == "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber"  # JP_Organization's fixed one
    assert [(i.system, i.value) for i in pat.identifier] == [(MEMBER_ID_SYSTEM, "06139992:あいう:187:05"),
                                                            (PATIENT_SYSTEM_PREFIX + "1311234569", "R-0001")]
    assert pat.gender == "male" and pat.birthDate.isoformat() == "1980-04-01"
    assert [n.text for n in pat.name] == ["広労 太郎", "コウロウ　タロウ"]
    assert [n.extension[0].valueCode for n in pat.name] == ["IDE", "SYL"]
    assert pat.name[0].family == "広労" and pat.name[0].given == ["太郎"]


def test_insured_without_symbol_or_branch_keeps_empty_parts(make_answer):
    answer = make_answer(symbol=None, branch=None, personal_family=PersonalFamily.INSURED, insurer_number="138057",
                         reference_number=None, arbitrary_identifier=None)
    cov = by_type(answer_to_bundle(answer, institution_code="1311234569"))["Coverage"].resource
    assert cov.identifier[0].value == "00138057::187:"
    assert cov.subscriberId == ":187"
    assert cov.dependent is None
    assert cov.relationship.coding[0].code == "1"
    assert [e.url for e in cov.extension] == [EXT_NUMBER]
    pat = by_type(answer_to_bundle(answer, institution_code="1311234569"))["Patient"].resource
    # JP_Patient needs an identifier: without a clinic id the 被保険者個人識別子 alone
    assert [(i.system, i.value) for i in pat.identifier] == [(MEMBER_ID_SYSTEM, "00138057::187:")]


def test_outcome_bundle_round_trips_as_json(make_answer):
    bundle = outcome_to_bundle(VerificationOutcome(Validity.INVALID, (make_answer(),)), institution_code="1311234569")
    text = bundle.model_dump_json()
    again = Bundle.model_validate(json.loads(text))
    assert by_type(again)["Coverage"].resource.status == "cancelled"
    assert again.meta.tag[0].code == "2" and again.meta.tag[0].display == "無効"
    empty = {v: outcome_to_bundle(VerificationOutcome(v), institution_code="1311234569")
             for v in (Validity.NOT_FOUND, Validity.MULTIPLE)}
    assert all(b.entry is None for b in empty.values())
    assert [b.meta.tag[0].display for b in empty.values()] == ["該当資格なし", "複数該当"]
