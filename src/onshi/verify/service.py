"""Online eligibility verification (オンライン資格確認): answers to clinics from the registered index.

Every interface (REST, OQS XML/JSON over HTTP, the terminal's file exchange,
FHIR) calls :func:`verify`; it answers only from what insurers *registered*,
logs the use for statistics without personal identifiers, and writes each read
of a person's data to the audit log.

Long: the verification is one decision read from one statement, and its parts (answers, the lookup, the decision,
the usage log, replay "as registered at" a past instant, レセプト振替) share the index rows' shape and the
private helpers that read them; split, each part would import the others' privates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, or_, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from onshi.exchange import cards as card_service
from onshi.exchange import index
from onshi.exchange.models import AnswerVersion
from onshi.ops.metrics import count_verification
from onshi.privacy.models import AuditEntry
from onshi.privacy.crypto import vault
from onshi.rules.co_pay import NotCovered, co_pay_ratio, late_elderly_transition
from onshi.rules.dated import NotInForce
from onshi.rules.limit_category import registered_limit
from onshi.rules import transition
from onshi.config import get_settings
from onshi.store.clock import japan_date, japan_day_start
from onshi.store.db import utcnow
from onshi.verify.institutions import (  # noqa: F401 - re-exported: the verification API in one place
    FACILITY_TYPES, GENERAL, HOME_VISIT, INSTITUTION_KINDS, LIMITED, AuthenticatedInstitution, AuthError,
    InstitutionCache, active_institution, add_institution, authenticate, authenticate_cached, institution_by_code,
    institution_cache, list_institutions, revoke_institution, token_digest)
from onshi.verify import etag, receipts, receipts_fast
from onshi.verify.models import ConsentRecord, EligibilityClaim, Institution, ReferenceNumber, VerificationLogEntry
from onshi.verify.result import (
    CardClassification,
    Consent,
    ConsentKind,
    ConsentStatus,
    ElderlyInfo,
    LimitInfo,
    LimitSource,
    LossReason,
    PersonalFamily,
    ProvisionalBilling,
    QualificationAnswer,
    ReferenceClass,
    ScopeError,
    Sex,
    Validity,
    VerificationError,
    VerificationOutcome,
    VerificationRequest,
)

MAX_DAYS_AHEAD = 31  # a bulk check of next month's appointments is the furthest clinics look ahead


# ---------------------------------------------------------------- building answers

def _remuneration_on(periods: list, day: date) -> int:
    for start, end, amount in periods:
        if date.fromisoformat(start) <= day and (end is None or day < date.fromisoformat(end)):
            return amount
    return 0


def _remuneration_period(periods: list, day: date) -> tuple[date, date | None, int] | None:
    """The registered 標準報酬月額 period in force on *day*: (from, to exclusive, yen), or None when none is."""
    for start, end, amount in periods:
        if date.fromisoformat(start) <= day and (end is None or day < date.fromisoformat(end)):
            return date.fromisoformat(start), date.fromisoformat(end) if end else None, amount
    return None


#: OQSCD011 限度額認定証区分 sent with a 区分 derived from the 標準報酬月額: 01 限度額適用 (see docs/oqs.md)
DERIVED_LIMIT_CLASSIFICATION = "01"
_GENEKINAMI = frozenset({"B01", "B02", "B03"})


def limit_info(row, day: date, cp, income_exemption_from: date | None) -> LimitInfo | None:
    """限度額 information of an index row on the day of care — the caller gives it only with consent.

    *cp* is the co-pay of the row on *day* (None when the qualification does not cover the day: then nothing).
    An application (限度額適用(・標準負担額減額)認定 registered by the insurer) valid on the day answers when its
    区分 is of the day's age group (an under-70 認定 ends when 高齢受給者 starts) and is not a 現役並み 区分 on a
    certificate that itself records a 基準収入額適用; otherwise the 区分 is derived from the member's 標準報酬月額
    registered for the day (:func:`onshi.rules.limit_category.registered_limit`).  No registered 標準報酬月額 on
    the day: nothing (the 区分 cannot be told).
    """
    if cp is None:
        return None
    cert = _limit_on(row.limit_certificates, day)
    if (cert is not None and cert["category"][:1] == ("B" if cp.elderly else "A")
            and not (cert.get("income_exemption") and cert["category"] in _GENEKINAMI)):
        return LimitInfo(classification_code=cert["classification"], category_code=cert["category"],
                         certificate_date=date.fromisoformat(cert["certificate_date"]),
                         valid_from=date.fromisoformat(cert["from"]),
                         valid_to=date.fromisoformat(cert["to"]) - timedelta(days=1) if cert["to"] else None,
                         long_term_date=None, source=LimitSource.APPLICATION)
    period = _remuneration_period(row.remuneration, day)
    if period is None:
        return None
    try:
        derived = registered_limit(on=day, birth_date=row.birth_date, member_monthly_remuneration=period[2],
                                   remuneration_from=period[0], remuneration_to=period[1],
                                   member_birth_date=row.member_birth_date, acquisition_date=row.acquisition_date,
                                   loss_date=row.loss_date, income_exemption_from=income_exemption_from)
    except (NotCovered, NotInForce):
        return None
    return LimitInfo(classification_code=DERIVED_LIMIT_CLASSIFICATION, category_code=derived.category_code,
                     certificate_date=None, valid_from=derived.valid_from, valid_to=derived.valid_to,
                     long_term_date=None, source=LimitSource.REMUNERATION)


def _limit_on(certs: list, day: date) -> dict | None:
    for c in certs:
        if date.fromisoformat(c["from"]) <= day and (c["to"] is None or day < date.fromisoformat(c["to"])):
            return c
    return None


def _connection(db: Session | Connection) -> Connection:
    if isinstance(db, Session):
        db.flush()  # ORM objects the caller added are visible to the Core statements below
        return db.connection()
    return db


def _consents(db: Session | Connection, person_id: int, institution_code: str, now: datetime,
              recorded_by: datetime | None = None) -> dict[str, Consent]:
    """The person's consents at this institution (a replay: those recorded by *recorded_by*, expiry then)."""
    out: dict[str, Consent] = {}
    cr = ConsentRecord.__table__.c
    q = select(cr.kind, cr.consented, cr.consented_at, cr.expires_at).where(
        cr.person_id == person_id, cr.institution_code == institution_code)
    if recorded_by is not None:
        q, now = q.where(cr.consented_at <= recorded_by), recorded_by
    for c in _connection(db).execute(q.order_by(cr.consented_at)):
        if not c.consented:
            status = ConsentStatus.NONE
        elif c.expires_at is not None and c.expires_at < now:
            status = ConsentStatus.EXPIRED
        else:
            status = ConsentStatus.GIVEN
        out[c.kind] = Consent(kind=ConsentKind(c.kind), status=status, consented_at=c.consented_at,
                              available_until=c.expires_at)
    return out


def consent_at(session: Session, *, person_id: int, institution_code: str, kind: str, now: datetime) -> Consent | None:
    """The patient's latest answer of *kind* (:class:`ConsentKind`) at this institution as it stands at *now* —
    GIVEN, EXPIRED (past its 24 hours) or NONE — or None when the patient was never asked there.  For the
    services that show consented data (薬剤情報・特定健診情報: :mod:`onshi.claims.clinical`)."""
    # answers given after *now* do not count (a view as of an instant sees the consents of that instant)
    return _consents(session, person_id, institution_code, now, recorded_by=now).get(ConsentKind(kind).value)


def record_consents(db: Session | Connection, *, person_id: int, institution_code: str, kinds: dict[str, bool],
                    now: datetime, method: str, valid_for: timedelta = timedelta(hours=24)) -> None:
    """Record the patient's answers at the reader (or the 限度額 flag of a numbers request)."""
    rows = [{"person_id": person_id, "institution_code": institution_code, "kind": ConsentKind(kind).value,
             "consented": bool(given), "consented_at": now, "expires_at": now + valid_for, "method": method}
            for kind, given in kinds.items()]  # ConsentKind(kind) validates the name
    if rows:
        _connection(db).execute(insert(ConsentRecord.__table__), rows)


def build_answer(row, req: VerificationRequest, consents: dict[str, Consent],
                 reference_number: str | None) -> QualificationAnswer:
    """One answer from an index row (the lookup's columns), the patient's consents here and the 照会番号."""
    day = req.care_date
    cp = None
    income_cert = next((c for c in row.limit_certificates if c.get("income_exemption")), None)
    income_exemption_from = date.fromisoformat(income_cert["from"]) if income_cert else None
    if row.acquisition_date <= day and (row.loss_date is None or day < row.loss_date):
        cp = co_pay_ratio(birth_date=row.birth_date, on=day, member_birth_date=row.member_birth_date,
                          member_monthly_remuneration=_remuneration_on(row.remuneration, day),
                          income_exemption_from=income_exemption_from, acquisition_date=row.acquisition_date)
    limit_consent = consents.get(ConsentKind.LIMIT.value)
    limit = None
    if limit_consent is not None and limit_consent.status == ConsentStatus.GIVEN:  # nothing of it without consent
        limit = limit_info(row, day, cp, income_exemption_from)
    elderly = None
    if cp is not None and cp.elderly:
        elderly = ElderlyInfo(certificate_date=cp.elderly_valid_from, valid_from=cp.elderly_valid_from,
                              valid_to=cp.elderly_valid_to, ratio_tenths=cp.ratio_tenths)

    loss, reason = row.loss_date, row.loss_reason
    if loss and loss > day and loss in (late_elderly_transition(row.birth_date),
                                        row.member_birth_date and late_elderly_transition(row.member_birth_date)):
        loss, reason = None, None  # the move to 後期高齢者医療 is not a registered loss until it happens

    return QualificationAnswer(
        card_classification=CardClassification(row.card_classification),
        insurer_number=row.insurer_number, insurer_name=row.insurer_name, symbol=row.symbol, number=row.number,
        branch=row.branch,
        personal_family=PersonalFamily.INSURED if row.role == "insured" else PersonalFamily.FAMILY,
        insured_name=row.insured_name, name=row.name, name_kana=row.name_kana, name_of_other=None,
        name_of_other_kana=None, sex=Sex(row.sex), birth_date=row.birth_date, address=row.address,
        postal_code=row.postal_code, qualification_date=row.acquisition_date,
        disqualification_date=loss, loss_reason=LossReason(reason) if reason else None,
        certificate_issue_date=None, card_valid_from=row.acquisition_date,
        card_valid_to=(loss - timedelta(days=1)) if loss else None,
        co_pay_ratio_tenths=cp.ratio_tenths if cp else None, preschool=bool(cp and cp.preschool),
        elderly=elderly, limit_consent=limit_consent, limit=limit,
        other_consents=tuple(c for k, c in consents.items() if k != ConsentKind.LIMIT.value),
        reference_number=reference_number, arbitrary_identifier=req.arbitrary_identifier,
    )


# ---------------------------------------------------------------- the lookup: one statement

@lru_cache(maxsize=None)
def lookup_statement(by: str, replay: bool = False, dialect: str = ""):
    """The one statement a verification reads with, built once per form (SQLAlchemy caches its compilation).

    *by* is ``"numbers"``, ``"numbers_branch"`` (枝番 given) or ``"person"`` (a card).  The index rows come from
    :func:`onshi.exchange.index.matching_rows` (every index row of the people the request matches, with
    ``matched`` and ``blocked``); this adds ``has_consents`` (the person has consents recorded at this
    institution), ``reference_number`` (the institution's 照会番号 for the row's numbers) and ``person_version``
    (the person's change counter, :mod:`onshi.verify.etag`).  The rows hang off
    the institution's own row by a LEFT JOIN, so the statement always returns at least one row and
    ``revoked_at`` says whether the credential was revoked meanwhile.
    Parameters: ``institution_id``, ``institution_code`` and ``person_id`` or ``insurer_number``, ``symbol``,
    ``number``, ``birth_date`` (, ``branch``).  With *replay* (docs/replay.md) the index as registered at the
    parameter ``registered_at``, consents recorded by then, and ``first_registered_at`` (the deployment's first
    registration) beside ``revoked_at`` (an insurer's staff replays with institution 0 and code '': no clinic).
    """
    inst = Institution.__table__
    cr, rn = ConsentRecord.__table__, ReferenceNumber.__table__
    pv = AnswerVersion.__table__
    code = bindparam("institution_code")

    def of_this_institution(iq):
        # a LIMIT 1 probe rather than EXISTS: PostgreSQL would hash every consent of the institution for EXISTS
        has_consents = (select(cr.c.id).where(cr.c.person_id == iq.c.person_id, cr.c.institution_code == code,
                                              *((cr.c.consented_at <= bindparam("registered_at"),) if replay else ()))
                        .limit(1).scalar_subquery().is_not(None))
        reference = (select(rn.c.reference_number)
                     .where(rn.c.institution_code == code, rn.c.insurer_number == iq.c.insurer_number,
                            rn.c.symbol == iq.c.symbol, rn.c.number == iq.c.number,
                            or_(rn.c.branch == iq.c.branch, rn.c.branch.is_(None)))
                     .limit(1).scalar_subquery())
        # the person's change counter (free repeat checks: onshi.verify.etag), a primary-key probe
        version = select(pv.c.version).where(pv.c.person_id == iq.c.person_id).scalar_subquery()
        return has_consents.label("has_consents"), reference.label("reference_number"), \
            version.label("person_version")

    rows = index.matching_rows(by, of_this_institution, replay=replay, dialect=dialect)
    if replay:  # one row even when nobody matches: the credential's state and the first registration
        head = select(select(inst.c.revoked_at).where(inst.c.id == bindparam("institution_id"))
                      .scalar_subquery().label("revoked_at"),
                      index.first_registration().label("first_registered_at")).subquery("head")
        return (select(head.c.revoked_at, head.c.first_registered_at, *rows.c)
                .select_from(head.outerjoin(rows, true())))
    return (select(inst.c.revoked_at, *rows.c).select_from(inst.outerjoin(rows, true()))
            .where(inst.c.id == bindparam("institution_id")))


def _lookup(conn: Connection, by: str, params: dict) -> list:
    if "registered_at" in params:  # a replay (the current answer's statement is untouched)
        return index.fetch_all(conn, lookup_statement(by, True, conn.dialect.name), params)
    return index.fetch_all(conn, lookup_statement(by), params)


# ---------------------------------------------------------------- the decision

def _covers(row, day: date) -> bool:
    return row.acquisition_date <= day and (row.loss_date is None or day < row.loss_date)


def _later_exists(rows_of_person: list, row, day: date) -> bool:
    """Does the same person have a qualification registered that began after this one (and by the day of care)?"""
    return any(o.qualification_id != row.qualification_id and o.acquisition_date > row.acquisition_date
               and o.acquisition_date <= day for o in rows_of_person)


def _decide(candidates: list, day: date, numbers_without_branch: bool, everything_of_persons: list,
            ) -> tuple[Validity, list]:
    """The validity and the row that answers, from the matching rows and every row of the same people."""
    if not candidates:
        return Validity.NOT_FOUND, []
    if numbers_without_branch and len({c.person_id for c in candidates}) > 1:
        return Validity.MULTIPLE, []
    everything = everything_of_persons
    covering = [c for c in candidates if _covers(c, day)]
    if covering:
        current = max(covering, key=lambda c: c.acquisition_date)
        if _later_exists(everything, current, day):
            return Validity.INVALID_NEWER_EXISTS, [current]
        return Validity.VALID, [current]
    started = [c for c in candidates if c.acquisition_date <= day]
    if not started:
        return Validity.NOT_FOUND, []  # registered, but only from a later date
    last = max(started, key=lambda c: c.acquisition_date)
    if _later_exists(everything, last, day):
        return Validity.INVALID_NEWER_EXISTS, [last]
    return Validity.INVALID, [last]


def _check_request(req: VerificationRequest, today: date) -> None:
    if req.care_date > today + timedelta(days=MAX_DAYS_AHEAD):
        raise VerificationError("E0103", f"診療日が未来すぎます ({MAX_DAYS_AHEAD}日以内) (date of care too far ahead)",
                                "QualificationConfirmationDate")
    if req.care_date < date(2000, 1, 1):
        raise VerificationError("E0103", "診療日が古すぎます (date of care before 2000)", "QualificationConfirmationDate")


def _pseudonym(person_id: int) -> str:
    return hmac.digest(vault().hash_key, f"patient:{person_id}".encode(), "sha256").hex()[:32]  # one-shot, in C


def patient_key(person_id: int) -> str:
    """The usage log's keyed pseudonym of a person (``verification_log.patient_key``): how the person's own
    verifications are found (:mod:`onshi.verify.person_history`) without the log holding who they are."""
    return _pseudonym(person_id)


# ---------------------------------------------------------------- the usage log and the audit row

_LOG_COLUMNS = ("occurred_at", "care_date", "institution_code", "prefecture_code", "facility_type", "method",
                "validity", "setting", "insurer_number", "patient_key", "receipt_id", "not_modified")
_AUDIT_COLUMNS = ("at", "actor_kind", "actor_id", "action", "subject_kind", "subject_id", "detail", "insurer_number")


@lru_cache(maxsize=None)
def _log_statement(with_audit: bool, dialect: str):
    """INSERT of the usage-log row; on PostgreSQL with the audit row in the same statement (one round trip,
    one atomic statement, so it is safe on an autocommit connection too)."""
    log = insert(VerificationLogEntry.__table__).values({c: bindparam(c) for c in _LOG_COLUMNS})
    if with_audit and dialect == "postgresql":
        audit = insert(AuditEntry.__table__).values({c: bindparam(f"audit_{c}") for c in _AUDIT_COLUMNS})
        log = log.add_cte(audit.cte("audit_row"))
    return log


def _write_log(conn: Connection, log: dict, audit: dict | None) -> None:
    dialect = conn.dialect.name
    if audit is not None and dialect == "postgresql":
        conn.execute(_log_statement(True, dialect), {**log, **{f"audit_{k}": v for k, v in audit.items()}})
        return
    if audit is not None:
        conn.execute(insert(AuditEntry.__table__), [audit])
    conn.execute(_log_statement(False, dialect), log)


#: usage-log rows recorded before this instant may hold receipt ids that do not begin with their millisecond
#: (fully random ids, until 2026-12-06): :func:`log_entry_of_receipt` looks for those among these rows only
TIME_ORDERED_RECEIPTS_SINCE = datetime(2026, 12, 7)


def log_entry_of_receipt(session: Session, receipt_id: str) -> VerificationLogEntry | None:
    """The usage-log row of a receipt id (``onshi receipt show``), or None.  A receipt id begins with the
    millisecond of its verification (:func:`onshi.verify.receipts_fast.prepare`), so the row is read among that
    second's rows through the index on ``occurred_at`` (BRIN on PostgreSQL, migration 0028) — the usage log has no
    index on ``receipt_id``, which cost every verification an index entry.  Failing that, among the rows recorded
    before :data:`TIME_ORDERED_RECEIPTS_SINCE` (older, fully random ids): a bounded read, never the whole log."""
    from onshi.store.clock import instant_of_millis

    try:
        raw = receipts.unb64url(receipt_id, "receipt id")
    except receipts.ReceiptError:
        return None
    L = VerificationLogEntry
    try:
        at = instant_of_millis(int.from_bytes(raw[:6], "big")) if len(raw) == 16 else None
    except OverflowError:  # past the year 9999: a fully random id (or a made-up one), not a time
        at = None
    if at is not None:
        row = session.scalar(select(L).where(L.occurred_at >= at - timedelta(seconds=1),
                                             L.occurred_at < at + timedelta(seconds=1), L.receipt_id == receipt_id))
        if row is not None:
            return row
    return session.scalar(select(L).where(L.occurred_at < TIME_ORDERED_RECEIPTS_SINCE, L.receipt_id == receipt_id))


#: a verification's refusal of a request, patient pseudonym and log writing, shared with the fast 304
#: (:mod:`onshi.verify.etag_fast`), which must refuse, log and audit exactly as :func:`verify` does
check_request, pseudonym, write_log = _check_request, _pseudonym, _write_log


# ---------------------------------------------------------------- the verification

#: the institution of an insurer's staff replay that names no clinic (no consents, no 照会番号)
NO_INSTITUTION = Institution(id=0, code="", name="", prefecture_code="", facility_type="")
#: the usage log's ``setting`` of a replay: counted apart from checks (never a billing check; docs/replay.md)
REPLAY_SETTING = "replay"


def check_replay_instant(conn: Connection, registered_at: datetime, now: datetime) -> None:
    """A replay's instant must be past (reading only: registering in the past stays impossible) and not before
    the deployment's first registration (nothing was registered, so there is no answer to replay)."""
    registered_at = _utc_naive(registered_at)
    if registered_at > now:
        raise VerificationError("E0105", "登録時点が未来です (registered_at is in the future: replay reads the past)",
                                "registered_at")
    if not index.registered_by(conn, registered_at):
        raise VerificationError("E0106", "登録時点がこのシステムの最初の登録より前です (registered_at is before the "
                                "deployment's first registration: nothing to replay)", "registered_at")


def _utc_naive(at: datetime) -> datetime:
    from datetime import timezone

    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo is not None else at


# ---------------------------------------------------------------- kinds of institution, the transition

#: the usage-log methods of a verification by マイナ保険証 (the card, or its certificate on a smartphone)
CARD_METHODS = ("card", "smartphone")


def check_scope(req: VerificationRequest, institution) -> str:
    """The institution's kind (its token's scope), after refusing what the kind does not allow
    (:class:`ScopeError`, before anything is read or recorded)."""
    kind = getattr(institution, "kind", None) or GENERAL
    asked = [k for k, v in ((req.reader_outcome or {}).get("consents") or {}).items() if v]
    if kind == LIMITED and (req.limit_consent or asked):
        what = "限度額情報" if req.limit_consent or ConsentKind.LIMIT.value in asked else "薬剤・診療・健診などの情報"
        raise ScopeError("E0403", f"資格確認限定型（柔道整復・あはき）の機関には{what}を提供できません。"
                         "同意の項目を外して資格だけを照会してください (a verification-only institution receives only "
                         "what a card shows: no consents, no 限度額, no health information)",
                         "limit_consent" if req.limit_consent else "consents")
    if req.requery:
        if kind != HOME_VISIT:
            raise ScopeError("E0404", "再照会は居宅同意取得型（訪問診療・訪問看護）として登録された機関だけが行えます "
                             "(a re-query is for home-visit institutions)", "requery")
        if req.reference_class != ReferenceClass.NUMBERS or req.limit_consent:
            raise VerificationError("E0412", "再照会は番号で行い、同意は初回のカード確認のものを使います。"
                                    "限度額の同意フラグは付けないでください (a re-query carries no consent)",
                                    "limit_consent")
    return kind


def check_requery(conn: Connection, institution_code: str, rows: list, care_date: date, now: datetime) -> None:
    """A 居宅同意取得型 re-query needs a verification by card of the same patient by this institution, valid, on a
    day of care from which *care_date* is within :func:`onshi.rules.transition.requery_last_day`; otherwise
    :class:`VerificationError` E0411 (nothing recorded)."""
    if not rows:
        raise VerificationError("E0411", "この番号の方は見つかりません。再照会は、この機関がマイナ保険証で確認した患者"
                                "だけに行えます (no such patient to re-query)", "requery")
    L = VerificationLogEntry.__table__.c
    last = conn.execute(select(func.max(L.care_date)).where(
        L.institution_code == institution_code, L.patient_key == _pseudonym(rows[0].person_id),
        L.method.in_(CARD_METHODS), L.validity == int(Validity.VALID), L.setting != REPLAY_SETTING,
        L.occurred_at <= now, L.care_date <= care_date)).scalar()
    if last is None:
        raise VerificationError("E0411", "この機関はこの患者をマイナ保険証で確認していません。初回の訪問でマイナ保険証"
                                "による確認をしてください (no card check of this patient by this institution)", "requery")
    if isinstance(last, str):  # SQLite returns the aggregate as text
        last = date.fromisoformat(last)
    until = transition.requery_last_day(last)
    if care_date > until:
        raise VerificationError("E0411", f"再照会できる期間を過ぎています（最後のマイナ保険証での確認 {last:%Y-%m-%d}、"
                                f"再照会は {until:%Y-%m-%d} まで）。マイナ保険証で確認し直してください "
                                "(past the re-query period)", "care_date")


def home_visit_consent_period(care_date: date, now: datetime) -> timedelta:
    """How long the consents given at a 居宅同意取得型 card check last: to the end of the last day it may re-query
    (the re-queries use them: 「薬剤情報等については、初回時の同意に基づき取得可能」)."""
    return max(japan_day_start(transition.requery_last_day(care_date) + timedelta(days=1)) - now,
               timedelta(hours=24))


def provisional_billing_of(req: VerificationRequest, validity: Validity,
                           answers: tuple[QualificationAnswer, ...]) -> ProvisionalBilling | None:
    """The provisional billing on an expired 健康保険証 when it applies to this answer: a check by the numbers of a
    card (not by マイナ保険証, not a re-query), valid, on a day of care in the measure's period for the insurer's
    kind (:func:`onshi.rules.transition.provisional_billing`).  The answer cannot tell an old card from a 資格確認書
    with the same numbers: the receptionist applies it when the patient shows an expired card."""
    if req.reference_class != ReferenceClass.NUMBERS or req.requery or validity != Validity.VALID or not answers:
        return None
    a = answers[0]
    rule = transition.provisional_billing(a.insurer_number, req.care_date)
    if rule is None:
        return None
    ratio = f"{a.co_pay_ratio_tenths}割" if a.co_pay_ratio_tenths else "通常の負担割合"
    return ProvisionalBilling(until=rule.until, lapsed_after=rule.lapsed_after, ratio_tenths=a.co_pay_ratio_tenths,
                              message=f"期限切れの保険証をオンラインで確認: {rule.until.year}年{rule.until.month}月"
                                      f"{rule.until.day}日まで {ratio}で請求できます")


def verify(db: Session | Connection, req: VerificationRequest, institution, *, now: datetime | None = None,
           check_revoked: bool = False, record=None, registered_at: datetime | None = None,
           actor: tuple[str, str] | None = None, if_none_match: str | None = None,
           unsigned: list | None = None) -> VerificationOutcome:
    """Answer one verification from the index: one statement reads, one statement writes the usage log and
    the audit row (two on SQLite).  The caller commits (the writes are in its transaction).

    *db* is a Session or a Connection (the REST endpoint passes an autocommit connection when nothing but the
    log is written).  *institution* is an :class:`Institution` or an :class:`AuthenticatedInstitution`; with
    ``check_revoked=True`` a credential revoked since it was authenticated raises :class:`AuthError`.
    *record*, if given, is called with the usage-log row and the audit row (or None) instead of writing them
    here; the caller then must not answer before it has written them (:func:`write_log_batch`).  *unsigned*, if
    given, receives what the receipt's claims are written from instead of a signature (the outcome then has its
    ``receipt_id`` and no ``receipt``): the caller writes them (:func:`onshi.verify.receipts_fast.write`) and signs
    them, with others, by :func:`onshi.verify.receipts.sign_batch`.

    *registered_at* (replay, docs/replay.md): answer as the index stood at that past instant (UTC, or aware) —
    nothing is recorded but the usage-log row (``setting`` :data:`REPLAY_SETTING`) and an audit row
    ``verify.replay`` under *actor* (kind, id; default the institution).  The caller decides who may.

    Every outcome carries a signed receipt and an ETag (:mod:`onshi.verify.receipts`); when *if_none_match*
    names the ETag the outcome is ``not_modified`` and carries no answers (HTTP 304), still logged as a check.
    """
    now = now or utcnow()
    if req.institution_code and req.institution_code != institution.code:
        raise VerificationError("E0002", "医療機関コードが認証された機関と一致しません (institution code does not "
                                "match the credential)", "MedicalInstitutionCode")
    conn = _connection(db)
    if registered_at is not None:
        registered_at = _utc_naive(registered_at)
        if registered_at > now:
            raise VerificationError("E0105", "登録時点が未来です (registered_at is in the future: replay reads the "
                                    "past)", "registered_at")
    try:
        _check_request(req, japan_date(registered_at or now))  # the clinic's day, not the UTC one
    except VerificationError:
        if registered_at is not None:
            check_replay_instant(conn, registered_at, now)  # before the first registration says more
        raise
    kind = check_scope(req, institution)
    warning = None
    by_card = req.reference_class == ReferenceClass.CARD
    params = {"institution_id": institution.id, "institution_code": institution.code}
    card = None
    if by_card:
        card = card_service.get_card(db if isinstance(db, Session) else Session(bind=conn), req.card_serial or "")
        if card is not None and registered_at is not None and card.registered_at > registered_at:
            card = None  # not registered for use then: 該当資格なし, as answered then
        if card is None and registered_at is not None:
            check_replay_instant(conn, registered_at, now)  # no lookup below to read the first registration
        if card is not None:
            known = card if registered_at is None or not card.cancelled_at or card.cancelled_at <= registered_at \
                else SimpleNamespace(cancelled_at=None, certificate_expires_on=card.certificate_expires_on)
            if req.credential and card.kind != req.credential:
                raise VerificationError("E0203", f"この電子証明書は{card_service.CREDENTIAL_KINDS[card.kind]}のものです。"
                                        f"{card_service.CREDENTIAL_KINDS.get(req.credential, req.credential)}として"
                                        "読み取られました (the serial is of the other credential)", "card")
            state = card_service.card_state(known, req.care_date)  # a replay: a cancellation known then
            if not state.usable:
                raise VerificationError("E0201" if state.reason == "expired" else "E0202",
                                        "マイナ保険証の電子証明書が失効しています" if state.reason == "expired"
                                        else "マイナ保険証の利用登録が解除されています", "card")
            warning = state.warning
            params["person_id"] = card.person_id
    else:
        params.update(insurer_number=req.insurer_number, symbol=req.symbol or "", number=req.number,
                      birth_date=req.birth_date)
        if req.branch:
            params["branch"] = req.branch
    if registered_at is not None:
        params["registered_at"] = registered_at

    everything: list = []
    if not by_card or card is not None:
        result = _lookup(conn, "person" if by_card else "numbers_branch" if req.branch else "numbers", params)
        if check_revoked and (not result or result[0].revoked_at is not None):
            raise AuthError("revoked credential")
        if registered_at is not None and (result[0].first_registered_at is None
                                          or result[0].first_registered_at > registered_at):
            check_replay_instant(conn, registered_at, now)  # raises E0106
        everything = [r for r in result if r.qualification_id is not None]
    if by_card:
        if card is None:
            validity, rows = Validity.NOT_FOUND, []
        else:
            validity, rows = _decide(everything, req.care_date, False, everything)
            if validity == Validity.INVALID_NEWER_EXISTS:  # by card the newest registered qualification answers
                newest = [c for c in everything if _covers(c, req.care_date)]
                if newest:
                    validity, rows = Validity.VALID, [max(newest, key=lambda c: c.acquisition_date)]
    else:
        validity, rows = _decide([r for r in everything if r.matched], req.care_date,
                                 numbers_without_branch=not req.branch, everything_of_persons=everything)

    if rows and rows[0].blocked:
        validity, rows = Validity.NOT_FOUND, []
        warning = "保険者で登録内容を確認中です。資格確認書等で確認してください (record under review by the insurer)"
    if req.requery:  # before anything is recorded: a refused re-query leaves no row
        check_requery(conn, institution.code, rows, req.care_date, registered_at or now)

    consents: dict[str, Consent] = {}
    if rows and registered_at is not None:  # replay records nothing: the request's consents as given then
        consents = _consents(conn, rows[0].person_id, institution.code, now, recorded_by=registered_at) \
            if rows[0].has_consents else {}
        given = dict(req.reader_outcome["consents"]) if by_card and req.reader_outcome and \
            req.reader_outcome.get("consents") else {ConsentKind.LIMIT.value: True} if req.limit_consent else {}
        for kind, ok in given.items():
            consents[kind] = Consent(kind=ConsentKind(kind), status=ConsentStatus.GIVEN if ok else ConsentStatus.NONE,
                                     consented_at=registered_at, available_until=registered_at + timedelta(hours=24))
        if not by_card and not req.limit_consent:
            consents.pop(ConsentKind.LIMIT.value, None)
    elif rows:
        person_id = rows[0].person_id
        recorded = False
        if not by_card and req.limit_consent:
            record_consents(conn, person_id=person_id, institution_code=institution.code,
                            kinds={ConsentKind.LIMIT.value: req.limit_consent}, now=now, method="numbers")
            recorded = True
        if by_card and req.reader_outcome and req.reader_outcome.get("consents"):
            record_consents(conn, person_id=person_id, institution_code=institution.code,
                            kinds=dict(req.reader_outcome["consents"]), now=now, method="card",
                            **({"valid_for": home_visit_consent_period(req.care_date, now)}
                               if kind == HOME_VISIT else {}))
            recorded = True
        if recorded or rows[0].has_consents:
            consents = _consents(conn, person_id, institution.code, now)
        if not by_card and not req.limit_consent and not req.requery:
            # a numbers request carries its own 限度額 consent flag: 0 sends nothing of it, whatever consent an
            # earlier request or the card reader left on record (docs/oqs.md, "限度額")
            consents.pop(ConsentKind.LIMIT.value, None)
    if kind == LIMITED:
        consents = {}  # 資格確認限定型: what a card shows, nothing that needs a consent
    tag = etag.tag(vault().hash_key, institution_code=institution.code, req=req, validity=validity,
                   people=etag.people_of(everything), consents=consents, warning=warning)
    not_modified = etag.matches(tag, if_none_match)
    answers = () if not_modified else tuple(build_answer(r, req, consents, r.reference_number) for r in rows)
    rid = receipt = None
    if get_settings().receipts:
        rid, later = receipts_fast.defer(now=now, institution_code=institution.code,
                                         req=req, validity=validity, answers=answers, etag=tag,
                                         not_modified=not_modified)
        if unsigned is None:
            receipt = receipts.sign_json(receipts_fast.write(later), receipts.key_ring())
        else:  # the caller writes its claims and signs them with the others of its group commit (sign_batch)
            unsigned.append(later)
    outcome = VerificationOutcome(validity=validity, answers=answers, warning=warning, etag=tag,
                                  not_modified=not_modified, receipt=receipt, receipt_id=rid,
                                  provisional_billing=provisional_billing_of(req, validity, answers))
    method = (card.kind if card is not None else "card") if by_card else "requery" if req.requery else "numbers"
    log = {"occurred_at": now, "care_date": req.care_date, "institution_code": institution.code,
           "prefecture_code": institution.prefecture_code, "facility_type": institution.facility_type,
           "method": method, "validity": int(validity),
           "setting": "outpatient" if registered_at is None else REPLAY_SETTING,
           "insurer_number": rows[0].insurer_number if rows else (req.insurer_number or None),
           "patient_key": _pseudonym(rows[0].person_id) if rows else None, "receipt_id": outcome.receipt_id,
           "not_modified": not_modified}
    actor_kind, actor_id = actor or ("institution", institution.code)
    audit = {"at": now, "actor_kind": actor_kind, "actor_id": actor_id, "action": "verify",
             "subject_kind": "person", "subject_id": str(rows[0].person_id), "detail": f"method={method}",
             "insurer_number": rows[0].insurer_number} \
        if rows else None
    if registered_at is not None:  # every replay is audited as such, even one that found nobody
        audit = {"at": now, "actor_kind": actor_kind, "actor_id": actor_id, "action": "verify.replay",
                 "subject_kind": "person" if rows else "request",
                 "subject_id": str(rows[0].person_id) if rows else (req.insurer_number or "card"),
                 "detail": f"method={method};registered_at={registered_at.isoformat()};care_date={req.care_date};"
                           f"institution={institution.code or '-'}",
                 "insurer_number": rows[0].insurer_number if rows else (req.insurer_number or None)}
    if record is None:
        _write_log(conn, log, audit)
    else:
        record(log, audit)
    count_verification(method, validity)  # /metrics (onshi.ops.metrics)
    return outcome


def write_log_batch(conn: Connection, logs: list[dict], audits: list[dict]) -> None:
    """Write the usage-log and audit rows of several verifications (the group commit of
    :mod:`onshi.verify.hotpath` writes on its own connection; this is the same on a SQLAlchemy connection).  On
    PostgreSQL one statement (:data:`LOG_BATCH_SQL`); elsewhere two executemany.  The caller commits.
    """
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        conn.exec_driver_sql(LOG_BATCH_SQL, log_batch_params(logs, audits))
        return
    if audits:
        conn.execute(insert(AuditEntry.__table__), audits)
    conn.execute(insert(VerificationLogEntry.__table__), logs)


def _iso(value):
    return value.isoformat()


#: ``json.dumps(rows, default=_iso, ensure_ascii=False)`` without making an encoder per call
_rows_json = json.JSONEncoder(default=_iso, ensure_ascii=False).encode


def log_batch_params(logs: list[dict], audits: list[dict]) -> dict:
    """The parameters of :data:`LOG_BATCH_SQL`: the rows of each table as one JSON text (one parameter each,
    which the driver sends as is — adapting one array per column cost more than the statement)."""
    return {"logs": _rows_json(logs), "audits": _rows_json(audits)}


def _from_json(table, columns: tuple[str, ...], param: str) -> str:
    cols = ", ".join(columns)
    values = cols.replace("not_modified", "COALESCE(not_modified, false)")  # rows written without the flag
    return (f"INSERT INTO {table.name} ({cols}) SELECT {values} "
            f"FROM json_populate_recordset(NULL::{table.name}, %({param})s::json)")


#: usage-log and audit rows of several verifications in one PostgreSQL statement (psycopg parameters)
LOG_BATCH_SQL = (f"WITH audit_rows AS ({_from_json(AuditEntry.__table__, _AUDIT_COLUMNS, 'audits')}) "
                              + _from_json(VerificationLogEntry.__table__, _LOG_COLUMNS, "logs"))


# ---------------------------------------------------------------- 照会番号, fallback

def register_reference_number(session: Session, institution: Institution, *, reference_number: str,
                              insurer_number: str, symbol: str, number: str, branch: str | None) -> None:
    if not reference_number or len(reference_number) > 50:
        raise VerificationError("E0301", "照会番号は1〜50文字です (reference number 1–50 chars)", "ReferenceNumber")
    existing = session.scalar(select(ReferenceNumber).where(
        ReferenceNumber.institution_code == institution.code, ReferenceNumber.reference_number == reference_number))
    if existing is not None:
        existing.insurer_number, existing.symbol, existing.number, existing.branch = \
            insurer_number, symbol, number, branch
        return
    session.add(ReferenceNumber(institution_code=institution.code, reference_number=reference_number,
                                insurer_number=insurer_number, symbol=symbol, number=number, branch=branch))


def record_eligibility_claim(session: Session, institution: Institution, *, care_date: date, name: str,
                             name_kana: str, birth_date: date, address: str | None = None, phone: str | None = None,
                             insurer_hint: str | None = None, employer_hint: str | None = None,
                             note: str | None = None) -> EligibilityClaim:
    """被保険者資格申立書 as filled in by the patient at reception."""
    from onshi.registry import fields as F

    claim = EligibilityClaim(institution_code=institution.code, care_date=care_date, name=F.parse_name(name),
                             name_kana=F.parse_kana(name_kana), birth_date=birth_date, address=address, phone=phone,
                             insurer_hint=insurer_hint, employer_hint=employer_hint, note=note)
    session.add(claim)
    session.flush()
    return claim


def claim_rerouting(session: Session, *, insurer_number: str, symbol: str, number: str, branch: str | None,
                    birth_date: date, care_date: date, now: datetime | None = None) -> dict:
    """レセプト振替: which insurer and numbers were responsible on the day of care, and whether to re-route.

    The decision is taken on what was *registered* at the end of the day of care (JST; now, if that is still to
    come) — what the clinic could have been told — with ``as_known_now`` beside it (the index today: a loss
    registered late shows there).  ``registered_at`` says the instant (UTC).  Nothing registered by then (before
    the deployment's first registration): ``reroute`` None with the reason.
    """
    now = now or utcnow()
    at = min(japan_day_start(care_date + timedelta(days=1)), now)
    numbers = {"insurer_number": insurer_number, "symbol": symbol, "number": number, "branch": branch,
               "birth_date": birth_date}
    known_now = _rerouting(care_date, index.qualifications_by_numbers(session, **numbers),
                           lambda persons: index.qualifications_of_persons(session, persons))
    if index.registered_by(session.connection(), at):
        then = _rerouting(care_date, index.registered_qualifications_by_numbers(session, at, **numbers),
                          lambda persons: index.registered_qualifications_of_persons(session, at, persons))
    else:
        then = {"reroute": None, "reason": "nothing was registered by the end of the day of care (before the "
                "deployment's first registration)", "responsible": None}
    return {**then, "registered_at": at.isoformat(), "as_known_now": known_now}


def _rerouting(care_date: date, billed: list, of_persons) -> dict:
    if any(_covers(b, care_date) for b in billed):
        return {"reroute": False, "reason": "billed qualification was valid on the day of care",
                "responsible": _numbers_of(next(b for b in billed if _covers(b, care_date)))}
    persons = {b.person_id for b in billed}
    if not persons:
        return {"reroute": None, "reason": "billed numbers unknown: identify the person (不詳)", "responsible": None}
    responsible = [r for r in of_persons(persons) if _covers(r, care_date)]
    if not responsible:
        return {"reroute": None, "reason": "no registered qualification on the day of care", "responsible": None}
    best = max(responsible, key=lambda r: r.acquisition_date)
    return {"reroute": True, "reason": "billed qualification was not valid on the day of care",
            "responsible": _numbers_of(best)}


def _numbers_of(row) -> dict:
    return {"insurer_number": row.insurer_number, "insurer_name": row.insurer_name, "symbol": row.symbol,
            "number": row.number, "branch": row.branch}


def with_reference(outcome: VerificationOutcome, reference_number: str | None) -> VerificationOutcome:
    return replace(outcome, answers=tuple(replace(a, reference_number=reference_number or a.reference_number)
                                          for a in outcome.answers))


def verifications_of_day(session: Session, institution_code: str, day: date) -> list:
    """An institution's verifications of *day* (Japan time) from the usage log, newest first — it holds no
    names (:class:`onshi.verify.models.VerificationLogEntry`)."""
    L = VerificationLogEntry
    start = japan_day_start(day)  # JST midnight in UTC (the log is UTC)
    return list(session.scalars(select(L).where(L.institution_code == institution_code, L.occurred_at >= start,
                                                L.occurred_at < start + timedelta(days=1))
                                .order_by(L.occurred_at.desc())))
