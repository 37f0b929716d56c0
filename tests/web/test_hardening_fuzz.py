"""Schemathesis over every operation of the OpenAPI document, with an institution token and with a staff session
(a supervisor: every staff route is open to the role), on both databases: 0 answers 5xx.

Bounded for CI: ``ONSHI_FUZZ_EXAMPLES`` examples per operation and credential (default 4).  The long run of
docs/hardening.md sets it to 320 (≥ 20,000 cases) and prints the count."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.web.test_auth import csrf

EXAMPLES = int(os.environ.get("ONSHI_FUZZ_EXAMPLES", "4"))
ONLY = os.environ.get("ONSHI_FUZZ_ONLY")  #: "token" or "staff": one credential (to split a long run in two)


@pytest.mark.slow  # walks every operation; reads no clock (scripts/test-clock leaves it out)
def test_no_5xx_on_any_operation_with_a_token_or_a_staff_session(client, engine, world, capsys):
    from onshi.auth.sessions import SESSION_COOKIE
    from onshi.store.db import unit_of_work
    from onshi.verify.service import add_institution

    with unit_of_work() as s:
        _inst, token = add_institution(s, code="1311234569", name="ファズ医院", facility_type="clinic")
    signed_in = client.post("/login", data={"username": "supervisor", "password": world.password,
                                            "csrf_token": csrf(client)}, follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text[:200]
    staff = {"cookies": {SESSION_COOKIE: client.cookies[SESSION_COOKIE]},
             "headers": {"X-CSRF-Token": client.get("/api/v1/documents/session").json()["csrf_token"]}}
    credentials = {"token": {"headers": {"Authorization": f"Bearer {token}"}}, "staff": staff}
    credentials = {k: v for k, v in credentials.items() if ONLY in (None, k)}

    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, len(operations)
    failures: list[tuple[str, str, int, str]] = []
    cases = 0
    for operation in operations:
        for who, credential in credentials.items():
            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case):
                nonlocal cases
                cases += 1
                response = case.call(**credential)
                if response.status_code >= 500:
                    failures.append((who, operation.label, response.status_code, response.text[:300]))

            run()
        if EXAMPLES > 50:  # a long run: show it moving
            with capsys.disabled():
                print(f"  {operation.label}: {cases} cases so far, {len(failures)} × 5xx", flush=True)
    with capsys.disabled():
        print(f"\nschemathesis: {cases} cases over {len(operations)} operations × {len(credentials)} credentials, "
              f"{len(failures)} × 5xx")
    assert cases >= len(operations) * len(credentials)
    assert not failures, failures[:10]
