"""``onshi audit list``: the audit log (アクセス記録) from the command line, filtered and paginated like the web
viewer (``/audit``).  Run on the server by an operator, it shows every insurer's rows unless ``--insurer`` scopes
it; the look itself is written to the log (``audit.view``, actor ``cli``/``--actor``)."""

from __future__ import annotations

from datetime import date
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.privacy import audit
from onshi.registry.cli_common import date_option
from onshi.store.clock import to_japan_time
from onshi.store.db import unit_of_work

console = Console()
audit_app = typer.Typer(help="The audit log (アクセス記録): who read whose data, when and why.",
                        no_args_is_help=True)


@audit_app.command("list")
def audit_list(
    person: Optional[int] = typer.Option(None, "--person", min=1, help="個人ID (person id)"),
    user: Optional[str] = typer.Option(None, "--user", help="a user name (reads by that user)"),
    institution: Optional[str] = typer.Option(None, "--institution",
                                              help="医療機関コード (its token's reads and its users')"),
    day: Optional[date] = date_option(None, "--day", help="a day in Japan time"),
    insurer: Optional[str] = typer.Option(None, "--insurer", help="only the rows of this 保険者番号"),
    page: int = typer.Option(1, "--page", min=1, help="page number (newest first)"),
    per_page: int = typer.Option(audit.PAGE_SIZE, "--per-page", min=1, max=audit.MAX_PAGE_SIZE),
    actor: str = typer.Option("cli", "--actor", help="who is looking (written to the log)"),
) -> None:
    """List audit-log rows, newest first (times in Japan time).  Viewing the log is itself audited."""
    from onshi.auth import users

    with unit_of_work() as s:
        inst_users = tuple(u.username for u in users.list_users(s) if institution and
                           u.institution_code == institution)
        f = audit.AuditFilter(person=person, user=user, institution=institution, day=day, insurer_number=insurer,
                              institution_users=inst_users)
        result = audit.list_entries(s, f, actor_kind="cli", actor_id=actor, page=page, per_page=per_page)
        table = Table("日時 (JST)", "誰が", "何を", "対象", "保険者番号", "詳細",
                      title=f"アクセス記録 {result.total}件 — {result.page}/{result.pages} ページ ({f.describe()})")
        for e in result.entries:
            table.add_row(f"{to_japan_time(e.at):%Y-%m-%d %H:%M:%S}", f"{e.actor_kind}:{e.actor_id}", e.action,
                          f"{e.subject_kind}:{e.subject_id}", e.insurer_number or "", e.detail or "")
        console.print(table, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
