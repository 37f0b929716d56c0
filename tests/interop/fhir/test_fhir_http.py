"""The FHIR interface over HTTP: metadata, CoverageEligibilityRequest → Response for every 資格有効性, the
Coverage search, the shortcut, and bad input — each answer checked by FHIR.js (not fhir.resources) and by
JP Core's rules restated in tests/interop/fhir/jp_core_rules.py."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from onshi.interop.fhir.coverage import EXT_ELDERLY, INSURER_SYSTEM, MEMBER_ID_SYSTEM
from onshi.interop.fhir.eligibility import CARD_SERIAL_SYSTEM, EXT_CARD_READER, EXT_LIMIT_CONSENT, EXT_VALIDITY
from onshi.privacy.models import AuditEntry
from onshi.store.db import unit_of_work
from onshi.verify.models import VerificationLogEntry

from tests.interop.fhir.conftest import CLINIC, OTHER_CLINIC, TODAY
from tests.interop.fhir.jp_core_rules import jp_core_problems

FHIR_JSON = "application/fhir+json"


def auth(token, **more):
    return {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON, **more}


def cer(member_id: str | None = "01130012:10000001:101:00", birth: str | None = "1970-01-01",
        care: str | None = None, **extra) -> dict:
    """A CoverageEligibilityRequest as a JP Core client writes it: contained Patient and Coverage."""
    patient = {"resourceType": "Patient", "id": "pat"}
    if birth is not None:
        patient["birthDate"] = birth
    coverage = {"resourceType": "Coverage", "id": "cov", "status": "active", "beneficiary": {"reference": "#pat"},
                "payor": [{"display": "保険者"}]}
    if member_id is not None:
        coverage["identifier"] = [{"system": MEMBER_ID_SYSTEM, "value": member_id}]
    body = {"resourceType": "CoverageEligibilityRequest", "identifier": [{"system": "urn:example:clinic-req",
                                                                          "value": "req-1"}],
            "contained": [patient, coverage], "status": "active", "purpose": ["validation"],
            "patient": {"reference": "#pat"}, "servicedDate": care or TODAY.isoformat(),
            "created": TODAY.isoformat(), "insurer": {"display": "オンライン資格確認"},
            "insurance": [{"coverage": {"reference": "#cov"}}]}
    body.update(extra)
    return body


def checked(fhir_validator, resource: dict) -> dict:
    """*resource* after FHIR.js and the JP Core rules found nothing wrong with it."""
    assert fhir_validator.errors(resource) == [], resource
    assert jp_core_problems(resource) == [], resource
    return resource


def post(api, body, path="/fhir/CoverageEligibilityRequest/$submit", token=None, **headers):
    return api.post(path, json=body, headers=auth(token or api.token, **headers))


def validity(resp: dict) -> str:
    ext = {e["url"]: e for e in resp["extension"]}
    return ext[EXT_VALIDITY]["valueCoding"]["code"]


def contained(resp: dict, kind: str) -> list[dict]:
    return [r for r in resp.get("contained", []) if r["resourceType"] == kind]


# ---------------------------------------------------------------- metadata

def test_metadata_is_a_truthful_capability_statement(fhir_api, fhir_validator):
    r = fhir_api.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    cap = checked(fhir_validator, r.json())
    assert cap["fhirVersion"] == "4.0.1" and cap["kind"] == "instance"
    assert "Bearer" in cap["rest"][0]["security"]["description"]
    resources = {x["type"]: x for x in cap["rest"][0]["resource"]}
    assert set(resources) == {"CoverageEligibilityRequest", "CoverageEligibilityResponse", "Coverage"}
    assert [i["code"] for i in resources["CoverageEligibilityRequest"]["interaction"]] == ["create"]
    assert [o["name"] for o in resources["CoverageEligibilityRequest"]["operation"]] == ["submit"]
    assert [i["code"] for i in resources["Coverage"]["interaction"]] == ["read", "search-type"]
    # what it names answers (not 404/405), what it does not name is not served
    assert post(fhir_api, cer(), path="/fhir/CoverageEligibilityRequest").status_code == 200
    assert post(fhir_api, cer()).status_code == 200
    assert fhir_api.get("/fhir/Coverage", params={"identifier": f"{MEMBER_ID_SYSTEM}|01130012:10000001:101:00",
                                                  "beneficiary.birthdate": "1970-01-01"},
                        headers=auth(fhir_api.token)).status_code == 200
    for method, path in (("GET", "/fhir/Coverage/abc"), ("GET", "/fhir/Patient"),
                         ("DELETE", "/fhir/CoverageEligibilityRequest")):
        r = fhir_api.request(method, path, headers=auth(fhir_api.token))
        assert r.status_code == 404 and r.headers["content-type"].startswith(FHIR_JSON)
        checked(fhir_validator, r.json())


# ---------------------------------------------------------------- every 資格有効性

CASES = {
    # name: (member id, birth date, validity code, inforce, coverage status)
    "valid": ("01130012:10000001:101:00", "1970-01-01", "1", True, "active"),
    "invalid": ("01130012:10000001:102:00", "1975-02-02", "2", False, "cancelled"),
    "invalid_newer": ("01130012:10000001:103:00", "1980-03-03", "3", False, "cancelled"),
    "not_found": ("01130012:10000001:101:00", "1970-01-02", "4", None, None),
    "multiple": ("01130012:10000001:101:", "2015-06-01", "5", None, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_validity_is_told_apart(fhir_api, fhir_validator, case):
    member, birth, code, inforce, status = CASES[case]
    r = post(fhir_api, cer(member, birth))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    resp = checked(fhir_validator, r.json())
    assert resp["resourceType"] == "CoverageEligibilityResponse" and validity(resp) == code
    assert resp["request"]["identifier"]["value"] == "req-1"
    assert resp["servicedDate"] == TODAY.isoformat()
    if inforce is None:  # no person: nothing of anyone in the answer
        assert "insurance" not in resp and "contained" not in resp
        assert resp["outcome"] == ("error" if case == "multiple" else "complete")
        assert resp["disposition"] == ("複数該当" if case == "multiple" else "該当資格なし")
        assert ("error" in resp) == (case == "multiple")
        assert "厚労" not in r.text
        return
    assert resp["outcome"] == "complete"
    [ins] = resp["insurance"]
    assert ins["inforce"] is inforce
    [cov] = contained(resp, "Coverage")
    assert cov["status"] == status and ins["coverage"]["reference"] == "#" + cov["id"]
    assert cov["identifier"][0] == {"system": MEMBER_ID_SYSTEM, "value": member}
    [org] = contained(resp, "Organization")
    assert org["identifier"][0]["system"] == INSURER_SYSTEM == "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber"
    assert resp["disposition"].startswith({"1": "有効", "2": "無効", "3": "無効（新しい資格あり）"}[code])
    if case == "valid":
        items = {i["category"]["coding"][0]["code"]: i for i in ins["item"]}
        assert items["1"]["benefit"][0] == {"type": {"coding": [{"system":
                                            "http://terminology.hl7.org/CodeSystem/benefit-type",
                                            "code": "copay-percent"}]}, "allowedUnsignedInt": 30}
        assert "limit-category" not in items  # no consent, no 限度額
    else:
        assert "item" not in ins


def test_disposition_codes_differ_between_invalid_and_newer(fhir_api):
    got = {case: validity(post(fhir_api, cer(m, b)).json()) for case, (m, b, *_r) in CASES.items()}
    assert len(set(got.values())) == 5


def test_limit_with_consent_and_elderly(fhir_api, fhir_validator):
    body = cer(extension=[{"url": EXT_LIMIT_CONSENT, "valueBoolean": True}])
    resp = checked(fhir_validator, post(fhir_api, body).json())
    items = {i["category"]["coding"][0]["code"]: i for i in resp["insurance"][0]["item"]}
    limit = items["limit-category"]["benefit"][0]
    assert limit["type"]["coding"][0]["code"] == "copay-maximum" and limit["allowedString"].startswith("A")
    [cov] = contained(resp, "Coverage")
    assert cov["class"][0]["value"] == limit["allowedString"]
    elder = checked(fhir_validator, post(fhir_api, cer("01130012:10000001:104:00", f"{TODAY.year - 72}-01-10")).json())
    assert validity(elder) == "1"
    items = {i["category"]["coding"][0]["code"]: i for i in elder["insurance"][0]["item"]}
    assert items["elderly-recipient"]["benefit"][0]["allowedUnsignedInt"] in (20, 30)
    [cov] = contained(elder, "Coverage")
    ext = next(e for e in cov["extension"] if e["url"] == EXT_ELDERLY)
    assert {s["url"] for s in ext["extension"]} >= {"ratio", "period"}


def test_jp_coverage_extensions_and_payor_instead_of_member_id(fhir_api, fhir_validator):
    body = cer(member_id=None)
    cov = body["contained"][1]
    base = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/"
    cov["extension"] = [{"url": base + "JP_Coverage_InsuredPersonSymbol", "valueString": "10000001"},
                        {"url": base + "JP_Coverage_InsuredPersonNumber", "valueString": "101"},
                        {"url": base + "JP_Coverage_InsuredPersonSubNumber", "valueString": "00"}]
    body["contained"].append({"resourceType": "Organization", "id": "ins",
                              "identifier": [{"system": INSURER_SYSTEM, "value": "01130012"}]})
    cov["payor"] = [{"reference": "#ins"}]
    assert fhir_validator.errors(body) == []  # the request itself is valid R4
    resp = checked(fhir_validator, post(fhir_api, body).json())
    assert validity(resp) == "1"


def test_member_id_on_the_patient_by_reference_only(fhir_api, fhir_validator):
    body = cer(member_id=None)
    body["contained"][0]["identifier"] = [{"system": MEMBER_ID_SYSTEM, "value": "01130012:10000001:101:00"}]
    del body["insurance"]
    resp = checked(fhir_validator, post(fhir_api, body).json())
    assert validity(resp) == "1"


def test_the_clinics_patient_id_is_echoed(fhir_api, fhir_validator):
    body = cer()
    own = "urn:oid:1.2.392.100495.20.3.51.1" + CLINIC
    body["contained"][0]["identifier"] = [{"system": own, "value": "K-0042"},
                                          {"system": "urn:oid:1.2.392.100495.20.3.51.1" + OTHER_CLINIC,
                                           "value": "X-9"}]
    resp = checked(fhir_validator, post(fhir_api, body).json())
    ids = [(i["system"], i["value"]) for i in contained(resp, "Patient")[0]["identifier"]]
    assert ids == [(MEMBER_ID_SYSTEM, "01130012:10000001:101:00"), (own, "K-0042")]


def test_card_by_certificate_serial(fhir_api, fhir_validator):
    body = cer(member_id=None, birth=None, extension=[{"url": EXT_CARD_READER, "valueCode": "face"}])
    body["contained"][0]["identifier"] = [{"system": CARD_SERIAL_SYSTEM, "value": "CARD-101"}]
    resp = checked(fhir_validator, post(fhir_api, body).json())
    assert validity(resp) == "1"
    assert contained(resp, "Patient")[0]["birthDate"] == "1970-01-01"
    body["contained"][0]["identifier"][0]["value"] = "CARD-UNKNOWN"
    assert validity(checked(fhir_validator, post(fhir_api, body).json())) == "4"
    body["extension"] = []
    r = post(fhir_api, body)
    assert r.status_code == 422 and EXT_CARD_READER in r.text


def test_fhir_checks_are_counted_and_audited_as_any_other(fhir_api):
    def counts():
        with unit_of_work() as s:
            return (s.scalar(select(func.count()).select_from(VerificationLogEntry)
                             .where(VerificationLogEntry.institution_code == CLINIC)),
                    s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.actor_id == CLINIC)))
    before = counts()
    post(fhir_api, cer())
    post(fhir_api, cer(birth="1970-01-02"))  # 該当資格なし: logged, nobody's data read
    logs, audits = counts()
    assert (logs - before[0], audits - before[1]) == (2, 1)
    with unit_of_work() as s:
        last = s.scalars(select(VerificationLogEntry).order_by(VerificationLogEntry.id.desc()).limit(2)).all()
    assert [(e.method, e.validity) for e in last] == [("numbers", 4), ("numbers", 1)]


# ---------------------------------------------------------------- the Coverage search

def search(api, token, member="01130012:10000001:101:00", birth="1970-01-01", **extra):
    params = {"identifier": f"{MEMBER_ID_SYSTEM}|{member}", "beneficiary.birthdate": birth, **extra}
    return api.get("/fhir/Coverage", params=params, headers=auth(token))


def test_search_finds_only_what_this_institution_checked(fhir_api, fhir_validator):
    def logs():
        with unit_of_work() as s:
            return s.scalar(select(func.count()).select_from(VerificationLogEntry))
    first = checked(fhir_validator, search(fhir_api, fhir_api.token).json())
    assert first["type"] == "searchset" and first["total"] == 0 and "entry" not in first
    n = logs()
    post(fhir_api, cer())  # the clinic checks the patient
    found = checked(fhir_validator, search(fhir_api, fhir_api.token).json())
    assert found["total"] == 1
    kinds = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in found["entry"]]
    assert kinds == [("Coverage", "match"), ("Patient", "include"), ("Organization", "include")]
    assert logs() == n + 1  # the search itself is not a check
    # the same numbers asked by another institution: nothing, and the other's search leaves no audit of a read
    other = checked(fhir_validator, search(fhir_api, fhir_api.other).json())
    assert other["total"] == 0 and "厚労" not in str(other)
    # the form POST keeps the numbers out of the URL
    r = fhir_api.post("/fhir/Coverage/_search", data={"identifier": f"{MEMBER_ID_SYSTEM}|01130012:10000001:101:00",
                                                      "beneficiary.birthdate": "1970-01-01"},
                      headers={"Authorization": f"Bearer {fhir_api.token}"})
    assert r.status_code == 200 and checked(fhir_validator, r.json())["total"] == 1
    with unit_of_work() as s:
        reads = s.scalar(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "fhir-coverage-search"))
    assert reads == 2
    # read: the search answer's id, for this institution only
    match = found["entry"][0]
    cid = match["resource"]["id"]
    assert match["fullUrl"].endswith(f"/fhir/Coverage/{cid}") and len(cid) <= 64 and "101" not in cid
    r = fhir_api.get(f"/fhir/Coverage/{cid}", headers=auth(fhir_api.token))
    assert r.status_code == 200, r.text
    cov = checked(fhir_validator, r.json())
    assert cov["id"] == cid and cov["identifier"][0]["value"] == "01130012:10000001:101:00"
    assert cov["meta"]["tag"][0]["display"] == "有効"
    assert logs() == n + 1  # reading is not a check either
    r = fhir_api.get(f"/fhir/Coverage/{cid}", headers=auth(fhir_api.other))
    assert r.status_code == 404 and "厚労" not in r.text
    checked(fhir_validator, r.json())
    forged = cid[:-4] + ("aaaa" if cid[-4:] != "aaaa" else "bbbb")
    assert fhir_api.get(f"/fhir/Coverage/{forged}", headers=auth(fhir_api.token)).status_code == 404


@pytest.mark.parametrize("params, status", [
    ({}, 400),
    ({"identifier": "01130012:10000001:101:00", "beneficiary.birthdate": "1970-01-01"}, 400),
    ({"identifier": "urn:oid:1.2.392.100495.20.3.61|01130012", "beneficiary.birthdate": "1970-01-01"}, 400),
    ({"identifier": f"{MEMBER_ID_SYSTEM}|01130012:10000001:101:00"}, 400),
    ({"identifier": f"{MEMBER_ID_SYSTEM}|01130012:10000001:101:00", "beneficiary.birthdate": "19700101"}, 400),
    ({"identifier": f"{MEMBER_ID_SYSTEM}|01130012:10000001:101:00", "beneficiary.birthdate": "1970-01-01",
      "name": "x"}, 400),
    ({"identifier": f"{MEMBER_ID_SYSTEM}|9" * 300, "beneficiary.birthdate": "1970-01-01"}, 400),
])
def test_bad_searches(fhir_api, fhir_validator, params, status):
    r = fhir_api.get("/fhir/Coverage", params=params, headers=auth(fhir_api.token))
    assert r.status_code == status and r.headers["content-type"].startswith(FHIR_JSON)
    assert checked(fhir_validator, r.json())["resourceType"] == "OperationOutcome"


# ---------------------------------------------------------------- the shortcut

def test_verify_shortcut_uses_jp_core_systems(fhir_api, fhir_validator):
    body = {"insurer_number": "01130012", "symbol": "10000001", "number": "101", "branch": "00",
            "birth_date": "1970-01-01", "care_date": TODAY.isoformat()}
    r = fhir_api.post("/fhir/verify", json=body, headers={"Authorization": f"Bearer {fhir_api.token}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    bundle = checked(fhir_validator, r.json())
    assert bundle["meta"]["tag"][0]["display"] == "有効"
    org = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization")
    assert org["identifier"][0]["system"] == INSURER_SYSTEM
    bad = fhir_api.post("/fhir/verify", json={**body, "insurer_number": "x"},
                        headers={"Authorization": f"Bearer {fhir_api.token}"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(FHIR_JSON)
    checked(fhir_validator, bad.json())
    unauth = fhir_api.post("/fhir/verify", json=body)
    assert unauth.status_code == 401 and unauth.json()["resourceType"] == "OperationOutcome"


# ---------------------------------------------------------------- bad input

def _without_identifier():
    return cer(member_id=None)


def _unknown_system():
    b = cer(member_id=None)
    b["contained"][1]["identifier"] = [{"system": "urn:oid:1.2.392.100495.20.3.61", "value": "01130012"}]
    return b


def _provider_other():
    system = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
    return cer(provider={"identifier": {"system": system, "value": OTHER_CLINIC}})


BAD = {
    "not a CER": ({"resourceType": "Patient", "birthDate": "1970-01-01"}, 400, "resourceType"),
    "an array": ([cer()], 400, None),
    "missing identifier": (_without_identifier(), 422, "CoverageEligibilityRequest.insurance"),
    "unknown system": (_unknown_system(), 422, "Coverage.identifier"),
    "far future": (cer(care=(TODAY + timedelta(days=400)).isoformat()), 422,
                   "CoverageEligibilityRequest.servicedDate"),
    "year 9999": (cer(care="9999-12-31"), 422, "CoverageEligibilityRequest.servicedDate"),
    "servicedDate a number": (cer(care=None, servicedDate=1700000000), 422, None),
    "no servicedDate": ({k: v for k, v in cer().items() if k != "servicedDate"}, 422,
                        "CoverageEligibilityRequest.servicedDate"),
    "purpose benefits": (cer(purpose=["benefits"]), 422, "CoverageEligibilityRequest.purpose"),
    "no birth date": (cer(birth=None), 422, "Patient.birthDate"),
    "huge number": (cer(member_id="01130012:10000001:" + "9" * 5000 + ":00"), 422, "Coverage.extension"),
    "huge float": (cer(care=None, servicedDate=1e308), 422, None),
    "three parts": (cer(member_id="01130012:101:00"), 422, "Coverage.identifier"),
    "bad insurer check digit": (cer(member_id="01130013:10000001:101:00"), 422, "Organization.identifier"),
    "unknown element": (cer(bogus=1), 422, None),
    "reference to a stored resource": (cer(patient={"reference": "Patient/123"}), 422,
                                       "CoverageEligibilityRequest.patient"),
    "two insurances": (cer(insurance=[{"coverage": {"reference": "#cov"}}] * 2), 422,
                       "CoverageEligibilityRequest.insurance"),
    "another provider": (_provider_other(), 403, "CoverageEligibilityRequest.provider"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_an_operation_outcome_never_a_500(fhir_api, fhir_validator, case):
    body, status, where = BAD[case]
    r = post(fhir_api, copy.deepcopy(body))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    outcome = checked(fhir_validator, r.json())
    assert outcome["resourceType"] == "OperationOutcome"
    if where:
        assert outcome["issue"][0]["expression"] == [where]
    assert "厚労" not in r.text and "621498320257" not in r.text


@pytest.mark.parametrize("content, ctype, status", [
    (b'{"resourceType": "CoverageEligibilityRequest"', FHIR_JSON, 400),  # truncated
    (b"[" * 100_000 + b"]" * 100_000, FHIR_JSON, 400),  # nested beyond any parser's depth
    (b'{"resourceType": NaN}', FHIR_JSON, 400),
    (b"<CoverageEligibilityRequest xmlns='http://hl7.org/fhir'/>", "application/fhir+xml", 415),
    (b"resourceType=CoverageEligibilityRequest", "application/x-www-form-urlencoded", 415),
    (b"{}" + b" " * 300_000, FHIR_JSON, 413),
])
def test_unreadable_bodies(fhir_api, fhir_validator, content, ctype, status):
    r = fhir_api.post("/fhir/CoverageEligibilityRequest/$submit", content=content,
                      headers={"Authorization": f"Bearer {fhir_api.token}", "Content-Type": ctype})
    assert r.status_code == status and r.headers["content-type"].startswith(FHIR_JSON)
    checked(fhir_validator, r.json())


@pytest.mark.parametrize("token", [None, "wrong"])
def test_no_credential_is_401_operation_outcome(fhir_api, fhir_validator, token):
    headers = {"Content-Type": FHIR_JSON} if token is None else auth(token)
    r = fhir_api.post("/fhir/CoverageEligibilityRequest/$submit", json=cer(), headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert checked(fhir_validator, r.json())["issue"][0]["code"] == "login" and "厚労" not in r.text
    s = fhir_api.get("/fhir/Coverage", params={"identifier": f"{MEMBER_ID_SYSTEM}|01130012:10000001:101:00",
                                                "beneficiary.birthdate": "1970-01-01"},
                     headers={} if token is None else auth(token))
    assert s.status_code == 401 and s.json()["resourceType"] == "OperationOutcome"


def test_the_validators_do_catch_mistakes(fhir_validator):
    """FHIR.js and the JP Core rules are not rubber stamps: broken resources are refused."""
    assert fhir_validator.errors({"resourceType": "CoverageEligibilityResponse", "status": "active",
                                  "purpose": ["validation"], "bogus": 1})  # missing patient/created/…, unknown
    assert fhir_validator.errors({"resourceType": "OperationOutcome", "issue": [{"severity": "fatal-ish",
                                                                                "code": "invalid"}]})
    bad_org = {"resourceType": "Organization", "meta": {"profile": [
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Organization"]},
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.61", "value": "01130012"}]}
    assert jp_core_problems(bad_org)
    assert jp_core_problems({"resourceType": "Patient", "meta": {"profile": [
        "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"]}})


ODD_VALUES = [None, 0, -1, 10 ** 30, 1e308, True, "", "x" * 2000, "#pat", [], [None], [1], {}, {"reference": 1},
              {"reference": "#nowhere"}, {"identifier": "x"}, {"identifier": {"system": MEMBER_ID_SYSTEM}}]


def test_any_element_replaced_by_anything_is_never_a_500(fhir_api):
    """Each element of the request (and of its contained Patient and Coverage) replaced by values of every JSON
    type: an answer or a 4xx OperationOutcome, always FHIR JSON, never the registered person's data unless the
    request still names them."""
    base = cer()
    paths = [(k,) for k in base] + [("contained", 0, k) for k in base["contained"][0]] + \
        [("contained", 1, k) for k in base["contained"][1]]
    for path in paths:
        for odd in ODD_VALUES:
            body = copy.deepcopy(base)
            target = body
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = odd
            r = post(fhir_api, body)
            assert r.status_code == 200 or 400 <= r.status_code < 500, (path, odd, r.status_code, r.text[:300])
            assert r.headers["content-type"].startswith(FHIR_JSON), (path, odd)
            kind = r.json()["resourceType"]
            assert kind == ("CoverageEligibilityResponse" if r.status_code == 200 else "OperationOutcome")
