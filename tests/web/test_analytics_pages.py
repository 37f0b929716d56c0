"""The analytics dashboard: who may see it, what it shows, its charts and API — through the real app, and in
headless chromium."""

from __future__ import annotations

import pytest

from onshi.store.db import unit_of_work
from tests.web.conftest import IMG, PASSWORD, sign_in
from tests.web.test_auth import login


@pytest.fixture
def traffic(world):
    """Three months of simulated traffic (small) and an analyst."""
    from onshi.demo.traffic import simulate_traffic
    from onshi.auth import users

    with unit_of_work() as s:
        report = simulate_traffic(s, months=12, until="2026-10", scale=0.08)
        users.add_user(s, username="analyst", password=PASSWORD, role="analyst", display_name="分析 桜")
    return report


def test_analyst_sees_rates_ranking_and_charts(client, traffic):
    r = login(client, "analyst")
    assert r.status_code == 303 and r.headers["location"] == "/analytics"
    page = client.get("/analytics")
    assert page.status_code == 200
    html = page.text
    assert "マイナ保険証利用率" in html and "2026-10" in html
    assert html.count('<tr class="top5">') == 5 and html.count('<tr class="bottom5">') == 5
    for pref in ("北海道", "沖縄県", "東京都"):
        assert pref in html
    svg = client.get("/analytics/chart/trend.svg?month=2026-10&basis=online")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content.lstrip().startswith(b"<?xml") and b"<svg" in svg.content
    png = client.get("/analytics/chart/ranking.png?month=2026-10&basis=receipt&facility_type=hospital")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/analytics/chart/pie.svg").status_code == 404
    assert client.get("/analytics/chart/trend.svg?basis=visits").status_code == 422
    filtered = client.get("/analytics?month=2026-05&basis=kyokai")
    assert filtered.status_code == 200 and 'value="2026-05" selected' in filtered.text


def test_usage_rate_api(client, traffic):
    assert client.get("/api/v1/analytics/usage-rates").status_code == 401
    login(client, "analyst")
    r = client.get("/api/v1/analytics/usage-rates", params={"basis": "receipt", "by": ["month", "facility_type"],
                                                             "month": ["2026-10"]})
    assert r.status_code == 200
    body = r.json()
    assert body["basis"] == "receipt" and len(body["rows"]) == 4
    for row in body["rows"]:
        assert row["month"] == "2026-10" and 0 < row["rate"] < 1
        assert row["rate"] == pytest.approx(row["numerator"] / row["denominator"])
    assert client.get("/api/v1/analytics/usage-rates", params={"by": "doctor"}).status_code == 422
    bad = client.get("/api/v1/analytics/usage-rates", params={"basis": "receipt", "by": "insurer"})
    assert bad.status_code == 422 and "kyokai" in bad.json()["detail"]


@pytest.mark.parametrize("username", ["reception", "clerk", "admin"])
def test_other_roles_get_403_and_no_figures(client, traffic, username):
    login(client, username)
    r = client.get("/analytics")
    assert r.status_code == 403 and "全国" not in r.text
    assert client.get("/analytics/chart/trend.svg").status_code == 403
    assert client.get("/api/v1/analytics/usage-rates").status_code == 403


def test_anonymous_is_sent_to_sign_in(client, traffic):
    r = client.get("/analytics", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/analytics")


def test_supervisor_reaches_the_dashboard_from_the_menu(client, traffic):
    login(client, "supervisor")
    assert 'href="/analytics"' in client.get("/office").text
    assert client.get("/analytics").status_code == 200


@pytest.mark.browser
def test_dashboard_in_chromium(page, traffic):
    sign_in(page, "analyst")
    assert page.url.endswith("/analytics")
    page.wait_for_load_state("networkidle")
    for chart in ("chart-trend", "chart-distribution", "chart-ranking"):
        loaded = page.eval_on_selector(f"[data-testid={chart}]", "img => img.complete && img.naturalWidth > 0")
        assert loaded, chart
    assert page.locator("[data-testid=ranking] tbody tr").count() == 47
    rate = page.inner_text("[data-testid=national-rate]")
    assert rate.endswith("%") and 15 < float(rate[:-1]) < 45
    page.select_option("select[name=facility_type]", "hospital")
    page.click("form[data-testid=filters] button")
    page.wait_for_load_state("networkidle")
    assert "facility_type=hospital" in page.url
    assert page.eval_on_selector("[data-testid=chart-trend]", "img => img.naturalWidth > 0")
    page.goto("/analytics")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(IMG / "analytics-dashboard.png"), full_page=False)
    page.set_viewport_size({"width": 1280, "height": 2400})
    page.screenshot(path=str(IMG / "analytics-dashboard-full.png"), full_page=True)
    # the analyst's other two pages, for docs/web.md
    from onshi.demo.traffic import traffic_institutions

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/analytics/incentives?institution={traffic_institutions()[0][0]}&billing_month=2026-10")
    assert "医療DX推進体制整備加算 2026-10" in page.content()
    page.screenshot(path=str(IMG / "ui_analytics_incentives.png"), full_page=True)
    page.goto("/analytics/kpi?fiscal_year=2026")
    page.wait_for_load_state("networkidle")
    assert "KPI" in page.content()
    page.screenshot(path=str(IMG / "ui_analytics_kpi.png"), full_page=False)


def test_incentives_page_computes_2024_money_from_the_log(client, world):
    from onshi.demo.traffic import simulate_traffic, traffic_institutions
    from onshi.auth import users

    with unit_of_work() as s:
        simulate_traffic(s, months=14, until="2024-11", scale=0.3)
        users.add_user(s, username="analyst", password=PASSWORD, role="analyst")
    login(client, "analyst")
    hospital = traffic_institutions()[0][0]
    page = client.get("/analytics/incentives", params={"institution": hospital, "billing_month": "2024-11"})
    assert page.status_code == 200
    text = page.text
    for label in ("支援金 2024年1〜5月", "支援金 2024年6〜11月", "一時金 2024年5〜8月", "医療DX推進体制整備加算 2024-11",
                  "医療情報取得加算 2024-11"):
        assert label in text
    assert "円/件" in text and "2024-08 の利用率" in text and "なし 3点" in text
    unknown = client.get("/analytics/incentives", params={"institution": "1319999999"})
    assert "照会記録がありません" in unknown.text
    bad = client.get("/analytics/incentives", params={"institution": hospital, "billing_month": "11/2024"})
    assert bad.status_code == 422 and "算定月「11/2024」: 年月として読めません" in bad.text
    assert 'aria-invalid="true" aria-describedby="err-billing_month"' in bad.text
    wareki = client.get("/analytics/incentives", params={"institution": hospital, "billing_month": "令和６年１１月"})
    assert wareki.status_code == 200 and "医療DX推進体制整備加算 2024-11" in wareki.text


def test_kpi_page_and_sheet(client, traffic):
    from pypdf import PdfReader

    login(client, "analyst")
    page = client.get("/analytics/kpi", params={"fiscal_year": 2024, "branch": "08"})
    assert page.status_code == 200 and "業績評価シート" in page.text and "茨城" in page.text
    assert "マイナ保険証" in page.text
    pdf = client.get("/analytics/kpi/sheet.pdf", params={"fiscal_year": 2024, "branch": "08"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    import io

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "業績評価シート" in text and "茨城" in text
    html = client.get("/analytics/kpi/sheet.html", params={"fiscal_year": 2024, "branch": "00"})
    assert html.status_code == 200 and "default-src 'none'" in html.headers["content-security-policy"]
    assert client.get("/analytics/kpi", params={"branch": "99"}).status_code == 422
    login(client, "clerk")
    assert client.get("/analytics/kpi/sheet.pdf").status_code == 403
