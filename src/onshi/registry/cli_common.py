"""What every domain's command line shares: the exit codes, the one error a command raises to refuse, and the date
options.

The domain CLIs (``onshi.<domain>.cli``) sit in their domains' layers, below ``onshi.cli``; this module is the
lowest of them (registry), so each can import it.  The handler that turns any exception into one line and an exit
code is ``onshi.cli`` (docs/cli.md); a command only says *what* is wrong by raising :class:`CliError` (or by
letting a domain's ``ValueError`` through) and never prints an error itself.

Dates typed on the command line go through :func:`onshi.registry.fields.parse_date`, the one parser of dates typed
by people (西暦 and 和暦 forms, full-width digits), via :func:`parse_date_option`; a refused value is reported with the option's
name, the value and the parser's reason.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

# The exit codes of every ``onshi`` command (docs/cli.md).
EXIT_OK = 0
EXIT_FOUND = 1  # the command ran and found something wrong: rows rejected, 該当者なし, problems listed
EXIT_REFUSED = 2  # what was typed or given is wrong (Typer's usage errors too); nothing was changed
EXIT_DATABASE = 3  # the database is missing, not migrated, unreachable or refuses the login
EXIT_INTERNAL = 4  # an unexpected error; its traceback is in the log file the message names
EXIT_INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """A command's refusal: ``message`` is the one line the person reads (what is wrong, and what to do)."""

    def __init__(self, message: str, code: int = EXIT_REFUSED):
        super().__init__(message)
        self.message = message
        self.code = code


def parse_date_option(value: Any) -> date:
    """The one parser of a date option: :func:`onshi.registry.fields.parse_date` (2026-12-05, 2026/12/5,
    20261205, 和暦 where that parser accepts it, full-width digits); a refusal names the value and why (Typer adds
    the option's name)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    from onshi.registry.fields import FieldError, parse_date

    try:
        return parse_date(str(value))
    except FieldError as exc:
        raise typer.BadParameter(f"「{value}」: {exc.reason}") from None


_ISO_T = re.compile(r"(?<=\d)[Tt](?=\d{1,2}:)")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")


def parse_datetime_option(value: Any) -> datetime:
    """A date and an optional time of day (``2026-11-20 09:30``, ``2026-11-20T09:30:00``): the date part as
    :func:`parse_date_option` reads it, the time as HH:MM or HH:MM:SS (with fractions of a second); a date alone is 00:00.  Naive: the command
    says which clock it is (Japan time, everywhere a person types one)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    from onshi.registry.fields import FieldError, half_width, parse_date

    text = half_width(str(value)).replace("\u3000", " ")
    # ISO's "T" between date and time (2026-11-20T09:30) — but never the Taishō era letter (T2/1/1)
    text = _ISO_T.sub(" ", text, count=1)
    day_text, _sep, time_text = text.partition(" ")
    try:
        day = parse_date(day_text)
    except FieldError as exc:
        raise typer.BadParameter(f"「{value}」: {exc.reason}") from None
    if not time_text.strip():
        return datetime.combine(day, time())
    m = _TIME.match(time_text.strip())
    if m is None:
        raise typer.BadParameter(f"「{value}」: 時刻は HH:MM か HH:MM:SS で書いてください")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    micro = int((m.group(4) or "0").ljust(6, "0"))
    if h > 23 or mi > 59 or s > 59:
        raise typer.BadParameter(f"「{value}」: 存在しない時刻です")
    return datetime.combine(day, time(h, mi, s, micro))


DATE_FORMS = "2026-12-05, 2026/12/5, 20261205, R8.12.5"


def date_option(default: Any, *names: str, help: str | None = None, **kw: Any) -> Any:
    """A ``typer.Option`` for a date (annotate the parameter ``date`` or ``Optional[date]``)."""
    return typer.Option(default, *names, parser=parse_date_option, metavar="DATE",
                        help=f"{help} ({DATE_FORMS})" if help else f"({DATE_FORMS})", **kw)


def datetime_option(default: Any, *names: str, help: str | None = None, **kw: Any) -> Any:
    """A ``typer.Option`` for a date with an optional time of day (annotate ``datetime`` / ``Optional[datetime]``)."""
    return typer.Option(default, *names, parser=parse_datetime_option, metavar="DATETIME", help=help, **kw)


def checked(validate: Callable[[str], Any]) -> Callable[[str], Any]:
    """A Typer ``parser`` from a validating function (``onshi.numbers.*.validate`` and the like): a ``ValueError``
    becomes Typer's refusal of the option, naming the value and the reason."""

    def parse(value: str) -> Any:
        try:
            return validate(value)
        except ValueError as exc:
            reason = getattr(exc, "message", None) or getattr(exc, "reason", None) or str(exc)
            raise typer.BadParameter(f"「{value}」: {reason}") from None

    return parse


_ERR = Console(stderr=True)


def progress_bar() -> Progress:
    """A progress bar on stderr — only on a terminal: piped or logged, the command's stderr stays its errors."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=_ERR, transient=False, disable=not _ERR.is_terminal)
