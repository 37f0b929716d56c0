"""The employers' credential on the benefits API, on both databases: 401 without an active token, 403 for another
employer's employee (and for an unknown number: the same answer) and on the staff routes, its own employees'
applications received as 電子申請 today and read back (audited); issued, listed and revoked from the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from onshi.store.db import unit_of_work
from tests.registry.helpers import INSURER, OTHER_INSURER, SYMBOL, acquisition, load, write
from tests.web.test_benefit_pages import _login, _sickness

OTHER_SYMBOL = "20000002"


@pytest.fixture
def tokens(world, tmp_path):
    """A second 事業所 of the same insurer with its own member (番号 501), and a token for each 事業所 and for the
    other insurer's."""
    from onshi.auth import employers
    from onshi.registry.models import NotificationType as T

    assert load(write(tmp_path, "emp2.csv", T.employer, [
        {"insurer_number": INSURER, "employer_symbol": OTHER_SYMBOL, "employer_name": "別会社株式会社",
         "postal_code": "100-0003", "address": "東京都千代田区一ツ橋1-1", "prefecture_code": "13"}]),
        T.employer).applied == 1
    assert load(write(tmp_path, "acq2.csv", T.acquisition, [acquisition(
        employer_symbol=OTHER_SYMBOL, number="501", my_number="", name="別社　員", name_kana="ベッシャ　イン",
        birth_date="1988-08-08", acquisition_date="2024-04-01")]), T.acquisition).applied == 1
    with unit_of_work() as s:
        own = employers.issue(s, insurer_number=INSURER, symbol=SYMBOL, label="給与ソフト", actor="test")
        other = employers.issue(s, insurer_number=INSURER, symbol=OTHER_SYMBOL, label="労務ソフト", actor="test")
        foreign = employers.issue(s, insurer_number=OTHER_INSURER, symbol="9001", label="他保険者", actor="test")
        return {"own": own[1], "own_id": own[0].id, "other": other[1], "foreign": foreign[1]}


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_or_an_unknown_one_is_401(client, world, tokens):
    assert client.post("/api/v1/benefits/applications", json=_sickness(world.today)).status_code == 401
    r = client.post("/api/v1/benefits/applications", json=_sickness(world.today), headers=_auth("emp_nothing"))
    assert r.status_code == 401 and "厚労" not in r.text
    assert client.get("/api/v1/benefits/applications/1", headers=_auth("emp_nothing")).status_code == 401


def test_an_employer_submits_for_its_own_employee_once_as_an_electronic_application(client, world, tokens):
    from onshi.benefits.models import BenefitApplication

    body = {**_sickness(world.today, "payroll-7"), "channel": "counter",
            "received_on": (world.today - timedelta(days=30)).isoformat()}
    r = client.post("/api/v1/benefits/applications", json=body, headers=_auth(tokens["own"]))
    assert r.status_code == 201, r.text
    first = r.json()
    # the employer cannot choose the channel or back-date the receipt: its API is 電子申請, received today
    assert first["channel"] == "electronic" and first["received_on"] == world.today.isoformat()
    assert first["status"] == "complete"
    again = client.post("/api/v1/benefits/applications", json=body, headers=_auth(tokens["own"])).json()
    assert again["id"] == first["id"]
    # the same key from another employer is another employer's key: its own answer (403: not its employee)
    assert client.post("/api/v1/benefits/applications", json=body, headers=_auth(tokens["other"])).status_code \
        == 403
    with unit_of_work() as s:
        apps = list(s.scalars(select(BenefitApplication)))
        assert len(apps) == 1 and apps[0].created_by == f"employer:{INSURER}:{SYMBOL}"
    got = client.get(f"/api/v1/benefits/applications/{first['id']}", headers=_auth(tokens["own"]))
    assert got.status_code == 200 and got.json()["status"] == "complete"
    assert "name" not in got.json() and "account" not in got.json()


def test_another_employers_employee_or_an_unknown_number_is_403_and_nothing_kept(client, world, tokens):
    from onshi.benefits.models import BenefitApplication

    theirs = {**_sickness(world.today, "x-1"), "symbol": OTHER_SYMBOL, "number": "501"}
    r = client.post("/api/v1/benefits/applications", json=theirs, headers=_auth(tokens["own"]))
    assert r.status_code == 403 and "別社" not in r.text
    unknown = {**_sickness(world.today, "x-2"), "number": "999"}
    assert client.post("/api/v1/benefits/applications", json=unknown, headers=_auth(tokens["own"])).status_code \
        == 403
    # the other insurer's employer has no member 101 of 協会けんぽ東京
    assert client.post("/api/v1/benefits/applications", json=_sickness(world.today, "x-3"),
                       headers=_auth(tokens["foreign"])).status_code == 403
    with unit_of_work() as s:
        assert list(s.scalars(select(BenefitApplication))) == []
    # an application of the other 事業所's employee, sent by that employer, is not readable by this one
    mine = client.post("/api/v1/benefits/applications", json=theirs, headers=_auth(tokens["other"]))
    assert mine.status_code == 201, mine.text
    app_id = mine.json()["id"]
    assert client.get(f"/api/v1/benefits/applications/{app_id}", headers=_auth(tokens["own"])).status_code == 403
    assert client.get(f"/api/v1/benefits/applications/{app_id}", headers=_auth(tokens["other"])).status_code == 200
    assert client.get(f"/api/v1/benefits/applications/{app_id}",
                      headers=_auth(tokens["foreign"])).status_code == 404  # not at its insurer at all
    assert client.get("/api/v1/benefits/applications/987654", headers=_auth(tokens["own"])).status_code == 404


def test_an_employer_token_opens_no_staff_route(client, world, tokens):
    h = _auth(tokens["own"])
    app_id = client.post("/api/v1/benefits/applications", json=_sickness(world.today), headers=h).json()["id"]
    assert client.get("/api/v1/benefits/board", headers=h).status_code == 403
    assert client.get("/api/v1/benefits/applications", headers=h).status_code == 403  # the clerk's queue
    r = client.post(f"/api/v1/benefits/applications/{app_id}/decide", headers=h)
    assert r.status_code == 403 and "employer" in r.text
    # other domains' staff routes answer the same
    assert client.get("/api/v1/documents/session", headers=h).status_code in (401, 403)
    # and the clerk's session still works beside it
    token = _login(client, "clerk")
    assert client.get("/api/v1/benefits/board").status_code == 200
    assert client.post(f"/api/v1/benefits/applications/{app_id}/decide",
                       headers={"X-CSRF-Token": token}).json()["status"] == "decided"


def test_reads_are_audited_under_the_employer(client, world, tokens):
    from onshi.privacy.models import AuditEntry

    h = _auth(tokens["own"])
    app_id = client.post("/api/v1/benefits/applications", json=_sickness(world.today), headers=h).json()["id"]
    client.get(f"/api/v1/benefits/applications/{app_id}", headers=h)
    with unit_of_work() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "benefit.employer_view")))
    assert len(rows) == 1 and rows[0].actor_kind == "employer"
    assert rows[0].actor_id.startswith(f"{INSURER}:{SYMBOL}#") and rows[0].insurer_number == INSURER


def test_cli_issues_lists_and_revokes(client, world, tokens):
    from onshi.cli import app
    from onshi.registry.cli_common import EXIT_REFUSED

    runner = CliRunner()
    r = runner.invoke(app, ["employer", "token", "issue", INSURER, SYMBOL, "--label", "新ソフト"])
    assert r.exit_code == 0, r.output
    token = r.output.split("token: ")[1].split()[0]
    assert client.post("/api/v1/benefits/applications", json=_sickness(world.today, "cli-1"),
                       headers=_auth(token)).status_code == 201
    listed = runner.invoke(app, ["employer", "token", "list", INSURER])
    assert listed.exit_code == 0 and "新ソフト" in listed.output and token not in listed.output
    assert runner.invoke(app, ["employer", "token", "issue", INSURER, "77777777", "--label", "x"]).exit_code \
        == EXIT_REFUSED
    assert runner.invoke(app, ["employer", "token", "revoke", "999999"]).exit_code == EXIT_REFUSED
    assert runner.invoke(app, ["employer", "token", "revoke", str(tokens["own_id"])]).exit_code == 0
    assert client.post("/api/v1/benefits/applications", json=_sickness(world.today, "cli-2"),
                       headers=_auth(tokens["own"])).status_code == 401
    assert "revoked" in runner.invoke(app, ["employer", "token", "list"]).output


def test_openapi_names_the_employer_token_on_its_two_operations():
    from sqlalchemy import create_engine

    from onshi.web.app import create_app

    schema = create_app(create_engine("sqlite://"), publisher_interval=0).openapi()
    assert schema["components"]["securitySchemes"]["employerToken"]["scheme"] == "bearer"
    paths = schema["paths"]
    assert {"employerToken": []} in paths["/api/v1/benefits/applications"]["post"]["security"]
    assert {"employerToken": []} in paths["/api/v1/benefits/applications/{application_id}"]["get"]["security"]
    assert paths["/api/v1/benefits/applications"]["get"]["security"] == [{"staffSession": []}]  # the queue
    assert paths["/api/v1/benefits/board"]["get"]["security"] == [{"staffSession": []}]
