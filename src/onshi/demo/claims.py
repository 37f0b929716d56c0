"""Synthetic claims (デモのレセプト): a year of monthly claim files for the demo population and institutions, imported
through the real claim intake, then matched (返納金) and checked (資格点検, the last three months).

Deterministic for a seed and a last month.  Who: every qualification of the demo insurers valid in the month (the
registry, as the intake matches it).  Where: the demo institutions (:mod:`onshi.demo.institutions`) — the clinic and
the hospital (外来, sometimes 入院), the dental clinic (歯科) and the pharmacy (調剤).  What: 初診料/再診料 and a drug
mix from the bundled drug master (a brand that has a generic is dispensed as the generic ~80% of the time, as the
national quantity share; some brands have no generic).  A few claims after loss: someone whose qualification ended
goes on visiting the clinic with the old card the month after.  The co-pay ratio billed is the rules' ratio for the
age (a high earner aged 70–74 is billed 2割 where the registry says 3割 — the 資格点検 finds those).
"""

from __future__ import annotations

import csv
import random
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from onshi.claims import intake
from onshi.claims import service as claims
from onshi.demo.institutions import DEMO_INSTITUTIONS, demo_institution_codes
from onshi.registry import service as registry
from onshi.rules.calendar import add_months, month_bounds, month_key, month_range, previous_month
from onshi.rules.claims import yen_of_points
from onshi.rules.co_pay import NotCovered, co_pay_ratio
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work

#: (brand code, generic code or None): what a doctor prescribes; quantity per day and days
DRUGS = [("990000101", "990000102", 1), ("990000201", "990000202", 3), ("990000301", "990000302", 3),
         ("990000401", "990000402", 2), ("990000501", "990000502", 1), ("990000601", "990000602", 2),
         ("990000701", "990000702", 2), ("990000801", "990000802", 2), ("990000901", None, 1),
         ("990001001", None, 1), ("990001101", "990001102", 1)]
POINTS = {"990000101": 15, "990000102": 10, "990000201": 10, "990000202": 6, "990000301": 11, "990000302": 6,
          "990000401": 13, "990000402": 6, "990000501": 30, "990000502": 10, "990000601": 40, "990000602": 18,
          "990000701": 30, "990000702": 12, "990000801": 10, "990000802": 10, "990000901": 300, "990001001": 250,
          "990001101": 2, "990001102": 1}
PROCEDURES = {"first": ("111000110", "初診料", 291), "again": ("112007410", "再診料", 75),
              "stay": ("190077410", "入院基本料", 1650), "dental": ("301000110", "歯科初診料", 267),
              "dispense": ("120001210", "調剤基本料", 45)}


def _ratio(birth: date, day: date) -> int | None:
    try:
        return co_pay_ratio(birth_date=birth, on=day, member_monthly_remuneration=0).ratio_tenths
    except (NotCovered, ValueError):
        return None


def generate_rows(session: Session, *, seed: int, last_month: str, months: int = 12,
                  visit_rate: float = 0.3) -> dict[str, list[dict]]:
    """``{month: [claim CSV rows]}`` for *months* months ending with *last_month*."""
    rng = random.Random(seed)
    codes = demo_institution_codes()
    kinds = {code: ftype for code, (*_r, ftype) in zip(codes, DEMO_INSTITUTIONS)}
    insurers = {i.id: i.number for i in registry.list_insurers(session)}
    births = {qid: (sym, num, br, birth) for _i, sym, num, br, birth, _p, qid in
              registry.numbers_of_insurers(session, list(insurers))}
    versions = [v for v in registry.qualification_versions(session) if v.qualification_id in births]
    first = month_key(add_months(month_bounds(last_month)[0], -(months - 1)))
    out: dict[str, list[dict]] = {}
    for month in month_range(first, last_month):
        start, end = month_bounds(month)
        rows: list[dict] = []
        serial = {c: 0 for c in codes}
        for v in versions:
            sym, num, br, birth = births[v.qualification_id]
            loss = registry.effective_loss_date(v, birth)
            covered = v.acquisition_date < end and (loss is None or loss > start)
            after_loss = (loss is not None and (start <= loss < end or month_key(loss) == previous_month(month))
                          and rng.random() < 0.4)
            if not (covered and rng.random() < visit_rate) and not after_loss:
                continue
            lo = max(start, loss) if after_loss else max(start, v.acquisition_date)
            hi = end if after_loss else (min(end, loss) if loss else end)
            if hi <= lo:
                continue
            n_days = min(rng.choice([1, 1, 1, 2, 2, 3, 4]), (hi - lo).days)
            days = sorted(rng.sample(range(lo.day, lo.day + (hi - lo).days), n_days))
            ratio = _ratio(birth, date(start.year, start.month, days[0]))
            if ratio is None:
                continue
            code = rng.choices(codes, weights=[6, 3, 1, 2])[0] if not after_loss else codes[0]
            kind = kinds[code]
            setting = {"clinic": "outpatient", "hospital": "outpatient", "dental": "dental",
                       "pharmacy": "pharmacy"}[kind]
            if kind == "hospital" and rng.random() < 0.1:
                setting = "inpatient"
                s = rng.randint(lo.day, max(lo.day, lo.day + (hi - lo).days - 1))
                days = list(range(s, min(s + rng.randint(3, 10), lo.day + (hi - lo).days)))
            serial[code] += 1
            lines = []
            if setting == "dental":
                lines.append(("procedure", *PROCEDURES["dental"], 1))
            elif setting == "pharmacy":
                lines.append(("procedure", *PROCEDURES["dispense"], 1))
            elif setting == "inpatient":
                lines.append(("procedure", *PROCEDURES["stay"], len(days)))
            else:
                lines.append(("procedure", *PROCEDURES["first" if rng.random() < 0.3 else "again"], len(days)))
            if setting != "dental":
                for brand, generic, per_day in rng.sample(DRUGS, rng.randint(1, 3)):
                    drug = generic if generic and rng.random() < 0.8 else brand
                    supply = rng.choice([7, 14, 28])
                    lines.append(("drug", drug, "", POINTS[drug] * supply // 10 or 1, per_day * supply))
            points = sum(p if k == "drug" else p * q for k, _c, _n, p, q in lines)
            total = yen_of_points(points, start)
            share = (total * ratio // 10 + 5) // 10 * 10  # 10円未満四捨五入
            for i, (k, c, name, p, q) in enumerate(lines, start=1):
                rows.append({"institution_code": code, "month": month, "claim_number": str(serial[code]),
                             "setting": setting, "insurer_number": insurers[v.insurer_id], "symbol": sym,
                             "number": num, "branch": br, "birth_date": birth.isoformat(), "copay_ratio": ratio,
                             "care_days": ";".join(map(str, days)), "patient_share": share, "line_number": i,
                             "kind": k, "code": c, "name": name, "quantity": q,
                             "points": p if k == "drug" else p * q})
        out[month] = rows
    return out


def seed_claims(*, seed: int = 42, today: date | None = None, out_dir: Path | None = None, months: int = 12) -> dict:
    """Generate, write and import a year of claims (one file per month), then open the 返納金 cases and run the
    資格点検 of every month.  Idempotent: the same seed and day write the same files, which import as nothing new."""
    from onshi.config import get_settings

    today = today or japan_today()
    last = previous_month(month_key(today))
    out_dir = out_dir or (get_settings().var_dir / "demo-claims")
    out_dir.mkdir(parents=True, exist_ok=True)
    with unit_of_work() as s:
        intake.load_drug_master(s, intake.BUNDLED_DRUG_MASTER)
        by_month = generate_rows(s, seed=seed, last_month=last, months=months)
    totals = {"claims": 0, "lines": 0, "rejected": 0, "cases": 0, "findings": 0}
    for month, rows in by_month.items():
        if not rows:
            continue
        path = out_dir / f"claims-{month}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(intake.COLUMNS))
            w.writeheader()
            w.writerows(rows)
        with unit_of_work() as s:
            rep = intake.import_claims(s, path, actor="demo", today=today)
        totals["claims"] += rep.claims_applied
        totals["lines"] += rep.lines_applied
        totals["rejected"] += rep.rows_rejected
    with unit_of_work() as s:
        for ins in registry.list_insurers(s):
            for month in by_month:
                totals["cases"] += len(claims.match_care_after_loss(s, insurer_id=ins.id, month=month, today=today))
            for month in list(by_month)[-3:]:  # the 資格点検 lists of the last three months (the screens show them)
                totals["findings"] += len(claims.check_month(s, insurer_id=ins.id, month=month))
    return totals
