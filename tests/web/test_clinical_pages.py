"""The 有資格者's screen in headless chromium (issue 21 point 6): the patient consents at the reception's card panel,
the doctor then sees the drug and 特定健診 information; the receptionist cannot open the screen, and a patient who
did not consent is refused with the reason in Japanese."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from onshi.store.db import unit_of_work
from tests.claims.helpers import drug, line, load_master, write_claims
from tests.registry.helpers import INSURER, SYMBOL
from tests.web.conftest import CARD, IMG, PASSWORD, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def doctor(world, tmp_path):
    """The clinic's doctor, and one claim of 太郎 this month with a drug on it (and 花子 has none)."""
    from onshi.auth import users
    from onshi.claims import intake

    with unit_of_work() as s:
        users.add_user(s, username="doctor", password=PASSWORD, role="clinician", display_name="医師 健",
                       institution_code=world.clinic)
    load_master()
    month = f"{world.today:%Y-%m}"
    with unit_of_work() as s:
        rep = intake.import_claims(s, write_claims(tmp_path, "c.csv", [
            line(month=month, care_days="1"), drug(month=month, care_days="1")]), today=world.today)
    assert rep.ok, rep.errors
    return "doctor"


def fill_patient(page, number: str, birth: str, branch: str = "00") -> None:
    page.fill("input[name=insurer_number]", INSURER)
    page.fill("input[name=symbol]", SYMBOL)
    page.fill("input[name=number]", number)
    page.fill("input[name=branch]", branch)
    page.fill("input[name=birth_date]", birth)
    page.click("[data-testid=clinical-form] button[type=submit]")
    page.wait_for_load_state()


def test_consent_at_the_card_panel_then_the_doctor_sees_drugs_and_reception_cannot(page, world, doctor,
                                                                                   database_url):
    from onshi.privacy.models import AuditEntry

    # reception: 太郎 puts his card on the reader and consents to drug and 特定健診 information
    sign_in(page, "reception")
    page.click("details.tab:nth-of-type(2) summary")
    page.fill("input[name=card_serial]", CARD)
    page.check("input[name=reader][value=face]")
    page.check("input[name=consent_pharmacist]")
    page.check("input[name=consent_specific_health_checkups]")
    page.click("#card-form button[type=submit]")
    page.wait_for_selector("[data-testid=validity]")
    assert page.inner_text("[data-testid=validity] strong") == "有効"
    # the receptionist is not a 有資格者: the screen is refused
    resp = page.goto("/clinical")
    assert resp.status == 403 and "権限" in page.inner_text("main")
    page.goto("/login")
    page.context.clear_cookies()

    sign_in(page, doctor)
    assert page.url.endswith("/clinical")
    fill_patient(page, "101", "S45.1.1")
    assert page.inner_text("[data-testid=clinical-patient]").startswith("厚労　太郎")
    table = page.inner_text("[data-testid=drugs]")
    assert "アムロジピン錠5mg「サワイ」" in table and "テスト内科" in table and "後発" in table
    assert "この期間の特定健診の結果はありません" in page.inner_text("main")
    if database_url.startswith("sqlite"):
        IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMG / "ui_clinical.png"), full_page=True)
    # 花子 (his dependent) was never asked at this clinic: refused, in Japanese, and nothing of her is shown
    fill_patient(page, "101", "1972-05-05", branch="01")
    refused = page.inner_text("[data-testid=drugs-refused]")
    assert "同意を得ていません" in refused and "カードリーダー" in refused
    assert page.query_selector("[data-testid=clinical-patient]") is None
    with unit_of_work() as s:
        actions = [a for a, in s.execute(select(AuditEntry.action).where(AuditEntry.actor_id == "doctor"))]
    assert actions.count("clinical.drugs") == 1 and actions.count("clinical.checkups") == 1
    assert actions.count("clinical.refused") == 2
