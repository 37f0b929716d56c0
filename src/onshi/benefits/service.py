"""Cash-benefit applications: receive, check, supplement, decide, approve, refuse, pay; the board; the audited reads.

Long: one module holds the life of an application end to end — the checks of each kind, the calculation from the
registry's history through :mod:`onshi.rules.benefits`, the state machine, the payment file and the reads — so
that every move of the state is in one place, next to the checks that allow it.

The state machine (``STATUSES`` in :mod:`.models`)::

    received ──check──▶ incomplete ──supplement──▶ (check again) ──▶ complete ──decide──▶ decided ──pay──▶ paid
        └───────────────────────────────────────────────────────────┴──refuse──▶ refused (with its reason)

``complete_on`` is the day an application became complete: the service standard counts business days from it to
the payment.  While incomplete, the clock stands; a supplement that completes it starts it on that day.  Each move
writes a :class:`~onshi.benefits.models.BenefitEvent`.  An application is received once per ``source_key`` (the
same input again returns the first one) and paid at most once (a unique payment per application).

Every read that shows a person (:func:`queue`, :func:`application_view`, :func:`applications_of_person`) writes
its audit row itself (docs/audit.md).  Service functions flush, never commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from onshi.benefits import zengin
from onshi.benefits.models import BankAccount, BenefitApplication, BenefitEvent, BenefitPayment, TransferBatch
from onshi.privacy.audit import record_read
from onshi.privacy.crypto import vault
from onshi.registry import service as registry
from onshi.registry.models import QualificationVersion, Role
from onshi.rules import benefits as rules
from onshi.rules.calendar import add_business_days, add_months, fiscal_year_bounds, month_start
from onshi.rules.limit_category import limit_category
from onshi.store.clock import utcnow

#: decisions above this amount wait for a supervisor's approval before payment (an insurer may set its own:
#: ``Insurer.settings["benefit_approval_threshold"]``)
APPROVAL_THRESHOLD = 1_000_000
OPEN = ("received", "incomplete", "complete", "decided")


class BenefitError(ValueError):
    """Input that cannot be taken at all (unknown member, unknown kind …): ``{field: reason}`` in Japanese."""

    def __init__(self, invalid: dict[str, str]):
        super().__init__("\n".join(f"{k}: {v}" for k, v in invalid.items()))
        self.invalid = invalid


class NotEmployee(PermissionError):
    """An employer's application for someone who is not a member of its 事業所 (or for no one known): the same
    answer for both, so that it tells nothing about who is insured."""


class StateError(ValueError):
    """A move the state machine does not allow (deciding an incomplete application, paying twice …)."""


@dataclass
class ApplicationInput:
    """What an application says, from any channel (the clerk's form, the member's form, the employer API)."""

    kind: str
    channel: str
    received_on: date
    symbol: str
    number: str
    branch: str = "00"
    details: dict = field(default_factory=dict)
    employer_cert: dict | None = None
    doctor_cert: dict | None = None
    attachments: list = field(default_factory=list)
    bank: dict | None = None  # bank_code, branch_code, account_type, account_number, holder
    source_key: str | None = None


# ---------------------------------------------------------------------------- helpers

def _d(value) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _event(session: Session, app: BenefitApplication, to: str, on: date, actor: str, note: str | None = None) -> None:
    session.add(BenefitEvent(application_id=app.id, on=on, from_status=app.status if app.id else None,
                             to_status=to, actor=actor[:100], note=note))
    app.status = to


def _source_key(inp: ApplicationInput, insurer_id: int) -> str:
    if inp.source_key:
        return inp.source_key[:120]
    raw = repr((insurer_id, inp.kind, inp.channel, inp.received_on, inp.symbol, inp.number, inp.branch,
                sorted(inp.details.items()), inp.employer_cert, inp.doctor_cert))
    return "auto:" + hashlib.sha256(raw.encode()).hexdigest()


def insurer_average(session: Session, insurer_id: int, on: date) -> int:
    ins = registry.get_insurer(session, id=insurer_id)
    own = (ins.settings or {}).get("average_remuneration") if ins else None
    return int(own) if own else rules.KYOKAI_AVERAGE_REMUNERATION.at(on)


def approval_threshold(session: Session, insurer_id: int) -> int:
    ins = registry.get_insurer(session, id=insurer_id)
    return int((ins.settings or {}).get("benefit_approval_threshold", APPROVAL_THRESHOLD)) if ins else APPROVAL_THRESHOLD


def _qualification(session: Session, qualification_id: int) -> QualificationVersion:
    return registry.qualification_versions(session, qualification_id=qualification_id)[-1]


def monthly_remuneration(session: Session, qv: QualificationVersion, up_to: date,
                         history: list | None = None) -> list[tuple[date, int]]:
    """The member's 標準報酬月額 per month at this insurer, from the month of acquisition to *up_to*'s month: the
    amount in force on the last day of each month that the qualification covers (on *up_to* for its own month)."""
    if history is None:
        history = registry.remuneration_history(session, qv.qualification_id)
    # only the months the daily amount can use: at most the 12 up to *up_to*'s month
    window = rules.DAILY_RULE.at(up_to).months if up_to >= rules.DAILY_RULE.rows[0][0] else 12
    out, m = [], max(month_start(qv.acquisition_date), add_months(up_to, -(window - 1)))
    while m <= up_to:
        last = min(add_months(m, 1) - timedelta(days=1), up_to)
        if qv.loss_date is not None and last >= qv.loss_date:
            last = qv.loss_date - timedelta(days=1)
        amount = next((r.monthly_amount for r in history
                       if r.valid_from <= last and (r.valid_to is None or r.valid_to > last)), None)
        if amount is not None and last >= m:
            out.append((m, amount))
        m = add_months(m, 1)
    return out


#: the 限度額区分 a 高額療養費 application may name (under 70: ア–オ; 70–74: 現役並みⅢ–Ⅰ, 一般, 低所得Ⅱ・Ⅰ)
_HIGH_COST_CATEGORIES = frozenset({"A01", "A02", "A03", "A04", "A05", "B01", "B02", "B03", "B04", "B05", "B06"})

#: the kinds whose checks or calculation read the person's other applications, and the keys of their details read
_KINDS_READING_OTHERS = frozenset({"sickness", "maternity", "high_cost"})
_OTHER_DETAIL_KEYS = ("period_from", "period_to", "incapacity_from", "first_payable", "month", "outpatient_year")


@dataclass
class _Other:
    """Another application of the person as the checks read it (:meth:`Facts.preload`)."""

    id: int
    person_id: int
    kind: str
    status: str
    qualification_id: int
    paid_days: int
    amount: int | None
    details: dict


class Facts:
    """What the checks and the calculation read besides the application: its qualification, the remuneration
    history, the member's other applications, the insurer's settings.  Read one at a time from the database by
    default; :meth:`preload` reads them for a whole batch in a few statements (:func:`decide_batch`)."""

    def __init__(self, session: Session, claims=None):
        self.session = session
        self._qv: dict[int, QualificationVersion] = {}
        self._history: dict[int, list] = {}
        self._apps: dict[tuple[int, str], list[BenefitApplication]] | None = None
        self._average: dict[tuple[int, date], int] = {}
        self._threshold: dict[int, int] = {}
        self.events: list[dict] | None = None  # a batch collects its events here and inserts them at once
        self._birth: dict[int, date | None] = {}
        self._with_claims: set[int] | None = None  # the persons with any claim in the batch's window (preload)
        #: the claims domain's months with a 高額療養費 of a household — ``claims(session, *, insurer_id, persons,
        #: first, before, category)`` → months, or None when the claims hold nothing of the household then — passed
        #: by the entrypoint (:func:`onshi.claims.service.high_cost_months`): benefits and claims are sibling
        #: domains and do not import each other
        self.claims_refund_months = claims

    def event(self, app: BenefitApplication, to: str, on: date, actor: str, note: str | None = None) -> None:
        if self.events is None:
            _event(self.session, app, to, on, actor, note)
            return
        self.events.append({"application_id": app.id, "on": on, "from_status": app.status, "to_status": to,
                            "actor": actor[:100], "note": note, "at": utcnow()})
        app.status = to

    def preload(self, apps: list[BenefitApplication]) -> Facts:
        from onshi.registry.models import RemunerationVersion
        from onshi.store.history import current

        qids = {a.qualification_id for a in apps}
        for qv in self.session.scalars(select(QualificationVersion).where(
                current(QualificationVersion), QualificationVersion.qualification_id.in_(qids))
                .order_by(QualificationVersion.acquisition_date, QualificationVersion.id)):
            self._qv[qv.qualification_id] = qv
        for qid in qids:
            self._history[qid] = []
        for r in self.session.scalars(select(RemunerationVersion).where(
                RemunerationVersion.qualification_id.in_(qids), current(RemunerationVersion))
                .order_by(RemunerationVersion.valid_from)):
            self._history[r.qualification_id].append(r)
        # the members' other applications: only what the checks and the calculation read of them — of the kinds
        # that look at others (the periods of 傷病手当金/出産手当金, 高額療養費's months) and, of their details, the
        # five keys read, extracted by the database (parsing every JSON document of a member's history per batch
        # was 2/3 of a batch's time: docs/performance.md)
        persons = {a.person_id for a in apps}
        kinds = {a.kind for a in apps} & _KINDS_READING_OTHERS
        own = {a.id for a in apps}
        a_ = BenefitApplication
        self._apps = {}
        if kinds:
            keys = _OTHER_DETAIL_KEYS
            for row in self.session.execute(select(
                    a_.id, a_.person_id, a_.kind, a_.status, a_.qualification_id, a_.paid_days, a_.amount,
                    *(a_.details[k].as_string() for k in keys))
                    .where(a_.person_id.in_(persons), a_.kind.in_(kinds), a_.status != "refused")):
                if row[0] not in own:
                    self._apps.setdefault((row[1], row[2]), []).append(_Other(
                        *row[:7], {k: v for k, v in zip(keys, row[7:]) if v is not None}))
        for a in apps:
            self._apps.setdefault((a.person_id, a.kind), []).append(a)
        # 高額療養費 reads birth dates (each item's age group) and, with the claims, the households: the members,
        # their dependants and which of them have any claim in the batch's window — in four statements
        high_cost = [a for a in apps if a.kind == "high_cost"]
        if high_cost:
            from onshi.registry.models import PersonVersion

            persons = {a.person_id for a in high_cost}
            prefetch = getattr(self.claims_refund_months, "prefetch", None)
            months = sorted({_d((a.details or {}).get("month", "") + "-01") for a in high_cost
                             if len(str((a.details or {}).get("month", ""))) == 7} - {None}) \
                if prefetch is not None else []
            if months:
                members = {self._qv[a.qualification_id].member_qualification_id or a.qualification_id
                           for a in high_cost if a.qualification_id in self._qv}
                missing = members - set(self._qv)
                for qv in self.session.scalars(select(QualificationVersion).where(
                        current(QualificationVersion), QualificationVersion.qualification_id.in_(missing))):
                    self._qv[qv.qualification_id] = qv
                deps = self.__dict__.setdefault("_dependents", {m: [] for m in members})
                for qv in self.session.scalars(select(QualificationVersion).where(
                        current(QualificationVersion), QualificationVersion.member_qualification_id.in_(members))):
                    deps.setdefault(qv.member_qualification_id, []).append(qv)
                household = {self._qv[m].person_id for m in members if m in self._qv} | {
                    d.person_id for ds in deps.values() for d in ds}
                persons |= household
                window = rules.HIGH_COST_HOUSEHOLD.at(months[-1]).window_months
                self._with_claims = prefetch(self.session, insurer_id=high_cost[0].insurer_id, person_ids=household,
                                             first=add_months(months[0], -(window - 1)), before=months[-1])
            for pid, birth in self.session.execute(select(PersonVersion.person_id, PersonVersion.birth_date).where(
                    current(PersonVersion), PersonVersion.person_id.in_(persons))
                    .order_by(PersonVersion.valid_from)):
                self._birth[pid] = birth
        for rows in self._apps.values():
            rows.sort(key=lambda r: r.id)
        self.events = []
        return self

    def qualification(self, qualification_id: int) -> QualificationVersion:
        if qualification_id not in self._qv:
            self._qv[qualification_id] = _qualification(self.session, qualification_id)
        return self._qv[qualification_id]

    def history(self, qualification_id: int) -> list:
        if qualification_id not in self._history:
            self._history[qualification_id] = registry.remuneration_history(self.session, qualification_id)
        return self._history[qualification_id]

    def others(self, app: BenefitApplication) -> list[BenefitApplication]:
        """The person's other applications of the same kind that are not refused."""
        if self._apps is not None:
            return [a for a in self._apps.get((app.person_id, app.kind), ()) if a is not app
                    and a.status != "refused"]
        q = select(BenefitApplication).where(BenefitApplication.person_id == app.person_id,
                                             BenefitApplication.kind == app.kind,
                                             BenefitApplication.status != "refused")
        if app.id is not None:
            q = q.where(BenefitApplication.id != app.id)
        return list(self.session.scalars(q.order_by(BenefitApplication.id)))

    def period(self, other) -> tuple[date | None, date | None]:
        """The period of another application, parsed once (its period does not change while it is read)."""
        cache = self.__dict__.setdefault("_periods", {})
        if other.id not in cache:
            d = other.details or {}
            cache[other.id] = (_d(d.get("period_from")), _d(d.get("period_to")))
        return cache[other.id]

    def average(self, insurer_id: int, on: date) -> int:
        key = (insurer_id, on.replace(day=1))
        if key not in self._average:
            self._average[key] = insurer_average(self.session, insurer_id, on)
        return self._average[key]

    def threshold(self, insurer_id: int) -> int:
        if insurer_id not in self._threshold:
            self._threshold[insurer_id] = approval_threshold(self.session, insurer_id)
        return self._threshold[insurer_id]

    def monthly(self, qv: QualificationVersion, up_to: date) -> list[tuple[date, int]]:
        return monthly_remuneration(self.session, qv, up_to, history=self.history(qv.qualification_id))

    def dependents(self, member_qualification_id: int) -> list[QualificationVersion]:
        cache = self.__dict__.setdefault("_dependents", {})
        if member_qualification_id not in cache:
            cache[member_qualification_id] = registry.dependents_of(self.session, member_qualification_id)
        return cache[member_qualification_id]

    def birth_date(self, person_id: int) -> date | None:
        if person_id not in self._birth:
            pv = registry.person_on(self.session, person_id)
            self._birth[person_id] = pv.birth_date if pv else None
        return self._birth[person_id]

    def refund_months(self, app: BenefitApplication, member_qv: QualificationVersion, month: date) \
            -> tuple[list[date], str]:
        """The months with a 高額療養費 refund of the household in the 12 before *month*, and how they were found.

        **Choice** (docs/benefits.md): when the claims domain holds claims of the household (the member and their
        dependants) for any of those months, the months are counted from the claims — each month's refund computed
        from its レセプト with the same rules; otherwise the months the application declares
        (``details.refund_months``, e.g. other insurers' are not counted: 多数回 is per insurer) together with this
        insurer's earlier decided refunds of the qualification."""
        first = add_months(month, -(rules.HIGH_COST_HOUSEHOLD.at(month).window_months - 1))
        if self.claims_refund_months is not None:
            # one household and month read once per batch (its applications share the answer)
            cache = self.__dict__.setdefault("_claims_months", {})
            key = (member_qv.qualification_id, month_start(month))
            if key not in cache:
                persons = {member_qv.person_id: self.birth_date(member_qv.person_id)}
                for dep in self.dependents(member_qv.qualification_id):
                    persons[dep.person_id] = self.birth_date(dep.person_id)
                with_claims = self._with_claims
                if with_claims is not None and not with_claims & set(persons):
                    cache[key] = None  # the batch's one look found no claim of this household: nothing to compute
                else:
                    cache[key] = self.claims_refund_months(
                        self.session, insurer_id=app.insurer_id, persons=persons, first=first,
                        before=month_start(month), category=lambda m: self._category_for(member_qv, m))
            found = cache[key]
            if found is not None:
                return found, f"レセプトから算定（{len(found)}か月: " + \
                    ("、".join(f"{m:%Y-%m}" for m in found) or "なし") + "）"
        declared = [_d(m + "-01") for m in (app.details or {}).get("refund_months") or []]
        earlier = [_d(a.details["month"] + "-01") for a in _previous(self, app)
                   if (a.amount or 0) > 0 and a.details.get("month")]  # not a yearly 外来年間合算
        months = sorted({m for m in declared + earlier if first <= m < month_start(month)})
        return months, f"申請の申告 {len(declared)}か月と当保険者の支給済み {len(earlier)}か月（過去12か月に" \
            f"{len(months)}か月）"

    def _category_for(self, member_qv: QualificationVersion, month: date,
                      declared: rules.IncomeBasis | None = None) -> tuple[str, str]:
        rem = _remuneration_on(self, member_qv, month) or 0
        birth = self.birth_date(member_qv.person_id)
        old = birth is not None and rules.age_group(birth, month) != "under_70"
        c70 = limit_category(on=month, age_70_plus=True, monthly_remuneration=rem if old else 0)
        return (limit_category(on=month, age_70_plus=False, monthly_remuneration=rem),
                rules.with_income_basis(rules.with_income_basis(c70, month, self.income_basis(member_qv, month)),
                                        month, declared))

    def income_basis(self, member_qv: QualificationVersion, month: date) -> rules.IncomeBasis | None:
        """The registry's 基準収入額適用 of the member (a 限度額 certificate with ``income_exemption`` in force in
        *month*, as the 限度額適用 intake records it): 一般 from its application's month (``certificate_date``;
        :func:`onshi.rules.benefits.income_basis_from`), as the co-pay ratio (:mod:`onshi.rules.co_pay`) does."""
        cache = self.__dict__.setdefault("_income_basis", {})
        key = (member_qv.qualification_id, month_start(month))
        if key not in cache:
            last = add_months(month_start(month), 1) - timedelta(days=1)
            lc = registry.limit_certificate_on(self.session, member_qv.qualification_id, last)
            if lc is None or not lc.income_exemption:
                cache[key] = None
            else:
                start = rules.income_basis_from(lc.certificate_date)
                cache[key] = rules.IncomeBasis(True, start, (
                    f"登録済み（申請 {lc.certificate_date}、{start} から一般）",))
        return cache[key]


# ---------------------------------------------------------------------------- checks

def _days(a: date, b: date) -> list[date]:
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def continued_benefit_allowed(qv: QualificationVersion) -> bool:
    """資格喪失後の継続給付 (健康保険法 §104): 1 year or more of continuous membership up to the day before the loss."""
    return qv.loss_date is not None and qv.acquisition_date <= qv.loss_date - timedelta(days=365)


def missing_items(session: Session, app: BenefitApplication, qv: QualificationVersion,
                  facts: Facts | None = None) -> list[dict]:
    """What stops *app* from being complete: ``[{"field", "reason"}]`` in Japanese (empty: complete)."""
    facts = facts or Facts(session)
    out: list[dict] = []
    add = lambda f, r: out.append({"field": f, "reason": r})  # noqa: E731
    d = app.details or {}
    if app.bank_account_id is None:
        add("bank", d.get("bank_error") or "振込先口座がありません")
    try:
        if app.kind in ("sickness", "maternity"):
            if qv.role != Role.insured:
                add("kind", f"{rules.KINDS[app.kind]}は被保険者本人の給付です（被扶養者には支給されません）")
            if qv.voluntary_continuation and app.kind == "sickness":
                add("kind", "任意継続被保険者には傷病手当金は支給されません（健康保険法第99条第1項）")
            p_from, p_to = _d(d.get("period_from")), _d(d.get("period_to"))
            if p_from is None or p_to is None:
                add("period", "申請期間（開始日・終了日）を記入してください")
            elif p_from > p_to:
                add("period", f"申請期間 {p_from}〜{p_to}: 開始日が終了日より後です")
            else:
                if p_from < qv.acquisition_date:
                    add("period", f"申請期間の開始日 {p_from} は資格取得日 {qv.acquisition_date} より前です")
                if qv.loss_date is not None and p_to >= qv.loss_date:
                    started = _d(d.get("incapacity_from") or d.get("birth_date")) or p_from
                    if not continued_benefit_allowed(qv) or started >= qv.loss_date:
                        add("period", f"申請期間の終了日 {p_to} は資格喪失日 {qv.loss_date} 以降です"
                            "（継続給付の要件: 喪失日の前日まで継続して1年以上の被保険者期間があり、"
                            "喪失時に受給中または受給要件を満たしていること）")
                # an earlier application, or a decided one, holds the days: a later one for the same days waits
                for other in facts.others(app):
                    if not (app.id is None or other.id < app.id or other.status in ("decided", "paid")):
                        continue
                    o_from, o_to = facts.period(other)
                    if o_from and o_to and o_from <= p_to and p_from <= o_to:
                        add("period", f"申請期間 {p_from}〜{p_to} が申請番号 {other.id} の期間 {o_from}〜{o_to}"
                            "と重なっています")
                if app.kind == "sickness":
                    inc = _d(d.get("incapacity_from"))
                    if inc is None:
                        add("incapacity_from", "労務不能となった日（初日）を記入してください")
                    elif inc > p_from:
                        add("incapacity_from", f"労務不能となった日 {inc} が申請期間の開始日 {p_from} より後です")
                else:
                    birth, due = _d(d.get("birth_date")), _d(d.get("due_date"))
                    if birth is None or due is None:
                        add("birth_date", "出産日と出産予定日を記入してください")
                    else:
                        first, last = rules.maternity_period(birth=birth, due=due, multiple=bool(d.get("multiple")))
                        if p_from < first or p_to > last:
                            add("period", f"申請期間 {p_from}〜{p_to} が出産手当金の支給期間 {first}〜{last}"
                                f"（出産日 {birth}・予定日 {due}{'・多胎' if d.get('multiple') else ''}）の外にあります")
            if not (app.doctor_cert or {}).get("certified_on"):
                add("doctor_cert", "療養担当者（医師・助産師）の意見書欄の証明がありません"
                    if app.kind == "sickness" else "医師・助産師の証明（出産の証明）がありません")
            if not (app.employer_cert or {}).get("certified_on"):
                add("employer_cert", "事業主の証明（勤務状況・賃金の支払状況）がありません")
        elif app.kind == "childbirth":
            birth = _d(d.get("birth_date"))
            if birth is None:
                add("birth_date", "出産日を記入してください")
            elif birth < qv.acquisition_date or (qv.loss_date is not None and birth >= qv.loss_date
                                                  and not (continued_benefit_allowed(qv)
                                                           and birth < qv.loss_date + timedelta(days=183))):
                add("birth_date", f"出産日 {birth} に資格がありません（資格 {qv.acquisition_date}〜"
                    f"{qv.loss_date or ''}、喪失後6か月以内の出産は継続給付の要件を満たす場合のみ）")
            if int(d.get("children") or 0) < 1:
                add("children", "出生児数を記入してください（1以上）")
            if "covered" not in d:
                add("covered", "産科医療補償制度の対象となる出産かどうかを記入してください")
            if not (app.doctor_cert or {}).get("certified_on"):
                add("doctor_cert", "医師・助産師または市区町村長の出産の証明がありません")
        elif app.kind == "burial":
            death = _d(d.get("death_date"))
            if death is None:
                add("death_date", "死亡日を記入してください")
            elif death < qv.acquisition_date or (qv.loss_date is not None
                                                  and death >= add_months(qv.loss_date, 3)):
                add("death_date", f"死亡日 {death} は資格期間（喪失後3か月以内を含む）の外です")
            if not app.attachments:
                add("attachments", "埋葬許可証・死亡診断書等の写しの添付がありません")
        elif app.kind == "high_cost" and d.get("outpatient_year") not in (None, ""):
            _outpatient_year_missing(app, qv, d, add, facts)
        elif app.kind == "high_cost":
            month = _d((d.get("month") or "") + "-01") if d.get("month") and len(d.get("month")) == 7 else None
            if month is None:
                add("month", "診療月（YYYY-MM）を記入してください")
            elif month < month_start(qv.acquisition_date) or (qv.loss_date is not None and month >= qv.loss_date):
                add("month", f"診療月 {d.get('month')} に資格がありません")
            items = d.get("items") or []
            if not items:
                add("items", "医療機関ごとの自己負担額を記入してください")
            for i, it in enumerate(items, 1):
                if int(it.get("paid") or 0) <= 0 or int(it.get("total_cost") or 0) < int(it.get("paid") or 0):
                    add("items", f"{i}行目: 自己負担額 {it.get('paid')}・総医療費 {it.get('total_cost')} が"
                        "正しくありません（総医療費は自己負担額以上）")
                if it.get("birth_date") not in (None, ""):
                    try:
                        date.fromisoformat(str(it["birth_date"]))
                    except ValueError:
                        add("items", f"{i}行目: 生年月日「{it['birth_date']}」は YYYY-MM-DD で記入してください")
            if d.get("category") not in (None, "") and d["category"] not in _HIGH_COST_CATEGORIES:
                add("category", f"限度額区分「{d['category']}」はありません（{', '.join(sorted(_HIGH_COST_CATEGORIES))}）")
            _income_basis_missing(d, add)
            c70 = d.get("category_70")
            if c70 not in (None, "") and (c70 not in _HIGH_COST_CATEGORIES or not str(c70).startswith("B")):
                add("category_70", f"70歳以上の限度額区分「{c70}」はありません（B01〜B06）")
            for m in d.get("refund_months") or []:
                try:
                    ok = isinstance(m, str) and len(m) == 7 and date.fromisoformat(m + "-01") is not None
                except ValueError:
                    ok = False
                if not ok:
                    add("refund_months", f"高額療養費の支給月「{m}」は YYYY-MM で記入してください")
    except (ValueError, TypeError) as exc:
        add("details", f"読めない値があります: {exc}")
    except LookupError as exc:  # rules.dated.NotInForce: a date before the rule's first row
        add("details", f"この日付に適用できる規定がありません（{exc}）")
    return out


def _outpatient_year_missing(app: BenefitApplication, qv: QualificationVersion, d: dict, add, facts: Facts) -> None:
    """The checks of a 外来年間合算 application (``details.outpatient_year``: the year of its 基準日, 31 July)."""
    try:
        year = int(d["outpatient_year"])
        first, last = rules.outpatient_year(date(year, 7, 31))
    except (ValueError, TypeError, LookupError):
        add("outpatient_year", f"外来年間合算の年「{d['outpatient_year']}」は基準日（7月31日）の年を西暦4桁で記入して"
            f"ください（{rules.OUTPATIENT_YEARLY.rows[0][0].year + 1}年以降）")
        return
    if app.received_on <= last:
        add("outpatient_year", f"計算期間（{first} 〜 {last}）が終わっていません: 基準日の翌日以降に申請してください")
    if qv.acquisition_date > last or (qv.loss_date is not None and qv.loss_date <= last):
        add("outpatient_year", f"基準日 {last} に資格がありません（基準日に加入している方が対象）")
    for other in facts.others(app):
        if other.qualification_id == app.qualification_id and \
                str((other.details or {}).get("outpatient_year") or "") == str(year):
            add("outpatient_year", f"{year}年7月31日基準日の外来年間合算は申請番号 {other.id} で申請済みです")
    for i, m in enumerate(d.get("outpatient_months") or [], 1):
        try:
            month = date.fromisoformat(str(m.get("month")) + "-01")
            paid, refunded = int(m.get("paid")), int(m.get("refunded") or 0)
        except (ValueError, TypeError, AttributeError):
            add("outpatient_months", f"{i}行目: 月（YYYY-MM）と外来の自己負担額を記入してください")
            continue
        if not first <= month <= last:
            add("outpatient_months", f"{i}行目: {m.get('month')} は計算期間（{first:%Y-%m} 〜 {last:%Y-%m}）の外です")
        if paid < 0 or not 0 <= refunded <= paid:
            add("outpatient_months", f"{i}行目: 自己負担額 {paid}・月間の高額療養費 {refunded} が正しくありません")
    _income_basis_missing(d, add)


def _income_basis_missing(d: dict, add) -> None:
    b = d.get("income_basis")
    if not b:
        return
    try:
        declared_income_basis(d)
    except (KeyError, ValueError, TypeError, LookupError) as exc:
        add("income_basis", f"基準収入額適用の申請日・収入額が読めません（applied_on, incomes）: {exc}")


def _check(session: Session, app: BenefitApplication, on: date, actor: str) -> BenefitApplication:
    qv = _qualification(session, app.qualification_id)
    missing = missing_items(session, app, qv)
    app.missing = missing
    if missing:
        if app.status != "incomplete":
            _event(session, app, "incomplete", on, actor, "; ".join(m["reason"] for m in missing))
    else:
        app.complete_on = on
        _event(session, app, "complete", on, actor)
    session.flush()
    return app


# ---------------------------------------------------------------------------- receiving

def add_bank_account(session: Session, *, person_id: int, bank: dict) -> BankAccount:
    """The person's account, sealed; the same account again returns the row already kept.  Raises
    :class:`BenefitError` naming the field when the account fails its check."""
    account_type = int(bank.get("account_type") or 0) if str(bank.get("account_type", "")).isdigit() else 0
    number = str(bank.get("account_number", "")).strip()
    bad = zengin.check_account(bank_code=str(bank.get("bank_code", "")), branch_code=str(bank.get("branch_code", "")),
                               account_type=account_type, account_number=number)
    try:
        holder = zengin.kana(str(bank.get("holder", "")), "holder")
        if not holder.strip():
            bad["holder"] = "口座名義（カナ）を記入してください"
        elif len(holder) > 30:
            bad["holder"] = f"口座名義「{bank.get('holder')}」: 30文字以内です"
    except zengin.ZenginError as exc:
        bad[exc.field] = exc.message
    if bad:
        raise BenefitError({f"bank.{k}": v for k, v in bad.items()})
    v = vault()
    digest = v.lookup_hash(f"bank:{bank['bank_code']}:{bank['branch_code']}:{account_type}:{number}")
    found = session.scalar(select(BankAccount).where(BankAccount.person_id == person_id,
                                                     BankAccount.number_hash == digest))
    if found is not None:
        return found
    acct = BankAccount(person_id=person_id, bank_code=bank["bank_code"], branch_code=bank["branch_code"],
                       account_type=account_type, number_enc=v.seal(number.encode()), number_hash=digest,
                       holder_kana=holder)
    session.add(acct)
    session.flush()
    return acct


def account_number(acct: BankAccount) -> str:
    """The plain number — only for the transfer file; never logged, never shown but its last 3 digits."""
    return vault().unseal(acct.number_enc).decode()


def masked_account(acct: BankAccount | None) -> str:
    if acct is None:
        return ""
    return f"{acct.bank_code}-{acct.branch_code} {zengin.ACCOUNT_TYPES.get(acct.account_type, '')} ****{account_number(acct)[-3:]}"


def employer_of(session: Session, qv: QualificationVersion) -> int | None:
    """The 事業所 of a qualification; a dependant's is the member's."""
    if qv.role == Role.dependent and qv.member_qualification_id:
        return _qualification(session, qv.member_qualification_id).employer_id
    return qv.employer_id


def receive(session: Session, inp: ApplicationInput, *, insurer_id: int, actor: str,
            employer_id: int | None = None) -> BenefitApplication:
    """Record an application and check it (→ complete or incomplete with what is missing).  The same
    ``source_key`` again returns the application already received, unchanged.  An unknown member, kind or
    channel is refused with :class:`BenefitError` and nothing is kept.  *employer_id*: an employer's own
    submission (:mod:`onshi.auth.employers`) — the member must belong to that 事業所, else :class:`NotEmployee`
    (checked before anything else is said about the input)."""
    key = _source_key(inp, insurer_id)
    found = session.scalar(select(BenefitApplication).where(BenefitApplication.source_key == key))
    if found is not None:
        return found
    if employer_id is not None:
        qv = registry.current_by_numbers(session, insurer_id=insurer_id, symbol=inp.symbol, number=inp.number,
                                         branch=inp.branch or "00")
        if qv is None or employer_of(session, qv) != employer_id:
            raise NotEmployee(f"記号「{inp.symbol}」番号「{inp.number}」枝番「{inp.branch}」はこの事業所の被保険者"
                              "ではありません")
    bad = {}
    if inp.kind not in rules.KINDS:
        bad["kind"] = f"給付の種類「{inp.kind}」はありません（{', '.join(rules.KINDS)}）"
    if inp.channel not in rules.CHANNELS:
        bad["channel"] = f"受付方法「{inp.channel}」はありません（{', '.join(rules.CHANNELS)}）"
    qv = registry.current_by_numbers(session, insurer_id=insurer_id, symbol=inp.symbol, number=inp.number,
                                     branch=inp.branch or "00")
    if qv is None:
        bad["number"] = f"記号「{inp.symbol}」番号「{inp.number}」枝番「{inp.branch}」の加入者は見つかりません"
    if bad:
        raise BenefitError(bad)
    details = dict(inp.details)
    acct_id = None
    if inp.bank:
        # the account belongs to the member (the payee), also for a dependant's 出産育児一時金 or 高額療養費
        member_person = qv.person_id
        if qv.role == Role.dependent and qv.member_qualification_id:
            member_person = _qualification(session, qv.member_qualification_id).person_id
        try:
            acct_id = add_bank_account(session, person_id=member_person, bank=inp.bank).id
        except BenefitError as exc:
            details["bank_error"] = "; ".join(exc.invalid.values())
    # recorded on the qualification named (a dependant's 家族出産育児一時金 on the dependant); paid to the member
    app = BenefitApplication(source_key=key, insurer_id=insurer_id, person_id=qv.person_id,
                             qualification_id=qv.qualification_id,
                             kind=inp.kind, channel=inp.channel, received_on=inp.received_on, status="received",
                             details=details, employer_cert=inp.employer_cert, doctor_cert=inp.doctor_cert,
                             attachments=list(inp.attachments or []), bank_account_id=acct_id, created_by=actor[:100],
                             missing=[], explanation=[])
    session.add(app)
    session.flush()
    session.add(BenefitEvent(application_id=app.id, on=inp.received_on, from_status=None, to_status="received",
                             actor=actor[:100], note=rules.CHANNELS[inp.channel]))
    return _check(session, app, inp.received_on, actor)


def _get(session: Session, application_id: int, insurer_id: int | None) -> BenefitApplication:
    app = session.get(BenefitApplication, application_id)
    if app is None or (insurer_id is not None and app.insurer_id != insurer_id):
        raise LookupError(f"申請番号 {application_id} はありません")
    return app


def supplement(session: Session, application_id: int, *, on: date, actor: str, insurer_id: int | None = None,
               details: dict | None = None, employer_cert: dict | None = None, doctor_cert: dict | None = None,
               attachments: list | None = None, bank: dict | None = None) -> BenefitApplication:
    """Add what was missing to an incomplete application and check it again; complete from *on* when nothing is
    missing any more."""
    app = _get(session, application_id, insurer_id)
    if app.status != "incomplete":
        raise StateError(f"申請番号 {app.id} は「{STATUS_LABELS[app.status]}」です: 補正できるのは不備の申請だけです")
    new_details = {**(app.details or {}), **(details or {})}
    if bank:
        new_details.pop("bank_error", None)
        try:
            app.bank_account_id = add_bank_account(session, person_id=_payee(session, app), bank=bank).id
        except BenefitError as exc:
            new_details["bank_error"] = "; ".join(exc.invalid.values())
    app.details = new_details
    if employer_cert is not None:
        app.employer_cert = employer_cert
    if doctor_cert is not None:
        app.doctor_cert = doctor_cert
    if attachments:
        app.attachments = [*(app.attachments or []), *attachments]
    _event(session, app, "incomplete", on, actor, "補正")
    return _check(session, app, on, actor)


def _payee(session: Session, app: BenefitApplication) -> int:
    qv = _qualification(session, app.qualification_id)
    if qv.role == Role.dependent and qv.member_qualification_id:
        return _qualification(session, qv.member_qualification_id).person_id
    return qv.person_id


# ---------------------------------------------------------------------------- deciding

@dataclass(frozen=True)
class Calculation:
    amount: int
    lines: tuple[str, ...]
    paid_days: int = 0
    refusal: str | None = None  # why nothing is payable


def _previous(facts: Facts, app: BenefitApplication) -> list[BenefitApplication]:
    """The decided or paid applications of the same qualification and kind."""
    return [a for a in facts.others(app) if a.qualification_id == app.qualification_id
            and a.status in ("decided", "paid")]


def _remuneration_on(facts: Facts, qv: QualificationVersion, day: date) -> int | None:
    """The member's 標準報酬月額 on *day* (a dependant follows the member)."""
    if qv.role == Role.dependent:
        return registry.member_remuneration_on(facts.session, qv, day)
    return next((r.monthly_amount for r in facts.history(qv.qualification_id)
                 if r.valid_from <= day and (r.valid_to is None or r.valid_to > day)), None)


def calculate(session: Session, app: BenefitApplication, facts: Facts | None = None) -> Calculation:
    """The amount of a complete application from the registry and :mod:`onshi.rules.benefits`, explained."""
    facts = facts or Facts(session)
    qv = facts.qualification(app.qualification_id)
    d = app.details or {}
    wages = {_d(k): int(v) for k, v in ((app.employer_cert or {}).get("wages") or {}).items()}
    worked = {_d(x) for x in (app.employer_cert or {}).get("worked_days") or []}
    other = int(d.get("other_daily") or 0)
    if app.kind == "sickness":
        inc, p_from, p_to = _d(d["incapacity_from"]), _d(d["period_from"]), _d(d["period_to"])
        before = [a for a in _previous(facts, app) if a.details.get("incapacity_from") == d["incapacity_from"]]
        w = rules.waiting(inc, p_to, worked, already_completed=bool(before))
        lines = []
        if before:
            lines.append(f"待期: 同じ傷病で申請番号 {before[0].id} により完成済み")
        elif w.completed_on is None:
            return Calculation(0, (f"待期: {inc} 以降 {p_to} までに連続3日の休業がありません",), 0,
                               "待期（連続する3日間の休業）が完成していないため支給できません")
        else:
            lines.append(f"待期: {inc} 〜 {w.completed_on}（連続3日、土日祝日を含む）で完成")
        if w.payable is None:
            return Calculation(0, tuple(lines + ["待期完成後の申請期間がありません"]), 0,
                               "申請期間が待期の3日間だけのため支給する日がありません")
        start = max(w.payable[0], p_from)
        days = [x for x in _days(start, p_to) if x not in worked
                and (qv.loss_date is None or x < qv.loss_date or continued_benefit_allowed(qv))]
        if not days:
            return Calculation(0, tuple(lines + ["労務不能の日がありません"]), 0, "労務に服さなかった日がありません")
        first = min([_d(a.details.get("first_payable")) for a in before if a.details.get("first_payable")]
                    + [days[0]])
        app.details = {**d, "first_payable": first.isoformat()}
        daily = rules.daily_amount(facts.monthly(qv, first), first_day=first,
                                   insurer_average=facts.average(app.insurer_id, first))
        total = rules.duration_days(first)
        used = sum(a.paid_days for a in before)
        lines += list(daily.lines) + [f"支給期間: 支給開始日 {first} から通算 {total}日（1年6か月）、既支給 {used}日"]
        e = rules.period_amount(daily.amount, days, wages=wages, other_daily=other, remaining_days=total - used)
        paid_days = min(len(days), total - used)
        if e.amount == 0:
            return Calculation(0, tuple(lines + list(e.lines)), paid_days,
                               "報酬等が日額以上支払われている、または通算1年6か月を超えるため支給額がありません")
        return Calculation(e.amount, tuple(lines + list(e.lines)), paid_days)
    if app.kind == "maternity":
        birth, due = _d(d["birth_date"]), _d(d["due_date"])
        first_day, last_day = rules.maternity_period(birth=birth, due=due, multiple=bool(d.get("multiple")))
        p_from, p_to = max(_d(d["period_from"]), first_day), min(_d(d["period_to"]), last_day)
        days = [x for x in _days(p_from, p_to) if x not in worked]
        lines = [f"出産手当金の期間: {first_day} 〜 {last_day}（出産日 {birth}・予定日 {due}"
                 f"{'・多胎 98日' if d.get('multiple') else '・42日'}前から出産後56日）"]
        if not days:
            return Calculation(0, tuple(lines), 0, "期間中に労務に服さなかった日がありません")
        daily = rules.daily_amount(facts.monthly(qv, days[0]), first_day=days[0],
                                   insurer_average=facts.average(app.insurer_id, days[0]))
        e = rules.period_amount(daily.amount, days, wages=wages, other_daily=other)
        if e.amount == 0:
            return Calculation(0, tuple(lines + list(daily.lines) + list(e.lines)), len(days),
                               "報酬が日額以上支払われているため支給額がありません")
        return Calculation(e.amount, tuple(lines + list(daily.lines) + list(e.lines)), len(days))
    if app.kind == "childbirth":
        e = rules.childbirth_lump_sum(birth=_d(d["birth_date"]), children=int(d["children"]),
                                      covered=bool(d["covered"]))
        paid_direct = int(d.get("paid_to_institution") or 0)
        if paid_direct:
            rest = max(e.amount - paid_direct, 0)
            return Calculation(rest, e.lines + (f"直接支払制度で医療機関へ支払済み {paid_direct:,}円: 差額 {rest:,}円",),
                               0, None if rest else "直接支払制度で全額支払済みのため差額がありません")
        return Calculation(e.amount, e.lines)
    if app.kind == "burial":
        costs = d.get("costs")
        e = rules.burial_amount(death=_d(d["death_date"]), costs=int(costs) if costs not in (None, "") else None)
        return Calculation(e.amount, e.lines)
    # high_cost
    return _high_cost(facts, app, qv, d)


def _high_cost(facts: Facts, app: BenefitApplication, qv: QualificationVersion, d: dict) -> Calculation:
    """高額療養費: each item's person placed in their age group of the month (the item's ``birth_date``, else the
    applicant's), the 区分 under 70 and at 70–74 from the member's 標準報酬月額 and age unless the application names
    them (``category``, ``category_70``), 多数回該当 from the household's months with a refund
    (:meth:`Facts.refund_months`)."""
    if d.get("outpatient_year"):
        return _outpatient_year(facts, app, qv, d)
    month = _d(d["month"] + "-01")
    member_qv = qv
    if qv.role == Role.dependent and qv.member_qualification_id:
        member_qv = facts.qualification(qv.member_qualification_id)
    own_birth = facts.birth_date(qv.person_id)
    basis_lines: list[str] = []
    try:
        items = []
        for i in d["items"]:
            birth = _d(i.get("birth_date")) or own_birth
            items.append(rules.CareItem(str(i.get("person", "")), str(i.get("institution", "")), int(i["paid"]),
                                        int(i["total_cost"]), rules.age_group(birth, month) if birth else "under_70",
                                        bool(i.get("inpatient"))))
        remuneration = _remuneration_on(facts, qv, month) or 0
        category = d.get("category") or limit_category(on=month, age_70_plus=False,
                                                       monthly_remuneration=remuneration)
        category_70 = d.get("category_70")
        if category_70 is None and not category.startswith("B"):
            if category == "A05":  # 住民税非課税 declared: 低所得Ⅱ unless the application says Ⅰ
                category_70 = "B05"
            else:  # 現役並み only when the member is 70–74 too (a dependant follows the member)
                member_birth = facts.birth_date(member_qv.person_id)
                member_old = member_birth is not None and rules.age_group(member_birth, month) != "under_70"
                category_70 = limit_category(on=month, age_70_plus=True,
                                             monthly_remuneration=remuneration if member_old else 0)
                category_70, basis_lines = _apply_income_basis(facts, member_qv, month, category_70, d)
        refund_months, basis = facts.refund_months(app, member_qv, month)
        e = rules.high_cost_refund(month=month, category=category, items=items, refund_months=refund_months,
                                   category_70=category_70)
    except ValueError as exc:
        return Calculation(0, (str(exc),), 0, str(exc))
    lines = (*e.lines[:1], *basis_lines, f"多数回該当の判定: {basis}", *e.lines[1:])
    return Calculation(e.amount, lines, 0, None if e.amount else "自己負担限度額を超える支払がありません")


def declared_income_basis(d: dict) -> rules.IncomeBasis | None:
    """The 基準収入額適用 an application declares (``details.income_basis``: ``applied_on``, ``incomes`` — the
    member's first, then each 70–74 dependant's —, optional ``former_dependant_income``, ``timely_from``), decided
    by :func:`onshi.rules.benefits.income_basis`; None when it declares none."""
    b = d.get("income_basis")
    if not b:
        return None
    return rules.income_basis(applied_on=_d(b["applied_on"]), incomes=[int(x) for x in b["incomes"]],
                              former_dependant_income=int(b["former_dependant_income"])
                              if b.get("former_dependant_income") not in (None, "") else None,
                              timely_from=_d(b.get("timely_from")))


def _apply_income_basis(facts: Facts, member_qv: QualificationVersion, month: date, category_70: str,
                        d: dict) -> tuple[str, list[str]]:
    """*category_70* after a 基準収入額適用 — the registry's (:meth:`Facts.income_basis`) or the application's own
    (:func:`declared_income_basis`) — with the lines that say why."""
    if category_70 not in rules.ACTIVE_LIKE:
        return category_70, []
    lines = []
    for basis in (facts.income_basis(member_qv, month), declared_income_basis(d)):
        if basis is None:
            continue
        after = rules.with_income_basis(category_70, month, basis)
        lines += [f"基準収入額適用: {x}" for x in basis.lines]
        if after != category_70:
            lines.append(f"基準収入額適用により {month:%Y年%m月} は現役並みでなく一般（区分 一般）")
            return after, lines
    if lines:
        lines.append(f"{month:%Y年%m月} は基準収入額適用の前（現役並みのまま）")
    return category_70, lines


def _outpatient_year(facts: Facts, app: BenefitApplication, qv: QualificationVersion, d: dict) -> Calculation:
    """外来年間合算 (70歳以上 一般・低所得): the person's 外来 per month of the 計算期間 ending on 31 July of
    ``details.outpatient_year`` — from the claims when the claims domain holds the person's (each month's 高額療養費
    computed from the household's claims), else the months the application declares (``outpatient_months``:
    ``month``, ``paid``, ``refunded``) — and each month's 区分 from the registry (or ``category_70``), then
    :func:`onshi.rules.benefits.outpatient_year_refund`."""
    year = int(d["outpatient_year"])
    first, last = rules.outpatient_year(date(year, 7, 31))
    member_qv = qv
    if qv.role == Role.dependent and qv.member_qualification_id:
        member_qv = facts.qualification(qv.member_qualification_id)
    birth = facts.birth_date(qv.person_id)
    declared_basis = declared_income_basis(d)

    def category(m: date) -> tuple[str, str]:
        under, c70 = facts._category_for(member_qv, m, declared_basis)
        if d.get("category_70"):
            c70 = d["category_70"]
        return under, c70

    lines: list[str] = [f"基準収入額適用: {x}" for x in declared_basis.lines] if declared_basis else []
    found = None
    fn = getattr(facts.claims_refund_months, "outpatient_months", None)
    if fn is not None:
        persons = {member_qv.person_id: facts.birth_date(member_qv.person_id)}
        for dep in facts.dependents(member_qv.qualification_id):
            persons[dep.person_id] = facts.birth_date(dep.person_id)
        persons[qv.person_id] = birth
        found = fn(facts.session, insurer_id=app.insurer_id, persons=persons, person_id=qv.person_id, first=first,
                   before=add_months(first, 12), category=category)
    if found is not None:
        lines.append(f"外来の自己負担: レセプトから算定（{len(found)}か月）")
        rows = found
    else:
        rows = [(_d(m["month"] + "-01"), int(m["paid"]), int(m["paid"]) - int(m.get("refunded") or 0))
                for m in d.get("outpatient_months") or []]
        lines.append(f"外来の自己負担: 申請の申告（{len(rows)}か月）")
    try:
        months = []
        for m, paid, borne in rows:
            try:
                group = rules.age_group(birth, m) if birth else "under_70"
            except rules.NotThisInsurer:
                continue
            months.append(rules.OutpatientMonth(m, group, category(m)[1] if group != "under_70" else None,
                                                paid, borne))
        base_group = rules.age_group(birth, last) if birth else "under_70"
        e = rules.outpatient_year_refund(base_day=last, base_category=category(last)[1], base_age_group=base_group,
                                         months=months)
    except ValueError as exc:  # NotThisInsurer on the 基準日, a bad row
        return Calculation(0, (str(exc),), 0, str(exc))
    lines = [e.lines[0], *lines, *e.lines[1:]]
    return Calculation(e.amount, tuple(lines), 0,
                       None if e.amount else "外来の自己負担の年間合計が年間上限を超えていないため支給額がありません")


def decide(session: Session, application_id: int, *, on: date, actor: str, insurer_id: int | None = None,
           claims=None) -> BenefitApplication:
    """Decide a complete application: the amount and its explanation (→ decided), or refused when nothing is
    payable (the reason from the calculation).  Above the approval threshold it waits for a supervisor."""
    app = _get(session, application_id, insurer_id)
    if app.status != "complete":
        raise StateError(f"申請番号 {app.id} は「{STATUS_LABELS[app.status]}」です: 決定できるのは受付完了の申請だけです")
    _decide(session, app, on, actor, Facts(session, claims))
    session.flush()
    return app


def _decide(session: Session, app: BenefitApplication, on: date, actor: str, facts: Facts) -> None:
    # the checks again: another application may have been decided for the same days since
    qv = facts.qualification(app.qualification_id)
    missing = missing_items(session, app, qv, facts)
    if missing:
        app.missing = missing
        app.complete_on = None
        facts.event(app, "incomplete", on, actor, "; ".join(m["reason"] for m in missing))
        return
    try:
        calc = calculate(session, app, facts)
    except (LookupError, ValueError) as exc:  # no rule in force on the day, no 標準報酬月額 for the month …
        app.missing = [{"field": "details", "reason": f"算定できません: {exc}"}]
        app.complete_on = None
        facts.event(app, "incomplete", on, actor, app.missing[0]["reason"])
        return
    app.explanation = list(calc.lines)
    app.paid_days = calc.paid_days
    app.decided_on, app.decided_by = on, actor[:100]
    if calc.refusal:
        app.amount = 0
        app.refused_reason = calc.refusal
        facts.event(app, "refused", on, actor, calc.refusal)
    else:
        app.amount = calc.amount
        app.needs_approval = calc.amount > facts.threshold(app.insurer_id)
        facts.event(app, "decided", on, actor, f"{calc.amount:,}円" + ("（承認待ち）" if app.needs_approval else ""))


def decide_batch(session: Session, *, insurer_id: int, on: date, actor: str, limit: int = 2000,
                 claims=None) -> int:
    """Decide up to *limit* complete applications of the insurer (oldest completeness first; of one day, a person's
    together, in the order received) with the facts of the whole batch read in a few statements; the number handled
    (decided, refused or found incomplete again).  A person's applications together: a batch reads the other
    applications of its persons, so fewer persons per batch is less to read (the order among one person's
    applications — by id — is what the overlap check needs; persons are independent)."""
    a_ = BenefitApplication
    apps = list(session.scalars(select(a_).where(a_.insurer_id == insurer_id, a_.status == "complete")
                                .order_by(a_.complete_on, a_.person_id, a_.id).limit(limit)))
    if not apps:
        return 0
    facts = Facts(session, claims).preload(apps)
    with session.no_autoflush:
        for app in apps:
            _decide(session, app, on, actor, facts)
    # the decisions in one executemany (the unit of work would send an UPDATE per row); the events as usual
    rows = [{"_id": a.id, **{c: getattr(a, c) for c in _DECISION_COLUMNS}} for a in apps]
    for a in apps:
        session.expunge(a)
    table = BenefitApplication.__table__
    session.execute(table.update().where(table.c.id == bindparam("_id")), rows)
    session.execute(BenefitEvent.__table__.insert(), facts.events)
    return len(apps)


_DECISION_COLUMNS = ("status", "missing", "complete_on", "decided_on", "decided_by", "needs_approval", "amount",
                     "explanation", "paid_days", "details", "refused_reason")


def decide_all(session: Session, *, insurer_id: int, on: date, actor: str, limit: int | None = None,
               claims=None) -> int:
    """Decide every complete application of the insurer (oldest completeness first), in batches; the number
    handled."""
    total = 0
    while limit is None or total < limit:
        n = decide_batch(session, insurer_id=insurer_id, on=on, actor=actor,
                         limit=2000 if limit is None else min(2000, limit - total), claims=claims)
        if not n:
            break
        total += n
    return total


def approve(session: Session, application_id: int, *, on: date, actor: str, insurer_id: int | None = None) \
        -> BenefitApplication:
    app = _get(session, application_id, insurer_id)
    if app.status != "decided" or not app.needs_approval or app.approved_by:
        raise StateError(f"申請番号 {app.id}: 承認待ちの決定ではありません")
    if actor == app.decided_by:
        raise StateError(f"申請番号 {app.id}: 決定した本人は承認できません")
    app.approved_by = actor[:100]
    session.add(BenefitEvent(application_id=app.id, on=on, from_status="decided", to_status="decided",
                             actor=actor[:100], note="承認"))
    session.flush()
    return app


def refuse(session: Session, application_id: int, *, on: date, actor: str, reason: str,
           insurer_id: int | None = None) -> BenefitApplication:
    app = _get(session, application_id, insurer_id)
    if app.status not in ("received", "incomplete", "complete", "decided"):
        raise StateError(f"申請番号 {app.id} は「{STATUS_LABELS[app.status]}」です: 不支給にできません")
    if not reason.strip():
        raise BenefitError({"reason": "不支給の理由を記入してください"})
    app.refused_reason, app.amount = reason.strip(), 0
    app.decided_on, app.decided_by = on, actor[:100]
    _event(session, app, "refused", on, actor, reason.strip())
    session.flush()
    return app


# ---------------------------------------------------------------------------- paying

@dataclass(frozen=True)
class PaymentRun:
    batch: TransferBatch | None
    file: bytes
    paid: list[int]
    skipped: dict[int, str]


def pay(session: Session, *, insurer_id: int, on: date, actor: str, transfer_date: date | None = None,
        ids: list[int] | None = None, actor_kind: str = "user") -> PaymentRun:
    """Pay the decided applications (those above the threshold only once approved): one 全銀協 file, one payment
    per application (a second run finds nothing to pay), status paid with ``paid_on`` the transfer day.  The file
    holds each payee's account and name: every person in it is audited (``benefit.transfer``)."""
    transfer_date = transfer_date or rules.transfer_date(on)
    q = select(BenefitApplication).where(BenefitApplication.insurer_id == insurer_id,
                                         BenefitApplication.status == "decided")
    if ids is not None:
        q = q.where(BenefitApplication.id.in_(ids))
    apps = list(session.scalars(q.order_by(BenefitApplication.id)))
    paid_ids = set(session.scalars(select(BenefitPayment.application_id).where(
        BenefitPayment.application_id.in_([a.id for a in apps])))) if apps else set()
    ins = registry.get_insurer(session, id=insurer_id)
    settings = ins.settings or {}
    header = zengin.Header(
        requester_code=str(settings.get("zengin_requester_code", "0")), requester_name=settings.get(
            "zengin_requester_name", "ｹﾝｺｳﾎｹﾝ"), transfer_date=transfer_date,
        bank_code=str(settings.get("zengin_bank_code", "0000")), bank_name=settings.get("zengin_bank_name", ""),
        branch_code=str(settings.get("zengin_branch_code", "000")), branch_name=settings.get("zengin_branch_name", ""),
        account_type=int(settings.get("zengin_account_type", 1)),
        account_number=str(settings.get("zengin_account_number", "0")))
    transfers, chosen, skipped = [], [], {}
    accounts = {a.id: a for a in session.scalars(select(BankAccount).where(
        BankAccount.id.in_({a.bank_account_id for a in apps if a.bank_account_id})))} if apps else {}
    for app in apps:
        if app.id in paid_ids:
            skipped[app.id] = "支払済み"
            continue
        if app.needs_approval and not app.approved_by:
            skipped[app.id] = "承認待ち"
            continue
        acct = accounts.get(app.bank_account_id)
        if acct is None or not app.amount:
            skipped[app.id] = "振込先口座または支給額がありません"
            continue
        transfers.append(zengin.Transfer(bank_code=acct.bank_code, bank_name="", branch_code=acct.branch_code,
                                         branch_name="", account_type=acct.account_type,
                                         account_number=account_number(acct), holder=acct.holder_kana,
                                         amount=app.amount, customer_code=str(app.id)))
        chosen.append(app)
    if not chosen:
        return PaymentRun(None, b"", [], skipped)
    data = zengin.transfer_file(header, transfers)
    batch = TransferBatch(insurer_id=insurer_id, transfer_date=transfer_date, count=len(chosen),
                          total=sum(a.amount for a in chosen), sha256=hashlib.sha256(data).hexdigest(),
                          created_by=actor[:100])
    session.add(batch)
    session.flush()
    for app in chosen:
        session.add(BenefitPayment(application_id=app.id, batch_id=batch.id, amount=app.amount,
                                   transfer_date=transfer_date))
        app.paid_on = transfer_date
        _event(session, app, "paid", on, actor, f"振込日 {transfer_date}")
        record_read(session, actor_kind=actor_kind, actor_id=actor, action="benefit.transfer", subject_kind="person",
                    subject_id=app.person_id, detail=f"application={app.id} batch={batch.id}",
                    insurer_number=ins.number if ins else None)
    session.flush()
    return PaymentRun(batch, data, [a.id for a in chosen], skipped)


# ---------------------------------------------------------------------------- the board (no personal data)

STATUS_LABELS = {"received": "受付", "incomplete": "不備（補正待ち）", "complete": "受付完了", "decided": "決定済み",
                 "paid": "支払済み", "refused": "不支給"}


@lru_cache(maxsize=4096)
def due_on(complete_on: date) -> date:
    return rules.payment_due(complete_on)


@dataclass(frozen=True)
class Board:
    """The service-standard board of one insurer (サービススタンダードの状況): counts only, no one's data."""

    today: date
    by_status: dict[str, int]
    totals: dict[str, int]  # received, incomplete, waiting (complete or decided, unpaid), due_soon, overdue,
    #                         paid, paid_on_time, paid_late
    by_due: dict[str, int]  # unpaid complete/decided applications by due day (ISO)
    by_kind: dict[str, dict[str, int]]


def board(session: Session, *, insurer_id: int, today: date, warn_business_days: int = 2,
          since: date | None = None) -> Board:
    """Counts by status, the waiting ones by due day (10 business days after completeness), overdue and due soon,
    and the paid ones on time or late — one grouped query, the due days computed once per day of completeness."""
    a = BenefitApplication
    q = select(a.status, a.kind, a.complete_on, a.paid_on, func.count()).where(a.insurer_id == insurer_id)
    if since is not None:
        q = q.where(a.received_on >= since)
    rows = session.execute(q.group_by(a.status, a.kind, a.complete_on, a.paid_on)).all()
    warn_limit = add_business_days(today, warn_business_days)
    by_status: dict[str, int] = {}
    by_due: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(("received", "incomplete", "waiting", "due_soon", "overdue", "paid", "paid_on_time",
                            "paid_late"), 0)
    for status, kind, complete_on, paid_on, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        k = by_kind.setdefault(kind, {})
        k[status] = k.get(status, 0) + n
        totals["received"] += n
        if status == "incomplete":
            totals["incomplete"] += n
        if status in ("complete", "decided") and complete_on is not None:
            due = due_on(complete_on)
            totals["waiting"] += n
            by_due[due.isoformat()] = by_due.get(due.isoformat(), 0) + n
            if today > due:
                totals["overdue"] += n
            elif due <= warn_limit:
                totals["due_soon"] += n
        if status == "paid" and complete_on is not None and paid_on is not None:
            totals["paid"] += n
            totals["paid_on_time" if paid_on <= due_on(complete_on) else "paid_late"] += n
    return Board(today, by_status, totals, dict(sorted(by_due.items())), by_kind)


# ---------------------------------------------------------------------------- KPI actuals (no personal data)

def service_standard_rate(session: Session, fiscal_year: int, insurer_ids: set[int] | None = None) -> float | None:
    """サービススタンダード達成状況: of the applications paid in the fiscal year, the share paid within 10 business
    days of completeness, in % (None without any)."""
    first, last = fiscal_year_bounds(fiscal_year)
    a = BenefitApplication
    q = select(a.complete_on, a.paid_on, func.count()).where(a.status == "paid", a.paid_on >= first,
                                                             a.paid_on <= last, a.complete_on.is_not(None))
    if insurer_ids is not None:
        q = q.where(a.insurer_id.in_(insurer_ids))
    total = on_time = 0
    for complete_on, paid_on, n in session.execute(q.group_by(a.complete_on, a.paid_on)):
        total += n
        on_time += n if paid_on <= due_on(complete_on) else 0
    return round(100 * on_time / total, 2) if total else None


def mail_rate(session: Session, fiscal_year: int, insurer_ids: set[int] | None = None) -> float | None:
    """郵送化率: of the applications received in the fiscal year, the share not made at the counter (郵送 and
    電子申請), in %.  **Choice** (docs/benefits.md): an electronic application counts with the post — the measure is
    of members who did not have to come to the counter."""
    first, last = fiscal_year_bounds(fiscal_year)
    a = BenefitApplication
    q = select(a.channel, func.count()).where(a.received_on >= first, a.received_on <= last)
    if insurer_ids is not None:
        q = q.where(a.insurer_id.in_(insurer_ids))
    counts = dict(session.execute(q.group_by(a.channel)).all())
    total = sum(counts.values())
    return round(100 * (total - counts.get("counter", 0)) / total, 2) if total else None


# ---------------------------------------------------------------------------- audited reads

@dataclass(frozen=True)
class QueueRow:
    id: int
    kind: str
    channel: str
    status: str
    received_on: date
    complete_on: date | None
    due: date | None
    overdue: bool
    amount: int | None
    needs_approval: bool
    approved: bool
    person_id: int
    name: str
    missing: list


def queue(session: Session, *, insurer_id: int, today: date, actor_kind: str, actor_id: str,
          statuses: tuple[str, ...] = OPEN, limit: int = 200, insurer_number: str | None = None) -> list[QueueRow]:
    """The open applications of the insurer, oldest due first, with the member's name — every person listed is
    audited (``benefit.queue``)."""
    apps = list(session.scalars(select(BenefitApplication).where(
        BenefitApplication.insurer_id == insurer_id, BenefitApplication.status.in_(statuses))
        .order_by(BenefitApplication.complete_on.is_(None), BenefitApplication.complete_on, BenefitApplication.id)
        .limit(limit)))
    out = []
    for app in apps:
        pv = registry.person_on(session, app.person_id)
        due = due_on(app.complete_on) if app.complete_on and app.status in ("complete", "decided") else None
        out.append(QueueRow(app.id, app.kind, app.channel, app.status, app.received_on, app.complete_on, due,
                            bool(due and today > due), app.amount, app.needs_approval, bool(app.approved_by),
                            app.person_id, pv.name if pv else "", list(app.missing or [])))
        record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="benefit.queue",
                    subject_kind="person", subject_id=app.person_id, detail=f"application={app.id}",
                    insurer_number=insurer_number)
    session.flush()
    return out


@dataclass(frozen=True)
class ApplicationView:
    app: BenefitApplication
    name: str
    name_kana: str
    birth_date: date | None
    numbers: str
    account: str
    due: date | None
    events: list[BenefitEvent]


def application_view(session: Session, application_id: int, *, insurer_id: int | None, actor_kind: str,
                     actor_id: str, person_id: int | None = None, insurer_number: str | None = None) \
        -> ApplicationView:
    """One application with its member, account (masked), due day and history; audited (``benefit.view``).
    *person_id*: a member reading their own (another person's application is not found)."""
    app = _get(session, application_id, insurer_id)
    if person_id is not None and app.person_id != person_id:
        raise LookupError(f"申請番号 {application_id} はありません")
    pv = registry.person_on(session, app.person_id)
    qv = _qualification(session, app.qualification_id)
    record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="benefit.view", subject_kind="person",
                subject_id=app.person_id, detail=f"application={app.id}", insurer_number=insurer_number)
    session.flush()
    acct = session.get(BankAccount, app.bank_account_id) if app.bank_account_id else None
    events = list(session.scalars(select(BenefitEvent).where(BenefitEvent.application_id == app.id)
                                  .order_by(BenefitEvent.id)))
    due = due_on(app.complete_on) if app.complete_on else None
    return ApplicationView(app, pv.name if pv else "", pv.name_kana if pv else "", pv.birth_date if pv else None,
                           f"{qv.symbol}・{qv.number}・{qv.branch}", masked_account(acct), due, events)


def application_for_employer(session: Session, application_id: int, *, insurer_id: int, employer_id: int,
                             actor_kind: str, actor_id: str, insurer_number: str | None = None) -> BenefitApplication:
    """One application as its member's employer may read it (state, what is missing, the amount): LookupError when
    there is no such application at the insurer, :class:`NotEmployee` when its member is not of that 事業所;
    audited (``benefit.employer_view``)."""
    app = _get(session, application_id, insurer_id)
    if employer_of(session, _qualification(session, app.qualification_id)) != employer_id:
        raise NotEmployee(f"申請番号 {application_id} はこの事業所の被保険者の申請ではありません")
    record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="benefit.employer_view",
                subject_kind="person", subject_id=app.person_id, detail=f"application={app.id}",
                insurer_number=insurer_number)
    session.flush()
    return app


def applications_of_person(session: Session, person_id: int, *, actor_kind: str, actor_id: str,
                           insurer_number: str | None = None) -> list[BenefitApplication]:
    """A member's own applications and their state (the member's page); audited (``benefit.own``)."""
    apps = list(session.scalars(select(BenefitApplication).where(BenefitApplication.person_id == person_id)
                                .order_by(BenefitApplication.id.desc())))
    record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="benefit.own", subject_kind="person",
                subject_id=person_id, detail=f"applications={len(apps)}", insurer_number=insurer_number)
    session.flush()
    return apps



def decision_letter(session: Session, application_id: int, *, insurer_id: int | None, actor_kind: str,
                    actor_id: str, person_id: int | None = None, insurer_number: str | None = None) -> bytes:
    """The decision notice PDF of a decided, paid or refused application (:mod:`onshi.benefits.letter`); a read of
    the person, audited (``benefit.letter``)."""
    from onshi.benefits.letter import LetterData, render_letter

    view = application_view(session, application_id, insurer_id=insurer_id, actor_kind=actor_kind,
                            actor_id=actor_id, person_id=person_id, insurer_number=insurer_number)
    app = view.app
    if app.status not in ("decided", "paid", "refused") or app.decided_on is None:
        raise StateError(f"申請番号 {app.id} はまだ決定されていません")
    record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="benefit.letter", subject_kind="person",
                subject_id=app.person_id, detail=f"application={app.id}", insurer_number=insurer_number)
    ins = registry.get_insurer(session, id=app.insurer_id)
    payment = session.scalar(select(BenefitPayment).where(BenefitPayment.application_id == app.id))
    return render_letter(LetterData(
        insurer_name=ins.name if ins else "", insurer_address=(ins.address or "") if ins else "",
        member_name=view.name, numbers=view.numbers, application_id=app.id, kind=app.kind,
        received_on=app.received_on, decided_on=app.decided_on, amount=app.amount or 0,
        lines=tuple(app.explanation or ()), refused_reason=app.refused_reason if app.status == "refused" else None,
        transfer_date=payment.transfer_date if payment else rules.transfer_date(app.decided_on),
        account=view.account))
