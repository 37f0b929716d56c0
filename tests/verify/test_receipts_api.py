"""Receipts and free repeat checks over HTTP, on both databases: every interface's answer carries a receipt that
verifies; ETag/If-None-Match answers 304 only when nothing registered changed, for the same institution and day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select
from typer.testing import CliRunner

from onshi.cli import app as cli_app
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import receipts, service
from onshi.verify.models import VerificationLogEntry
from onshi.verify.result import Validity
from onshi.web.app import create_app

from tests.interop.oqs.test_oqs_xmlmsg import assert_strict_client_rules
from tests.registry.helpers import acquisition, load, numbers, setup_insurers, write
from tests.verify.test_api import TODAY, auth, body, xml_request
from tests.verify.test_receipts import numbers_request

CLINIC, OTHER = "1310000011", "1310000037"
URL = "/api/v1/verifications/numbers"


@pytest.fixture
def api(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01")]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _inst, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        _o, other = service.add_institution(s, code=OTHER, name="別の医院", facility_type="clinic")
    service.institution_cache.clear()
    client = TestClient(create_app(engine, publisher_interval=0))
    client.token, client.other, client.world = token, other, tmp_path
    yield client
    service.institution_cache.clear()


def log_rows():
    with unit_of_work() as s:
        return s.execute(select(VerificationLogEntry.institution_code, VerificationLogEntry.validity,
                                VerificationLogEntry.receipt_id, VerificationLogEntry.not_modified)
                         .order_by(VerificationLogEntry.id)).all()


def check(receipt: str) -> dict:
    return receipts.verify_receipt(receipt, receipts.key_ring())


def test_rest_answer_carries_a_receipt_that_verifies_and_is_logged(api):
    r = api.post(URL, json=body(), headers=auth(api.token))
    assert r.status_code == 200
    data = r.json()
    claims = check(data["receipt"])
    assert r.headers["ETag"] == claims["et"]
    assert "Onshi-Receipt" not in r.headers  # once per answer: in the JSON of a 200, in the header of a 304
    assert claims["rid"] == data["receipt_id"] and claims["ins"] == CLINIC and claims["cd"] == TODAY.isoformat()
    assert claims["val"] == 1 and claims["m"] == "numbers" and claims["a"]["in"] == "01130012"
    assert "厚労" not in json.dumps(claims, ensure_ascii=False) and "1970-01-01" not in json.dumps(claims)
    assert log_rows() == [(CLINIC, 1, data["receipt_id"], False)]
    # the endpoint and the CLI say the same; an altered one is refused with the reason
    v = api.post("/api/v1/receipts/verify", json={"receipt": data["receipt"]})
    assert v.status_code == 200 and v.json()["valid"] and v.json()["claims"]["rid"] == data["receipt_id"]
    head, claims_part, sig = data["receipt"].split(".")
    altered = f"{head}.{claims_part}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"
    bad = api.post("/api/v1/receipts/verify", json={"receipt": altered})
    assert bad.status_code == 422 and "altered or forged" in bad.json()["reason"]
    assert api.post("/api/v1/receipts/verify", json={"receipt": "x"}).status_code == 422
    assert api.post("/api/v1/receipts/verify", json={}).status_code == 422


def test_jwks_published_and_offline_cli_verification(api, tmp_path):
    jwks = api.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and jwks.json() == api.get("/api/v1/receipts/jwks").json()
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and "d" not in k for k in jwks.json()["keys"])
    receipt = api.post(URL, json=body(), headers=auth(api.token)).json()["receipt"]
    (tmp_path / "jwks.json").write_text(jwks.text)
    (tmp_path / "r.txt").write_text(receipt)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["receipt", "verify", str(tmp_path / "r.txt"), "--jwks", str(tmp_path / "jwks.json")])
    assert ok.exit_code == 0 and "valid" in ok.output, ok.output
    ok = runner.invoke(cli_app, ["receipt", "verify", receipt, "--json"])
    assert ok.exit_code == 0 and CLINIC in ok.output, ok.output
    bad = runner.invoke(cli_app, ["receipt", "verify", receipt[:-3] + ("AAA" if receipt[-3:] != "AAA" else "BBB")])
    assert bad.exit_code == 1 and "altered or forged" in bad.output
    rid = receipts.verify_receipt(receipt, receipts.key_ring())["rid"]
    shown = runner.invoke(cli_app, ["receipt", "show", rid])
    assert shown.exit_code == 0 and CLINIC in shown.output and "有効" in shown.output, shown.output
    assert runner.invoke(cli_app, ["receipt", "show", "nope"]).exit_code == 1


def test_304_only_while_nothing_registered_changed(api):
    first = api.post(URL, json=body(), headers=auth(api.token))
    tag = first.headers["ETag"]
    again = api.post(URL, json=body(), headers={**auth(api.token), "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag
    fresh = check(again.headers["Onshi-Receipt"])  # a fresh receipt, tied to the answer by its tag
    assert fresh["nm"] is True and fresh["et"] == tag and fresh["rid"] != first.json()["receipt_id"]
    assert fresh["val"] == 1 and "a" not in fresh
    # weak comparison and lists as RFC 9110 allows
    assert api.post(URL, json=body(), headers={**auth(api.token), "If-None-Match": f'"x", W/{tag}'}).status_code == 304
    # another day of care, another institution, another person: never 304
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    assert api.post(URL, json=body(care_date=yesterday), headers={**auth(api.token), "If-None-Match": tag}
                    ).status_code == 200
    other = api.post(URL, json=body(), headers={**auth(api.other), "If-None-Match": tag})
    assert other.status_code == 200 and other.headers["ETag"] != tag and other.json()["validity"] == 1
    assert api.post(URL, json=body(number="102"), headers={**auth(api.token), "If-None-Match": tag}
                    ).status_code == 200
    # the insurer registers a loss: the answer changes, so 200 with a new tag, and 304 for that one
    load(write(api.world, "l.csv", T.loss, [numbers(loss_date=yesterday, loss_reason="99")]), T.loss)
    publish_all()
    changed = api.post(URL, json=body(), headers={**auth(api.token), "If-None-Match": tag})
    assert changed.status_code == 200 and changed.json()["validity"] == 2 and changed.headers["ETag"] != tag
    assert api.post(URL, json=body(), headers={**auth(api.token), "If-None-Match": changed.headers["ETag"]}
                    ).status_code == 304
    rows = log_rows()
    assert [r.not_modified for r in rows] == [False, True, True, False, False, False, False, True]
    assert all(r.receipt_id for r in rows) and len({r.receipt_id for r in rows}) == len(rows)
    assert rows[1].institution_code == CLINIC and rows[1].validity == 1  # a 304 counts as a check


def test_card_route_etag(api):
    r = api.post("/api/v1/verifications/card", json={"certificate_serial": "nope", "care_date": TODAY.isoformat(),
                                                      "reader": {"method": "face"}}, headers=auth(api.token))
    assert r.status_code == 200 and r.json()["validity"] == 4 and check(r.json()["receipt"])["m"] == "card"
    again = api.post("/api/v1/verifications/card", json={"certificate_serial": "nope", "care_date": TODAY.isoformat(),
                                                          "reader": {"method": "face"}},
                     headers={**auth(api.token), "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and check(again.headers["Onshi-Receipt"])["nm"]


@pytest.mark.parametrize("encoding", ["UTF-8", "Shift_JIS"])
def test_oqs_xml_answer_carries_the_receipt_and_strict_readers_still_read_it(api, encoding):
    r = api.post("/oqs/xml", content=xml_request(encoding), headers=auth(api.token))
    root = assert_strict_client_rules(r.content, expect_success=True)
    body_el = root.find("MessageBody")
    ns = "{urn:onshi:receipt:1}"
    last = body_el[-1]
    assert last.tag == f"{ns}Receipt"  # at the end of MessageBody, in onshi's namespace
    claims = check(last.findtext(f"{ns}Jws"))
    assert claims["rid"] == last.findtext(f"{ns}ReceiptId") and claims["val"] == 1
    # namespace-blind readers (XPath by local name, fast-xml-parser) see the national elements unchanged
    assert body_el.findtext("QualificationValidity") == "1"
    assert len(root.xpath("//ResultOfQualificationConfirmation")) == 1


def test_oqs_json_answer_carries_the_receipt(api):
    req = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": TODAY.strftime("%Y%m%d"),
                                        "MedicalInstitutionCode": CLINIC},
                      "MessageBody": {"QualificationConfirmSearchInfo": {
                          "InsurerNumber": "01130012", "InsuredCardSymbol": "10000001",
                          "InsuredIdentificationNumber": "101", "InsuredBranchNumber": "00",
                          "Birthdate": "19700101", "LimitApplicationCertificateRelatedConsFlg": "0"}}}}
    data = api.post("/oqs/json", content=json.dumps(req).encode(), headers=auth(api.token)).json()
    b = data["XmlMsg"]["MessageBody"]
    assert list(b)[-1] == "onshi:Receipt" and isinstance(b["ResultList"], list) and len(b["ResultList"]) == 1
    assert check(b["onshi:Receipt"]["onshi:Jws"])["rid"] == b["onshi:Receipt"]["onshi:ReceiptId"]


def test_fhir_verify_bundle_carries_the_receipt(api):
    r = api.post("/fhir/verify", json=body(), headers=auth(api.token))
    bundle = r.json()
    jws = bundle["meta"]["extension"][0]["valueString"]
    assert r.headers["Onshi-Receipt"] == jws and check(jws)["rid"] == bundle["identifier"]["value"]
    assert bundle["identifier"]["system"] == "urn:onshi:receipt-id"


def test_signing_off_answers_without_receipts(api, monkeypatch):
    from onshi.config import get_settings

    monkeypatch.setattr(get_settings(), "receipts", False)
    r = api.post(URL, json=body(), headers=auth(api.token))
    assert r.status_code == 200 and r.json()["receipt"] is None and "Onshi-Receipt" not in r.headers
    assert r.headers["ETag"]



def test_batch_receipts_verify_through_the_cli_and_the_endpoint(api, tmp_path):
    """A receipt of a group-committed batch (<JWS>~<claims>~<path>) checks like a single one, offline and online."""
    from onshi.verify import receipts_fast

    claims = [receipts_fast.prepare(now=datetime(2026, 12, 6, 13, 5, tzinfo=timezone(timedelta(hours=9))),
                                    institution_code=CLINIC, req=req, validity=Validity.VALID, answers=(),
                                    etag=None)[1]
              for req in (numbers_request(number=str(n)) for n in (1, 2, 3))]
    batch = receipts.sign_batch(claims, receipts.key_ring())
    (tmp_path / "jwks.json").write_text(api.get("/.well-known/jwks.json").text)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["receipt", "verify", batch[2], "--jwks", str(tmp_path / "jwks.json"), "--json"])
    assert ok.exit_code == 0 and CLINIC in ok.output, ok.output
    r = api.post("/api/v1/receipts/verify", json={"receipt": batch[1]})
    assert r.status_code == 200 and r.json()["valid"] is True
    head, _claims, path = batch[1].split("~")
    swapped = f"{head}~{batch[0].split('~')[1]}~{path}"
    r = api.post("/api/v1/receipts/verify", json={"receipt": swapped})
    assert r.status_code == 422 and "altered or forged" in r.json()["reason"]
    bad = runner.invoke(cli_app, ["receipt", "verify", head])
    assert bad.exit_code == 1 and "batch signature alone" in bad.output


def test_receipt_ids_never_look_like_an_option_and_old_ones_are_shown_after_a_double_dash(api, session):
    """`onshi receipt show ID` must not read an id as an option: new ids never begin with '-'; one that does
    (issued before that rule) is shown after '--'."""
    assert not any(receipts.new_receipt_id().startswith("-") for _ in range(5000))  # 1 in 64 would, before
    api.post(URL, json=body(), headers=auth(api.token))
    entry = session.scalars(select(VerificationLogEntry).order_by(VerificationLogEntry.id.desc())).first()
    entry.receipt_id = "-" + entry.receipt_id[1:]
    entry.occurred_at = datetime(2026, 11, 30, 3, 0)  # ids like that are only in rows of before 2026-12-07
    session.commit()
    shown = CliRunner().invoke(cli_app, ["receipt", "show", "--", entry.receipt_id])
    assert shown.exit_code == 0 and CLINIC in shown.output, shown.output


def test_a_receipt_is_found_by_the_millisecond_its_id_begins_with_through_the_time_index(api, session):
    """The usage log has no index on receipt_id (it cost every verification an index entry): ``onshi receipt
    show`` reads the rows of the receipt's own second through the index on occurred_at (BRIN on PostgreSQL) —
    the id's first 6 bytes are its row's occurred_at to the millisecond; an old fully random id is found among the
    rows before 2026-12-07 only."""
    from sqlalchemy import text

    from onshi.store.clock import frozen_at, millis_of

    with frozen_at("2026-12-06T14:59:59.9996Z"):  # the last instant of the 6th in Japan: the ms is truncated
        first = api.post(URL, json=body(), headers=auth(api.token)).json()["receipt_id"]
    with frozen_at("2026-12-06T15:00:00.0004Z"):
        second = api.post(URL, json=body(), headers=auth(api.token)).json()["receipt_id"]
    a, b = service.log_entry_of_receipt(session, first), service.log_entry_of_receipt(session, second)
    assert a is not None and b is not None and (a.receipt_id, b.receipt_id) == (first, second)
    for rid, row in ((first, a), (second, b)):
        assert int.from_bytes(receipts.unb64url(rid, "rid")[:6], "big") == millis_of(row.occurred_at)
    assert (a.occurred_at.second, b.occurred_at.second) == (59, 0)
    # the same time part with other random bits is nobody's receipt; nor is what does not decode
    assert service.log_entry_of_receipt(session, first[:8] + ("A" * 14 if first[8:] != "A" * 14 else "B" * 14)) is None
    assert service.log_entry_of_receipt(session, "not a receipt id!") is None
    # an old, fully random id in an old row: found among the rows before 2026-12-07, not by its (random) time
    a.receipt_id, a.occurred_at = "zzzzzzzzzzzzzzzzzzzzzw", datetime(2026, 12, 1, 9, 0)
    session.commit()
    assert service.log_entry_of_receipt(session, "zzzzzzzzzzzzzzzzzzzzzw").id == a.id
    if session.bind.dialect.name == "postgresql":  # at a log's size, the planner reads the second through BRIN
        session.execute(text(
            "INSERT INTO verification_log (occurred_at, care_date, institution_code, prefecture_code, facility_type,"
            " method, validity, setting, receipt_id, not_modified) SELECT timestamp '2026-12-01' + g * interval "
            "'20 ms', date '2026-12-01', '1310000011', '13', 'clinic', 'numbers', 1, 'outpatient', left(md5(g::text), 22), "
            "false FROM generate_series(1, 200000) g"))
        session.execute(text("ANALYZE verification_log"))
        plan = "\n".join(r[0] for r in session.execute(text(
            "EXPLAIN SELECT * FROM verification_log WHERE occurred_at >= :lo AND occurred_at < :hi "
            "AND receipt_id = :rid"), {"lo": b.occurred_at - timedelta(seconds=1),
                                       "hi": b.occurred_at + timedelta(seconds=1), "rid": second}))
        assert "ix_vlog_occurred" in plan, plan
        indexes = {r[0] for r in session.execute(text(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'verification_log'"))}
        assert "ix_verification_log_receipt_id" not in indexes and "ix_vlog_occurred" in indexes
        session.rollback()
    shown = CliRunner().invoke(cli_app, ["receipt", "show", second])
    assert shown.exit_code == 0 and "2026-12-07T00:00:00" in shown.output, shown.output
