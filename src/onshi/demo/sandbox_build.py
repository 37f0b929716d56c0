"""Build the sandbox database from :data:`onshi.demo.sandbox.PEOPLE` through the real code paths.

The people are written as the insurer's intake files (docs/intake.md) and imported with
:func:`onshi.registry.intake.import_file`; the publisher (:func:`onshi.exchange.publish.publish_all`) registers
them in the index; cards are registered with :func:`onshi.exchange.cards.register_card`; the person whose
linkage is in doubt gets a resident-registry extract that disagrees (:func:`onshi.exchange.linkage.import_extract`);
the institution is added with :func:`onshi.verify.service.add_institution`.  Only the person "filed but not
published" is imported after the publisher ran — and the sandbox server runs without the in-process publisher.

:func:`ensure_sandbox` makes this idempotent per day: the folder keeps ``sandbox.json`` (the build day and the
catalogue version); a sandbox built on another day or from another catalogue is rebuilt from scratch (its SQLite
file is removed), because several states are relative to the build day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.engine import Engine

from onshi.demo.sandbox import (ADDRESS, CATALOGUE_VERSION, EMPLOYERS, INSTITUTION_NAME, INSTITUTION_TOKEN, PEOPLE,
                                SandboxPerson, acquisition_date, card_expiry, institution_code, loss_date,
                                month_start, my_number)
from onshi.demo.seed import DEMO_INSURERS, Population, write_files
from onshi.registry.models import NotificationType as T
from onshi.store.clock import utcnow
from onshi.store.db import unit_of_work

STATE_FILE = "sandbox.json"


class SandboxError(RuntimeError):
    """The sandbox could not be built (a row of its own files was rejected, or the database is not its own)."""


@dataclass(frozen=True)
class BuiltSandbox:
    today: date
    institution_code: str
    token: str
    rebuilt: bool


def population(today: date) -> tuple[Population, Population]:
    """The intake rows: those registered now, and those filed but left unpublished."""
    registered, pending = Population(), Population()
    for insurer, symbol, name, postal, address in EMPLOYERS:
        registered.add(T.employer, insurer_number=insurer, employer_symbol=symbol, employer_name=name,
                       postal_code=postal, address=address, prefecture_code="13")
    for p in PEOPLE:
        if p.event == "not_filed":
            continue
        target = pending if p.event == "unpublished" else registered
        numbers = dict(insurer_number=p.insurer, employer_symbol=p.symbol, number=p.number, branch=p.branch)
        identity = dict(my_number=my_number(p.serial) if p.serial else "", name=p.name, name_kana=p.kana,
                        birth_date=p.born.on(today), sex=p.sex, postal_code=ADDRESS[0], address=ADDRESS[1])
        if p.is_dependent:
            member = next(m for m in PEOPLE if m.key == p.member)
            target.add(T.dependent, **numbers, **identity, change="add", loss_reason="",
                       effective_date=max(acquisition_date(member, today), p.born.on(today)))
        else:
            target.add(T.acquisition, **numbers, **identity, acquisition_date=acquisition_date(p, today),
                       monthly_remuneration=p.remuneration, card_classification="01", voluntary_continuation=0)
        if p.event == "loss":
            target.add(T.loss, **numbers, loss_date=loss_date(today), loss_reason="99")
        if p.event == "limit":
            target.add(T.limit_application, **numbers, application_date=month_start(today), tax_exempt=0,
                       low_income_1=0, income_exemption=0)
    return registered, pending


def _import(engine: Engine, pop: Population, folder: Path) -> None:
    from onshi.registry import intake

    for ntype, path in write_files(pop, folder):
        with unit_of_work(engine) as s:
            report = intake.import_file(s, path, ntype, received_at=utcnow().replace(microsecond=0),
                                        actor="sandbox")
        if report.rejected:
            raise SandboxError(f"{path.name}: {report.rejected} rows rejected: "
                               + "; ".join(str(e) for e in report.errors[:3]))


def _resident_extract(people: list[SandboxPerson], today: date) -> bytes:
    """The resident-registry rows for the linkage check: the registry's own values but a different name."""
    from onshi.exchange.linkage import EXTRACT_COLUMNS

    rows = [",".join(EXTRACT_COLUMNS)]
    for p in people:
        rows.append(",".join([my_number(p.serial), p.name.replace("待子", "真知子"), p.kana,
                              p.born.on(today).isoformat(), str(p.sex), ADDRESS[1]]))
    return ("\n".join(rows) + "\n").encode("utf-8")


def build_sandbox(engine: Engine, files_dir: Path, today: date) -> BuiltSandbox:
    """Fill an empty, migrated database with the sandbox population, registered as of *today*."""
    from onshi.exchange import linkage
    from onshi.exchange.cards import get_card, register_card
    from onshi.exchange.publish import publish_all
    from onshi.registry import service
    from onshi.verify.service import add_institution, institution_by_code

    with unit_of_work(engine) as s:
        if service.list_insurers(s):
            raise SandboxError("このデータベースには保険者が登録されています。サンドボックスは専用の空のデータベースに"
                               "だけ作ります — --database-url を外すか、空のデータベースを指定してください "
                               "(the sandbox builds only into an empty database of its own)")
        for number, name, kind, _pref in DEMO_INSURERS:
            service.add_insurer(s, number=number, name=name, kind=kind, prefecture_code="13",
                                settings={"certificate_validity_years": 5 if kind == "kyokai" else 2})
    registered, pending = population(today)
    _import(engine, registered, files_dir / "registered")
    publish_all(engine)
    with unit_of_work(engine) as s:
        for p in PEOPLE:
            if p.card and get_card(s, p.card) is None:
                register_card(s, my_number=my_number(p.serial), certificate_serial=p.card,
                              certificate_expires_on=card_expiry(p, today))
        doubtful = [p for p in PEOPLE if p.event == "linkage"]
        linkage.import_extract(s, _resident_extract(doubtful, today), "sandbox-resident-extract.csv")
        code = institution_code()
        if institution_by_code(s, code) is None:
            add_institution(s, code=code, name=INSTITUTION_NAME, facility_type="clinic", token=INSTITUTION_TOKEN)
    _import(engine, pending, files_dir / "filed-not-published")
    return BuiltSandbox(today, institution_code(), INSTITUTION_TOKEN, rebuilt=True)


def ensure_sandbox(folder: Path, today: date, database_url: str | None = None) -> tuple[Engine, BuiltSandbox]:
    """The sandbox database in *folder* (SQLite ``sandbox.sqlite3`` unless *database_url*), built once per day.

    Returns its engine and what was built.  A PostgreSQL database given by URL must be empty (migrated here) or
    built by this folder's sandbox on the same day."""
    from onshi.store import migrate
    from onshi.store.db import make_engine

    folder.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{(folder / 'sandbox.sqlite3').as_posix()}"
    state_path = folder / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    current = state == {"built_on": today.isoformat(), "catalogue": CATALOGUE_VERSION, "database_url": url}
    if not current:
        state_path.unlink(missing_ok=True)
        if database_url is None:  # only the folder's own file is ever removed, never a database given by URL
            (folder / "sandbox.sqlite3").unlink(missing_ok=True)
    migrate.upgrade(url)
    engine = make_engine(url)
    if current:
        return engine, BuiltSandbox(today, institution_code(), INSTITUTION_TOKEN, rebuilt=False)
    built = build_sandbox(engine, folder / "intake", today)
    state_path.write_text(json.dumps({"built_on": today.isoformat(), "catalogue": CATALOGUE_VERSION,
                                      "database_url": url}))
    return engine, built
