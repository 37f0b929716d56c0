"""The open OQS sandbox (`onshi sandbox`): a named person for every state, stable literals, a catalogue that is
the table, and every interface answering what the catalogue says — on both databases, on an awkward day."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from onshi.demo.sandbox import (BY_KEY, CATALOGUE_BEGIN, CATALOGUE_END, INSTITUTION_TOKEN, OUTAGE_LIST, PEOPLE,
                                acquisition_date, card_expiry, catalogue_markdown, institution_code,
                                kind_institutions, my_number, rest_request)
from onshi.demo.seed import add_years
from onshi.exchange.cards import usable_until
from onshi.rules.co_pay import preschool_until
from onshi.store import clock
from onshi.verify.result import Validity

MN1, MN18 = "999000000016", "999000000180"
DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
README = Path(__file__).resolve().parents[2] / "README.md"
AWKWARD_DAYS = [date(2028, 2, 29), date(2026, 12, 31), date(2027, 1, 1), date(2027, 3, 31), date(2026, 12, 6)]

# What must never change between releases: names, numbers, card serials, the institution and its token.
PINNED = {
    "valid": ("有効　太郎", "01130012", "7010", "1", "00", "SBX-CARD-0001"),
    "dependent": ("有効　花子", "01130012", "7010", "1", "01", None),
    "preschool": ("有効　小太郎", "01130012", "7010", "1", "02", None),
    "lost": ("喪失　次郎", "01130012", "7010", "2", "00", None),
    "moved": ("転職　三郎", "06139992", "9010", "3", "00", "SBX-CARD-0005"),
    "moved_new": ("転職　三郎", "01130012", "7010", "3", "00", None),
    "not_found": ("無登　四郎", "01130012", "7010", "4", "00", None),
    "twins_parent": ("双葉　健", "06139992", "9010", "5", "00", None),
    "twin_1": ("双葉　一花", "06139992", "9010", "5", "01", None),
    "twin_2": ("双葉　二葉", "06139992", "9010", "5", "02", None),
    "unpublished": ("未反　五郎", "01130012", "7010", "6", "00", None),
    "elderly_2": ("古希　梅子", "01130012", "7010", "7", "00", None),
    "elderly_3": ("古希　松男", "01130012", "7010", "8", "00", None),
    "turning_75": ("長寿　七郎", "06139992", "9010", "7", "00", None),
    "limit_consent": ("限度　八郎", "01130012", "7010", "9", "00", None),
    "limit_no_consent": ("限度　九美", "01130012", "7010", "10", "00", None),
    "card_grace": ("猶予　十蔵", "06139992", "9010", "8", "00", "SBX-CARD-0015"),
    "card_expired": ("失効　一美", "06139992", "9010", "9", "00", "SBX-CARD-0016"),
    "linkage": ("照合　待子", "06139992", "9010", "10", "00", None),
    "pin_locked": ("暗証　固男", "01130012", "7010", "11", "00", "SBX-CARD-0018"),
    "old_card": ("旧証　保子", "01130012", "7010", "12", "00", None),
    "phone": ("携帯　持子", "06139992", "9010", "11", "00", "SBX-CARD-0020"),
    "national_list": ("職権　一郎", "06139992", "9010", "12", "00", "SBX-CARD-0021"),
}
PINNED_INSTITUTIONS = {"limited": ("1310009020", "onshi-sandbox-limited-token-not-a-secret"),
                       "home_visit": ("1310009038", "onshi-sandbox-home-visit-token-not-a-secret")}


def test_names_numbers_and_card_serials_are_pinned():
    assert {p.key: (p.name, p.insurer, p.symbol, p.number, p.branch, p.card) for p in PEOPLE} == PINNED
    assert (institution_code(), INSTITUTION_TOKEN) == ("1310009012", "onshi-sandbox-token-not-a-secret")
    assert (my_number(1), my_number(18)) == (MN1, MN18)
    assert BY_KEY["phone"].phone == "SBX-PHONE-0020"
    assert {k: (c, t) for k, (c, _n, t) in kind_institutions().items()} == PINNED_INSTITUTIONS


def test_every_state_the_issue_names_is_a_person():
    states = " ".join(p.state for p in PEOPLE)
    for state in ("有効", "無効", "無効（新しい資格あり）", "資格情報なし", "複数該当", "未登録", "家族", "未就学",
                  "70–74歳 2割", "70–74歳 3割", "75歳", "限度額（同意あり）", "限度額（同意なし）", "猶予期間", "失効",
                  "紐付け", "暗証番号ロック", "旧健康保険証", "スマホ", "職権交付対象者"):
        assert state in states, state
    assert len({(p.insurer, p.symbol, p.number, p.branch) for p in PEOPLE}) == len(PEOPLE)


@pytest.mark.parametrize("doc", [DOC, README], ids=["docs/sandbox.md", "README.md"])
def test_the_catalogue_in_docs_is_the_table(doc):
    text = doc.read_text(encoding="utf-8")
    assert catalogue_markdown() in text, f"{doc.name} is stale: paste `onshi sandbox --catalogue` into it"
    assert text.count(CATALOGUE_BEGIN) == 1 and text.count(CATALOGUE_END) == 1
    for p in PEOPLE:
        assert p.name in text and (p.card is None or p.card in text) and (p.phone is None or p.phone in text)
    for _kind, (code, _name, token) in kind_institutions().items():
        assert code in text and token in text
    if doc == README:  # in the clinic's section
        section = text.split("## For the clinic and its software vendor", 1)[1].split("\n## ", 1)[0]
        assert catalogue_markdown() in section


@pytest.mark.parametrize("today", AWKWARD_DAYS, ids=str)
def test_the_states_that_depend_on_the_day_hold_on_any_day(today):
    def age(p) -> int:
        b = p.born.on(today)
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))

    assert 70 <= age(BY_KEY["elderly_2"]) <= 74 and 70 <= age(BY_KEY["elderly_3"]) <= 74
    assert today <= preschool_until(BY_KEY["preschool"].born.on(today))
    assert age(BY_KEY["turning_75"]) == 74
    assert today < add_years(BY_KEY["turning_75"].born.on(today), 75) <= today + timedelta(days=15)
    for p in PEOPLE:
        assert acquisition_date(p, today) <= today
        assert p.born.on(today) <= acquisition_date(p, today) or p.same_person_as or p.is_dependent
    grace, expired = BY_KEY["card_grace"], BY_KEY["card_expired"]
    assert card_expiry(grace, today) < today <= usable_until(card_expiry(grace, today))
    assert usable_until(card_expiry(expired, today)) < today
    assert card_expiry(BY_KEY["valid"], today) > today + timedelta(days=365)


# ---------------------------------------------------------------- built, and asked through every interface

DAY = date(2028, 2, 29)  # a leap day at a month's end


@pytest.fixture
def sandbox(engine, tmp_path):
    from onshi.demo.sandbox_build import build_sandbox
    from onshi.web.app import create_app

    with clock.frozen_at("2028-02-29T10:00:00+09:00", ticking=True):
        built = build_sandbox(engine, tmp_path / "intake", DAY)
        with TestClient(create_app(engine, publisher_interval=0)) as client:
            client.headers["Authorization"] = f"Bearer {INSTITUTION_TOKEN}"
            yield built, client


def _numbers(client, p):
    r = client.post("/api/v1/verifications/numbers", json=rest_request(p, DAY))
    assert r.status_code == 200, r.text
    return r.json()


def test_every_person_answers_what_the_catalogue_says_by_numbers(sandbox):
    _built, client = sandbox
    for p in PEOPLE:
        body = _numbers(client, p)
        assert body["validity"] == int(p.numbers_answer), (p.key, body)
        xml = client.post("/oqs/json", json=_xmlmsg(p)).json()["XmlMsg"]
        assert xml["MessageBody"]["QualificationValidity"] == str(int(p.numbers_answer)), p.key
    fhir = client.post("/fhir/verify", json=rest_request(BY_KEY["valid"], DAY))
    assert fhir.status_code == 200 and "Coverage" in fhir.text


def _xmlmsg(p) -> dict:
    info = {"InsurerNumber": p.insurer, "InsuredCardSymbol": p.symbol, "InsuredIdentificationNumber": p.number,
            "Birthdate": f"{p.born.on(DAY):%Y%m%d}",
            "LimitApplicationCertificateRelatedConsFlg": str(int(p.limit_consent))}
    if p.ask_branch:
        info["InsuredBranchNumber"] = p.branch
    return {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": f"{p.asked_on or DAY:%Y%m%d}",
                                         "MedicalInstitutionCode": institution_code()},
                       "MessageBody": {"QualificationConfirmSearchInfo": info}}}


def test_what_else_each_answer_shows(sandbox):
    _built, client = sandbox

    def first(key):
        return _numbers(client, BY_KEY[key])["results"][0]

    assert first("dependent")["personal_family"] == 2 and first("dependent")["insured_name"] == "有効　太郎"
    assert first("valid")["personal_family"] == 1 and first("valid")["insured_name"] is None  # the member: `name`
    assert first("preschool")["preschool"] and first("preschool")["co_pay_ratio_tenths"] == 2
    assert first("elderly_2")["elderly"] and first("elderly_2")["co_pay_ratio_tenths"] == 2
    assert first("elderly_3")["elderly"] and first("elderly_3")["co_pay_ratio_tenths"] == 3
    assert first("limit_consent")["limit"]["category_code"] == "A01"
    assert first("limit_no_consent")["limit"] is None
    assert first("lost")["disqualification_date"] == "2028-02-01"
    seventy_five = BY_KEY["turning_75"].born.on(DAY).replace(year=BY_KEY["turning_75"].born.on(DAY).year + 75)
    assert first("turning_75")["disqualification_date"] is None  # not lost yet: the birthday is ahead
    later = client.post("/api/v1/verifications/numbers",
                        json={**rest_request(BY_KEY["turning_75"], DAY), "care_date": seventy_five.isoformat()})
    assert later.json()["validity"] == int(Validity.INVALID)
    twin = client.post("/api/v1/verifications/numbers", json={**rest_request(BY_KEY["twin_1"], DAY), "branch": "01"})
    assert twin.json()["validity"] == 1 and twin.json()["results"][0]["name"] == "双葉　一花"
    assert "確認中" in _numbers(client, BY_KEY["linkage"])["warning"]


def test_cards_answer_what_the_catalogue_says(sandbox):
    _built, client = sandbox

    def card(p, **reader):
        return client.post("/api/v1/verifications/card", json={
            "certificate_serial": p.card, "care_date": DAY.isoformat(), "reader": {"method": "face", **reader}})

    assert card(BY_KEY["valid"]).json()["validity"] == 1
    moved = card(BY_KEY["moved"]).json()
    assert moved["validity"] == 1 and moved["results"][0]["insurer_number"] == BY_KEY["moved_new"].insurer
    grace = card(BY_KEY["card_grace"]).json()
    assert grace["validity"] == 1 and "切れています" in grace["warning"]
    expired = card(BY_KEY["card_expired"])
    assert expired.status_code == 422 and expired.json()["detail"][0]["type"] == "E0201"
    assert card(BY_KEY["pin_locked"], pin_failures=3).status_code == 423
    assert card(BY_KEY["pin_locked"], method="visual").json()["validity"] == 1


def test_the_unpublished_person_is_filed_and_appears_once_published(sandbox, engine):
    from onshi.exchange.publish import pending_count, publish_all
    from onshi.store.db import unit_of_work

    _built, client = sandbox
    with unit_of_work(engine) as s:
        assert pending_count(s) > 0
    assert _numbers(client, BY_KEY["unpublished"])["validity"] == 4
    publish_all(engine)
    assert _numbers(client, BY_KEY["unpublished"])["validity"] == 1


def test_the_terminal_folder_answers_the_same(sandbox, engine, tmp_path):
    from onshi.interop.oqs.terminal_service import make_terminal, serve_once

    _built, _client = sandbox
    root = tmp_path / "OQS"
    terminal = make_terminal(root, institution_code(), engine)
    p = BY_KEY["moved"]
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader><QualificationConfirmationDate>'
           f'{DAY:%Y%m%d}</QualificationConfirmationDate><MedicalInstitutionCode>{institution_code()}'
           f'</MedicalInstitutionCode></MessageHeader><MessageBody><QualificationConfirmSearchInfo><InsurerNumber>'
           f'{p.insurer}</InsurerNumber><InsuredCardSymbol>{p.symbol}</InsuredCardSymbol><InsuredIdentificationNumber>'
           f'{p.number}</InsuredIdentificationNumber><Birthdate>{p.born.on(DAY):%Y%m%d}</Birthdate>'
           f'<LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>'
           f'</QualificationConfirmSearchInfo></MessageBody></XmlMsg>')
    (root / "req" / "OQSsiquc01req_202802290001.xml").write_text(xml, encoding="utf-8")
    with clock.frozen_at("2028-02-29T10:00:00+09:00"):
        terminal.partial_grace = 0
        serve_once(terminal, institution_code(), engine)
    answer = (root / "res" / "OQSsiquc01res_202802290001.xml").read_text(encoding="utf-8")
    assert "<QualificationValidity>3</QualificationValidity>" in answer


def test_ensure_sandbox_builds_once_a_day(tmp_path):
    from onshi.demo.sandbox_build import STATE_FILE, ensure_sandbox

    first = ensure_sandbox(tmp_path / "sbx", date(2026, 12, 6))
    again = ensure_sandbox(tmp_path / "sbx", date(2026, 12, 6))
    next_day = ensure_sandbox(tmp_path / "sbx", date(2026, 12, 7))
    for engine, _built in (first, again, next_day):
        engine.dispose()
    assert [first[1].rebuilt, again[1].rebuilt, next_day[1].rebuilt] == [True, False, True]
    assert (tmp_path / "sbx" / STATE_FILE).exists() and (tmp_path / "sbx" / "sandbox.sqlite3").exists()


@pytest.fixture
def own_database(database_url, tmp_path):
    """A database of the session's kind that only this test uses (the sandbox downgrades it on a new day)."""
    import uuid

    from sqlalchemy import text

    from onshi.store.db import make_engine

    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'sbx-own.sqlite3'}"
        return
    name = f"onshi_sbx_{uuid.uuid4().hex[:10]}"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_built_by_url_on_two_days_every_person_keeps_their_state(own_database, tmp_path):
    """`onshi sandbox --database-url` on SQLite and PostgreSQL, built on a year's last day and again the next day
    (the Japan date changing under it): each day every person answers, by numbers and by card, what the catalogue
    says — ages, 75th birthdays, card expiries and the month's 1st all counted from that day."""
    from onshi.demo.sandbox_build import ensure_sandbox
    from onshi.web.app import create_app

    for day in (date(2026, 12, 31), date(2027, 1, 1)):
        with clock.frozen_at(f"{day.isoformat()}T10:00:00+09:00", ticking=True):
            engine, built = ensure_sandbox(tmp_path / "sbx", day, own_database)
            assert built.rebuilt and built.today == day
            try:
                with TestClient(create_app(engine, publisher_interval=0)) as client:
                    client.headers["Authorization"] = f"Bearer {INSTITUTION_TOKEN}"
                    for p in PEOPLE:
                        r = client.post("/api/v1/verifications/numbers", json=rest_request(p, day))
                        assert r.status_code == 200 and r.json()["validity"] == int(p.numbers_answer), (day, p.key)
                    card = client.post("/api/v1/verifications/card", json={
                        "certificate_serial": BY_KEY["card_grace"].card, "care_date": day.isoformat(),
                        "reader": {"method": "face"}}).json()
                    assert card["validity"] == 1 and "切れています" in card["warning"], day
                    expired = client.post("/api/v1/verifications/card", json={
                        "certificate_serial": BY_KEY["card_expired"].card, "care_date": day.isoformat(),
                        "reader": {"method": "face"}})
                    assert expired.status_code == 422, day
                    old = client.post("/api/v1/verifications/numbers", json=rest_request(BY_KEY["elderly_2"], day))
                    assert old.json()["results"][0]["co_pay_ratio_tenths"] == 2, day
            finally:
                engine.dispose()


# ---------------------------------------------------------------- the transition years and the bad day (issue 20)

def test_the_old_card_before_and_after_its_lapse(sandbox):
    _built, client = sandbox
    p = BY_KEY["old_card"]
    after = _numbers(client, p)  # the catalogue's request: the day after the lapse
    assert after["validity"] == 1
    billing = after["provisional_billing"]
    assert (billing["lapsed_after"], billing["until"], billing["ratio_tenths"]) == ("2025-12-01", "2026-03-31", 3)
    assert "2026年3月31日まで 3割で請求できます" in billing["message"]
    before = client.post("/api/v1/verifications/numbers", json={**rest_request(p, DAY), "care_date": "2025-12-01"})
    assert before.json()["validity"] == 1 and before.json()["provisional_billing"] is None
    today = _numbers(client, BY_KEY["valid"])  # the measure is over on the sandbox's day
    assert today["provisional_billing"] is None


def test_the_phone_and_the_card_are_one_person_told_apart_in_the_log(sandbox, engine):
    from sqlalchemy import select

    from onshi.verify.models import VerificationLogEntry

    _built, client = sandbox
    p = BY_KEY["phone"]

    def methods() -> list[str]:
        with engine.connect() as c:
            return list(c.scalars(select(VerificationLogEntry.method).order_by(VerificationLogEntry.id)))

    logged = len(methods())
    answers = {}
    for serial, credential in ((p.card, "card"), (p.phone, "smartphone")):
        r = client.post("/api/v1/verifications/card", json={
            "certificate_serial": serial, "care_date": DAY.isoformat(), "credential": credential,
            "reader": {"method": "face"}})
        assert r.status_code == 200 and r.json()["validity"] == 1, r.text
        answers[credential] = r.json()["results"][0]
    assert answers["card"]["name"] == answers["smartphone"]["name"] == p.name
    assert methods()[logged:] == ["card", "smartphone"]
    wrong = client.post("/api/v1/verifications/card", json={
        "certificate_serial": p.phone, "care_date": DAY.isoformat(), "credential": "card", "reader": {"method": "face"}})
    assert wrong.status_code == 422, wrong.text


def test_the_person_on_the_national_list_gets_a_certificate(sandbox, engine, tmp_path):
    from sqlalchemy import func, select

    from onshi.documents import service as documents
    from onshi.documents.models import IssuedDocument
    from onshi.documents.national_lists import listed_for_certificate
    from onshi.store.db import unit_of_work

    with unit_of_work(engine) as s:
        listed = listed_for_certificate(s, day=DAY)
        assert [(e.reason, e.month) for e in listed] == [("02", DAY.replace(day=1))]
    with clock.frozen_at("2028-02-29T10:00:00+09:00"), unit_of_work(engine) as s:
        documents.daily_run(s, DAY, tmp_path / "out", actor="t")
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(IssuedDocument).where(
            IssuedDocument.reason == "national_list:02")) == 1


def test_the_institutions_of_the_other_kinds_answer_within_their_scope(sandbox):
    _built, client = sandbox
    inst = kind_institutions()
    limited = {"Authorization": f"Bearer {inst['limited'][2]}"}
    home = {"Authorization": f"Bearer {inst['home_visit'][2]}"}
    valid = BY_KEY["valid"]
    ok = client.post("/api/v1/verifications/numbers", headers=limited,
                     json={**rest_request(valid, DAY), "limit_consent": False})
    assert ok.status_code == 200 and ok.json()["validity"] == 1
    refused = client.post("/api/v1/verifications/numbers", headers=limited, json=rest_request(valid, DAY))
    assert refused.status_code == 403
    requery = {**rest_request(valid, DAY), "limit_consent": False}
    before = client.post("/api/v1/verifications/requery", headers=home, json=requery)
    assert before.status_code == 422  # no card check by this institution yet
    card = client.post("/api/v1/verifications/card", headers=home, json={
        "certificate_serial": valid.card, "care_date": DAY.isoformat(), "reader": {"method": "face"}})
    assert card.status_code == 200
    later = (DAY + timedelta(days=30)).isoformat()
    with clock.frozen_at(f"{later}T10:00:00+09:00"):
        again = client.post("/api/v1/verifications/requery", headers=home, json={**requery, "care_date": later})
    assert again.status_code == 200 and again.json()["validity"] == 1
    general = client.post("/api/v1/verifications/requery", json={**requery, "care_date": DAY.isoformat()})
    assert general.status_code == 403


def test_the_outage_list_answers_what_the_catalogue_says(sandbox, engine, tmp_path):
    """Recorded and checked at the build; the same file through REST and the terminal's outage folder records
    nothing again and answers the same."""
    import csv
    import io

    from sqlalchemy import func, select

    from onshi.demo.sandbox_build import OUTAGE_FILE
    from onshi.interop.oqs.terminal_service import make_terminal, serve_once
    from onshi.outage.models import OutageRecord

    _built, client = sandbox
    expected = {row.key: row.answer for row in OUTAGE_LIST}
    with engine.connect() as c:
        stored = dict(c.execute(select(OutageRecord.record_key, OutageRecord.status)).all())
    assert stored == expected
    assert {"有効", "無効", "要確認"} == set(expected.values())
    data = (tmp_path / OUTAGE_FILE).read_bytes()
    r = client.post("/api/v1/outage/checks/file", files={"file": (OUTAGE_FILE, data, "text/csv")})
    assert r.status_code == 200, r.text
    assert sorted(x["status"] for x in r.json()["results"]) == sorted(expected.values())
    root = tmp_path / "OQS"
    terminal = make_terminal(root, institution_code(), engine)
    (root / "outage" / OUTAGE_FILE).write_bytes(data)
    with clock.frozen_at("2028-02-29T10:00:00+09:00"):
        serve_once(terminal, institution_code(), engine)
    rows = list(csv.DictReader(io.StringIO((root / "outage" / "done" / f"{OUTAGE_FILE}.result.csv")
                                           .read_text(encoding="utf-8-sig"))))
    assert {r_["記録ID"]: r_["結果"] for r_ in rows} == expected
    with engine.connect() as c:
        assert c.scalar(select(func.count()).select_from(OutageRecord)) == len(OUTAGE_LIST)
