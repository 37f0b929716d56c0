"""資格有効性 4: named 該当資格なし in the code table (OQSCD006), shown as 「資格情報なし」 on every screen — and
every screen takes the wording from the one mapping, ``onshi.interop.oqs.codes.SCREEN_WORDING``."""

from __future__ import annotations

import re

from onshi.interop.oqs import codes
from onshi.verify.result import Validity
from tests.web.conftest import SYMBOL
from tests.web.test_auth import csrf, login

LATE = {"insurer_number": "01130012", "symbol": SYMBOL, "number": "103", "branch": "00", "birth_date": "1990-03-03"}


def validity_shown(client) -> str:
    page = client.post("/reception/numbers", data={**LATE, "csrf_token": csrf(client, "/reception")})
    assert page.status_code == 200, page.text
    return re.search(r'data-testid="validity">\s*<strong>(.*?)</strong>', page.text).group(1)


def test_code_name_stays_the_tables_and_the_screen_says_shikaku_joho_nashi():
    assert codes.label("OQSCD006", Validity.NOT_FOUND) == "該当資格なし"
    assert codes.screen_label("OQSCD006", Validity.NOT_FOUND) == "資格情報なし"
    assert [codes.screen_label("OQSCD006", v) for v in (1, 2, 3, 5)] == ["有効", "無効", "無効（新しい資格あり）",
                                                                          "複数該当"]


def test_every_screen_takes_the_wording_from_the_one_mapping(client, monkeypatch):
    login(client, "reception")
    assert validity_shown(client) == "資格情報なし"  # filed but not registered yet
    assert "資格情報なし 1件" in client.get("/reception/today").text
    assert "（資格情報なし・無効）" in client.get("/reception/claim").text

    monkeypatch.setitem(codes.SCREEN_WORDING, "OQSCD006", {"4": "見本文言"})
    assert validity_shown(client) == "見本文言"
    today = client.get("/reception/today").text
    assert "見本文言 2件" in today and "資格情報なし" not in today
    assert "（見本文言・無効）" in client.get("/reception/claim").text

    office = client.__class__(client.app)
    login(office, "clerk")
    linkage = office.get("/office/linkage").text
    assert "医療機関には「見本文言」" in linkage and "資格情報なし" not in linkage
