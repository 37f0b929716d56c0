"""Every command of the README, run as printed on a fresh demo database (SQLite, in a folder of its own, as
`scripts/demo` builds it — fewer members and thinner traffic), each in its own process: it must end with the exit
code the README's conventions give (0 done; 1 for a list that reports something wrong), never with an error.

Commands that take a placeholder (FILE, CODE, …) run with the example files of docs/examples/; commands that
serve or wait forever (the server, the publisher loop, the terminal, the sandbox) are left out, and so is
`onshi demo seed --members 5000`, which builds another population of 5,000 (minutes) — each named below.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "docs" / "examples"

#: (the command as the README prints it, the arguments run when it has a placeholder, the exit codes allowed)
COMMANDS: list[tuple[str, list[str] | None, set[int]]] = [
    ("onshi db upgrade", None, {0}),
    ('onshi insurer add 06139984 "見本健康保険組合" --kind kumiai --phone 03-1234-5678 --hours "平日 8:30〜17:15"',
     None, {0}),
    ("onshi insurer update 06139992 --url https://www.example.jp/", None, {0}),
    ("onshi insurer list", None, {0}),
    ('onshi intake FILE --type acquisition --received-at "2026-11-20 09:30"',
     ["intake", str(EXAMPLES / "acquisition.csv"), "--type", "acquisition", "--received-at", "2026-11-20 09:30"],
     {0}),
    ("onshi quarantine list", None, {0, 1}),
    ("onshi quarantine fix 1 --set birth_date=1970-02-28", None, {0}),
    ("onshi member show --insurer 01130012 --symbol 10000001 --number 1", None, {0}),
    ('--name "厚労 太郎" --birth-date 1970-01-01',
     ["member", "show", "--name", "厚労 太郎", "--birth-date", "1970-01-01"], {0}),
    ('onshi member show --insurer 01130012 --symbol 10000001 --number 1 --as-of "2026-10-01 00:00:00" '
     '--on 2026-09-15', None, {0}),
    ("onshi exchange publish", None, {0}),
    ("onshi linkage import extract.csv", ["linkage", "import", "var/demo-work/linkage_extract.csv"], {0, 1}),
    ('onshi linkage clear 1 --reason "…" --user sato', None, {0}),
    ("onshi card register --serial S --expires 2029-05-31", None, {0}),
    ("onshi card cancel S --reason …", None, {0}),
    ("onshi exchange sla 01130012", None, {0, 1}),
    ("onshi linkage suspects", None, {0, 1}),
    ("onshi documents run --date 2026-11-24 [--insurer 01130012]",
     ["documents", "run", "--date", "2026-11-24", "--insurer", "01130012"], {0}),
    ("onshi documents mail 01130012 --run-name 2026-12 --issue 2026-12-01 [--since 2026-11-01]",
     ["documents", "mail", "01130012", "--run-name", "2026-12", "--issue", "2026-12-01", "--since", "2026-11-01"],
     {0}),
    ("onshi documents reprint 12 --out x.pdf", None, {0}),
    ("onshi documents apply QUALIFICATION_ID --reason card_lost --applicant 本人 --applied-on 2026-11-24",
     ["documents", "apply", "1", "--reason", "card_lost", "--applicant", "本人", "--applied-on", "2026-11-24"], {0}),
    ("onshi documents returns", None, {0, 1}),
    ("onshi documents sample --out samples/", None, {0}),
    ("onshi claims drugs", None, {0}),
    ("onshi claims import claims.csv", ["claims", "import", str(EXAMPLES / "claims.csv")], {0, 1}),
    ("onshi claims match --insurer 01130012 --month 2026-10", None, {0}),
    ("onshi claims refunds --insurer 01130012", None, {0}),
    ("onshi claims check --insurer 01130012 --month 2026-10", None, {0, 1}),
    ("onshi claims generic --fiscal-year 2026", None, {0}),
    ("onshi claims checkups rate --insurer 01130012 --fiscal-year 2026", None, {0}),
    ("onshi outage check FILE --institution CODE", ["outage", "check", "--institution", "1310000011"], {0, 1}),
    ("onshi outage apportionment --month 2026-12", None, {0}),
    ("onshi lists import FILE… --month 2026-12 [--kind ex-officio\\|cannot-use]",
     ["lists", "import", str(EXAMPLES / "ex_officio_list.csv"), "--month", "2026-12", "--kind", "ex-officio"],
     {0, 1}),
    ("onshi analytics ranking --month 2026-10", None, {0}),
    ("onshi analytics rates --basis kyokai --by month,branch", None, {0}),
    ("onshi analytics chart trend --out trend.png", None, {0}),
    ("onshi analytics export --out var/analytics/log", None, {0}),
]
#: in the README, not run here (and why)
NOT_RUN = {
    "onshi exchange publisher": "runs until stopped",
    "onshi terminal --dir OQS --institution 1310000011": "runs until stopped",
    "onshi demo seed --members 5000 --seed 42 [--write-files DIR]": "builds 5,000 more members (minutes)",
}


def _argv(printed: str) -> list[str]:
    import shlex

    return shlex.split(printed)[1:]


def test_every_command_is_in_the_readme_as_printed():
    for printed, _argv_, _codes in COMMANDS:
        assert printed in README, printed
    for printed in NOT_RUN:
        assert printed in README, printed
    # and every `onshi …` the README's clerk table prints is in one of the two lists
    table = README[README.index("| task | command |"):README.index("Notification files are CSV")]
    listed = [p for p, _a, _c in COMMANDS] + list(NOT_RUN)
    for cmd in re.findall(r"`(onshi [^`]+)`", table):
        assert any(cmd in p or p in cmd for p in listed), f"README command not walked: {cmd}"


def test_every_readme_command_runs_on_a_fresh_demo(fresh_demo, tmp_path):
    import shutil

    built, env = fresh_demo  # a copy of it: the commands change the demo, other tests read it as built
    folder = tmp_path / "demo"
    shutil.copytree(built, folder)
    env = dict(env, ONSHI_DATABASE_URL=f"sqlite:///{folder / 'demo.db'}", ONSHI_VAR_DIR=str(folder / "var"))
    failed = []
    hire = next(r for f in sorted((folder / "var" / "demo-work").glob("*_acquisition.csv"))
                for r in csv.DictReader(f.open(encoding="utf-8")) if r["my_number"])  # a hire without a card
    for printed, argv, codes in COMMANDS:
        args = argv if argv is not None else _argv(printed)
        stdin = hire["my_number"] + "\n" if args[:2] == ["card", "register"] else None  # piped, as the README says
        run = subprocess.run([sys.executable, "-m", "onshi", *args], cwd=folder, env=env, capture_output=True,
                             text=True, timeout=600, input=stdin)
        if run.returncode not in codes:
            failed.append(f"{printed}\n  exit {run.returncode}: {(run.stderr or run.stdout)[-600:]}")
    assert not failed, "\n".join(failed)
    assert (folder / "trend.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((folder / "samples").iterdir()) and (folder / "x.pdf").read_bytes()[:5] == b"%PDF-"
