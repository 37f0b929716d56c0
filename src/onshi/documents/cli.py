"""``onshi documents``: daily 資格確認書 run, お知らせ mailing runs, reprints, applications and returns."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.config import get_settings
from onshi.registry.cli_common import EXIT_FOUND, CliError, date_option
from onshi.store.clock import japan_today
from onshi.store.db import session_factory, unit_of_work

console = Console(soft_wrap=True)
err = Console(stderr=True)
documents_app = typer.Typer(help="資格確認書 and 資格情報のお知らせ.", no_args_is_help=True)


@contextmanager
def stalled_is_a_failure():
    """A run whose broker was lost (or that no worker took) ends in one line and exit code 1: it is recorded
    failed and resumes when started again (docs/batch.md)."""
    from onshi.store.tasks import RunStalled

    try:
        yield
    except RunStalled as exc:
        raise CliError(str(exc), EXIT_FOUND) from None


def _out(out: Optional[Path]) -> Path:
    return out or (get_settings().var_dir / "documents")


def _print(report) -> None:
    console.print(f"issued {report.issued}, skipped {report.skipped}, files {len(report.files)}")
    for line in report.lines:
        console.print(f"  [yellow]![/] {line}")


@documents_app.command("run")
def run(date_: date = date_option(..., "--date", help="the day to issue for"),
        insurer: Optional[str] = typer.Option(None, help="only this insurer's members (保険者番号); default all"),
        out: Optional[Path] = None, actor: str = "cli") -> None:
    """Issue every 資格確認書 due that day (idempotent: nothing is issued twice; resumable).  With ONSHI_BROKER_URL
    set, one task per insurer and slice runs on `onshi worker` processes (docs/batch.md); without, in this process."""
    from onshi.documents.tasks import run_daily
    from onshi.registry.cli_common import progress_bar

    with progress_bar() as prog:
        task = prog.add_task(f"certificates {date_}", total=None)
        with stalled_is_a_failure():
            report = run_daily(session_factory(), date_, _out(out), actor=actor, insurer=insurer,
                               total=lambda n: prog.update(task, total=n), progress=lambda n: prog.advance(task, n))
    _print(report)


@documents_app.command("mail")
def mail(insurer: str, run_name: str = typer.Option(..., help="name of the run; the same name resumes it"),
         issue: date = date_option(..., help="発行日 printed on the notices"),
         since: Optional[date] = date_option(None, help="only members changed since"),
         out: Optional[Path] = None, actor: str = "cli") -> None:
    """All 資格情報のお知らせ of an insurer, one bundle per employer, with a manifest (resumable).  With
    ONSHI_BROKER_URL set, the bundles run on `onshi worker` processes (docs/batch.md); without, in this process."""
    from onshi.documents.tasks import run_mailing
    from onshi.registry.cli_common import progress_bar

    with progress_bar() as prog:
        task = prog.add_task(f"notices {insurer}", total=None)
        with stalled_is_a_failure():
            report = run_mailing(session_factory(), insurer, _out(out), actor=actor, run_name=run_name,
                                 issue=issue, since=since,
                                 progress=lambda n: prog.advance(task, n))
    _print(report)


@documents_app.command("reprint")
def reprint_cmd(document_id: int, out: Path = typer.Option(...)) -> None:
    """Reprint an issued document on its own: byte for byte where its SHA-256 was recorded (資格確認書), checked
    against its layout fingerprint where it was printed only in an employer bundle (mailed notices)."""
    from onshi.documents.service import reprint

    with unit_of_work() as s:
        pdf = reprint(s, document_id)
    out.write_bytes(pdf)
    console.print(f"wrote {out}")


@documents_app.command("apply")
def apply(qualification_id: int = typer.Argument(..., metavar="QUALIFICATION_ID",
                                                 help="the member's 資格 id (`onshi member show` prints it)"),
          reason: str = typer.Option(..., help="card_lost | card_renewal | needs_support | other"),
          applicant: str = typer.Option(...), applied_on: date = date_option(..., help="申請日"),
          channel: str = typer.Option("employer", help="employer | direct (任意継続)")) -> None:
    """Record an application for a 資格確認書 for one qualification (QUALIFICATION_ID, not a quarantine id)."""
    from onshi.documents.service import apply_for_certificate

    with unit_of_work() as s:
        app = apply_for_certificate(s, qualification_id=qualification_id, applied_on=applied_on,
                                    reason=reason, applicant=applicant, channel=channel)
    console.print(f"application {app.id} recorded")


@documents_app.command("national-list")
def national_list(file: Path = typer.Argument(..., exists=True, dir_okay=False),
                  listed_on: date = date_option(..., help="the list's date")) -> None:
    """Import the national system's monthly list of people who cannot use マイナ保険証."""
    from onshi.documents.service import import_national_list

    with unit_of_work() as s:
        added, problems = import_national_list(s, file.read_bytes(), listed_on=listed_on)
    console.print(f"{added} members listed for a 資格確認書")
    for p in problems:
        console.print(f"  [red]![/] {p}")
    if problems:
        raise typer.Exit(EXIT_FOUND)


@documents_app.command("returns")
def returns() -> None:
    """Certificates that are due back (返納) and not returned yet."""
    from onshi.documents.service import outstanding_returns

    with unit_of_work() as s:
        t = Table("id", "資格", "交付日", "返納期限の起点", "理由")
        for d in outstanding_returns(s):
            t.add_row(str(d.id), str(d.qualification_id), f"{d.issue_date}", f"{d.due_back_since}", d.reason)
    console.print(t)


@documents_app.command("sample")
def sample(out: Path = typer.Option(Path("."), help="folder for sample_certificate.pdf and sample_notice.pdf")) -> None:
    """Render a sample 資格確認書 and a sample お知らせ of a fictional person (no database needed)."""
    from onshi.documents.render import CertificateData, NoticeData, render_certificate, render_notice

    today = japan_today()
    cert = CertificateData(name="見本　花子", name_kana="ミホン　ハナコ", birth_date=date(1985, 4, 12), sex="女",
                           symbol="12345678", number="1234", branch="01", insurer_number="01130012",
                           insurer_name="全国健康保険協会 東京支部", issue_date=today,
                           valid_until=date(today.year + 5, today.month, 1), co_pay_ratio_tenths=3,
                           qualification_date=date(2019, 5, 1))
    notice = NoticeData(symbol="12345678", number="1234", branch="01", name="見本　花子", name_kana="ミホン　ハナコ",
                        birth_date=date(1985, 4, 12), insurer_name="全国健康保険協会 東京支部",
                        insurer_number="01130012", issue_date=today, co_pay_ratio_tenths=3,
                        qualification_date=date(2019, 5, 1), my_number_last4="0257", postal_code="164-0001",
                        address_line1="東京都中野区中野一丁目2番3号", employer_name="株式会社サンプル商事")
    out.mkdir(parents=True, exist_ok=True)
    (out / "sample_certificate.pdf").write_bytes(render_certificate(cert))
    (out / "sample_notice.pdf").write_bytes(render_notice(notice))
    console.print(f"wrote {out / 'sample_certificate.pdf'} and {out / 'sample_notice.pdf'}")


def worker(queue: Optional[str] = typer.Option(None, help="the queue to consume (default ONSHI_TASK_QUEUE)"),
           concurrency: int = typer.Option(1, help="tasks at once (processes of the pool)"),
           pool: str = typer.Option("prefork", help="prefork | solo | threads"),
           hostname: Optional[str] = typer.Option(None, help="the worker's name (recorded on what it does)")) -> None:
    """A worker of the batch tasks (mailing bundles, daily-run slices, linkage chunks, export months) from the broker
    ONSHI_BROKER_URL; run any number of them, on any number of machines sharing the database and the output folder
    (docs/batch.md)."""
    from onshi.documents.tasks import start_worker

    start_worker(queue=queue, concurrency=concurrency, pool=pool, hostname=hostname)


lists_app = typer.Typer(help="The national lists (職権交付対象者リスト, マイナ保険証を利用できない者): docs/national-lists.md.",
                        no_args_is_help=True)


@lists_app.command("import")
def lists_import(files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="one or more list files"),
                 kind: str = typer.Option("ex-officio", help="ex-officio (職権交付対象者リスト) | cannot-use"),
                 month: str = typer.Option(..., help="the list's month: 2026-12, R8.12 …"),
                 insurer: Optional[str] = typer.Option(None, help="only this insurer's rows (保険者番号)"),
                 actor: str = "cli") -> None:
    """Import national lists of a month: who was added and why, the rows that match nobody (idempotent: the same
    list twice changes nothing).  One task per file on the workers when ONSHI_BROKER_URL is set (the files must lie
    in a folder they share), in this process otherwise.  Exit 1 when rows were not applied; 2 when a file cannot be
    read at all (nothing of that file applied; the other files are)."""
    from onshi.documents.national_lists import NationalListError, parse_month, stored_report
    from onshi.documents.tasks import run_lists
    from onshi.registry.cli_common import CliError
    from onshi.store.db import session_factory
    from onshi.store.tasks import RunStalled

    kind = kind.replace("-", "_")
    try:
        parse_month(month)
        rows = run_lists(session_factory(), files, kind=kind, month=month, insurer=insurer, actor=actor)
    except NationalListError as exc:
        raise CliError(f"{exc} — 何も取り込んでいません") from None
    except RunStalled as exc:
        raise CliError(str(exc)) from None
    unreadable, problems = [], False
    for row in rows:
        if row.failures:
            unreadable += [f["error"] for f in row.failures]
            continue
        with unit_of_work() as s:
            report = stored_report(s, row.result["file_id"], actor=actor,
                                   already_imported=row.result.get("already_imported", False))
            lines = report.lines()
        problems = problems or bool(report.problems)
        console.print(lines[0])
        for line in lines[1:]:
            console.print(f"  {line}")
    if unreadable:
        raise CliError("\n".join(unreadable))
    if problems:
        raise typer.Exit(EXIT_FOUND)


def register(app: typer.Typer) -> None:
    app.add_typer(documents_app, name="documents")
    app.add_typer(lists_app, name="lists")
    app.command("worker")(worker)
