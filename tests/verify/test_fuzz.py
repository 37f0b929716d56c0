"""Fuzz the REST API from its own OpenAPI document (schemathesis): zero 5xx, on both databases."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.web.app import create_app

from tests.registry.helpers import acquisition, load, setup_insurers, write


@pytest.fixture
def app(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _inst, token = service.add_institution(s, code="1310000011", name="ファズ医院", facility_type="clinic")
    application = create_app(engine, publisher_interval=0)
    application.state.test_token = token
    return application


@pytest.mark.slow  # walks every operation; reads no clock (scripts/test-clock leaves it out)
def test_no_server_errors_on_any_operation(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    token = app.state.test_token
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, (operation.label, response.text)
            anonymous = case.call(headers={"Authorization": "Bearer not-a-token"})
            assert anonymous.status_code < 500 and "厚労" not in anonymous.text

        run()
