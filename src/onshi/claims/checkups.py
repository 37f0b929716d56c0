"""特定健診の実施率: the denominator from the registry and the results imported from CSV.

Denominator (:func:`checkup_denominator`): the insurer's people of 特定健診 age in the fiscal year (reach 40 and
have not reached 75 by 31 March — :func:`onshi.rules.claims.checkup_target`) who were insured from its first day
through its last on one qualification (:func:`onshi.rules.claims.enrolled_through`), members (被保険者) and
dependents (被扶養者) apart.  Numerator: those of them with a result dated in the fiscal year.

Results file (UTF-8 or CP932): ``insurer_number,symbol,number,branch,birth_date,checkup_date`` and any further
columns kept as the result's values (``bmi``, ``hba1c`` …).  A row is applied or rejected with its reason (unknown
insurer or numbers, two people, a date outside 2008-04 … today); the same result twice is a duplicate.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError

from onshi.claims.models import CheckupResult
from onshi.numbers import insured_card
from onshi.numbers import insurer_number as ins_number
from onshi.registry import service as registry
from onshi.registry.models import Role
from onshi.rules.calendar import fiscal_year_bounds, fiscal_year_of
from onshi.rules.claims import checkup_target, enrolled_through
from onshi.store.clock import japan_today

REQUIRED = ("insurer_number", "symbol", "number", "branch", "birth_date", "checkup_date")


def checkup_denominator(session: Session, insurer_ids: list[int], fiscal_year: int) -> dict[str, set[int]]:
    """``{"insured": {person ids}, "dependent": {person ids}}`` of the 特定健診 denominator."""
    births = {qid: birth for _i, _s, _n, _b, birth, _p, qid in registry.numbers_of_insurers(session, insurer_ids)}
    out: dict[str, set[int]] = {"insured": set(), "dependent": set()}
    start = fiscal_year_bounds(fiscal_year)[0]
    for ins in insurer_ids:
        for v in registry.qualification_versions(session, insurer_id=ins, about_day=start):
            birth = births.get(v.qualification_id)
            if birth is None:
                continue
            loss = registry.effective_loss_date(v, birth)
            if enrolled_through(v.acquisition_date, loss, fiscal_year) and checkup_target(birth, fiscal_year):
                out["dependent" if v.role == Role.dependent else "insured"].add(v.person_id)
    return out


def checkup_rate(session: Session, insurer_ids: list[int], fiscal_year: int, role: str | None = None) -> float | None:
    """特定健診 実施率 in % (*role* ``insured`` / ``dependent`` / None for both); None with an empty denominator."""
    return checkup_rates(session, insurer_ids, fiscal_year)[role]


def checkup_rates(session: Session, insurer_ids: list[int], fiscal_year: int,
                  denominator: dict[str, set[int]] | None = None) -> dict[str | None, float | None]:
    """The three rates of :func:`checkup_rate` (``None``: both, ``insured``, ``dependent``) from one pass over the
    registry — the denominator is the costly part, and the KPI sheet shows two of them per fiscal year.  A caller
    that also shows the denominator passes it in."""
    den = denominator if denominator is not None else checkup_denominator(session, insurer_ids, fiscal_year)
    done = set(session.scalars(select(CheckupResult.person_id).where(
        CheckupResult.fiscal_year == fiscal_year, CheckupResult.insurer_id.in_(insurer_ids))))
    out: dict[str | None, float | None] = {}
    for role, people in ((None, den["insured"] | den["dependent"]), ("insured", den["insured"]),
                         ("dependent", den["dependent"])):
        out[role] = round(100 * len(people & done) / len(people), 2) if people else None
    return out


@dataclass
class CheckupImportReport:
    filename: str
    rows: int = 0
    applied: int = 0
    duplicate: int = 0
    errors: list[tuple[int, str, str, str]] = field(default_factory=list)  # (row, column, value, reason)


def import_checkup_results(session: Session, path: Path | str, *, today: date | None = None) -> CheckupImportReport:
    """Apply a results file (see the module's docstring): each row applied, a duplicate, or rejected with why."""
    from onshi.registry.intake import decode_text

    path = Path(path)
    today = today or japan_today()
    text, _enc = decode_text(path.read_bytes())
    reader = csv.DictReader(text.splitlines())
    report = CheckupImportReport(path.name)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        report.errors.append((1, ",".join(missing), "", "見出し行に列がありません (missing columns)"))
        return report
    insurers = {i.number: i for i in registry.list_insurers(session)}
    people: dict[tuple, set[int]] = defaultdict(set)
    for ins_id, symbol, number, branch, birth, pid, _q in registry.numbers_of_insurers(
            session, [i.id for i in insurers.values()]):
        people[(ins_id, symbol, number, branch, birth)].add(pid)
    have = {(p, d) for p, d in session.execute(select(CheckupResult.person_id, CheckupResult.checkup_date))}
    for n, r in enumerate(reader, start=2):
        report.rows += 1
        try:
            ins = insurers.get(ins_number.validate(r["insurer_number"]))
            if ins is None:
                raise ValueError("insurer_number", "onshi に登録されていない保険者です (unknown insurer)")
            key = (ins.id, insured_card.compact_symbol(r["symbol"]), insured_card.compact_number(r["number"]),
                   insured_card.compact_branch(r["branch"]), date.fromisoformat(r["birth_date"].strip()))
            on = date.fromisoformat(r["checkup_date"].strip())
            if not date(2008, 4, 1) <= on <= today:
                raise ValueError("checkup_date", "健診日は 2008-04-01 から今日までです (date out of range)")
        except ValidationError as exc:
            report.errors.append((n, "numbers", "", str(exc)))
            continue
        except ValueError as exc:
            col, why = exc.args if len(exc.args) == 2 else ("birth_date/checkup_date",
                                                            "日付は YYYY-MM-DD で書いてください (date)")
            report.errors.append((n, col, r.get(col, ""), why))
            continue
        found = people.get(key, set())
        if len(found) != 1:
            report.errors.append((n, "number", r["number"], "記号・番号・枝番と生年月日に合う加入者がいません "
                                  "(unknown numbers)" if not found else "2人以上に当てはまります (matches two members)"))
            continue
        pid = next(iter(found))
        if (pid, on) in have:
            report.duplicate += 1
            continue
        values = {k: v for k, v in r.items() if k not in REQUIRED and k and v}
        session.add(CheckupResult(person_id=pid, insurer_id=ins.id, checkup_date=on, fiscal_year=fiscal_year_of(on),
                                  values=values, source_file=path.name[:300]))
        have.add((pid, on))
        report.applied += 1
    session.flush()
    return report
