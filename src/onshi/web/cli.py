"""``onshi user``: users of the web screens (受付・保険者事務・管理)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from onshi.store.clock import to_japan_time
from onshi.store.db import unit_of_work

console = Console()


def _jst(moment) -> str:
    """A recorded time (naive UTC) as the admin reads it: Japan time, to the minute; empty for none."""
    return f"{to_japan_time(moment):%Y-%m-%d %H:%M}" if moment else ""
user_app = typer.Typer(help="Users of the web screens (ユーザー).", no_args_is_help=True)


@user_app.command("add")
def add(username: str,
        role: str = typer.Option(..., help="clinic | clerk | supervisor | admin"),
        institution: str | None = typer.Option(None, help="医療機関コード (clinic users)"),
        insurer: str | None = typer.Option(None, help="保険者番号 (clerk and supervisor users)"),
        name: str | None = typer.Option(None, help="display name"),
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                     help="at least 10 characters (prompted when omitted)")) -> None:
    """Add a user; the password is stored only as an argon2 hash."""
    from onshi.auth import users

    with unit_of_work() as s:  # a UserError is a refusal: one line and exit 2 (onshi.cli)
        u = users.add_user(s, username=username, password=password, role=role, display_name=name,
                           institution_code=institution, insurer_number=insurer)
        console.print(f"added [bold]{u.username}[/] ({users.ROLES[u.role]})")


@user_app.command("list")
def list_() -> None:
    """Users, their roles, scope and lock state."""
    from onshi.auth import users

    with unit_of_work() as s:
        t = Table("username", "name", "role", "scope", "last login (JST)", "locked until (JST)")
        for u in users.list_users(s):
            t.add_row(u.username, u.display_name, u.role, u.institution_code or (str(u.insurer_id or "") and
                      f"insurer #{u.insurer_id}"), _jst(u.last_login_at), _jst(u.locked_until))
    console.print(t)


@user_app.command("unlock")
def unlock(username: str) -> None:
    """Lift a lock-out after repeated failed sign-ins."""
    from onshi.auth import users

    with unit_of_work() as s:
        users.unlock(s, username)
    console.print(f"{username} unlocked")


@user_app.command("passwd")
def passwd(username: str, password: str = typer.Option(..., prompt=True, hide_input=True,
                                                       confirmation_prompt=True)) -> None:
    """Set a new password (ends every open session of the user)."""
    from onshi.auth import users

    with unit_of_work() as s:
        users.set_password(s, username, password)
    console.print(f"password of {username} changed")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
