"""JP Core's required elements and fixed values that onshi's answers must keep, restated in our own words.

Checked against jami-fhir-jp-wg/jp-core-v1x at commit cb1f4ee19ecdb4edaebfe349c43caddbf32ff276
(input/fsh/profiles/JP_Coverage.fsh, JP_Patient.fsh, JP_Organization.fsh, aliases-jpcore.fsh); docs/fhir.md
lists them.  :func:`jp_core_problems` walks a resource, its contained resources and Bundle entries, and says
what breaks a rule (an empty list: nothing).
"""

from __future__ import annotations

import re
from typing import Any

CORE = "http://jpfhir.jp/fhir/core/"
PROFILE = {k: CORE + "StructureDefinition/JP_" + k for k in ("Coverage", "Patient", "Organization")}
MEMBER_ID = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"  # 被保険者個人識別子, at most one
COVERAGE_CSV_ID = CORE + "IdSystem/JP_Coverage_id"  # the CSV form, at most one
INSURER_NUMBER = CORE + "mhlw/IdSystem/InsurerNumber"  # the insurer's identifier system on an Organization
INSURER_OLD_OID = "urn:oid:1.2.392.100495.20.3.61"  # JP Core names this OID only as the URL's origin
INSTITUTION_10 = CORE + "IdSystem/insurance-medical-institution-no"
PERSON_CATEGORY = CORE + "mhlw/CodeSystem/InsuredPersonCategory"  # 1 被保険者, 2 被扶養者
EXT = CORE + "Extension/StructureDefinition/JP_Coverage_InsuredPerson"
EXT_SYMBOL, EXT_NUMBER, EXT_SUB = EXT + "Symbol", EXT + "Number", EXT + "SubNumber"
PATIENT_ID_PREFIX = "urn:oid:1.2.392.100495.20.3.51.1"  # + the 10-digit 医療機関コード


def _profiles(res: dict) -> list[str]:
    return (res.get("meta") or {}).get("profile") or []


def _resolve(ref: dict | None, local: dict[str, dict]) -> dict | None:
    target = (ref or {}).get("reference")
    return local.get(target) if target else None


def _coverage(res: dict, local: dict[str, dict]) -> list[str]:
    out = []
    member = [i for i in res.get("identifier") or () if i.get("system") == MEMBER_ID]
    if len(member) > 1 or len([i for i in res.get("identifier") or () if i.get("system") == COVERAGE_CSV_ID]) > 1:
        out.append("Coverage: a member id or CSV identifier given twice")
    for i in member:
        parts = (i.get("value") or "").split(":")
        if len(parts) != 4 or not re.fullmatch(r"[0-9A-Za-z]{8}", parts[0]) or not parts[2] \
                or not re.fullmatch(r"(\d{2})?", parts[3]):
            out.append(f"Coverage.identifier: {i.get('value')!r} is not 保険者番号(8):記号:番号:枝番(2 or empty)")
    ext = {e.get("url"): e for e in res.get("extension") or ()}
    for url in (EXT_SYMBOL, EXT_NUMBER, EXT_SUB):
        if url in ext and not isinstance(ext[url].get("valueString"), str):
            out.append(f"Coverage.extension {url}: must carry a valueString")
    if EXT_SUB in ext:
        sub = ext[EXT_SUB].get("valueString")
        if not re.fullmatch(r"\d{2}", sub or ""):
            out.append("Coverage 枝番 extension: two half-width digits")
        if res.get("dependent") != sub:
            out.append("Coverage.dependent: the same 枝番 as the extension")
    ben = _resolve(res.get("beneficiary"), local)
    if ben is None or ben.get("resourceType") != "Patient" or PROFILE["Patient"] not in _profiles(ben):
        out.append("Coverage.beneficiary: must resolve to a JP_Patient")
    payors = [_resolve(p, local) for p in res.get("payor") or ()]
    if not payors or any(p is None or p.get("resourceType") != "Organization" for p in payors):
        out.append("Coverage.payor: must resolve to the insurer JP_Organization")
    for c in (res.get("relationship") or {}).get("coding") or ():
        if c.get("system") != PERSON_CATEGORY or c.get("code") not in ("1", "2"):
            out.append(f"Coverage.relationship: {c} is not InsuredPersonCategory 1/2")
    for cost in res.get("costToBeneficiary") or ():
        codes = [(c.get("system"), c.get("code")) for c in (cost.get("type") or {}).get("coding") or ()]
        if codes != [("http://terminology.hl7.org/CodeSystem/coverage-copay-type", "copaypct")]:
            out.append(f"Coverage.costToBeneficiary: type {codes} is not copaypct")
    return out


def _organization(res: dict) -> list[str]:
    out = []
    for i in res.get("identifier") or ():
        if i.get("system") == INSURER_OLD_OID:
            out.append("Organization.identifier: the insurer number must use " + INSURER_NUMBER)
        if i.get("system") == INSURER_NUMBER and not re.fullmatch(r"[0-9A-Za-z]{6,8}", i.get("value") or ""):
            out.append(f"Organization.identifier: {i.get('value')!r} is not a 保険者番号")
        if i.get("system") == INSTITUTION_10 and not re.fullmatch(r"\d{10}", i.get("value") or ""):
            out.append("Organization.identifier: the 医療機関コード has 10 digits")
    return out


def _patient(res: dict) -> list[str]:
    ids = res.get("identifier") or []
    out = [] if ids else ["Patient.identifier: JP_Patient needs at least one"]
    for i in ids:
        if not i.get("value"):
            out.append("Patient.identifier.value: required")
        system = i.get("system") or ""
        if system.startswith("urn:oid:1.2.392.100495.20.3.51.") and not re.fullmatch(
                re.escape(PATIENT_ID_PREFIX) + r"\d{10}", system):
            out.append(f"Patient.identifier.system {system}: .51. + '1' + the 10-digit 医療機関コード")
    return out


def jp_core_problems(resource: dict[str, Any]) -> list[str]:
    """Every JP Core rule *resource* (and whatever it contains or bundles) breaks."""
    local: dict[str, dict] = {}
    todo = [resource]
    for e in resource.get("entry") or ():
        if e.get("fullUrl"):
            local[e["fullUrl"]] = e["resource"]
        todo.append(e["resource"])
    for c in resource.get("contained") or ():
        local["#" + c["id"]] = c
        todo.append(c)
    out: list[str] = []
    for res in todo[1:] if todo[0] is resource and (resource.get("entry") or resource.get("contained")) else todo:
        profiles = _profiles(res)
        kind = res.get("resourceType")
        if kind == "Coverage":
            out += _coverage(res, local) if PROFILE["Coverage"] in profiles else ["Coverage: not JP_Coverage"]
        elif kind == "Organization":
            out += _organization(res) if PROFILE["Organization"] in profiles else ["Organization: not JP_Organization"]
        elif kind == "Patient":
            out += _patient(res) if PROFILE["Patient"] in profiles else ["Patient: not JP_Patient"]
    return out
