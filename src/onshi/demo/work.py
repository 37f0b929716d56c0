"""The day's work in the demo (デモの業務): filings received over the last weeks, so the back office has something to do.

Called once by :func:`onshi.demo.cli.ensure_demo`, after the population is imported and published; everything goes
through the real services (intake, the publisher with the time it ran, linkage, the daily run's return marking):

* **receipts spread over the last six weeks**, by employer: new hires filed on past business days — most
  registered the next day (on time), some a week late (遅延), a file eight business days old still waiting
  (期限超過), one due tomorrow or today (期限間近: received on the latest day, a business day where one fits,
  whose registration deadline is today or tomorrow — the deadline counts calendar days, so a fixed "four business
  days ago" is due soon only at the end of the week) and one received today;
* **certificates due today and tomorrow**: hires without a マイナ保険証 filed on the previous business day (the
  資格確認書 is due the next business day after receipt: today) and today (due tomorrow);
* **quarantined rows a clerk can fix**: a file with an impossible birth date (1970-02-30, fixed with
  ``onshi quarantine fix 1 --set birth_date=1970-02-28`` on a fresh demo — the README's example) and an
  unknown employer symbol;
* **linkage suspects**: a resident-registry extract in which three members' names and one address differ;
* **returns outstanding**: 資格確認書 issued weeks ago to members who have since left (their loss filed), marked
  due back by the same step as the daily run (``documents.service.mark_due_back``).

Deterministic for a seed and a day; idempotent (a second call finds ``state["work"]`` and does nothing; the intake
and the publisher would not double anything either).
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

from onshi.registry.intake import LAYOUTS
from onshi.registry.models import NotificationType as T
from onshi.rules.calendar import add_business_days
from onshi.store.clock import JST, frozen_at, japan_today, utcnow
from onshi.store.db import unit_of_work

#: (business days ago — DUE_SOON: see :func:`due_soon_receipt` —, hires, registered after how many days — None:
#: still waiting)
DUE_SOON = "due_soon"
RECEIPTS = [(30, 8, 1), (25, 6, 1), (20, 7, 9), (15, 8, 1), (12, 5, 8), (10, 6, 1), (8, 5, None), (6, 6, 1),
            (DUE_SOON, 5, None), (3, 6, 1), (1, 5, None), (0, 4, None)]


def due_soon_receipt(today: date) -> date:
    """The day a filing still waiting on *today* was received for it to be 期限間近 (its deadline today or tomorrow,
    :func:`onshi.exchange.sla.classify`): the latest such business day, else the latest such day (e-Gov filings
    arrive at weekends too)."""
    from onshi.rules.calendar import deadline_after_receipt, is_business_day

    days = [today - timedelta(days=n) for n in range(1, 15)]
    fits = [d for d in days if 0 <= (deadline_after_receipt(d) - today).days <= 1]
    if not fits:
        raise ValueError(f"no receipt day is due soon on {today}")
    return next((d for d in fits if is_business_day(d)), fits[0])


def _at(day: date, hour: int = 9, minute: int = 30) -> datetime:
    """``day`` at ``hour:minute`` in Japan (aware): the one clock is set to it while the demo does that day's work,
    so what is recorded is recorded then."""
    return datetime.combine(day, time(hour, minute), tzinfo=JST)


def _now() -> datetime:
    from onshi.store.clock import japan_now

    return japan_now()


def _write(path: Path, ntype: T, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(LAYOUTS[ntype]))
        w.writeheader()
        w.writerows([{k: ("" if r.get(k) is None else str(r[k])) for k in LAYOUTS[ntype]} for r in rows])
    return path


def _hire(rng: random.Random, fake, employer: tuple[str, str], number: int, joined: date, *, card: bool) -> dict:
    from onshi.demo.seed import REMUNERATION_GRADES, make_my_number

    sex = rng.choice((1, 2))
    last, last_kana, _ = fake.last_name_pair()
    first, first_kana, _ = fake.first_name_male_pair() if sex == 1 else fake.first_name_female_pair()
    born = date(rng.randint(1965, 2003), rng.randint(1, 12), rng.randint(1, 28))
    return {"insurer_number": employer[0], "employer_symbol": employer[1], "number": str(number), "branch": "00",
            "my_number": make_my_number(rng) if card else "", "name": f"{last}　{first}",
            "name_kana": f"{last_kana}　{first_kana}", "birth_date": born, "sex": sex, "postal_code": "105-0001",
            "address": f"東京都港区虎ノ門{rng.randint(1, 5)}-{rng.randint(1, 20)}-{rng.randint(1, 9)}",
            "acquisition_date": joined, "monthly_remuneration": rng.choice(REMUNERATION_GRADES[8:30]),
            "card_classification": "01", "voluntary_continuation": 0}


def ensure_work(state: dict, pop, *, seed: int = 42, today: date | None = None) -> dict:
    """Make the demo's work (module docstring) once; what was made is kept in ``state["work"]``."""
    if state.get("work"):
        return state["work"]
    from faker import Faker

    from onshi.config import get_settings
    from onshi.exchange.publish import publish_batch
    from onshi.registry import intake
    from onshi.registry import service as registry

    today = today or japan_today()
    rng = random.Random(f"{seed}-work")
    fake = Faker("ja_JP")
    fake.seed_instance(seed + 1)
    out = get_settings().var_dir / "demo-work"
    with unit_of_work() as s:
        employers = [(ins.number, e.symbol) for ins in registry.list_insurers(s)
                     for e in registry.list_employers(s, insurer_id=ins.id)]
    done: dict = {"files": [], "quarantined": 0, "suspects": 0, "returns": 0}
    waiting: list[tuple[Path, datetime]] = []
    certified: list[dict] = []  # hires without a card, registered: they get a 資格確認書 the next business day
    number = 5000
    for ago, hires, registered_after in RECEIPTS:
        received = due_soon_receipt(today) if ago == DUE_SOON else add_business_days(today, -ago)
        rows = []
        for _ in range(hires):
            number += 1
            employer = employers[rng.randrange(len(employers))]
            rows.append(_hire(rng, fake, employer, number, received - timedelta(days=rng.randint(0, 4)),
                              card=rng.random() < 0.5))
        tag = "_due_soon" if ago == DUE_SOON else ""  # its day may be another receipt's (three business days ago)
        path = _write(out / f"{received:%Y%m%d}{tag}_acquisition.csv", T.acquisition, rows)
        if registered_after is None:  # imported last, so that no publication below registers it
            waiting.append((path, _at(received)))
            continue
        with frozen_at(_at(received)), unit_of_work() as s:
            intake.import_file(s, path, T.acquisition, received_at=utcnow(), actor="demo")
        # the publisher ran that day (or, for a late one, days later)
        with frozen_at(_at(received + timedelta(days=registered_after), 17, 0)), unit_of_work() as s:
            while publish_batch(s):
                pass
        done["files"].append(path.name)
        if ago != DUE_SOON and ago >= 12:
            certified += [r for r in rows if not r["my_number"]]
    done["returns"] = _returns(out, certified, today)
    for path, received_at in waiting:
        with frozen_at(min(received_at, _now())), unit_of_work() as s:
            intake.import_file(s, path, T.acquisition, received_at=utcnow(), actor="demo")
        done["files"].append(path.name)
    done["quarantined"] = _quarantine(out, employers, today)
    done["suspects"] = _suspects(out, pop)
    state["work"] = done
    return done


def _quarantine(out: Path, employers: list[tuple[str, str]], today: date) -> int:
    """A file of three new hires received today: one with 1970-02-30 as birth date, one with an employer symbol
    nobody registered — quarantined with row, column, value and reason — and one that is fine."""
    from faker import Faker

    from onshi.registry import intake

    rng = random.Random("quarantine")
    fake = Faker("ja_JP")
    fake.seed_instance(3)
    first = employers[0]
    good = _hire(rng, fake, first, 4901, today - timedelta(days=3), card=True)
    bad_date = dict(_hire(rng, fake, first, 4902, today - timedelta(days=3), card=True), birth_date="1970-02-30")
    bad_symbol = dict(_hire(rng, fake, first, 4903, today - timedelta(days=3), card=True), employer_symbol="99999999")
    path = _write(out / "quarantine_acquisition.csv", T.acquisition, [bad_date, bad_symbol, good])
    with unit_of_work() as s:
        report = intake.import_file(s, path, T.acquisition, received_at=utcnow(), actor="demo")
    return report.rejected


def _suspects(out: Path, pop) -> int:
    """A resident-registry extract of twelve members of the demo population in which the registry disagrees
    with three names and one address: linkage suspects (紐付け確認) for the clerk to clear or correct."""
    from onshi.exchange import linkage

    changed = {(r["insurer_number"], r["employer_symbol"], r["number"]) for t in (T.name_change, T.address_change,
                                                                                  T.loss)
               for r in pop.files[t]}
    people = [r for r in pop.files[T.acquisition][3:] if r["my_number"]
              and (r["insurer_number"], r["employer_symbol"], r["number"]) not in changed][:12]
    rows = []
    for i, r in enumerate(people):
        name, address = r["name"], r["address"]
        if i < 3:  # a character the registry typed differently
            name = name[:-1] + ("子" if not name.endswith("子") else "美")
        elif i == 3:  # moved, and the employer never filed the address change
            address = "大阪府大阪市北区梅田1-1-1"
        rows.append({"my_number": r["my_number"], "name": name, "name_kana": r["name_kana"],
                     "birth_date": r["birth_date"], "sex": r["sex"], "address": address})
    path = out / "linkage_extract.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=linkage.EXTRACT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with unit_of_work() as s:
        report = linkage.import_extract(s, path.read_bytes(), path.name)
    return report.mismatched


def _returns(out: Path, certified: list[dict], today: date) -> int:
    """The daily runs of the past weeks issue the hires' 資格確認書; two of those hires then leave (their loss
    filed a week ago, registered the next day): their certificates are due back (返納), and outstanding."""
    from onshi.documents import service as documents
    from onshi.exchange.publish import publish_batch
    from onshi.registry import intake

    docs = out / "documents"
    for ago in range(29, 0, -1):  # the daily run of every business day up to yesterday
        day = add_business_days(today, -ago)
        with frozen_at(_at(day, 8, 0)), unit_of_work() as s:
            documents.daily_run(s, day, docs, actor="demo")
    leavers = certified[:2]
    if not leavers:
        return 0
    received = add_business_days(today, -5)
    path = _write(out / f"{received:%Y%m%d}_loss.csv", T.loss, [
        {"insurer_number": r["insurer_number"], "employer_symbol": r["employer_symbol"], "number": r["number"],
         "branch": "00", "loss_date": received - timedelta(days=2), "loss_reason": "99"} for r in leavers])
    with frozen_at(_at(received)), unit_of_work() as s:
        intake.import_file(s, path, T.loss, received_at=utcnow(), actor="demo")
    with frozen_at(_at(received + timedelta(days=1), 17, 0)), unit_of_work() as s:
        while publish_batch(s):
            pass
    with unit_of_work() as s:
        documents.mark_due_back(s, today)
        return len(documents.outstanding_returns(s))
