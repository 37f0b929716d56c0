"""The reception screen shows the receipt id of each check (docs/receipts.md)."""

from __future__ import annotations

import re

from sqlalchemy import select

from onshi.store.db import unit_of_work
from onshi.verify.models import VerificationLogEntry
from tests.web.test_auth import csrf, login
from tests.web.test_input import TARO


def test_reception_screen_shows_the_receipt_id(client):
    """The receptionist's screen names the receipt of the check, the one the usage log keeps."""
    login(client, "reception")
    page = client.post("/reception/numbers", data={**TARO, "birth_date": "S45.1.1",
                                                   "csrf_token": csrf(client, "/reception")})
    assert page.status_code == 200
    shown = re.search(r'data-testid="receipt-id">[^<]*<code>([^<]+)</code>', page.text)
    assert shown and shown.group(1) in receipt_ids()


def receipt_ids() -> set[str]:
    with unit_of_work() as s:
        return set(s.scalars(select(VerificationLogEntry.receipt_id)))


def test_todays_log_lists_each_check_with_its_receipt_id(client):
    login(client, "reception")
    client.post("/reception/numbers", data={**TARO, "birth_date": "S45.1.1", "csrf_token": csrf(client, "/reception")})
    page = client.get("/reception/today")
    assert page.status_code == 200 and "受付記録" in page.text
    assert all(f"<code>{rid}</code>" in page.text for rid in receipt_ids())
