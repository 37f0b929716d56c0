"""``onshi analytics``: usage rates, rankings, claim counts, Parquet export, charts, incentives and KPIs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from onshi.registry.cli_common import progress_bar

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
analytics_app = typer.Typer(help="Analytics (マイナ保険証利用率, incentives, KPIs).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from onshi.analytics.kpi_cli import kpi_app

    app.add_typer(analytics_app, name="analytics")
    analytics_app.add_typer(kpi_app, name="kpi")


def _source(parquet: Path | None):
    from onshi.analytics.usage import UsageAnalytics

    return UsageAnalytics.over_parquet(parquet) if parquet else UsageAnalytics()


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


@analytics_app.command("import-claims")
def import_claims(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV of claim counts")) -> None:
    """Import monthly claim counts (レセプト件数) per institution; a bad row rejects the whole file."""
    from onshi.analytics.claims import ClaimFileError, import_claim_counts
    from onshi.analytics.imports import apply_file_cli

    apply_file_cli(file, import_claim_counts, ClaimFileError)


@analytics_app.command("rates")
def rates(basis: str = typer.Option("online", help="online | receipt | kyokai"),
          by: str = typer.Option("month", help="comma-separated: month, prefecture, facility_type, institution, "
                                               "insurer, branch, setting"),
          month: list[str] = typer.Option(None, help="YYYY-MM (repeat); default all months"),
          parquet: Path | None = typer.Option(None, help="read an export instead of the database")) -> None:
    """Usage rates (マイナ保険証利用率) broken down as asked."""
    from onshi.analytics.usage import BASES

    ua = _source(parquet)
    dims = [d.strip() for d in by.split(",") if d.strip()]
    rows = ua.rates(basis=basis, by=dims, months=month or None)  # an AnalyticsError is reported by onshi.cli
    t = Table(title=BASES[basis])
    for d in dims:
        t.add_column(d)
    t.add_column("分子", justify="right")
    t.add_column("分母", justify="right")
    t.add_column("利用率", justify="right")
    for r in rows:
        t.add_row(*(str(r.keys[d]) for d in dims), f"{r.numerator:,}", f"{r.denominator:,}", _pct(r.rate))
    console.print(t)


@analytics_app.command("credentials")
def credentials(by: str = typer.Option("month", help="comma-separated: month, prefecture, facility_type, "
                                                     "institution, insurer, branch, setting"),
                month: list[str] = typer.Option(None, help="YYYY-MM (repeat); default all months"),
                parquet: Path | None = typer.Option(None, help="read an export instead of the database")) -> None:
    """マイナ保険証 verifications by credential: the card, or its certificate on a smartphone (スマホ)."""
    ua = _source(parquet)
    dims = [d.strip() for d in by.split(",") if d.strip()]
    rows = ua.credential_breakdown(by=dims, months=month or None)
    t = Table(title="マイナ保険証利用件数（カード／スマホ）")
    for d in dims:
        t.add_column(d)
    for label in ("オンライン資格確認", "カード", "スマホ", "スマホの割合"):
        t.add_column(label, justify="right")
    for r in rows:
        t.add_row(*(str(r.keys[d]) for d in dims), f"{r.online:,}", f"{r.card:,}", f"{r.smartphone:,}",
                  _pct(r.smartphone_share))
    console.print(t)


@analytics_app.command("ranking")
def ranking(month: str = typer.Option(..., help="YYYY-MM"), basis: str = typer.Option("online"),
            facility_type: str | None = typer.Option(None, help="hospital | clinic | dental | pharmacy"),
            parquet: Path | None = typer.Option(None)) -> None:
    """The prefecture ranking of a month, as in seed 003 (rate, change in %pt, rank, previous rank)."""
    ua = _source(parquet)
    rows = ua.prefecture_ranking(month, basis=basis, facility_type=facility_type)
    national = ua.rate(basis=basis, months=[month], where={"facility_type": facility_type} if facility_type else None)
    t = Table(title=f"都道府県別 マイナ保険証利用率 {month} (全国 {_pct(national.rate)})")
    for c in ("順位", "(前月)", "都道府県", "利用率", "前月差", "利用件数", "オン資件数"):
        t.add_column(c, justify="right" if c not in ("都道府県",) else "left")
    for r in rows:
        style = "yellow" if r.top5 else "dim" if r.bottom5 else None
        t.add_row(str(r.rank), f"({r.previous_rank or '—'})", r.prefecture, _pct(r.rate),
                  "—" if r.change_pt is None else f"{r.change_pt:+.2f}pt", f"{r.numerator:,}", f"{r.denominator:,}",
                  style=style)
    console.print(t)


@analytics_app.command("export")
def export(out: Path = typer.Option(Path("var/analytics/log"), help="folder for month=YYYY-MM/*.parquet"),
           month: list[str] = typer.Option(None, help="YYYY-MM (repeat); default every month in the log"),
           run_name: str | None = typer.Option(None, help="name of the run; the same name resumes it (months done "
                                                          "are skipped); default a new run")) -> None:
    """Write the verification log as Parquet, partitioned by month of care (re-export replaces a month).  With
    ONSHI_BROKER_URL set, one task per month runs on `onshi worker` processes (docs/batch.md); else here."""
    from onshi.analytics.tasks import run_export
    from onshi.documents.cli import stalled_is_a_failure
    from onshi.store.db import session_factory

    with progress_bar() as prog:
        task = prog.add_task("verification_log → Parquet", total=None)
        with stalled_is_a_failure():
            done = run_export(session_factory(), out, months=month or None, run_name=run_name, actor="cli",
                              progress=lambda n: prog.advance(task, n))
    for d in done:
        if d.failures:
            console.print(f"{d.unit}: [red]failed[/] — {d.failures[0]['error']}")
            continue
        files = d.result.get("files", [])
        console.print(f"{d.unit}: {d.items:,} rows → {', '.join(files) or '(no rows)'}")
    if any(d.failures for d in done):
        raise typer.Exit(1)


@analytics_app.command("chart")
def chart(kind: str = typer.Argument(..., help="trend | ranking | distribution"),
          out: Path = typer.Option(..., help="file.svg or file.png"),
          month: str | None = typer.Option(None, help="YYYY-MM (ranking, distribution; default the latest)"),
          basis: str = typer.Option("online"), parquet: Path | None = typer.Option(None)) -> None:
    """Draw a chart for a report (SVG or PNG by the file's extension)."""
    from onshi.analytics.dashboard import chart_bytes

    fmt = out.suffix.lstrip(".").lower()
    ua = _source(parquet)
    data = chart_bytes(ua, kind, fmt=fmt, month=month, basis=basis)  # a ValueError is reported by onshi.cli
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    console.print(f"{out} ({len(data):,} bytes)")


@analytics_app.command("incentives")
def incentives(institution: str = typer.Option(..., help="医療機関コード"),
               billing_month: str | None = typer.Option(None, help="YYYY-MM for 医療DX推進体制整備加算")) -> None:
    """What an institution qualifies for: 2024 support money, the May–July 2024 lump sum, 医療DX加算."""
    from onshi.analytics.dashboard import institution_incentives

    ua = _source(None)
    lines = institution_incentives(ua, institution, billing_month=billing_month)
    for label, text in lines:
        console.print(f"[bold]{label}[/]: {text}")
