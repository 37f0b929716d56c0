"""``onshi demo traffic`` — synthetic verification logs and claim counts, so the dashboards show something real.

For every prefecture the simulator keeps five demo institutions (a hospital, two 医科診療所, a 歯科 and a 薬局;
医療機関コード with 郡市区番号 90, created on first use) and, for each month, draws patients, their visits, their
insurer and whether they used a マイナ保険証.  The card share follows the seeds' trajectory — about 5% at the
start and about 30% a year later (seed 000: 4.87% → 19.10% → 30.50%; seed 003: prefectures and facility types
differ) — as a logistic curve ``0.6 / (1 + exp(-2.4 (t - 1)))`` in years, scaled per prefecture (the top five of
seed 003's ranking higher, the bottom lower), per facility type (病院 and 歯科 above 医科診療所 and 薬局, as in
seed 003) and per institution (a log-normal spread, for the distribution chart).

Claim counts: one レセプト per patient and institution and month (plus a few patients who were never checked
online), as institution totals and as 協会けんぽ's share per branch insurer number.

The same ``--months``, ``--until`` and ``--seed`` give the same data; running again first removes what the
simulator wrote for those months (only for its own institutions), so nothing doubles.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from onshi.numbers import institution_code, insurer_number
from onshi.store.clock import japan_today
from onshi.numbers.prefectures import PREFECTURES
from onshi.rules.calendar import add_months, month_bounds, month_key, month_range, parse_month_key

#: (点数表番号, facility type, name suffix, patients per month at scale 1)
TRAFFIC_FACILITIES = [
    ("1", "hospital", "デモ総合病院", 420),
    ("1", "clinic", "デモ内科クリニック", 160),
    ("1", "clinic", "デモ整形外科", 130),
    ("3", "dental", "デモ歯科医院", 80),
    ("4", "pharmacy", "デモ薬局", 220),
]
#: Card use relative to the national curve, by facility type (seed 003, May 2024: 病院 14.8%, 歯科 11.9%,
#: 薬局 7.4%, 医科診療所 6.4% against 7.73% overall), scaled so that the volume-weighted mean is about 1.
FACILITY_FACTOR = {"hospital": 1.55, "dental": 1.3, "pharmacy": 0.85, "clinic": 0.8}
#: Seed 003's top five (鹿児島, 富山, 石川, 福井, 鳥取 …) and some of its bottom prefectures.
HIGH_PREFECTURES = {"46": 1.45, "16": 1.4, "17": 1.35, "18": 1.35, "31": 1.3}
LOW_PREFECTURES = {"47": 0.6, "27": 0.75, "14": 0.8, "13": 0.85, "11": 0.8}
KYOKAI_SHARE = 0.4
KUMIAI_SHARE = 0.3  # the rest: 国民健康保険 of the prefecture


def curve(years: float) -> float:
    """The national card share after ``years`` (0 → about 5%, 1 → 30%, levelling off towards 60%).

    >>> round(curve(0), 3), round(curve(1), 3)
    (0.05, 0.3)
    """
    return 0.6 / (1 + math.exp(-math.log(11) * (years - 1)))


def kyokai_number(pref: str) -> str:
    """協会けんぽ's insurer number of a 支部: 01 + prefecture + 001 + check digit."""
    return "01" + pref + "001" + insurer_number.calc_check_digit("01" + pref + "001")


def kokuho_number(pref: str) -> str:
    """A 市町村国保 insurer number (six digits) of the prefecture's first municipality."""
    return pref + "001" + insurer_number.calc_check_digit(pref + "001")


KUMIAI_NUMBER = "06139992"  # the demo 健康保険組合


def traffic_institutions() -> list[tuple[str, str, str, str]]:
    """(医療機関コード, name, prefecture code, facility type) of every simulated institution."""
    out = []
    for pref, pref_name in PREFECTURES.items():
        for i, (kind, ftype, suffix, _v) in enumerate(TRAFFIC_FACILITIES):
            body = f"{pref}{kind}90{i + 1:04d}"
            out.append((body + institution_code.calc_check_digit(body), f"{pref_name.rstrip('都道府県')}{suffix}",
                        pref, ftype))
    return out


def _months_until(until: str, months: int) -> list[str]:
    """The *months* months ending with *until* (``YYYY-MM``), oldest first."""
    return month_range(month_key(add_months(parse_month_key(until), 1 - months)), until)


@dataclass
class TrafficReport:
    months: list[str]
    institutions: int
    verifications: int
    claim_rows: int


def simulate_traffic(session: Session, *, months: int = 12, until: str | None = None, seed: int = 7,
                     scale: float = 1.0, progress: Callable[[int, int], None] | None = None) -> TrafficReport:
    """Write ``months`` months of verification log and claim counts ending with ``until`` (YYYY-MM; default the
    last complete month in Japan time)."""
    from onshi.analytics.models import ClaimCount
    from onshi.verify.models import Institution, VerificationLogEntry
    from onshi.verify.service import add_institution

    if months < 1:
        raise ValueError("months must be at least 1")
    if until is None:
        today = japan_today()
        first = today.replace(day=1) - timedelta(days=1)
        until = f"{first.year:04d}-{first.month:02d}"
    month_list = _months_until(until, months)
    insts = traffic_institutions()
    codes = [c for c, *_ in insts]
    known = set(session.scalars(select(Institution.code).where(Institution.code.in_(codes))))
    for code, name, _pref, ftype in insts:
        if code not in known:
            add_institution(session, code=code, name=name, facility_type=ftype)
    lo, hi = month_bounds(month_list[0])[0], month_bounds(month_list[-1])[1]
    session.execute(delete(VerificationLogEntry).where(VerificationLogEntry.institution_code.in_(codes),
                                                       VerificationLogEntry.care_date >= lo,
                                                       VerificationLogEntry.care_date < hi))
    session.execute(delete(ClaimCount).where(ClaimCount.institution_code.in_(codes),
                                             ClaimCount.month.in_(month_list)))
    volume = {ftype: v for (_k, ftype, _s, v) in TRAFFIC_FACILITIES}
    pref_rng = random.Random(f"{seed}-prefectures")
    pref_factor = {p: HIGH_PREFECTURES.get(p) or LOW_PREFECTURES.get(p) or pref_rng.uniform(0.85, 1.2)
                   for p in PREFECTURES}
    inst_rng = random.Random(f"{seed}-institutions")
    inst_factor = {c: math.exp(inst_rng.gauss(0, 0.3)) for c in codes}
    # keep the volume-weighted national share on the curve: divide by the mean of the factors
    weight = {code: volume[ftype] for code, _n, _p, ftype in insts}
    mean = sum(weight[c] * pref_factor[p] * FACILITY_FACTOR[f] * inst_factor[c] for c, _n, p, f in insts) / sum(
        weight.values())
    total_steps = len(month_list) * len(insts)
    step = written = claim_rows = 0
    log_rows: list[dict] = []
    claim_list: list[dict] = []

    def flush() -> None:
        nonlocal log_rows
        if log_rows:
            session.execute(insert(VerificationLogEntry), log_rows)
            log_rows = []

    for mi, month in enumerate(month_list):
        national = curve(mi / 11)  # the twelfth month of a run is one year after the first
        start, end = month_bounds(month)
        days = (end - start).days
        for ii, (code, _name, pref, ftype) in enumerate(insts):
            rng = random.Random(f"{seed}-{month}-{code}")
            p = min(0.95, national * pref_factor[pref] * FACILITY_FACTOR[ftype] * inst_factor[code] / mean)
            n_patients = max(3, int(volume[ftype] * scale * rng.uniform(0.8, 1.2)))
            claims = {("outpatient", ""): 0, ("inpatient", ""): 0, ("outpatient", kyokai_number(pref)): 0}
            for k in range(n_patients):
                u = rng.random()
                insurer = (kyokai_number(pref) if u < KYOKAI_SHARE else
                           KUMIAI_NUMBER if u < KYOKAI_SHARE + KUMIAI_SHARE else kokuho_number(pref))
                setting = "inpatient" if ftype == "hospital" and rng.random() < 0.12 else "outpatient"
                claims[(setting, "")] += 1
                if insurer == kyokai_number(pref) and setting == "outpatient":
                    claims[(setting, insurer)] += 1
                if rng.random() < 0.04:  # seen without an online check (e.g. paper 資格確認書 read by eye)
                    continue
                uses_card = rng.random() < p
                key = hashlib.blake2b(f"{seed}{code}{month}{k}".encode(), digest_size=16).hexdigest()
                for _visit in range(1 + (rng.random() < 0.3)):
                    care = start + timedelta(days=rng.randrange(days))
                    occurred = datetime(care.year, care.month, care.day, 0, 0) + timedelta(
                        minutes=rng.randrange(0, 9 * 60))  # 09:00–18:00 JST is 00:00–09:00 UTC
                    v = rng.random()
                    validity = 1 if v < 0.93 else 2 if v < 0.96 else 3 if v < 0.98 else 4
                    log_rows.append({"occurred_at": occurred, "care_date": care, "institution_code": code,
                                     "prefecture_code": pref, "facility_type": ftype,
                                     "method": "card" if uses_card else "numbers", "validity": validity,
                                     "insurer_number": insurer if validity != 4 else None, "setting": setting,
                                     "patient_key": key if validity != 4 else None})
                    written += 1
            for (setting, ins), n in claims.items():
                if n:
                    claim_list.append({"institution_code": code, "month": month, "setting": setting,
                                       "insurer_number": ins, "claims": n, "source_file": "demo-traffic"})
            if len(log_rows) >= 20_000:
                flush()
            step += 1
            if progress:
                progress(step, total_steps)
    flush()
    if claim_list:
        session.execute(insert(ClaimCount), claim_list)
        claim_rows = len(claim_list)
    session.flush()
    return TrafficReport(month_list, len(insts), written, claim_rows)
