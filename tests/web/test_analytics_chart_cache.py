"""The dashboard's charts may be kept by the browser for a minute (``private, max-age=60``: aggregates, no person —
``/analytics/chart/`` in ``web.limits.CACHEABLE``); the dashboard's HTML, the KPI page, the JSON API and every
refusal stay ``no-store`` or carry no freshness at all."""

from __future__ import annotations

from tests.web.test_analytics_pages import traffic  # noqa: F401 - the fixture
from tests.web.test_auth import login


def test_charts_are_cacheable_privately_and_nothing_else_of_analytics(client, traffic):  # noqa: F811
    refused = client.get("/analytics/chart/trend.svg?month=2026-10", follow_redirects=False)
    assert refused.status_code in (303, 401, 403)  # not signed in: refused, and nothing says it may be kept
    assert "max-age" not in refused.headers.get("cache-control", "")
    login(client, "clerk")
    other = client.get("/analytics/chart/trend.svg?month=2026-10", follow_redirects=False)
    assert other.status_code == 403 and "max-age" not in other.headers.get("cache-control", "")
    client.cookies.clear()

    login(client, "analyst")
    for path in ("/analytics/chart/trend.svg?month=2026-10&basis=online",
                 "/analytics/chart/ranking.png?month=2026-10&basis=receipt",
                 "/analytics/chart/distribution.svg?month=2026-10&basis=online"):
        res = client.get(path)
        assert res.status_code == 200 and res.headers["cache-control"] == "private, max-age=60", path
        assert b"\xe5\x8e\x9a\xe5\x8a\xb4" not in res.content  # 厚労: no member's name in a chart
    for path in ("/analytics", "/analytics/kpi", "/api/v1/analytics/usage-rates"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    bad = client.get("/analytics/chart/trend.svg?basis=visits")
    assert bad.status_code == 422 and "max-age" not in bad.headers.get("cache-control", "")
