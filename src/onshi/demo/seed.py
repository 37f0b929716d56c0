"""Synthetic population (デモデータ) written as intake files and imported through the real intake path.

Deterministic for a given ``seed`` and ``today``.  The population makes every
rule appear: infants (未就学), 70–74s with 2割 and 3割, members about to turn 75,
dependents, retroactive losses recorded weeks late, job changes between
insurers (some with the old insurer's loss not filed yet), members without a
My Number, name and address changes, 標準報酬月額 revisions and 限度額 applications.
It also creates a few fixed showcase people used by the README's examples.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from faker import Faker
from stdnum.jp import in_ as stdnum_in

from onshi.registry.intake import LAYOUTS
from onshi.registry.models import NotificationType as T
from onshi.store.clock import japan_today

# 標準報酬月額 grades (健康保険, from 2016-04): a sample of the table.
REMUNERATION_GRADES = [58000, 68000, 78000, 88000, 98000, 104000, 110000, 118000, 126000, 134000, 142000, 150000,
                       160000, 170000, 180000, 190000, 200000, 220000, 240000, 260000, 280000, 300000, 320000,
                       340000, 360000, 380000, 410000, 440000, 470000, 500000, 530000, 560000, 590000, 620000,
                       650000, 680000, 710000, 750000, 790000, 830000, 880000, 930000, 980000, 1030000, 1090000,
                       1150000, 1210000, 1270000, 1330000, 1390000]

DEMO_INSURERS = [
    # number, name, kind, prefecture name
    ("01130012", "全国健康保険協会 東京支部", "kyokai", "東京都"),
    ("01040013", "全国健康保険協会 宮城支部", "kyokai", "宮城県"),
    ("06139992", "オンシ健康保険組合", "kumiai", "東京都"),
]

SHOWCASE = {
    # the README's examples: verification by numbers on the demo database
    "valid": {"insurer": "01130012", "symbol": "10000001", "number": "1", "branch": "00",
              "name": "厚労　太郎", "kana": "コウロウ　タロウ", "birth": date(1970, 1, 1), "sex": 1},
    "moved": {"insurer": "06139992", "symbol": "9001", "number": "77", "branch": "00",
              "name": "転職　花子", "kana": "テンショク　ハナコ", "birth": date(1985, 6, 15), "sex": 2},
    "moved_new": {"insurer": "01130012", "symbol": "10000001", "number": "2", "branch": "00"},
}


def add_years(d: date, years: int) -> date:
    """Same day *years* later (29 Feb → 1 Mar in a common year)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return date(d.year + years, 3, 1)


def make_my_number(rng: random.Random) -> str:
    body = "".join(str(rng.randint(0, 9)) for _ in range(11))
    return body + stdnum_in.calc_check_digit(body)


@dataclass
class Population:
    files: dict[T, list[dict]] = field(default_factory=lambda: {t: [] for t in LAYOUTS})
    received: dict[T, datetime] = field(default_factory=dict)

    def add(self, ntype: T, **row) -> None:
        self.files[ntype].append({k: ("" if row.get(k) is None else str(row.get(k))) for k in LAYOUTS[ntype]})


def _birthday_for_age(rng: random.Random, today: date, lo: int, hi: int) -> date:
    start = date(today.year - hi - 1, today.month, today.day) + timedelta(days=1)
    end = date(today.year - lo, today.month, today.day)
    return start + timedelta(days=rng.randrange(max((end - start).days, 1)))


def generate(members: int, seed: int, today: date | None = None) -> Population:
    """Build the population in memory (rows per notification file)."""
    from onshi.numbers.prefectures import PREFECTURE_CODES  # name -> code

    today = today or japan_today()
    rng = random.Random(seed)
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    pop = Population()

    employers: list[tuple[str, str, str]] = []  # (insurer, symbol, prefecture name)
    for ins_no, _name, kind, pref in DEMO_INSURERS:
        n_emp = max(2, members // (60 if kind == "kyokai" else 120))
        for i in range(n_emp):
            symbol = f"{10000001 + i}" if kind == "kyokai" else f"{9001 + i}"
            employers.append((ins_no, symbol, pref))
            pop.add(T.employer, insurer_number=ins_no, employer_symbol=symbol, employer_name=fake.company(),
                    postal_code=fake.zipcode(), address=f"{pref}{fake.city()}{fake.town()}{fake.chome()}{fake.ban()}",
                    prefecture_code=PREFECTURE_CODES[pref])
    next_number: dict[tuple[str, str], int] = {}

    def new_numbers(ins_no: str, symbol: str) -> str:
        key = (ins_no, symbol)
        next_number[key] = next_number.get(key, 100) + 1
        return str(next_number[key])

    def address(pref: str) -> tuple[str, str]:
        return fake.zipcode(), f"{pref}{fake.city()}{fake.town()}{fake.chome()}{fake.ban()}{fake.gou()}"

    # the showcase people
    sv, mv, mn = SHOWCASE["valid"], SHOWCASE["moved"], SHOWCASE["moved_new"]
    next_number[(sv["insurer"], sv["symbol"])] = 100
    zip_, addr = address("東京都")
    pop.add(T.acquisition, insurer_number=sv["insurer"], employer_symbol=sv["symbol"], number=sv["number"],
            branch=sv["branch"], my_number=make_my_number(rng), name=sv["name"], name_kana=sv["kana"],
            birth_date=sv["birth"], sex=sv["sex"], postal_code=zip_, address=addr,
            acquisition_date=date(2016, 7, 1), monthly_remuneration=410000, card_classification="01",
            voluntary_continuation=0)
    moved_mn = make_my_number(rng)
    pop.add(T.acquisition, insurer_number=mv["insurer"], employer_symbol=mv["symbol"], number=mv["number"],
            branch=mv["branch"], my_number=moved_mn, name=mv["name"], name_kana=mv["kana"], birth_date=mv["birth"],
            sex=mv["sex"], postal_code=zip_, address=addr, acquisition_date=date(2019, 4, 1),
            monthly_remuneration=300000, card_classification="01", voluntary_continuation=0)
    # she moved to 協会けんぽ on the 1st of last month; the 健保組合's loss notification has not arrived yet
    moved_on = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    pop.add(T.acquisition, insurer_number=mn["insurer"], employer_symbol=mn["symbol"], number=mn["number"],
            branch=mn["branch"], my_number=moved_mn, name=mv["name"], name_kana=mv["kana"], birth_date=mv["birth"],
            sex=mv["sex"], postal_code=zip_, address=addr, acquisition_date=moved_on, monthly_remuneration=320000,
            card_classification="01", voluntary_continuation=0)

    for i in range(members):
        ins_no, symbol, pref = employers[rng.randrange(len(employers))]
        roll = rng.random()
        if roll < 0.08:
            birth = _birthday_for_age(rng, today, 70, 74)  # 高齢受給者
        elif roll < 0.10:  # turns 75 within the next 90 days
            birth = add_years(today + timedelta(days=rng.randint(1, 90)), -75)
        else:
            birth = _birthday_for_age(rng, today, 18, 69)
        sex = rng.choice((1, 2))
        last, last_kana, _ = fake.last_name_pair()
        first, first_kana, _ = fake.first_name_male_pair() if sex == 1 else fake.first_name_female_pair()
        zip_, addr = address(pref)
        earliest = max(add_years(birth, 18), today - timedelta(days=3650))
        latest = min(today - timedelta(days=30), add_years(birth, 75) - timedelta(days=1))
        acq = earliest + timedelta(days=rng.randrange(max((latest - earliest).days, 1)))
        grade = rng.choice(REMUNERATION_GRADES[10:] if roll < 0.10 and rng.random() < 0.4 else REMUNERATION_GRADES)
        number = new_numbers(ins_no, symbol)
        has_mn = rng.random() > 0.03
        my_no = make_my_number(rng) if has_mn else None
        pop.add(T.acquisition, insurer_number=ins_no, employer_symbol=symbol, number=number, branch="00",
                my_number=my_no, name=f"{last}　{first}", name_kana=f"{last_kana}　{first_kana}", birth_date=birth,
                sex=sex, postal_code=zip_, address=addr, acquisition_date=acq, monthly_remuneration=grade,
                card_classification="01", voluntary_continuation=0)
        branch = 1
        # dependents: a spouse, and children (infants included)
        if rng.random() < 0.4 and birth.year < today.year - 22:
            sp_sex = 3 - sex
            sp_first, sp_kana, _ = fake.first_name_male_pair() if sp_sex == 1 else fake.first_name_female_pair()
            sp_birth = min(birth + timedelta(days=rng.randint(-1500, 1500)), today - timedelta(days=365 * 20))
            pop.add(T.dependent, insurer_number=ins_no, employer_symbol=symbol, number=number, branch=f"{branch:02d}",
                    change="add", my_number=make_my_number(rng), name=f"{last}　{sp_first}",
                    name_kana=f"{last_kana}　{sp_kana}", birth_date=sp_birth, sex=sp_sex, postal_code=zip_,
                    address=addr, effective_date=acq, loss_reason="")
            branch += 1
        if birth.year > today.year - 55:
            for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
                c_sex = rng.choice((1, 2))
                c_first, c_kana, _ = fake.first_name_male_pair() if c_sex == 1 else fake.first_name_female_pair()
                c_birth = today - timedelta(days=rng.randrange(0, 365 * 18))
                c_birth = max(c_birth, birth + timedelta(days=365 * 18))
                pop.add(T.dependent, insurer_number=ins_no, employer_symbol=symbol, number=number,
                        branch=f"{branch:02d}", change="add", my_number=make_my_number(rng),
                        name=f"{last}　{c_first}", name_kana=f"{last_kana}　{c_kana}", birth_date=c_birth, sex=c_sex,
                        postal_code=zip_, address=addr, effective_date=max(acq, c_birth), loss_reason="")
                branch += 1
        event = rng.random()
        if event < 0.04:  # left the job: the loss is recorded weeks after the fact (retroactive)
            loss = today - timedelta(days=rng.randint(20, 60))
            if loss > acq:
                pop.add(T.loss, insurer_number=ins_no, employer_symbol=symbol, number=number, branch="00",
                        loss_date=loss, loss_reason="99")
        elif event < 0.07:  # job change to another insurer
            other = [e for e in employers if e[0] != ins_no]
            o_ins, o_sym, o_pref = other[rng.randrange(len(other))]
            moved = today - timedelta(days=rng.randint(5, 40))
            if moved > acq:
                if rng.random() < 0.6:
                    pop.add(T.loss, insurer_number=ins_no, employer_symbol=symbol, number=number, branch="00",
                            loss_date=moved, loss_reason="03")
                pop.add(T.acquisition, insurer_number=o_ins, employer_symbol=o_sym, number=new_numbers(o_ins, o_sym),
                        branch="00", my_number=my_no, name=f"{last}　{first}", name_kana=f"{last_kana}　{first_kana}",
                        birth_date=birth, sex=sex, postal_code=zip_, address=addr, acquisition_date=moved,
                        monthly_remuneration=grade, card_classification="01", voluntary_continuation=0)
        elif event < 0.09:
            new_last, new_kana, _ = fake.last_name_pair()
            pop.add(T.name_change, insurer_number=ins_no, employer_symbol=symbol, number=number, branch="00",
                    name=f"{new_last}　{first}", name_kana=f"{new_kana}　{first_kana}",
                    effective_date=max(acq + timedelta(days=1), today - timedelta(days=rng.randint(1, 200))))
        elif event < 0.12:
            z2, a2 = address(pref)
            pop.add(T.address_change, insurer_number=ins_no, employer_symbol=symbol, number=number, branch="00",
                    postal_code=z2, address=a2,
                    effective_date=max(acq + timedelta(days=1), today - timedelta(days=rng.randint(1, 200))))
        elif event < 0.20:
            month = date(today.year, 9, 1) if today.month >= 9 else date(today.year - 1, 9, 1)  # 定時決定
            if month > acq:
                pop.add(T.remuneration, insurer_number=ins_no, employer_symbol=symbol, number=number, branch="00",
                        monthly_remuneration=rng.choice(REMUNERATION_GRADES), effective_month=f"{month:%Y-%m}",
                        reason="定時決定")
        elif event < 0.23:
            pop.add(T.limit_application, insurer_number=ins_no, employer_symbol=symbol, number=number, branch="00",
                    application_date=max(acq, today - timedelta(days=rng.randint(0, 90))), tax_exempt=0,
                    low_income_1=0, income_exemption=0)
    return pop


ORDER = [T.employer, T.acquisition, T.dependent, T.remuneration, T.name_change, T.address_change,
         T.limit_application, T.loss]


def write_files(pop: Population, out_dir: Path, encoding: str = "utf-8") -> list[tuple[T, Path]]:
    """Write the population as intake CSV files (one per notification type), in import order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, ntype in enumerate(ORDER, start=1):
        rows = pop.files[ntype]
        if not rows:
            continue
        path = out_dir / f"{i:02d}_{ntype.value}.csv"
        with path.open("w", encoding=encoding, newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(LAYOUTS[ntype]))
            w.writeheader()
            w.writerows(rows)
        written.append((ntype, path))
    return written
