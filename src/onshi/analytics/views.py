"""Analytics screens and API: the usage-rate dashboard with charts, incentives per institution, the KPI sheet.

For the roles ``analyst`` (分析担当) and ``supervisor`` (保険者 監督者); everyone else gets 403, a visitor who
is not signed in is sent to the sign-in page (HTML) or gets 401 (API).  Everything here is an aggregate — no
page shows a person — so nothing here is written to the audit log.

Who sees which insurer (docs/auth.md, "Analytics across insurers"): the analyst, bound to no insurer, sees every
figure.  A supervisor sees the figures no single other insurer owns (nation, prefecture, facility type,
institution, month, the 協会けんぽ 支部 KPI sheets that 協会けんぽ publishes) and, of the breakdown by insurer,
only the rows of the supervisor's own insurer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from onshi.analytics.dashboard import BASIS_LABELS, KYOKAI_TARGET, chart_bytes, overview
from onshi.analytics.usage import BASES, DIMENSIONS, FACILITY_TYPES, AnalyticsError, UsageAnalytics
from sqlalchemy.orm import Session

from onshi.auth.sessions import current_user_or_none, require
from onshi.auth.deps import get_session
from onshi.auth.models import WebUser
from onshi.web.pages.common import render

router = APIRouter(include_in_schema=False, prefix="/analytics")
api = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
Analyst = Annotated[WebUser, Depends(require("analyst", "supervisor"))]
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}


def api_analyst(request: Request, session: Session = Depends(get_session, scope="function")) -> WebUser:  # noqa: B008
    """The API's guard: 401 without a signed-in session, 403 for other roles (JSON, never a redirect)."""
    user = current_user_or_none(request, session)
    if user is None:
        raise HTTPException(401, "sign in as analyst or supervisor")
    if user.role not in ("analyst", "supervisor"):
        raise HTTPException(403, "analytics are for the analyst and supervisor roles")
    return user


ApiAnalyst = Annotated[WebUser, Depends(api_analyst)]


def _ua(request: Request) -> UsageAnalytics:
    return UsageAnalytics(request.app.state.engine)


def _clean(basis: str, facility_type: str | None) -> tuple[str, str | None]:
    if basis not in BASES:
        raise HTTPException(422, f"basis must be one of {', '.join(BASES)}")
    facility_type = facility_type or None
    if facility_type and facility_type not in FACILITY_TYPES:
        raise HTTPException(422, f"facility_type must be one of {', '.join(FACILITY_TYPES)}")
    return basis, facility_type


@router.get("")
def dashboard(request: Request, user: Analyst, month: str | None = None, basis: str = "online",
              facility_type: str | None = None):
    """マイナ保険証利用率: trend, prefecture ranking, facility types and the distribution of facility rates."""
    basis, facility_type = _clean(basis, facility_type)
    ua = _ua(request)
    try:
        ov = overview(ua, month=month or None, basis=basis, facility_type=facility_type)
    except ValueError as exc:
        ov, error = overview(ua, basis=basis, facility_type=facility_type), str(exc)
    else:
        error = None
    finally:
        ua.close()
    query = f"month={ov.month or ''}&basis={basis}&facility_type={facility_type or ''}"
    return render(request, "analytics/dashboard.html", {
        "ov": ov, "bases": BASIS_LABELS, "basis_help": BASES, "facility_types": FACILITY_TYPES, "query": query,
        "target": KYOKAI_TARGET, "errors": [error] if error else None})


@router.get("/chart/{kind}.{fmt}")
def chart(request: Request, user: Analyst, kind: str, fmt: str, month: str | None = None, basis: str = "online",
          facility_type: str | None = None) -> Response:
    """A chart as SVG or PNG (the same drawing as ``onshi analytics chart``)."""
    basis, facility_type = _clean(basis, facility_type)
    if fmt not in MEDIA or kind not in ("trend", "ranking", "distribution"):
        raise HTTPException(404, "chart is trend, ranking or distribution; format svg or png")
    ua = _ua(request)
    try:
        data = chart_bytes(ua, kind, fmt=fmt, month=month or None, basis=basis, facility_type=facility_type)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    finally:
        ua.close()
    return Response(data, media_type=MEDIA[fmt], headers={"Cache-Control": "private, max-age=60"})


@router.get("/incentives")
def incentives_page(request: Request, user: Analyst, institution: str | None = None,
                    billing_month: str | None = None):
    """支援金・一時金・医療DX推進体制整備加算・医療情報取得加算 of one institution, from its log and claims."""
    from onshi.analytics.dashboard import institution_incentives

    from onshi.analytics.incentives import OutsideKnownPeriod
    from onshi.numbers.messages import japanese
    from onshi.registry.fields import FieldError, date_message, parse_month

    lines, errors, invalid = [], None, {}
    month = None
    if billing_month and billing_month.strip():
        try:  # 2025-04, 202504, R7.4, 令和7年4月, full width: the one input layer
            month = f"{parse_month(billing_month):%Y-%m}"
        except FieldError as exc:
            invalid["billing_month"] = date_message("算定月", billing_month, exc)
    if institution and not invalid:
        ua = _ua(request)
        try:
            lines = institution_incentives(ua, institution.strip(), billing_month=month)
        except OutsideKnownPeriod:
            errors = [f"算定月「{billing_month}」: この月の判定基準（告示の表）がまだ登録されていません。"
                      "システム管理者に連絡してください"]
        except (ValueError, LookupError) as exc:
            message = japanese(str(exc))
            errors = [message if not message.isascii() else "算定できませんでした。入力を確かめてください"]
        finally:
            ua.close()
    return render(request, "analytics/incentives.html", {
        "institution": institution or "", "billing_month": billing_month or "", "lines": lines, "errors": errors,
        "invalid": invalid}, status_code=422 if invalid else 200)


def _sheet(request: Request, fiscal_year: int, branch: str):
    """The sheet with the system's figures from the fast path (``kpi_actuals_fast``: aggregate SQL; the same
    figures as ``usage.system_actuals``, tests/analytics/test_kpi_actuals_fast.py), both years from one
    :class:`UsageAnalytics`."""
    from functools import partial

    from onshi.analytics.evaluation import sheet_from_database
    from onshi.analytics.kpi import normalize_branch
    from onshi.analytics.kpi_actuals_fast import system_actuals
    from onshi.store.db import unit_of_work

    try:
        branch = normalize_branch(branch)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if not 2000 <= fiscal_year <= 2100:
        raise HTTPException(422, "fiscal_year must be a year like 2024")
    ua = _ua(request)
    try:
        with unit_of_work(factory=request.app.state.session_factory) as s:
            return sheet_from_database(s, fiscal_year, branch, system_actuals=partial(system_actuals, ua=ua))
    finally:
        ua.close()


@router.get("/kpi")
def kpi_page(request: Request, user: Analyst, fiscal_year: int = 2024, branch: str = "00"):
    """The action plans' KPIs of a fiscal year and 支部: target, actual, achievement, trend; sheet as PDF/HTML."""
    from onshi.numbers.prefectures import PREFECTURES

    sheet = _sheet(request, fiscal_year, branch)
    return render(request, "analytics/kpi.html", {"sheet": sheet, "fiscal_year": fiscal_year,
                                                  "branch": sheet.branch, "prefectures": PREFECTURES})


@router.get("/kpi/sheet.{fmt}")
def kpi_sheet(request: Request, user: Analyst, fmt: str, fiscal_year: int = 2024, branch: str = "00") -> Response:
    """業績評価シート as PDF (download) or as a standalone HTML page (its own styles and font, nothing external)."""
    from onshi.analytics.evaluation import render_html, render_pdf

    sheet = _sheet(request, fiscal_year, branch)
    name = f"evaluation-{fiscal_year}-{sheet.branch}"
    if fmt == "pdf":
        return Response(render_pdf(sheet), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
    if fmt == "html":
        return Response(render_html(sheet), media_type="text/html; charset=utf-8", headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; font-src data:; "
                                       "img-src data:; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff"})
    raise HTTPException(404, "sheet.pdf or sheet.html")


@api.get("/usage-rates", summary="マイナ保険証利用率 broken down by the given dimensions")
def usage_rates(request: Request, user: ApiAnalyst, basis: str = "online",
                by: Annotated[list[str], Query()] = ["month"],  # noqa: B006 - FastAPI reads the default
                month: Annotated[list[str] | None, Query()] = None) -> dict:
    """Numerator, denominator and rate for each group; ``by`` is any of month, prefecture, facility_type,
    institution, insurer, branch, setting."""
    basis, _ = _clean(basis, None)
    bad = [d for d in by if d not in DIMENSIONS]
    if bad:
        raise HTTPException(422, f"unknown breakdown {bad[0]!r}: use {', '.join(DIMENSIONS)}")
    ua = _ua(request)
    try:
        rows = ua.rates(basis=basis, by=by, months=month or None)
    except (AnalyticsError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    finally:
        ua.close()
    if user.role == "supervisor" and "insurer" in by:  # another insurer's own figures are not this supervisor's
        own = _own_insurer_number(request, user)
        rows = [r for r in rows if r.keys.get("insurer") == own]
    return {"basis": basis, "definition": BASES[basis], "by": by,
            "rows": [{**r.keys, "numerator": r.numerator, "denominator": r.denominator, "rate": r.rate}
                     for r in rows]}


def _own_insurer_number(request: Request, user: WebUser) -> str | None:
    from onshi.registry import service as registry
    from onshi.store.db import unit_of_work

    with unit_of_work(factory=request.app.state.session_factory) as s:
        insurer = registry.get_insurer(s, id=user.insurer_id) if user.insurer_id else None
        return insurer.number if insurer else None


def install(app) -> None:
    app.include_router(router)
    app.include_router(api)
