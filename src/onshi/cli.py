"""The one command-line tool, ``onshi``.  Each domain adds its commands here.

Every error ends here, in :class:`OnshiGroup.main`: whatever a command raises, the person reads ONE line on stderr
(in Japanese: what is wrong and what to do) and the command exits with one of the codes of
:mod:`onshi.registry.cli_common` — never a traceback.  Unexpected errors and database errors also write their
traceback to a log file the line names (``ONSHI_DEBUG=1`` prints it on the terminal as well).  docs/cli.md has the
table of exit codes and the list of messages.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from onshi import __version__
from onshi.analytics.cli import register as register_analytics
from onshi.claims.cli import register as register_claims
from onshi.benefits.cli import register as register_benefits
from onshi.demo.cli import register as register_demo
from onshi.documents.cli import register as register_documents
from onshi.exchange.cli import register as register_exchange
from onshi.interop.oqs.cli import register as register_terminal
from onshi.outage.cli import register as register_outage
from onshi.privacy.cli import register as register_audit
from onshi.registry.cli import register as register_registry
from onshi.verify.cli import register as register_verify
from onshi.web.cli import register as register_web
from onshi.registry.cli_common import (EXIT_DATABASE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED,
                                       CliError)

PROG = "onshi"


# ---------------------------------------------------------------------------------------------------------------
# the log of errors a person should not have to read on the terminal


def log_path() -> Path:
    """Where tracebacks go: ``<ONSHI_VAR_DIR>/log/cli.log`` when the data folder exists, else the temp folder
    (an error must not create a data folder in whatever folder the command was run from)."""
    try:
        from onshi.config import get_settings

        var_dir = get_settings().var_dir
    except Exception:  # noqa: BLE001 - unreadable settings are reported by the caller; log somewhere anyway
        var_dir = None
    if var_dir is not None and var_dir.is_dir():
        return (var_dir / "log" / "cli.log").absolute()
    return Path(tempfile.gettempdir()) / f"onshi-cli-{os.getuid() if hasattr(os, 'getuid') else 'user'}.log"


def _log(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the traceback of *exc* to :func:`log_path`; returns the file, or None when it cannot be written."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        logger = logging.getLogger("onshi.cli.errors")
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.error("onshi %s failed\n%s", " ".join(argv),
                         "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
        finally:
            logger.removeHandler(handler)
            handler.close()
    except OSError:
        return None
    return path


# ---------------------------------------------------------------------------------------------------------------
# exceptions → one line


def one_line(text: str) -> str:
    """Line breaks (and the blanks around them) become " / "; the rest of the text is kept as written."""
    return re.sub(r"\s*[\r\n]+\s*", " / ", str(text).strip())


def _is(exc: BaseException, name: str) -> bool:
    """Whether *exc* is click's exception class *name* — by name, as Typer may carry its own copy of click."""
    return any(c.__name__ == name for c in type(exc).__mro__)


def _help_hint(ctx: Any) -> str:
    return f"（使い方: {ctx.command_path} --help）" if ctx is not None else f"（使い方: {PROG} --help）"


_CLICK_MESSAGES: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.S | re.I), r) for p, r in [
    (r"^'(.*)' is not a valid integer( range)?\.?$", "「\\1」は整数ではありません"),
    (r"^'(.*)' is not a valid (float|number)( range)?\.?$", "「\\1」は数ではありません"),
    (r"^'(.*)' is not one of (.*?)\.?$", "「\\1」は使えません（\\2 のどれか）"),
    (r"^'(.*)' is not a valid boolean\.?$", "「\\1」は yes / no ではありません"),
    (r"^(?:file|path|directory) '(.*)' does not exist\.?$", "ファイル「\\1」がありません"),
    (r"^(?:file|path) '(.*)' is a directory\.?$", "「\\1」はフォルダです（ファイルを指定してください）"),
    (r"^(?:file|path|directory) '(.*)' is not readable\.?$", "「\\1」を読めません（権限を確認してください）"),
    (r"^(?:directory|path) '(.*)' is a file\.?$", "「\\1」はファイルです（フォルダを指定してください）"),
    (r"^(.*) is not in the range (.*?)\.?$", "\\1 は範囲 \\2 の外です"),
    (r"^No such command '(.*?)'\.?(.*)$", "コマンド「\\1」はありません\\2"),
    (r"^Got unexpected extra arguments? \((.*)\)$", "余分な引数があります: \\1"),
    (r"^Input should be a valid integer.*$", "整数で書いてください"),
    (r"^Input should be a valid number.*$", "数で書いてください"),
    (r"^Input should be a valid boolean.*$", "yes / no で書いてください"),
]]


def _japanese(message: str) -> str:
    """Click's and Typer's English messages about a value, in Japanese (the ones a person meets; others as they
    are)."""
    message = re.sub(r"^(Value|Assertion) error, ", "", str(message).strip())
    for pattern, repl in _CLICK_MESSAGES:
        if pattern.match(message):
            return pattern.sub(repl, message).replace("Did you mean", "もしかして")
    return message


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", None) == "option"


def _param_name(param: Any) -> str:
    if param is None:
        return ""
    if _is_option(param):
        return "/".join(o for o in param.opts if o.startswith("--")) or param.opts[0]
    return str(getattr(param, "human_readable_name", None) or getattr(param, "name", None) or "").upper()


def _usage_line(exc: Any) -> str:
    """Typer's and click's usage errors in Japanese, naming the option (and the value where there is one)."""
    ctx = getattr(exc, "ctx", None)
    hint = getattr(exc, "param_hint", None)
    if _is(exc, "MissingParameter"):
        what = _param_name(exc.param) or (hint if isinstance(hint, str) else "")
        kind = "オプション" if _is_option(exc.param) else "引数"
        return f"{kind} {what} を指定してください{_help_hint(ctx)}"
    if _is(exc, "NoSuchOption"):
        near = f"（もしかして {', '.join(exc.possibilities)}）" if exc.possibilities else ""
        return f"オプション {exc.option_name} はありません{near}{_help_hint(ctx)}"
    if _is(exc, "BadParameter"):
        name = _param_name(exc.param) or (hint if isinstance(hint, str) else "")
        text = _japanese(exc.message)
        sep = " " if text.startswith("「") else ": "
        return f"{name}{sep}{text}{_help_hint(ctx)}" if name else f"{text}{_help_hint(ctx)}"
    if _is(exc, "BadOptionUsage"):
        return f"{exc.option_name}: {_japanese(exc.message)}{_help_hint(ctx)}"
    return f"{_japanese(exc.message)}{_help_hint(ctx)}"


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unreadable URL is shown as it was given
        return url


_SET_URL = "ONSHI_DATABASE_URL を確認してください"


def _database_line(exc: BaseException) -> str | None:
    """The one line for a database that is missing, not migrated, unreachable or refusing; None if *exc* is not
    about the database's existence or reachability."""
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from onshi.config import get_settings
    from onshi.store.db import DatabaseMissing

    if isinstance(exc, DatabaseMissing):
        return (f"データベース {exc.path} がありません — 作るなら `onshi db upgrade`（デモは `onshi demo run`）、"
                f"既にあるなら ONSHI_VAR_DIR（そのフォルダの onshi.sqlite3）か ONSHI_DATABASE_URL で指定してください")
    try:
        url = _safe_url(get_settings().resolved_database_url)
    except Exception:  # noqa: BLE001
        url = "ONSHI_DATABASE_URL"
    if isinstance(exc, (ArgumentError, NoSuchModuleError)) and "URL" in str(exc) or isinstance(exc, NoSuchModuleError):
        return f"データベースの URL「{url}」を読めません — {_SET_URL}（例: postgresql+psycopg://user@host:5432/onshi）"
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or ""
    text = str(orig)
    if code in ("42P01", "42703") or re.search(r"no such (table|column)|relation .* does not exist|"
                                               r"column .* does not exist|has no column named", text):
        return (f"データベース {url} の表が古いか、まだ作られていません — `onshi db upgrade` を実行してください")
    if code == "3D000" or re.search(r'database ".*" does not exist', text):
        name = re.search(r'database "(.*?)"', text)
        return (f"データベース {name.group(1) if name else url} がサーバーにありません — 作成して"
                f"（例: createdb {name.group(1) if name else 'onshi'}）`onshi db upgrade` を実行するか、{_SET_URL}")
    if code in ("28P01", "28000") or re.search(r"password authentication failed|role .* does not exist|"
                                               r"no password supplied", text):
        return f"データベース {url} にログインできません — ユーザーとパスワードについて {_SET_URL}"
    if code.startswith("08") or re.search(r"connection (refused|failed)|could not connect|timeout expired|"
                                          r"could not translate host|Name or service not known|server closed",
                                          text, re.I):
        return f"データベースサーバーに接続できません（{url}）— サーバーが動いているか、{_SET_URL}"
    if re.search(r"unable to open database file|readonly database|disk I/O error|file is not a database", text):
        return f"データベース {url} を開けません（{one_line(text)}）— ファイルと権限、または {_SET_URL}"
    return None


def _refusal_line(exc: BaseException) -> str | None:
    """A domain's refusal of what it was given: every domain error of onshi is a ``ValueError`` whose message
    names the value and why (stdnum's ValidationError, FieldError, RegistryError, IntakeFileError, CardError …)."""
    from onshi.rules.dated import NotInForce

    if isinstance(exc, UnicodeError):
        return f"文字コードを読めません（UTF-8 か Shift_JIS で保存してください）: {one_line(exc)}"
    if isinstance(exc, (ValueError, NotInForce)):
        message = getattr(exc, "message", None) or getattr(exc, "reason", None) or str(exc)
        return one_line(message)
    if isinstance(exc, FileNotFoundError):
        return f"ファイル「{exc.filename}」がありません"
    if isinstance(exc, PermissionError):
        return f"「{exc.filename}」を読み書きできません（権限を確認してください）"
    if isinstance(exc, IsADirectoryError):
        return f"「{exc.filename}」はフォルダです（ファイルを指定してください）"
    return None


def _say(line: str) -> None:
    """Print one line on stderr (plain text: no wrapping at the terminal's width, no markup)."""
    stream = sys.stderr
    try:
        stream.write(f"{PROG}: エラー: {one_line(line)}\n")
        stream.flush()
    except (OSError, ValueError):  # a closed stderr: nothing more to do
        pass


def _debug() -> bool:
    return os.environ.get("ONSHI_DEBUG", "") not in ("", "0")


def handle(exc: BaseException, argv: list[str]) -> int:
    """Report *exc* in one line and return the exit code (the whole table is in docs/cli.md)."""
    if _is(exc, "NoArgsIsHelpError"):
        return exc.exit_code  # the help was printed already
    if _is(exc, "UsageError"):
        _say(_usage_line(exc))
        return exc.exit_code
    if _is(exc, "ClickException"):  # FileError and the like
        _say(_japanese(exc.format_message()))
        return exc.exit_code if exc.exit_code != 1 else EXIT_REFUSED
    if isinstance(exc, typer.Abort) or _is(exc, "Abort"):
        _say("中断しました（入力がありません）")
        return EXIT_REFUSED if isinstance(exc.__context__, EOFError) else EXIT_INTERRUPTED
    if isinstance(exc, KeyboardInterrupt):
        _say("中断しました")
        return EXIT_INTERRUPTED
    if isinstance(exc, CliError):
        _say(exc.message)
        return exc.code
    if _debug():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    line = _database_line(exc)
    if line is not None:
        from onshi.store.db import DatabaseMissing

        where = None if isinstance(exc, DatabaseMissing) else _log(exc, argv)
        _say(line + (f"（詳細: {where}）" if where else ""))
        return EXIT_DATABASE
    line = _refusal_line(exc)
    if line is not None:
        _say(line)
        return EXIT_REFUSED
    where = _log(exc, argv)
    _say(f"予期しないエラーです（{type(exc).__name__}）— 詳細は {where or '（ログを書けませんでした）'} にあります。"
         f"ONSHI_DEBUG=1 を付けて実行すると画面にも出ます")
    return EXIT_INTERNAL


def guarded(run: Callable[[], Any], argv: list[str]) -> int:
    """Run the command line; every way out becomes an exit code."""
    try:
        rv = run()
    except SystemExit as exc:  # a command's own sys.exit
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_REFUSED)
    except typer.Exit as exc:
        return exc.exit_code
    except BaseException as exc:  # noqa: BLE001 - this is the one place where every error is reported
        try:
            return handle(exc, argv)
        except Exception as inner:  # noqa: BLE001 - the handler itself must not end in a traceback
            where = _log(inner, argv)
            _say(f"予期しないエラーです（{type(exc).__name__}）— 詳細は {where or '（ログを書けませんでした）'}")
            return EXIT_INTERNAL
    return rv if isinstance(rv, int) else EXIT_OK


class OnshiGroup(TyperGroup):
    """The top-level command group: click's ``main`` run non-standalone inside :func:`guarded`."""

    def main(self, args: Any = None, prog_name: Optional[str] = None, complete_var: Optional[str] = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        code = guarded(lambda: super(OnshiGroup, self).main(args=args, prog_name=prog_name or PROG,
                                                            complete_var=complete_var, standalone_mode=False,
                                                            **extra), argv)
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(cls=OnshiGroup, help="onshi — オンライン資格確認 and the insurer work around it.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"onshi {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """onshi — オンライン資格確認 and the insurer work around it.  Exit codes and error messages: docs/cli.md."""


register_registry(app)

# Every domain's commands, named explicitly: a command module that fails to import fails here, at start-up.
for _register in (register_demo, register_exchange, register_verify, register_terminal, register_documents,
                  register_analytics, register_web, register_audit, register_outage, register_benefits):
    _register(app)
register_claims(app)  # claims (レセプト): docs/claims.md


def main() -> None:
    """The console script and ``python -m onshi``."""
    app(prog_name=PROG)


if __name__ == "__main__":  # pragma: no cover
    main()
