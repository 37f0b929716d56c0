"""Fixtures of the FHIR tests: the independent validator (FHIR.js) and a world reaching every 資格有効性."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from onshi.exchange import cards
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.web.app import create_app

from tests.interop.fhir import fhirjs
from tests.registry.helpers import (
    MN_TARO, OTHER_INSURER, acquisition, dependent, load, numbers, setup_insurers, write,
)

CLINIC = "1310000011"
OTHER_CLINIC = "1310000037"
TODAY = japan_today()
MN_LOST, MN_MOVED, MN_ELDER = "200000000000", "300000000004", "400000000009"


@pytest.fixture(scope="session")
def fhir_validator():
    """FHIR.js, installed by npm for this run (skipped, with the reason, only when npm cannot install it)."""
    with tempfile.TemporaryDirectory(prefix="onshi-fhirjs-") as folder:
        got = fhirjs.start(Path(folder))
        if isinstance(got, str):
            pytest.skip(f"independent FHIR validator unavailable: {got}")
        yield got
        got.close()


@pytest.fixture
def fhir_api(engine, tmp_path):
    """Registered: 101/00 valid (and a dependent twin pair 01/02 born the same day), 102 lost last month,
    103 moved to another insurer, 104 aged 72 (高齢受給者); a card for 101.  Two institutions."""
    setup_insurers(tmp_path)
    lost_on = (TODAY.replace(day=1) - timedelta(days=1)).replace(day=1)  # the 1st of last month
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(acquisition_date="2024-04-01"),
        acquisition(number="102", my_number=MN_LOST, name="喪失　次郎", name_kana="ソウシツ　ジロウ",
                    birth_date="1975-02-02", acquisition_date="2024-04-01"),
        acquisition(number="103", my_number=MN_MOVED, name="転職　三郎", name_kana="テンショク　サブロウ",
                    birth_date="1980-03-03", acquisition_date="2024-04-01"),
        acquisition(number="104", my_number=MN_ELDER, name="高齢　四郎", name_kana="コウレイ　シロウ",
                    birth_date=f"{TODAY.year - 72}-01-10", acquisition_date="2024-04-01"),
    ]), T.acquisition)
    load(write(tmp_path, "d.csv", T.dependent, [
        dependent(branch="01", my_number="111111111118", name="厚労　一郎", name_kana="コウロウ　イチロウ",
                  birth_date="2015-06-01", sex="1"),
        dependent(branch="02", my_number="123456789018", name="厚労　二郎", name_kana="コウロウ　ジロウ",
                  birth_date="2015-06-01", sex="1")]), T.dependent)
    load(write(tmp_path, "l.csv", T.loss, [numbers(number="102", loss_date=lost_on.isoformat(), loss_reason="99")]),
         T.loss)
    load(write(tmp_path, "b.csv", T.acquisition, [
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7", my_number=MN_MOVED,
                    name="転職　三郎", name_kana="テンショク　サブロウ", birth_date="1980-03-03",
                    acquisition_date=lost_on.isoformat())]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _i, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        _o, other = service.add_institution(s, code=OTHER_CLINIC, name="ほか医院", facility_type="clinic")
        cards.register_card(s, my_number=MN_TARO, certificate_serial="CARD-101",
                            certificate_expires_on=date(TODAY.year + 5, 1, 1))
    client = TestClient(create_app(engine, publisher_interval=0))
    client.token, client.other = token, other
    return client
