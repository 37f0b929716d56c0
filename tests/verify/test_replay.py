"""Replay (issue 17 point 5): the index as registered at a past instant, on both databases.

A retroactive loss: 厚労 太郎 is registered on 1 Oct 2024; his 資格喪失届 (loss on 1 Nov 2024, filed late) is
registered on 10 Dec 2024, together with his new qualification at 06139992 from 1 Nov.  For care on 20 Nov the
national service answered 有効 until 10 Dec; it answers 無効（新しい資格あり） now.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from onshi.exchange.models import IndexedQualification, IndexedQualificationHistory
from onshi.exchange.publish import publish_batch
from onshi.privacy.models import AuditEntry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.verify.models import VerificationLogEntry
from onshi.verify.result import ReferenceClass, Validity, VerificationError, VerificationRequest
from tests.registry.helpers import INSURER, OTHER_INSURER, SYMBOL, acquisition, load, numbers, setup_insurers, write
from tests.registry.test_views import PASSWORD, client_of

CLINIC = "1310000011"
FIRST = datetime(2024, 10, 1, 3, 0)     # 12:00 JST: the acquisition registered
LOSS = datetime(2024, 12, 10, 3, 0)     # the back-dated loss and the new qualification registered
CARE = date(2024, 11, 20)
BEFORE_LOSS = datetime(2024, 11, 20, 2, 0)  # 11:00 JST on the day of care


@pytest.fixture
def world(engine, tmp_path):
    from onshi.auth import users

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition,
         received_at=datetime(2024, 9, 30, 1, 0))
    with unit_of_work() as s:
        assert publish_batch(s, now=FIRST)
    load(write(tmp_path, "l.csv", T.loss, [numbers(loss_date="2024-11-01", loss_reason="99")]), T.loss,
         received_at=datetime(2024, 12, 9, 1, 0))
    load(write(tmp_path, "b.csv", T.acquisition, [acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001",
                                                              number="7", acquisition_date="2024-11-01")]),
         T.acquisition, received_at=datetime(2024, 12, 9, 1, 0))
    with unit_of_work() as s:
        assert publish_batch(s, now=LOSS)
        _inst, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        for name, role, extra in (("clerk", "clerk", {"insurer_number": INSURER}),
                                  ("otherclerk", "clerk", {"insurer_number": OTHER_INSURER})):
            users.add_user(s, username=name, password=PASSWORD, role=role, **extra)
    return {"token": token}


def ask(day: date = CARE, registered_at: datetime | None = None, **kw):
    req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=day, institution_code=CLINIC,
                              arbitrary_file_identifier=None, insurer_number=INSURER, symbol=SYMBOL, number="101",
                              branch="00", birth_date=date(1970, 1, 1), limit_consent=False,
                              arbitrary_identifier=None)
    with unit_of_work() as s:
        inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
        return service.verify(s, req, inst, registered_at=registered_at, **kw)


def audit(action: str) -> list[tuple[str, str, str]]:
    with unit_of_work() as s:
        return [(e.actor_kind, e.actor_id, e.detail or "") for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))]


def test_the_index_keeps_what_it_replaced(world):
    with unit_of_work() as s:
        old = s.scalars(select(IndexedQualificationHistory)).all()
        cur = s.scalars(select(IndexedQualification).where(IndexedQualification.insurer_number == INSURER)).one()
    assert [(h.registered_at, h.superseded_at, h.loss_date) for h in old] == [(FIRST, LOSS, date(2045, 1, 1))]
    assert (cur.registered_at, cur.loss_date) == (LOSS, date(2024, 11, 1))


def test_retroactive_loss_valid_as_registered_then_invalid_now(world):
    then = ask(registered_at=BEFORE_LOSS)
    assert then.validity == Validity.VALID and then.answers[0].disqualification_date is None
    assert ask(registered_at=datetime(2024, 12, 10, 2, 59)).validity == Validity.VALID  # a minute before
    now = ask()
    assert now.validity == Validity.INVALID_NEWER_EXISTS and now.answers[0].disqualification_date == date(2024, 11, 1)
    assert ask(registered_at=LOSS).validity == Validity.INVALID_NEWER_EXISTS  # registered at that instant
    # the replay is audited as such and counted apart; the live check is an ordinary one
    assert [a[:2] for a in audit("verify.replay")] == [("institution", CLINIC)] * 3
    assert "registered_at=2024-11-20T02:00:00" in audit("verify.replay")[0][2]
    assert [a[:2] for a in audit("verify")] == [("institution", CLINIC)]
    with unit_of_work() as s:
        settings = sorted(s.scalars(select(VerificationLogEntry.setting)))
    assert settings == ["outpatient"] + ["replay"] * 3


def test_before_the_first_registration_or_in_the_future_is_a_clear_error(world):
    with pytest.raises(VerificationError) as e:
        ask(registered_at=datetime(2024, 9, 1))
    assert e.value.field == "registered_at" and "first registration" in e.value.message
    with pytest.raises(VerificationError) as e:
        ask(registered_at=datetime(2099, 1, 1))
    assert e.value.field == "registered_at"
    # the 31-day window is the replayed instant's: care on 20 Nov asked on 1 Oct was too far ahead then
    with pytest.raises(VerificationError) as e:
        ask(registered_at=FIRST)
    assert e.value.field == "QualificationConfirmationDate"


def test_the_new_qualification_was_not_registered_then(world):
    req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=CARE, institution_code=CLINIC,
                              arbitrary_file_identifier=None, insurer_number=OTHER_INSURER, symbol="9001",
                              number="7", branch="00", birth_date=date(1970, 1, 1), limit_consent=False,
                              arbitrary_identifier=None)
    with unit_of_work() as s:
        inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
        assert service.verify(s, req, inst, registered_at=BEFORE_LOSS).validity == Validity.NOT_FOUND
        assert service.verify(s, req, inst).validity == Validity.VALID


def test_claim_rerouting_decides_on_the_day_of_care_with_now_beside(world):
    with unit_of_work() as s:
        out = service.claim_rerouting(s, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00",
                                      birth_date=date(1970, 1, 1), care_date=CARE)
    assert out["reroute"] is False and out["responsible"]["insurer_number"] == INSURER
    assert out["registered_at"] == "2024-11-20T15:00:00"  # the end of the day of care, JST
    assert out["as_known_now"]["reroute"] is True
    assert out["as_known_now"]["responsible"]["insurer_number"] == OTHER_INSURER


@pytest.fixture
def app(engine, world, tmp_path, monkeypatch):
    from onshi.config import get_settings
    from onshi.web.app import create_app

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    return create_app(engine, publisher_interval=0)


def body(**kw):
    return {"insurer_number": INSURER, "symbol": SYMBOL, "number": "101", "branch": "00",
            "birth_date": "1970-01-01", "care_date": CARE.isoformat(), **kw}


def test_rest_institution_dispute_replay(app, world):
    c = client_of(app)
    c.headers["Authorization"] = f"Bearer {world['token']}"
    r = c.post("/api/v1/verifications/numbers", json=body(registered_at="2024-11-20T11:00:00+09:00"))
    assert r.status_code == 200 and r.json()["validity"] == 1, r.text
    r = c.post("/api/v1/verifications/numbers", json=body(registered_at="2024-11-20T11:00:00"))  # naive: JST
    assert r.status_code == 200 and r.json()["validity"] == 1, r.text
    r = c.post("/api/v1/verifications/numbers", json=body())
    assert r.status_code == 200 and r.json()["validity"] == 3
    r = c.post("/api/v1/verifications/numbers", json=body(registered_at="2024-09-01T00:00:00+09:00"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "registered_at"], r.text
    assert [a[:2] for a in audit("verify.replay")] == [("institution", CLINIC)] * 2


def test_rest_staff_replay_scoped_to_their_insurer(app, world):
    params = body(registered_at="2024-11-20T11:00:00+09:00")
    r = client_of(app, "clerk").get("/api/v1/verifications/replay", params=params)
    assert r.status_code == 200 and r.json()["validity"] == 1, r.text
    assert r.json()["results"][0]["name"] == "厚労　太郎"
    assert [a[:2] for a in audit("verify.replay")] == [("user", "clerk")]
    r = client_of(app, "otherclerk").get("/api/v1/verifications/replay", params=params)
    assert r.status_code == 403 and "太郎" not in r.text
    assert client_of(app).get("/api/v1/verifications/replay", params=params).status_code == 401
    c = client_of(app)
    c.headers["Authorization"] = f"Bearer {world['token']}"  # a clinic token is not a staff session
    assert c.get("/api/v1/verifications/replay", params=params).status_code == 401
    r = client_of(app, "clerk").get("/api/v1/verifications/replay",
                                    params=body(registered_at="2024-09-01T00:00:00+09:00"))
    assert r.status_code == 422 and "registered_at" in r.text
    assert len(audit("verify.replay")) == 1


def oqs(form: str) -> bytes:
    if form == "json":
        import json

        return json.dumps({"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": "20241120",
                                                        "MedicalInstitutionCode": CLINIC},
                                      "MessageBody": {"QualificationConfirmSearchInfo": {
                                          "InsurerNumber": INSURER, "InsuredCardSymbol": SYMBOL,
                                          "InsuredIdentificationNumber": "101", "InsuredBranchNumber": "00",
                                          "Birthdate": "19700101",
                                          "LimitApplicationCertificateRelatedConsFlg": "0"}}}}).encode()
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?><XmlMsg><MessageHeader>'
            f"<QualificationConfirmationDate>20241120</QualificationConfirmationDate>"
            f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader>"
            f"<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>{INSURER}</InsurerNumber>"
            f"<InsuredCardSymbol>{SYMBOL}</InsuredCardSymbol><InsuredIdentificationNumber>101"
            "</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber>"
            "<Birthdate>19700101</Birthdate><LimitApplicationCertificateRelatedConsFlg>0"
            "</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody>"
            "</XmlMsg>").encode()


def test_oqs_xml_and_json_replay_extension(app, world):
    c = client_of(app)
    c.headers["Authorization"] = f"Bearer {world['token']}"
    r = c.post("/oqs/xml", params={"registered_at": "2024-11-20T11:00:00+09:00"}, content=oqs("xml"))
    assert "<QualificationValidity>1</QualificationValidity>" in r.text, r.text
    r = c.post("/oqs/xml", content=oqs("xml"))
    assert "<QualificationValidity>3</QualificationValidity>" in r.text, r.text
    r = c.post("/oqs/json", headers={"X-Onshi-Registered-At": "2024-11-20T11:00:00"}, content=oqs("json"))
    assert r.json()["XmlMsg"]["MessageBody"]["QualificationValidity"] == "1", r.text
    for bad in ("2024-09-01T00:00:00+09:00", "yesterday"):
        r = c.post("/oqs/xml", params={"registered_at": bad}, content=oqs("xml"))
        assert r.status_code == 200 and "<SegmentOfResult>9</SegmentOfResult>" in r.text, r.text
        assert "registered_at" in r.text and "厚労" not in r.text
    assert [a[:2] for a in audit("verify.replay")] == [("institution", CLINIC)] * 2


def test_fhir_verify_replay_parameter(app, world):
    c = client_of(app)
    c.headers["Authorization"] = f"Bearer {world['token']}"
    then = c.post("/fhir/verify", json=body(registered_at="2024-11-20T11:00:00+09:00"))
    now = c.post("/fhir/verify", json=body())
    assert then.status_code == now.status_code == 200
    assert then.json() != now.json()
    coverage = next(e["resource"] for e in then.json()["entry"] if e["resource"]["resourceType"] == "Coverage")
    assert coverage["status"] == "active", coverage
    bad = c.post("/fhir/verify", json=body(registered_at="2024-09-01T00:00:00+09:00"))
    assert bad.status_code == 422 and "registered_at" in bad.text
    assert [a[:2] for a in audit("verify.replay")] == [("institution", CLINIC)]


def test_cli_registered_at(world):
    from typer.testing import CliRunner

    from onshi.cli import app

    args = ["verify", "--institution", CLINIC, "--insurer", INSURER, "--symbol", SYMBOL, "--number", "101",
            "--branch", "00", "--birth-date", "1970-01-01", "--care-date", "2024-11-20"]
    then = CliRunner().invoke(app, [*args, "--registered-at", "2024-11-20T11:00", "--actor", "kansa"])
    assert then.exit_code == 0 and "有効" in then.output and "無効" not in then.output, then.output
    now = CliRunner().invoke(app, args)
    assert now.exit_code == 0 and "無効（新しい資格あり）" in now.output, now.output
    early = CliRunner().invoke(app, [*args, "--registered-at", "2024-09-01"])
    assert early.exit_code != 0 and "--registered-at" in early.output and "Traceback" not in early.output
    assert [a[:2] for a in audit("verify.replay")] == [("cli", "kansa")]


def test_card_replay_knows_only_what_was_registered_then(world):
    from onshi.exchange import cards
    from tests.registry.helpers import MN_TARO

    with unit_of_work() as s:
        card = cards.register_card(s, my_number=MN_TARO, certificate_serial="SER9",
                                   certificate_expires_on=date(2030, 1, 1))
        card.registered_at = datetime(2024, 11, 1)
        cards.cancel_card(s, "SER9", reason="紛失", now=datetime(2024, 11, 25, 3, 0))

    def by_card(at, care=date(2024, 11, 28)):
        req = VerificationRequest(reference_class=ReferenceClass.CARD, care_date=care, institution_code=CLINIC,
                                  arbitrary_file_identifier=None, insurer_number=None, symbol=None, number=None,
                                  branch=None, birth_date=None, limit_consent=False, arbitrary_identifier=None,
                                  card_serial="SER9", reader_outcome={"method": "face", "consents": {}})
        with unit_of_work() as s:
            inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
            return service.verify(s, req, inst, registered_at=at)

    assert by_card(datetime(2024, 10, 15), care=date(2024, 10, 20)).validity == Validity.NOT_FOUND  # not yet
    assert by_card(datetime(2024, 11, 24)).validity == Validity.VALID  # its cancellation still to come
    with pytest.raises(VerificationError) as e:  # by the 26th the cancellation of the 25th was known
        by_card(datetime(2024, 11, 26))
    assert e.value.code == "E0202"


def test_a_revoked_token_cannot_replay(app, world):
    c = client_of(app)
    c.headers["Authorization"] = f"Bearer {world['token']}"
    with unit_of_work() as s:
        service.revoke_institution(s, CLINIC)
    r = c.post("/api/v1/verifications/numbers", json=body(registered_at="2024-11-20T11:00:00+09:00"))
    assert r.status_code == 401 and "太郎" not in r.text
    assert audit("verify.replay") == []
