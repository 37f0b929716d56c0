"""The ``onshi`` command line, run as a person runs it: ``python -m onshi …`` in a subprocess, in a folder of its own.

Every error case ends in ONE line on stderr (``onshi: エラー: …``), never a traceback, with the exit code of
docs/cli.md: 0 ok, 1 found something wrong, 2 refused (what was typed), 3 database missing / not migrated /
unreachable, 4 unexpected (traceback in the log file the line names).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import onshi
from onshi.registry.cli_common import (EXIT_DATABASE, EXIT_FOUND, EXIT_INTERNAL, EXIT_REFUSED, parse_date_option,
                                       parse_datetime_option)
from onshi.registry.fields import FieldError, parse_date

SRC = Path(onshi.__file__).resolve().parent.parent
PG_HOST = os.environ.get("ONSHI_TEST_PG", "127.0.0.1:5432")
ACQUISITION = Path(__file__).resolve().parent.parent / "docs" / "examples" / "acquisition.csv"


def _env(var_dir: Path | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONSHI_")}
    for key in ("ONSHI_MY_NUMBER_KEY", "ONSHI_MY_NUMBER_HASH_KEY", "ONSHI_SESSION_SECRET"):
        env[key] = os.environ[key]  # set by conftest
    if var_dir is not None:
        env["ONSHI_VAR_DIR"] = str(var_dir)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "60"  # narrow: a message must not be wrapped onto a second line
    env.update(extra)
    return env


def onshi_cmd(*args: str, cwd: Path, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onshi", *args], cwd=cwd, env=env, input=stdin, text=True,
                          capture_output=True, timeout=120)


def one_line(res: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The run exited with *code* and said so in exactly one line on stderr, naming *words*, with no traceback."""
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("onshi: エラー: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder with a migrated SQLite database (made by `onshi db upgrade`) and one registered insurer."""
    cwd = tmp_path_factory.mktemp("cli")
    env = _env(cwd / "data")
    res = onshi_cmd("db", "upgrade", cwd=cwd, env=env)
    assert res.returncode == 0, res.stderr
    assert str((cwd / "data" / "onshi.sqlite3").resolve()) in res.stdout  # says where, as an absolute path
    res = onshi_cmd("insurer", "add", "01130012", "全国健康保険協会 東京支部", "--kind", "kyokai", cwd=cwd, env=env)
    assert res.returncode == 0, res.stderr
    return cwd, env


# --- version and entry points ---------------------------------------------------------------------------------

def test_version_and_python_dash_m(tmp_path):
    res = onshi_cmd("--version", cwd=tmp_path, env=_env(tmp_path / "v"))
    assert res.returncode == 0 and res.stdout.strip() == f"onshi {onshi.__version__}", res
    assert not (tmp_path / "v").exists()  # asking the version touches no data folder


# --- where the database lives ---------------------------------------------------------------------------------

@pytest.mark.parametrize("var_dir", ["set", "default"])
def test_missing_sqlite_is_refused_and_never_created(tmp_path, var_dir):
    elsewhere = tmp_path / "some" / "other" / "folder"
    elsewhere.mkdir(parents=True)
    data = tmp_path / "data" if var_dir == "set" else None
    env = _env(data)
    expected = (data or elsewhere / "var") / "onshi.sqlite3"
    for args in (["insurer", "list"], ["member", "show", "--insurer", "01130012", "--number", "1"],
                 ["quarantine", "list"], ["exchange", "sla", "01130012"], ["serve", "--port", "1"]):
        res = onshi_cmd(*args, cwd=elsewhere, env=env)
        one_line(res, EXIT_DATABASE, str(expected), "onshi db upgrade", "ONSHI_DATABASE_URL")
    assert not expected.exists()
    assert list(tmp_path.rglob("*.sqlite3")) == []


def test_db_upgrade_creates_the_file_where_it_says(tmp_path):
    env = _env(None)
    res = onshi_cmd("db", "upgrade", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "var" / "onshi.sqlite3").exists()
    assert str(tmp_path / "var" / "onshi.sqlite3") in res.stdout
    res = onshi_cmd("insurer", "list", cwd=tmp_path, env=env)
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_unmigrated_sqlite_says_run_db_upgrade(tmp_path):
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "onshi.sqlite3").close()  # an empty database file
    env = _env(tmp_path / "data")
    one_line(onshi_cmd("insurer", "list", cwd=tmp_path, env=env), EXIT_DATABASE, "onshi db upgrade")
    one_line(onshi_cmd("serve", "--port", "1", cwd=tmp_path, env=env), EXIT_DATABASE, "onshi db upgrade")


def test_not_a_database_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "onshi.sqlite3").write_text("not a database\n" * 100)
    one_line(onshi_cmd("insurer", "list", cwd=tmp_path, env=_env(tmp_path / "data")), EXIT_DATABASE,
             "onshi.sqlite3")


def _pg_reachable() -> bool:
    from sqlalchemy import text

    from onshi.store.db import make_engine

    try:
        eng = make_engine(f"postgresql+psycopg://postgres@{PG_HOST}/postgres", connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def test_postgres_database_that_does_not_exist(tmp_path):
    if not _pg_reachable():
        if os.environ.get("ONSHI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {PG_HOST} unreachable")
        pytest.skip(f"PostgreSQL at {PG_HOST} unreachable")
    name = f"onshi_missing_{uuid.uuid4().hex[:10]}"
    env = _env(tmp_path / "data", ONSHI_DATABASE_URL=f"postgresql+psycopg://postgres@{PG_HOST}/{name}")
    for args in (["insurer", "list"], ["db", "upgrade"], ["member", "show", "--name", "厚労 太郎", "--birth-date",
                                                          "1970-01-01"]):
        one_line(onshi_cmd(*args, cwd=tmp_path, env=env), EXIT_DATABASE, name, "onshi db upgrade")


def test_postgres_server_unreachable(tmp_path):
    env = _env(tmp_path / "data", ONSHI_DATABASE_URL="postgresql+psycopg://postgres:secret@127.0.0.1:1/onshi")
    for args in (["insurer", "list"], ["db", "upgrade"]):
        line = one_line(onshi_cmd(*args, cwd=tmp_path, env=env), EXIT_DATABASE, "接続できません", "127.0.0.1:1",
                        "ONSHI_DATABASE_URL")
        assert "secret" not in line  # the password is not printed


def test_unreadable_database_url(tmp_path):
    env = _env(tmp_path / "data", ONSHI_DATABASE_URL="nosuchdb://x/y")
    one_line(onshi_cmd("insurer", "list", cwd=tmp_path, env=env), EXIT_DATABASE, "ONSHI_DATABASE_URL")


# --- what a person typed --------------------------------------------------------------------------------------

BAD_BYTES = b"insurer_number,name\n01130012,\x82\xa0\xff\xfe\x80\n"


@pytest.mark.parametrize("args, code, words", [
    (["member", "show", "--insurer", "0113001", "--symbol", "1", "--number", "1"], EXIT_REFUSED,
     ["--insurer", "0113001", "8桁"]),
    (["member", "show", "--insurer", "01130013", "--number", "1"], EXIT_REFUSED, ["--insurer", "01130013"]),
    (["member", "show", "--name", "厚労 太郎"], EXIT_REFUSED, ["--birth-date"]),
    (["member", "show", "--birth-date", "1970-01-01"], EXIT_REFUSED, ["--name"]),
    (["member", "show", "--symbol", "1", "--number", "1"], EXIT_REFUSED, ["--insurer"]),
    (["member", "show"], EXIT_REFUSED, ["--insurer", "--name"]),
    (["member", "show", "--name", "厚労 太郎", "--birth-date", "1970-02-30"], EXIT_REFUSED,
     ["--birth-date", "1970-02-30"]),
    (["member", "show", "--name", "厚労 太郎", "--birth-date", "yesterday"], EXIT_REFUSED, ["--birth-date", "yesterday"]),
    (["member", "show", "--insurer", "01130012", "--number", "1", "--as-of", "2026-11-20 24:00"], EXIT_REFUSED,
     ["--as-of", "2026-11-20 24:00"]),
    (["member", "show", "--insurer", "01130012", "--number", "1"], EXIT_FOUND, ["該当者なし"]),
    (["member", "show", "--bogus"], EXIT_REFUSED, ["--bogus", "onshi member show --help"]),
    (["membr"], EXIT_REFUSED, ["membr"]),
    (["insurer", "add", "0113001", "x"], EXIT_REFUSED, ["保険者番号"]),
    (["employer", "list", "99999999"], EXIT_REFUSED, ["99999999"]),
    (["exchange", "sla", "99999999"], EXIT_REFUSED, ["99999999"]),
    (["exchange", "publish", "--insurer", "99999999"], EXIT_REFUSED, ["99999999"]),
    (["exchange", "sla", "01130012", "--today", "2026-13-01"], EXIT_REFUSED, ["--today", "2026-13-01"]),
    (["documents", "run", "--date", "2026-02-29"], EXIT_REFUSED, ["--date", "2026-02-29"]),
    (["documents", "run", "--date", "2026-11-24", "--insurer", "99999999"], EXIT_REFUSED, ["99999999"]),
    (["documents", "reprint", "999", "--out", "x.pdf"], EXIT_REFUSED, ["999"]),
    (["quarantine", "fix", "999", "--set", "name=x"], EXIT_REFUSED, ["999", "onshi quarantine list"]),
    (["quarantine", "fix", "999", "--set", "name"], EXIT_REFUSED, ["--set", "name"]),
    (["quarantine", "withdraw", "abc"], EXIT_REFUSED, ["ROW_ID"]),
    (["card", "cancel", "NOPE", "--reason", "x"], EXIT_REFUSED, []),
    (["intake", "missing.csv", "--type", "acquisition"], EXIT_REFUSED, ["missing.csv"]),
    (["intake", "bad.csv", "--type", "acquisition"], EXIT_REFUSED, ["bad.csv", "何も反映していません"]),
    (["intake", str(ACQUISITION), "--type", "nope"], EXIT_REFUSED, ["--type", "nope"]),
    (["intake", str(ACQUISITION), "--type", "acquisition", "--received-at", "2026-11-31 09:30"], EXIT_REFUSED,
     ["--received-at", "2026-11-31 09:30"]),
    (["intake", "."], EXIT_REFUSED, []),
    (["analytics", "rates", "--basis", "nope"], EXIT_REFUSED, ["nope"]),
    (["user", "add", "x", "--role", "nope", "--password", "long-enough-pw"], EXIT_REFUSED, ["役割", "nope"]),
    (["user", "unlock", "nobody"], EXIT_REFUSED, ["nobody", "いません"]),
    (["user", "passwd", "nobody", "--password", "long-enough-pw"], EXIT_REFUSED, ["nobody"]),
])
def test_typed_errors_are_one_line(migrated, args, code, words):
    cwd, env = migrated
    (cwd / "bad.csv").write_bytes(BAD_BYTES)
    one_line(onshi_cmd(*args, cwd=cwd, env=env), code, *words)


def test_a_prompt_without_input_is_refused(migrated):
    cwd, env = migrated
    res = onshi_cmd("card", "register", "--serial", "S1", "--expires", "2029-05-31", cwd=cwd, env=env, stdin="")
    assert res.returncode == EXIT_REFUSED and "Traceback" not in res.stderr, res.stderr
    # before it, Python's getpass warns that it cannot hide the input of a pipe; our own word is the last line
    assert res.stderr.splitlines()[-1].strip().startswith("onshi: エラー: "), res.stderr


def test_the_good_path_still_works(migrated):
    cwd, env = migrated
    res = onshi_cmd("member", "show", "--name", "厚労 太郎", "--birth-date", "1970/1/1", cwd=cwd, env=env)
    one_line(res, EXIT_FOUND, "該当者なし")  # the slashed form was read as a date: the search ran
    res = onshi_cmd("insurer", "list", cwd=cwd, env=env)
    assert res.returncode == 0 and "01130012" in res.stdout and res.stderr == ""


# --- unexpected errors ----------------------------------------------------------------------------------------

_BOOM = ("import onshi.registry.service as s\n"
         "def boom(*a, **k):\n    raise RuntimeError('boom in list_insurers')\n"
         "s.list_insurers = boom\n"
         "from onshi.cli import main\nmain()\n")


def test_an_unexpected_error_is_one_line_and_logged(migrated):
    cwd, env = migrated
    res = subprocess.run([sys.executable, "-c", _BOOM, "insurer", "list"], cwd=cwd, env=env, text=True,
                         capture_output=True, timeout=120)
    line = one_line(res, EXIT_INTERNAL, "RuntimeError", "ONSHI_DEBUG=1")
    log = cwd / "data" / "log" / "cli.log"
    assert str(log) in line
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "boom in list_insurers" in text and "insurer list" in text

    res = subprocess.run([sys.executable, "-c", _BOOM, "insurer", "list"], cwd=cwd, env={**env, "ONSHI_DEBUG": "1"},
                         text=True, capture_output=True, timeout=120)
    assert res.returncode == EXIT_INTERNAL and "Traceback" in res.stderr and "boom in list_insurers" in res.stderr


# --- help texts -----------------------------------------------------------------------------------------------

def _command_paths(command, path=()):
    yield list(path)
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


def test_every_help_renders():
    from onshi.cli import app

    paths = list(_command_paths(typer.main.get_command(app)))
    assert ["member", "show"] in paths and ["analytics", "kpi", "sheet"] in paths and len(paths) > 40
    runner = CliRunner()
    for path in paths:
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert res.exit_code == 0, (path, res.output, res.exception)
        assert "Usage" in res.output and "Error" not in res.output and "予期しない" not in res.output, (path, res.output)


def test_a_markup_error_in_help_would_be_caught():
    """The walk above would see a help text that rich cannot render (the handler reports it, exit 4)."""
    from onshi.cli import OnshiGroup

    bad = typer.Typer(cls=OnshiGroup)

    @bad.command()
    def one(x: str = typer.Option("", help="give [/--branch] too")) -> None:
        """A command."""

    @bad.command()
    def two() -> None:
        """Another."""

    res = CliRunner().invoke(bad, ["one", "--help"])
    assert res.exit_code != 0


# --- the date options: one parser, fields.parse_date ----------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=14), st.from_regex(r"\A[RHSTM]?\d{1,4}[./年-]\d{1,2}[./月-]\d{1,2}日?\Z"),
                 st.tuples(st.dates(), st.sampled_from(["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"])).map(
                     lambda t: t[0].strftime(t[1]))))
def test_date_options_accept_exactly_what_parse_date_accepts(text):
    try:
        expected = parse_date(text)
    except FieldError as exc:
        with pytest.raises(typer.BadParameter) as info:
            parse_date_option(text)
        assert f"「{text}」" in info.value.message and exc.reason in info.value.message
    else:
        assert parse_date_option(text) == expected
        assert parse_datetime_option(text).date() == expected


@pytest.mark.parametrize("text, hms", [("2026-11-20 09:30", (9, 30, 0)), ("2026-11-20T23:59:59", (23, 59, 59)),
                                       ("２０２６－１１－２０　０９：３０", (9, 30, 0)), ("2026-11-20", (0, 0, 0))])
def test_datetime_option_reads_a_time_of_day(text, hms):
    dt = parse_datetime_option(text)
    assert (dt.year, dt.month, dt.day) == (2026, 11, 20) and (dt.hour, dt.minute, dt.second) == hms


@pytest.mark.parametrize("text", ["2026-11-20 24:00", "2026-11-20 9", "2026-11-20 09:60", "2026-02-29 10:00"])
def test_datetime_option_refuses(text):
    with pytest.raises(typer.BadParameter):
        parse_datetime_option(text)


@pytest.mark.parametrize("text, ymd", [("T2/1/1", (1913, 1, 1)), ("T2.1.1 09:30", (1913, 1, 1)),
                                       ("2026-11-20T09:30", (2026, 11, 20))])
def test_taisho_letter_is_an_era_not_the_iso_time_separator(text, ymd):
    dt = parse_datetime_option(text)
    assert (dt.year, dt.month, dt.day) == ymd


# --- the sandbox (docs/sandbox.md) ----------------------------------------------------------------------------

def test_sandbox_catalogue_is_printed_as_the_docs_have_it(tmp_path):
    from onshi.demo.sandbox import catalogue_markdown

    res = onshi_cmd("sandbox", "--catalogue", cwd=tmp_path, env=_env(None))
    assert res.returncode == 0 and res.stdout == catalogue_markdown(), res.stderr


def test_sandbox_builds_once_in_its_own_folder_and_serves(tmp_path):
    import json
    import urllib.error
    import urllib.request

    env = _env(tmp_path / "data")
    res = onshi_cmd("sandbox", "--dir", "sbx", "--no-serve", cwd=tmp_path, env=env)
    assert res.returncode == 0 and "— built for" in res.stdout, res.stderr
    assert "onshi-sandbox-token-not-a-secret" in res.stdout and "/myclinic/onshi/kakunin" in res.stdout
    assert (tmp_path / "sbx" / "sandbox.sqlite3").exists() and not (tmp_path / "data").exists()
    res = onshi_cmd("sandbox", "--dir", "sbx", "--no-serve", cwd=tmp_path, env=env)
    assert res.returncode == 0 and "already built" in res.stdout, res.stderr
    proc = subprocess.Popen([sys.executable, "-m", "onshi", "sandbox", "--dir", "sbx", "--port", "0",
                             "--terminal-dir", "OQS"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any(line.startswith("URL ") for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        base = next(line.split()[1] for line in lines if line.startswith("URL ")).rstrip("/")
        commands = []
        while len(commands) < 6:
            line = proc.stdout.readline()
            if line.startswith("curl "):
                commands.append(line)
        body = commands[0].split(" -d '", 1)[1].rsplit("'", 1)[0]
        request = urllib.request.Request(f"{base}/api/v1/verifications/numbers", data=body.encode(), method="POST",
                                         headers={"Authorization": "Bearer onshi-sandbox-token-not-a-secret",
                                                  "Content-Type": "application/json"})
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    assert json.load(answer)["validity"] == 1
                break
            except urllib.error.URLError:
                import time

                time.sleep(0.1)
        else:
            raise AssertionError("the sandbox server did not answer")
        assert (tmp_path / "OQS" / "req").is_dir()  # the terminal folder is served
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sandbox_refuses_a_database_that_is_not_its_own(migrated, tmp_path):
    cwd, env = migrated
    url = f"sqlite:///{cwd / 'data' / 'onshi.sqlite3'}"
    res = onshi_cmd("sandbox", "--dir", str(tmp_path / "sbx"), "--database-url", url, "--no-serve", cwd=cwd, env=env)
    one_line(res, EXIT_REFUSED, "空のデータベース")
    assert (cwd / "data" / "onshi.sqlite3").exists()  # a database given by URL is never removed
