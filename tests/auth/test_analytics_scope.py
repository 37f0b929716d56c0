"""The stated rule for analytics across insurers (docs/auth.md): the analyst sees every insurer; a supervisor sees
the figures no single other insurer owns, and of the breakdown by insurer only the own insurer's rows."""

from __future__ import annotations

import pytest

from onshi.store.db import unit_of_work
from tests.auth.conftest import PASSWORD, login, make_client
from tests.registry.helpers import INSURER, OTHER_INSURER

RATES = "/api/v1/analytics/usage-rates"


@pytest.fixture
def traffic(auth_world):
    from onshi.auth import users
    from onshi.demo.traffic import simulate_traffic

    with unit_of_work() as s:
        simulate_traffic(s, months=2, until="2026-10", scale=0.05)
        users.add_user(s, username="analyst", password=PASSWORD, role="analyst")


def _insurers(client, **params) -> set[str]:
    r = client.get(RATES, params={"by": ["insurer"], "basis": "online", **params})
    assert r.status_code == 200, r.text
    return {row["insurer"] for row in r.json()["rows"]}


def test_supervisor_sees_only_the_own_insurer_of_the_insurer_breakdown(engine, traffic):
    analyst, supervisor, other = make_client(engine), make_client(engine), make_client(engine)
    login(analyst, "analyst")
    login(supervisor, "supervisor")  # of INSURER
    login(other, "othersuper")  # of OTHER_INSURER
    everyone = _insurers(analyst)
    # the analyst sees every insurer (the old code showed every supervisor the same)
    assert len(everyone) > 2 and {INSURER, OTHER_INSURER} <= everyone
    assert _insurers(supervisor) == {INSURER}
    assert _insurers(other) == {OTHER_INSURER}


def test_supervisor_sees_the_system_wide_figures_as_the_analyst_does(engine, traffic):
    analyst, supervisor = make_client(engine), make_client(engine)
    login(analyst, "analyst")
    login(supervisor, "supervisor")
    for by in (["prefecture"], ["facility_type", "month"]):
        a = analyst.get(RATES, params={"by": by}).json()["rows"]
        s = supervisor.get(RATES, params={"by": by}).json()["rows"]
        assert a == s and a
