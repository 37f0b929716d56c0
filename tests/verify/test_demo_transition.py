"""The demo's transition cases (onshi.demo.transition): a phone credential, a 限定型 and a 居宅 institution, and an
old card checked the day before and the day after its lapse — built on a small seeded population, idempotent."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient

from onshi.demo.cli import seed_database
from onshi.demo.seed import generate
from onshi.demo.transition import PHONE_SERIAL, ensure_transition_demo
from onshi.exchange.cards import get_card, register_card
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType
from onshi.store.db import unit_of_work
from onshi.web.app import create_app


def test_the_demo_has_each_transition_case(engine, tmp_path):
    today = date(2026, 11, 2)
    seed_database(20, 7, today, tmp_path / "files")
    publish_all()
    pop = generate(20, 7, today)
    first = next(r for r in pop.files[NotificationType.acquisition] if r["my_number"])
    with unit_of_work() as s:
        register_card(s, my_number=first["my_number"], certificate_serial="DEMO00000000",
                      certificate_expires_on=date(2029, 3, 28))
    state = ensure_transition_demo({}, pop)
    again = ensure_transition_demo(dict(state, tokens=dict(state["tokens"])), pop)  # idempotent: nothing new
    assert again["tokens"] == state["tokens"] and len(state["tokens"]) == 2
    assert state["transition"]["phone"] == PHONE_SERIAL
    with unit_of_work() as s:
        phone = get_card(s, PHONE_SERIAL)
        assert phone.kind == "smartphone" and phone.person_id == get_card(s, "DEMO00000000").person_id

    client = TestClient(create_app(engine, publisher_interval=0))
    client.app.state.rate_limits.enabled = False
    kinds = {kind: code for code, kind in state["transition"]["institutions"].items()}
    token = {kind: state["tokens"][code] for kind, code in kinds.items()}
    home = {"Authorization": f"Bearer {token['home_visit']}"}
    r = client.post("/api/v1/verifications/card", headers=home, json={
        "certificate_serial": PHONE_SERIAL, "care_date": today.isoformat(), "credential": "smartphone",
        "reader": {"method": "face", "consents": {}}})
    assert r.status_code == 200 and r.json()["validity"] == 1
    old = state["transition"]["old_card"]
    before = client.post("/api/v1/verifications/numbers", headers=home, json=old["before_lapse"]).json()
    after = client.post("/api/v1/verifications/numbers", headers=home, json=old["after_lapse"]).json()
    assert before["validity"] == after["validity"] == 1
    assert before["provisional_billing"] is None and after["provisional_billing"]["until"] == "2026-03-31"
    r = client.post("/api/v1/verifications/numbers", headers={"Authorization": f"Bearer {token['limited']}"},
                    json={**old["after_lapse"], "limit_consent": True})
    assert r.status_code == 403
