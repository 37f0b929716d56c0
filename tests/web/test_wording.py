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


# ---------------------------------------------------------------- Japanese screens speak Japanese

from tests.web.test_input import ENGLISH_FRAGMENTS  # noqa: E402

PAGES = {
    "reception": ["/reception", "/reception/claim", "/reception/bulk", "/reception/today"],
    "clerk": ["/office", "/office/members", "/office/members?name=厚労+太郎&birth_date=S99.9.9",
              "/office/members?symbol=10000001&number=12●4", "/office/intake", "/office/sla", "/office/linkage",
              "/office/documents"],
    "analyst": ["/analytics", "/analytics/incentives", "/analytics/incentives?institution=1310000011&billing_month=x",
                "/analytics/kpi"],
    "admin": ["/admin/users"],
}


def english_on(text: str) -> list[str]:
    return [f for f in ENGLISH_FRAGMENTS if f in text] + re.findall(r"\([a-z][a-z ,;:'0-9–-]{3,}\)", text)


def test_no_english_fragment_on_any_page(client, tmp_path):
    from onshi.registry.models import NotificationType as T
    from onshi.store.db import unit_of_work
    from onshi.auth import users
    from tests.registry.helpers import acquisition, load, write
    from tests.web.conftest import PASSWORD

    with unit_of_work() as s:
        users.add_user(s, username="analyst", password=PASSWORD, role="analyst")
    # a quarantined row whose reasons are bilingual in storage (check digit, no such date, required)
    load(write(tmp_path, "bad.csv", T.acquisition, [acquisition(insurer_number="01130012", number="160",
                                                                my_number="621498320258", birth_date="1970-02-30",
                                                                monthly_remuneration="")]), T.acquisition)
    found = {}
    for role, paths in PAGES.items():
        c = client.__class__(client.app)
        login(c, role)
        for path in paths:
            page = c.get(path)
            assert page.status_code in (200, 422), (path, page.status_code)
            if english_on(page.text):
                found[path] = english_on(page.text)
        if role == "clerk":
            intake_page = c.get("/office/intake").text
            for qid in re.findall(r'href="/office/quarantine/(\d+)"', intake_page):
                page = c.get(f"/office/quarantine/{qid}")
                if english_on(page.text):
                    found[f"/office/quarantine/{qid}"] = english_on(page.text)
            bad = c.post("/office/intake", data={"ntype": "acquisition", "csrf_token": csrf(c, "/office/intake")},
                         files={"file": ("x.csv", "保険者番号,生年月日x\n1,2\n".encode(), "text/csv")})
            assert bad.status_code == 422 and "「生年月日」ですか？" in bad.text
            if english_on(bad.text):
                found["/office/intake (bad header)"] = english_on(bad.text)
        if role == "reception":
            for data in ({"insurer_number": "01130013", "number": "", "birth_date": "H31.5.1", "branch": "x"},
                         {"insurer_number": "0113", "symbol": "●", "number": "1" * 30, "birth_date": ""}):
                page = c.post("/reception/numbers", data={**data, "csrf_token": csrf(c, "/reception")})
                assert page.status_code == 422
                if english_on(page.text):
                    found[f"/reception/numbers {data}"] = english_on(page.text)
    assert not found, found
