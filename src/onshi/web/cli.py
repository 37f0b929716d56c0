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


def _by() -> tuple[str, str]:
    """Who acts from the command line, for the audit log: the operating-system account."""
    import getpass

    try:
        return ("cli", getpass.getuser())
    except (KeyError, OSError):
        return ("cli", "unknown")


@user_app.command("add")
def add(username: str,
        role: str = typer.Option(..., help="clinic | clinician | clerk | supervisor | admin"),
        institution: str | None = typer.Option(None, help="医療機関コード (clinic and clinician users)"),
        insurer: str | None = typer.Option(None, help="保険者番号 (clerk and supervisor users)"),
        name: str | None = typer.Option(None, help="display name"),
        password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                     help="at least 10 characters, not a common one nor containing the name "
                                          "(prompted when omitted)")) -> None:
    """Add a user; the password is stored only as an argon2 hash."""
    from onshi.auth import users

    with unit_of_work() as s:  # a UserError is a refusal: one line and exit 2 (onshi.cli)
        u = users.add_user(s, username=username, password=password, role=role, display_name=name,
                           institution_code=institution, insurer_number=insurer, by=_by())
        console.print(f"added [bold]{u.username}[/] ({users.ROLES[u.role]})")


@user_app.command("add-member")
def add_member(username: str,
               insurer: str = typer.Option(..., help="保険者番号"),
               symbol: str = typer.Option(..., help="記号 on the member's card"),
               number: str = typer.Option(..., help="番号 on the member's card"),
               name: str | None = typer.Option(None, help="display name"),
               password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                            help="at least 10 characters (prompted when omitted)")) -> None:
    """Add a member's user (加入者本人, role member): they see and make only their own benefit applications."""
    from onshi.auth import users

    with unit_of_work() as s:
        u = users.add_member(s, username=username, password=password, insurer_number=insurer, symbol=symbol,
                             number=number, display_name=name, by=_by())
        console.print(f"added [bold]{u.username}[/] ({users.ROLES[u.role]})")


@user_app.command("list")
def list_() -> None:
    """Users, their roles, scope and lock state."""
    from onshi.auth import users

    with unit_of_work() as s:
        t = Table("username", "name", "role", "scope", "last login (JST)", "state")
        for u in users.list_users(s):
            state = ("disabled" if u.disabled_at else "must change password" if u.must_change_password
                     else "active")
            t.add_row(u.username, u.display_name, u.role, u.institution_code or (str(u.insurer_id or "") and
                      f"insurer #{u.insurer_id}"), _jst(u.last_login_at), state)
    console.print(t)


@user_app.command("unlock")
def unlock(username: str) -> None:
    """Clear the sign-in delay after repeated wrong passwords."""
    from onshi.auth import users

    with unit_of_work() as s:
        users.unlock(s, username, by=_by())
    console.print(f"{username} unlocked")


@user_app.command("passwd")
def passwd(username: str, password: str = typer.Option(..., prompt=True, hide_input=True,
                                                       confirmation_prompt=True)) -> None:
    """Set a new password (ends every open session of the user)."""
    from onshi.auth import users

    with unit_of_work() as s:
        users.set_password(s, username, password, by=_by())
    console.print(f"password of {username} changed")


@user_app.command("disable")
def disable(username: str) -> None:
    """Disable a user: no sign-in, and every open session ends now."""
    from onshi.auth import users

    with unit_of_work() as s:
        users.disable(s, username, by=_by())
    console.print(f"{username} disabled (every session ended)")


@user_app.command("enable")
def enable(username: str) -> None:
    """Enable a disabled user again."""
    from onshi.auth import users

    with unit_of_work() as s:
        users.enable(s, username, by=_by())
    console.print(f"{username} enabled")


@user_app.command("role")
def role(username: str, new_role: str = typer.Argument(..., metavar="ROLE",
                                                       help="clinic | clinician | clerk | supervisor | analyst | admin"),
         institution: str | None = typer.Option(None, help="医療機関コード (clinic and clinician users)"),
         insurer: str | None = typer.Option(None, help="保険者番号 (clerk and supervisor users)")) -> None:
    """Change a user's role and scope (their open sessions end)."""
    from onshi.auth import users

    with unit_of_work() as s:
        users.change_role(s, username, new_role, by=_by(), institution_code=institution, insurer_number=insurer)
    console.print(f"{username} is now {new_role}")


@user_app.command("reset-password")
def reset_password(username: str) -> None:
    """A temporary password, printed once; the user must choose a new one at the next sign-in."""
    from onshi.auth import users

    with unit_of_work() as s:
        temporary = users.reset_password(s, username, by=_by())
    console.print(f"temporary password of {username}: {temporary}\n(the user must change it at the next sign-in; "
                  "every open session ended)")


@user_app.command("signout-all")
def signout_all(username: str) -> None:
    """End every open session of a user (every browser, every device)."""
    from onshi.auth import users

    with unit_of_work() as s:
        ended = users.sign_out_everywhere(s, username, by=_by())
    console.print(f"{ended} session(s) of {username} ended")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
