"""The provisional billing (``onshit:ProvisionalBilling``) as the clinics' readers meet it (docs/oqs-clients.md).

onshi adds one element of its own to a numbers answer on an expired 健康保険証 confirmed online (2025-12-02 to
2026-03-31 for employee insurance, docs/rules.md).  What the readers of the national answer rely on, restated in
our words from their code at the commits named in docs/oqs-clients.md (hangilc/myclinic-ts's ``parseFaceXml`` +
``OnshiResult``, run on these very answers there; YUKI-ENT/MynaReception and OQSDrug2 read national elements by
name/XPath):

* the national elements are the same — same tags, same nesting, same count, same order — whether or not the
  element is there; only onshi's elements are added;
* the element is a direct child of ``MessageBody``, once, and comes after every national element of the
  document (so nothing national is shifted, and a reader that walks the body in order has met all it reads
  before meeting it); it is never inside ``ResultList`` / ``ResultOfQualificationConfirmation``, whose one item
  a reader takes as the patient;
* it and its children are in onshi's namespace (``urn:onshi:transition:1``) under a prefix, never in the empty
  (national) namespace and never as a default namespace — a reader keying by the qualified name sees
  ``onshit:ProvisionalBilling``, a name the national schema never uses;
* in OQS JSON the same: one extra key ``onshi:ProvisionalBilling`` after the national keys of ``MessageBody``.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from onshi.exchange.publish import publish_all
from onshi.interop.oqs.render import RECEIPT_NS, TRANSITION_NS
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.web.app import create_app
from tests.registry.helpers import acquisition, load, setup_insurers, write

CODE = "1310000011"
LAPSED, PROVISIONAL = date(2025, 12, 1), date(2025, 12, 2)  # the old card's last day; the first provisional day
PB = f"{{{TRANSITION_NS}}}ProvisionalBilling"
ONSHI_NAMESPACES = {RECEIPT_NS, TRANSITION_NS}


@pytest.fixture
def api(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01")]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        token = service.add_institution(s, code=CODE, name="移行期診療所", facility_type="clinic")[1]
    client = TestClient(create_app(engine, publisher_interval=0))
    client.app.state.rate_limits.enabled = False
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def request_xml(care: date, encoding: str) -> bytes:
    return (f'<?xml version="1.0" encoding="{encoding}" standalone="no"?>'
            f"<XmlMsg><MessageHeader><QualificationConfirmationDate>{care:%Y%m%d}</QualificationConfirmationDate>"
            f"<MedicalInstitutionCode>{CODE}</MedicalInstitutionCode>"
            f"<ArbitraryFileIdentifier>PB-{care:%Y%m%d}</ArbitraryFileIdentifier></MessageHeader>"
            f"<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>01130012</InsurerNumber>"
            f"<InsuredCardSymbol>10000001</InsuredCardSymbol><InsuredIdentificationNumber>101"
            f"</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber>"
            f"<Birthdate>19700101</Birthdate><LimitApplicationCertificateRelatedConsFlg>1"
            f"</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>"
            ).encode("cp932" if encoding == "Shift_JIS" else "utf-8")


def answer(api, care: date, encoding: str) -> tuple[str, etree._Element]:
    r = api.post("/oqs/xml", content=request_xml(care, encoding))
    assert r.status_code == 200, r.text
    declared = r.content[:80]
    assert f'encoding="{encoding}"'.encode() in declared  # answered in the request's encoding
    text = r.content.decode("cp932" if encoding == "Shift_JIS" else "utf-8")
    return text, etree.fromstring(text.split("?>", 1)[1].encode("utf-8"))


def is_national(el: etree._Element) -> bool:
    return etree.QName(el).namespace is None


def national_paths(root: etree._Element) -> list[str]:
    """Every national element as its path of tags, in document order (a reader's view without onshi's)."""
    return [root.getroottree().getpath(el) for el in root.iter(etree.Element) if is_national(el)
            and all(is_national(a) for a in el.iterancestors())]


def client_rule_violations(root: etree._Element) -> list[str]:
    """What would break a reader of the national answer, as text (empty when the answer is right)."""
    out: list[str] = []
    body = root.find("MessageBody")
    found = [el for el in root.iter(PB)]
    if len(found) != 1:
        return [f"{len(found)} ProvisionalBilling elements"]
    pb = found[0]
    if pb.getparent() is not body:
        out.append(f"ProvisionalBilling is inside {pb.getparent().tag}, not a child of MessageBody")
    seen_onshi = False
    for el in root.iter(etree.Element):  # document order: no national element may follow an onshi one
        if is_national(el):
            if seen_onshi:
                out.append(f"national {el.tag} comes after an onshi element")
        elif etree.QName(el).namespace in ONSHI_NAMESPACES:
            seen_onshi = True
        else:
            out.append(f"element of a foreign namespace {el.tag}")
    if not all(etree.QName(el).namespace == TRANSITION_NS for el in pb.iter(etree.Element)):
        out.append("ProvisionalBilling holds an element outside onshi's transition namespace")
    if None in root.nsmap or None in pb.nsmap:
        out.append("a default namespace is declared: national elements would change namespace")
    return out


@pytest.mark.parametrize("encoding", ["UTF-8", "Shift_JIS"])
def test_the_national_answer_is_unchanged_and_the_element_comes_after_all_of_it(api, encoding):
    text, with_pb = answer(api, PROVISIONAL, encoding)
    _, without = answer(api, LAPSED, encoding)  # the same person the day before: no provisional billing
    assert without.find(f"MessageBody/{PB}") is None
    assert with_pb.find(f"MessageBody/{PB}") is not None

    # the national elements: same tags, nesting, count and order with the extra element present
    assert national_paths(with_pb) == national_paths(without)
    body = with_pb.find("MessageBody")
    assert [c.tag for c in body if is_national(c)] == \
        ["ProcessingResultStatus", "QualificationValidity", "QualificationConfirmSearchInfo", "ResultList"]
    assert len(body.findall("ResultList/ResultOfQualificationConfirmation")) == 1
    assert body.findtext("QualificationValidity") == "1"

    # after every national element, a direct child of MessageBody, in onshi's namespace under a prefix
    assert client_rule_violations(with_pb) == []
    assert body[-1].tag == PB and all(not is_national(c) for c in body[list(body).index(body.find("ResultList")) + 1:])
    assert "<onshit:ProvisionalBilling>" in text  # the qualified name a by-name reader (fast-xml-parser) keys on
    assert [etree.QName(c).localname for c in body.find(PB)] == ["Until", "LapsedAfter", "RatioTenths", "Message"]
    assert body.find(PB).findtext(f"{{{TRANSITION_NS}}}Until") == "20260331"


def test_the_check_bites_when_the_element_sits_before_or_inside_national_ones(api):
    """The rule above is no tautology: the same answer with the element moved is refused by it."""
    _, root = answer(api, PROVISIONAL, "UTF-8")
    body = root.find("MessageBody")
    pb = body.find(PB)

    def moved(place) -> etree._Element:
        copy = etree.fromstring(etree.tostring(root))
        b = copy.find("MessageBody")
        el = b.find(PB)
        b.remove(el)
        place(copy, el)
        return copy

    before_result_list = moved(lambda r, el: r.find("MessageBody/ResultList").addprevious(el))
    first_in_body = moved(lambda r, el: r.find("MessageBody").insert(0, el))
    inside_result = moved(lambda r, el: r.find("MessageBody/ResultList/ResultOfQualificationConfirmation").append(el))
    in_header = moved(lambda r, el: r.find("MessageHeader").append(el))
    for wrong in (before_result_list, first_in_body, inside_result, in_header):
        assert client_rule_violations(wrong), etree.tostring(wrong)[:200]
    assert pb is not None and client_rule_violations(root) == []


def test_oqs_json_adds_one_key_after_the_national_ones(api):
    def ask(care: date) -> dict:
        req = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": f"{care:%Y%m%d}",
                                            "MedicalInstitutionCode": CODE},
                          "MessageBody": {"QualificationConfirmSearchInfo": {
                              "InsurerNumber": "01130012", "InsuredCardSymbol": "10000001",
                              "InsuredIdentificationNumber": "101", "InsuredBranchNumber": "00",
                              "Birthdate": "19700101", "LimitApplicationCertificateRelatedConsFlg": "1"}}}}
        r = api.post("/oqs/json", content=json.dumps(req).encode(), headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()["XmlMsg"]["MessageBody"]

    with_pb, without = ask(PROVISIONAL), ask(LAPSED)
    national = [k for k in with_pb if ":" not in k]
    assert national == [k for k in without if ":" not in k]
    assert list(with_pb)[-1] == "onshi:ProvisionalBilling" and "onshi:ProvisionalBilling" not in without
    assert list(with_pb).index("onshi:ProvisionalBilling") > max(list(with_pb).index(k) for k in national)
    assert with_pb["ResultList"][0]["ResultOfQualificationConfirmation"].keys() == \
        without["ResultList"][0]["ResultOfQualificationConfirmation"].keys()
    assert with_pb["onshi:ProvisionalBilling"]["onshi:Until"] == "20260331"
