"""KPIs of 協会けんぽ's action plans (保険者機能強化アクションプラン, 5th and 6th period): the catalogue and the evaluation
of a fiscal year for the nationwide office or one of the 47 支部.

The catalogue is data (``kpi_catalogue.toml`` beside this module): code, plan, name, definition, unit, whether higher
or lower is better, targets per fiscal year (nationwide and per 支部), the plan's reference value, the source seed,
and ``computed_by`` — the figure the system computes itself (``usage_rate``, ``certificate_next_business_day``,
``registration_within_5_days``, ``service_standard``, ``mail_application``); every other actual is imported from CSV (``KpiActual``, ``analytics/kpi_import.py``).

``branch`` is ``"00"`` for nationwide (全国) or the two-digit prefecture code of the 支部 (``"08"`` 茨城支部).
Fiscal years (年度) run April to March and are named by the year they start in (FY2024 = 令和6年度).

>>> cat = load_catalogue()
>>> kpi = cat.get("p6_checkup_lifestyle")
>>> kpi.name, kpi.target_for(2024, "13").value, kpi.reference_value, kpi.reference_year
('生活習慣病予防健診実施率', 64.8, 56.4, 2022)
>>> [(r.actual, r.mark, r.trend) for r in evaluate(cat, 2024, "00", {"p6_checkup_lifestyle": 65.1},
...                                                 {"p5_checkup_lifestyle": 60.0}, codes=["p6_checkup_lifestyle"])]
[(65.1, '○', 'improved')]
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from onshi.numbers.prefectures import PREFECTURE_CODES, PREFECTURES

__all__ = [
    "BRANCHES", "COMPUTED_BY", "CatalogueError", "Kpi", "KpiCatalogue", "KpiResult", "Plan", "Target", "branch_name",
    "evaluate", "evaluate_one", "fiscal_year_label", "format_value", "load_catalogue", "normalize_branch",
    "parse_catalogue",
]

CATALOGUE_PATH = Path(__file__).with_name("kpi_catalogue.toml")
#: What the system computes itself; ``""`` = imported from CSV.
COMPUTED_BY = ("usage_rate", "certificate_next_business_day", "registration_within_5_days", "service_standard",
               "mail_application", "generic_share", "checkup_rate", "checkup_rate_dependents",
               "refund_recovery_rate")
DIRECTIONS = ("higher", "lower")
TARGET_RULES = ("fixed", "not_below_previous_year", "fixed_or_not_below_previous_year")
SCOPES = ("branch", "nationwide")
NATIONWIDE = "00"
#: 全国 and the 47 支部 (prefecture codes 01–47).
BRANCHES = (NATIONWIDE, *PREFECTURES)
Direction = Literal["higher", "lower"]


class CatalogueError(ValueError):
    """The catalogue file is wrong: names the KPI and the field."""


# ============================================================================ branches and years

def normalize_branch(value: str | int) -> str:
    """A 支部 as its two-digit code: ``"8"``, ``"08"``, ``"茨城"``, ``"茨城県"``, ``"茨城支部"`` → ``"08"``;
    ``"0"``, ``"00"``, ``"全国"``, ``"本部"`` → ``"00"``.

    >>> normalize_branch("8"), normalize_branch("茨城支部"), normalize_branch("全国"), normalize_branch("北海道")
    ('08', '08', '00', '01')
    >>> normalize_branch("48")
    Traceback (most recent call last):
      ...
    ValueError: 支部 '48' はありません (use 00 for nationwide or a prefecture code 01–47)
    """
    v = unicodedata.normalize("NFKC", str(value)).strip()
    if v.isdigit() and len(v) <= 2:
        code = v.zfill(2)
        if code in BRANCHES:
            return code
    elif v in ("全国", "本部", "全国（本部）"):
        return NATIONWIDE
    else:
        name = v.removesuffix("支部")
        for candidate in (name, name + "県", name + "府", name + "都"):
            if candidate in PREFECTURE_CODES:
                return PREFECTURE_CODES[candidate]
    raise ValueError(f"支部 {v!r} はありません (use 00 for nationwide or a prefecture code 01–47)")


def branch_name(branch: str) -> str:
    """``"00"`` → ``全国``, ``"08"`` → ``茨城支部``, ``"01"`` → ``北海道支部`` (協会けんぽ names 支部 without 都府県).

    >>> branch_name("00"), branch_name("08"), branch_name("13"), branch_name("01"), branch_name("26")
    ('全国', '茨城支部', '東京支部', '北海道支部', '京都支部')
    """
    if branch == NATIONWIDE:
        return "全国"
    name = PREFECTURES[branch]
    return (name if name == "北海道" else name[:-1]) + "支部"


def fiscal_year_label(fiscal_year: int) -> str:
    """``2024`` → ``2024年度（令和6年度）``.

    >>> fiscal_year_label(2019), fiscal_year_label(2024)
    ('2019年度（令和元年度）', '2024年度（令和6年度）')
    """
    if fiscal_year >= 2019:
        n = fiscal_year - 2018
        return f"{fiscal_year}年度（令和{'元' if n == 1 else n}年度）"
    return f"{fiscal_year}年度（平成{fiscal_year - 1988}年度）"


# ============================================================================ the catalogue

@dataclass(frozen=True)
class Plan:
    key: str  # "5" | "6" | "ops"
    name: str
    first_year: int
    last_year: int | None
    source: str

    def covers(self, fiscal_year: int) -> bool:
        return self.first_year <= fiscal_year and (self.last_year is None or fiscal_year <= self.last_year)


@dataclass(frozen=True)
class Target:
    """The target that holds for one year and 支部, in words too (``64.8%以上``, ``対前年度以上（前年度 95.7%）``)."""

    value: float | None
    text: str
    basis: str  # nationwide | branch | previous_year | none


@dataclass(frozen=True)
class Kpi:
    code: str
    plan: Plan
    section: str
    measure: str
    name: str
    definition: str
    unit: str
    direction: Direction
    target_rule: str
    targets: Mapping[int, float]
    branch_targets: Mapping[str, Mapping[int, float]]
    scope: str
    reference_value: float | None
    reference_year: int | None
    reference_text: str
    published: tuple[tuple[str, float], ...]
    continues: str
    computed_by: str
    source: str
    fiscal_years: tuple[int, ...] | None = None

    def in_force(self, fiscal_year: int) -> bool:
        """Whether the KPI is set for the fiscal year (its plan's years, narrowed by ``fiscal_years``)."""
        if self.fiscal_years is not None:
            return fiscal_year in self.fiscal_years
        return self.plan.covers(fiscal_year)

    def applies_to(self, branch: str) -> bool:
        """Whether a 支部 has this KPI at all: a nationwide-only KPI (a count for the whole 協会) only where the
        catalogue gives the 支部 its own target."""
        return branch == NATIONWIDE or self.scope == "branch" or branch in self.branch_targets

    def target_for(self, fiscal_year: int, branch: str = NATIONWIDE, previous: float | None = None) -> Target:
        """The target for the year and 支部: the 支部's own, else the nationwide one (for ``scope = "branch"``);
        for 対前年度以上 the previous year's actual (*previous*)."""
        fixed, basis = None, "none"
        if fiscal_year in self.branch_targets.get(branch, {}):
            fixed, basis = self.branch_targets[branch][fiscal_year], "branch"
        elif fiscal_year in self.targets and (branch == NATIONWIDE or self.scope == "branch"):
            fixed, basis = self.targets[fiscal_year], "nationwide"
        cmp = "以上" if self.direction == "higher" else "以下"
        if self.target_rule == "not_below_previous_year":
            if previous is None:
                return Target(None, "対前年度以上（前年度実績なし）", "none")
            return Target(previous, f"対前年度{cmp}（前年度 {format_value(self, previous)}）", "previous_year")
        if fixed is None:
            return Target(None, "目標なし", "none")
        if (self.target_rule == "fixed_or_not_below_previous_year" and previous is not None
                and _better_or_equal(self.direction, previous, fixed)):
            return Target(previous, f"{format_value(self, fixed)}達成済のため対前年度{cmp}"
                                    f"（前年度 {format_value(self, previous)}）", "previous_year")
        return Target(fixed, f"{format_value(self, fixed)}{cmp}", basis)


@dataclass(frozen=True)
class KpiCatalogue:
    plans: Mapping[str, Plan]
    kpis: tuple[Kpi, ...]

    def get(self, code: str) -> Kpi:
        for k in self.kpis:
            if k.code == code:
                return k
        raise KeyError(f"KPI {code!r} は一覧にありません (unknown kpi_code)")

    def __contains__(self, code: object) -> bool:
        return any(k.code == code for k in self.kpis)

    def for_year(self, fiscal_year: int) -> tuple[Kpi, ...]:
        """The KPIs in force in the fiscal year, in catalogue order."""
        return tuple(k for k in self.kpis if k.in_force(fiscal_year))


def _num_map(raw: Mapping, where: str) -> dict[int, float]:
    out = {}
    for y, v in raw.items():
        if not str(y).isdigit() or isinstance(v, bool) or not isinstance(v, int | float):
            raise CatalogueError(f"{where}: targets are \"fiscal year\" = number (got {y!r} = {v!r})")
        out[int(y)] = float(v)
    return out


def _kpi(raw: Mapping, plans: Mapping[str, Plan]) -> Kpi:
    code = raw.get("code", "")
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", code):
        raise CatalogueError(f"KPI code {code!r}: lower-case letters, digits and _ (at most 40)")
    where = f"KPI {code}"
    for f in ("plan", "section", "name", "definition", "unit", "direction", "source"):
        if not raw.get(f):
            raise CatalogueError(f"{where}: {f} is missing")
    if raw["plan"] not in plans:
        raise CatalogueError(f"{where}: plan {raw['plan']!r} is not one of {', '.join(plans)}")
    if raw["direction"] not in DIRECTIONS:
        raise CatalogueError(f"{where}: direction must be higher or lower (got {raw['direction']!r})")
    rule = raw.get("target_rule", "fixed")
    if rule not in TARGET_RULES:
        raise CatalogueError(f"{where}: target_rule {rule!r} is not one of {', '.join(TARGET_RULES)}")
    computed_by = raw.get("computed_by", "")
    if computed_by and computed_by not in COMPUTED_BY:
        raise CatalogueError(f"{where}: computed_by {computed_by!r} is not one of {', '.join(COMPUTED_BY)} (or \"\")")
    scope = raw.get("scope", "branch")
    if scope not in SCOPES:
        raise CatalogueError(f"{where}: scope must be branch or nationwide (got {scope!r})")
    branch_targets = {}
    for b, years in raw.get("branch_targets", {}).items():
        if b not in PREFECTURES:
            raise CatalogueError(f"{where}: branch_targets key {b!r} is not a prefecture code 01–47")
        branch_targets[b] = _num_map(years, f"{where} branch {b}")
    ref = raw.get("reference", {})
    published = tuple((str(p["period"]), float(p["value"])) for p in raw.get("published", ()))
    years = raw.get("fiscal_years")
    return Kpi(code=code, plan=plans[raw["plan"]], section=raw["section"], measure=raw.get("measure", ""),
               name=raw["name"], definition=raw["definition"], unit=raw["unit"], direction=raw["direction"],
               target_rule=rule, targets=_num_map(raw.get("targets", {}), where), branch_targets=branch_targets,
               scope=scope, reference_value=float(ref["value"]) if "value" in ref else None,
               reference_year=int(ref["fiscal_year"]) if "fiscal_year" in ref else None,
               reference_text=raw.get("reference_text", ""), published=published,
               continues=raw.get("continues", ""), computed_by=computed_by, source=raw["source"],
               fiscal_years=tuple(int(y) for y in years) if years is not None else None)


def parse_catalogue(text: str) -> KpiCatalogue:
    """A catalogue from TOML text (see the header of ``kpi_catalogue.toml``); errors name the KPI and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"KPI catalogue: {exc}") from None
    plans = {}
    for key, p in data.get("plans", {}).items():
        try:
            plans[key] = Plan(key, p["name"], int(p["first_year"]),
                              int(p["last_year"]) if "last_year" in p else None, p.get("source", ""))
        except KeyError as exc:
            raise CatalogueError(f"plan {key}: {exc.args[0]} is missing") from None
    kpis = tuple(_kpi(raw, plans) for raw in data.get("kpi", ()))
    seen: set[str] = set()
    for k in kpis:
        if k.code in seen:
            raise CatalogueError(f"KPI {k.code}: the code is used twice")
        seen.add(k.code)
    for k in kpis:
        if k.continues and k.continues not in seen:
            raise CatalogueError(f"KPI {k.code}: continues {k.continues!r}, which is not in the catalogue")
    return KpiCatalogue(plans, kpis)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> KpiCatalogue:
    return parse_catalogue(Path(path).read_text(encoding="utf-8"))


def load_catalogue(path: Path | str | None = None) -> KpiCatalogue:
    """The KPI catalogue (default: ``kpi_catalogue.toml`` shipped with onshi); re-read when the file changes."""
    p = Path(path or CATALOGUE_PATH)
    return _load(str(p), p.stat().st_mtime)


def format_value(kpi: Kpi, value: float | None) -> str:
    """A value in the KPI's unit: ``64.8%``, ``110,000事業所``, ``7,215円``; ``－`` for none.

    >>> cat = load_catalogue()
    >>> format_value(cat.get("p6_checkup_lifestyle"), 64.8), format_value(cat.get("p6_health_declaration"), 110000)
    ('64.8%', '110,000事業所')
    """
    if value is None:
        return "－"
    if kpi.unit == "%":  # at least one decimal: 9.0%, 64.8%, 86.27%
        text = f"{value:.2f}"
        return (text[:-1] if text.endswith("0") else text) + "%"
    if float(value).is_integer():
        return f"{int(value):,}{kpi.unit}"
    return f"{value:,.2f}{kpi.unit}"


# ============================================================================ evaluation

def _better_or_equal(direction: str, a: float, b: float) -> bool:
    return a >= b if direction == "higher" else a <= b


@dataclass(frozen=True)
class KpiResult:
    """One KPI of one fiscal year and 支部: target, actual, whether achieved, by how much, and the trend."""

    kpi: Kpi
    fiscal_year: int
    branch: str
    target: Target
    actual: float | None
    actual_source: str  # imported | system | "" (none)
    previous: float | None  # last fiscal year's actual (of this KPI or the one it continues)
    achieved: bool | None  # None: no target or no actual
    achievement_ratio: float | None  # actual ÷ target (higher is better) or target ÷ actual (lower is better)
    change: float | None  # actual − previous, in the KPI's unit (%pt for rates)
    trend: str | None  # improved | worsened | unchanged (respecting direction)
    note: str

    @property
    def mark(self) -> str:
        """○ achieved, × not achieved, － not evaluated (no target or no actual)."""
        return {True: "○", False: "×", None: "－"}[self.achieved]

    @property
    def trend_mark(self) -> str:
        """↑/↓/→ by the value's movement (not by whether it is good), or ''."""
        if self.change is None:
            return ""
        return "↑" if self.change > 0 else "↓" if self.change < 0 else "→"


def _previous_of(kpi: Kpi, previous: Mapping[str, float] | None, fiscal_year: int, branch: str) -> float | None:
    if previous:
        for code in (kpi.code, kpi.continues):
            if code and previous.get(code) is not None:
                return float(previous[code])
    if branch == NATIONWIDE and kpi.reference_value is not None and kpi.reference_year == fiscal_year - 1:
        return kpi.reference_value  # the plan's own figure for the year before
    return None


def evaluate_one(kpi: Kpi, fiscal_year: int, branch: str, actual: float | None, previous: float | None = None,
                 *, source: str = "") -> KpiResult:
    """Evaluate one KPI (see :func:`evaluate`)."""
    target = kpi.target_for(fiscal_year, branch, previous)
    achieved = ratio = change = trend = None
    note = ""
    if actual is not None and not math.isfinite(actual):
        raise ValueError(f"KPI {kpi.code}: actual {actual!r} is not a number")
    if actual is None:
        note = "実績なし"
    elif target.value is None:
        note = target.text
    else:
        achieved = _better_or_equal(kpi.direction, actual, target.value)
        if kpi.direction == "higher":
            ratio = actual / target.value if target.value else None
        else:
            ratio = target.value / actual if actual else None
    if actual is not None and previous is not None:
        change = actual - previous
        if abs(change) < 1e-9:
            change, trend = 0.0, "unchanged"
        else:
            trend = "improved" if (change > 0) == (kpi.direction == "higher") else "worsened"
    return KpiResult(kpi, fiscal_year, branch, target, actual, source if actual is not None else "", previous,
                     achieved, ratio, change, trend, note)


def evaluate(catalogue: KpiCatalogue, fiscal_year: int, branch: str, actuals: Mapping[str, float],
             previous: Mapping[str, float] | None = None, *, sources: Mapping[str, str] | None = None,
             codes: Iterable[str] | None = None) -> list[KpiResult]:
    """Evaluate every KPI in force in *fiscal_year* for *branch* (``"00"`` or ``"01"``–``"47"``).

    ``actuals``: kpi_code → actual value of the year.  ``previous``: kpi_code → actual of the year before (a KPI
    that continues one of the previous plan finds it under the old code); nationwide, the plan's reference value
    stands in when it is of the year before.  ``sources``: kpi_code → where the actual came from.  ``codes``: only
    these KPIs.  A 支部 does not get the nationwide-only KPIs (counts for the whole 協会) unless it has its own
    target or an actual.

    Achieved means actual ≥ target (higher is better) or actual ≤ target (lower is better); the achievement ratio is
    actual ÷ target or target ÷ actual respectively.  The trend compares with the previous year's actual.
    """
    branch = normalize_branch(branch)
    wanted = set(codes) if codes is not None else None
    if wanted:
        for c in wanted:
            catalogue.get(c)  # unknown codes are an error, not an empty sheet
    out = []
    for kpi in catalogue.for_year(fiscal_year):
        if wanted is not None and kpi.code not in wanted:
            continue
        actual = actuals.get(kpi.code)
        if not kpi.applies_to(branch) and actual is None:
            continue
        prev = _previous_of(kpi, previous, fiscal_year, branch)
        out.append(evaluate_one(kpi, fiscal_year, branch, None if actual is None else float(actual), prev,
                                source=(sources or {}).get(kpi.code, "")))
    return out
