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
                                SandboxPerson, acquisition_date, card_expiry, institution_code, kind_institutions,
                                loss_date, month_start, my_number, outage_csv, outage_records)
from onshi.demo.seed import DEMO_INSURERS, Population, write_files
from onshi.registry.models import NotificationType as T
from onshi.store.clock import utcnow
from onshi.store.db import unit_of_work

STATE_FILE = "sandbox.json"
OUTAGE_FILE = "outage-example.csv"  #: the outage list, written beside the intake folder


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
    from onshi.demo.outage import national_list_csv, record_and_check
    from onshi.demo.transition import ensure_kind_institutions
    from onshi.documents import national_lists
    from onshi.exchange import linkage
    from onshi.exchange.cards import SMARTPHONE, get_card, register_card
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
            if p.phone and get_card(s, p.phone) is None:  # the smartphone's certificate, beside the card
                register_card(s, my_number=my_number(p.serial), certificate_serial=p.phone,
                              certificate_expires_on=card_expiry(p, today), kind=SMARTPHONE)
        doubtful = [p for p in PEOPLE if p.event == "linkage"]
        linkage.import_extract(s, _resident_extract(doubtful, today), "sandbox-resident-extract.csv")
        code = institution_code()
        if institution_by_code(s, code) is None:
            add_institution(s, code=code, name=INSTITUTION_NAME, facility_type="clinic", token=INSTITUTION_TOKEN)
        ensure_kind_institutions(s, [(c, name, "clinic", kind, token)
                                     for kind, (c, name, token) in kind_institutions().items()])
        listed = [p for p in PEOPLE if p.national_list]
        national_lists.import_list(s, national_list_csv([(p.insurer, p.symbol, p.number, p.branch, p.kana,
                                                          p.born.on(today).isoformat(), p.national_list)
                                                         for p in listed]),
                                   kind="ex_officio", month=today, filename="sandbox_ex_officio.csv", actor="sandbox")
        record_and_check(s, code, outage_records(today), actor="sandbox", today=today)
    files_dir.mkdir(parents=True, exist_ok=True)
    (files_dir.parent / OUTAGE_FILE).write_bytes(outage_csv(today))
    _import(engine, pending, files_dir / "filed-not-published")
    return BuiltSandbox(today, institution_code(), INSTITUTION_TOKEN, rebuilt=True)


def _empty(url: str) -> None:
    """Every row of every table gone (the schema kept): the sandbox's own database, before building it again."""
    from sqlalchemy import delete, text

    from onshi.store.db import Base, make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as c:  # every model is registered by now: migrating imported them all
            tables = list(reversed(Base.metadata.sorted_tables))
            if engine.dialect.name == "postgresql":
                c.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for t in tables:
                    c.execute(delete(t))
    finally:
        engine.dispose()


def ensure_sandbox(folder: Path, today: date, database_url: str | None = None) -> tuple[Engine, BuiltSandbox]:
    """The sandbox database in *folder* (SQLite ``sandbox.sqlite3`` unless *database_url*), built once per day.

    Returns its engine and what was built.  A PostgreSQL database given by URL must be empty (migrated here) or
    built by this folder's sandbox — on another day it is emptied and built again."""
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
        elif state.get("database_url") == url:
            # a database given by URL that this folder's sandbox built (another day, another catalogue): emptied,
            # so that the people are built again in their states for *today*
            migrate.upgrade(url)
            _empty(url)
    migrate.upgrade(url)
    engine = make_engine(url)
    if current:
        return engine, BuiltSandbox(today, institution_code(), INSTITUTION_TOKEN, rebuilt=False)
    built = build_sandbox(engine, folder / "intake", today)
    state_path.write_text(json.dumps({"built_on": today.isoformat(), "catalogue": CATALOGUE_VERSION,
                                      "database_url": url}))
    return engine, built
