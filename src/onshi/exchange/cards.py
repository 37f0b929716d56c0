"""マイナ保険証: a My Number card registered as insurance card (健康保険証利用登録).

The card is known by its certificate serial only.  At registration the holder's
My Number (read from the card in the real flow) is used once to find the person
through the keyed hash; it is not stored with the card.  The card keeps working
for three months after the end of the month its certificate expires
(電子証明書の有効期限切れ後3か月間の猶予: :data:`onshi.rules.certificates.CARD_GRACE_MONTHS`).

A person may hold two credentials (from 2025-09-19, スマホ搭載マイナ保険証): the card (``kind`` ``card``) and the
smartphone's certificate (``smartphone``, スマホ用電子証明書), each with its own serial, expiry and cancellation.  A
smartphone credential is set up from a card: it is registered only while the person holds a card credential that
is not cancelled.  A verification by either finds the person; the usage log records which (its ``method``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.exchange.models import InsuranceCard
from onshi.registry import service
from onshi.rules.certificates import card_usable_until
from onshi.store.clock import japan_date
from onshi.store.db import utcnow


class CardError(ValueError):
    pass


CARD, SMARTPHONE = "card", "smartphone"
CREDENTIAL_KINDS = {CARD: "マイナンバーカード", SMARTPHONE: "スマートフォン（スマホ用電子証明書）"}


def usable_until(certificate_expires_on: date) -> date:
    """Last day the card works as insurance card: end of the 3rd month after the expiry month."""
    return card_usable_until(certificate_expires_on)


@dataclass(frozen=True)
class CardState:
    usable: bool
    reason: str | None  # cancelled | expired | None
    in_grace: bool
    warning: str | None


def card_state(card: InsuranceCard, on: date) -> CardState:
    if card.cancelled_at is not None and japan_date(card.cancelled_at) <= on:
        return CardState(False, "cancelled", False, None)
    if on > usable_until(card.certificate_expires_on):
        return CardState(False, "expired", False, None)
    in_grace = on > card.certificate_expires_on
    warning = None
    if in_grace:
        warning = (f"電子証明書の有効期限 ({card.certificate_expires_on:%Y-%m-%d}) が切れています。"
                   f"{usable_until(card.certificate_expires_on):%Y-%m-%d} まで利用できます。更新してください。")
    elif (card.certificate_expires_on - on).days <= 92:
        warning = f"電子証明書の有効期限が近づいています ({card.certificate_expires_on:%Y-%m-%d})。"
    return CardState(True, None, in_grace, warning)


def register_card(session: Session, *, my_number: str, certificate_serial: str, certificate_expires_on: date,
                  now: datetime | None = None, kind: str = CARD) -> InsuranceCard:
    """Register a credential for use as insurance card: the card (*kind* ``card``) or, for a holder of a card
    credential not cancelled, its certificate on a smartphone (``smartphone``)."""
    if kind not in CREDENTIAL_KINDS:
        raise CardError(f"kind は {' / '.join(CREDENTIAL_KINDS)} のどちらかです (unknown credential kind {kind!r})")
    person = service.find_person_by_my_number(session, my_number)
    if person is None:
        raise CardError("この個人番号は保険者に登録されていません (no insured person with this My Number)")
    if session.scalar(select(InsuranceCard).where(InsuranceCard.certificate_serial == certificate_serial)):
        raise CardError("この証明書は登録済みです (certificate already registered)")
    if kind == SMARTPHONE and not any(c.kind == CARD and c.cancelled_at is None for c in cards_of(session, person.id)):
        raise CardError("スマホ用電子証明書はマイナ保険証（カード）の利用登録がある方だけが登録できます "
                        "(a smartphone credential needs a registered card credential that is not cancelled)")
    card = InsuranceCard(certificate_serial=certificate_serial, person_id=person.id, kind=kind,
                         registered_at=now or utcnow(), certificate_expires_on=certificate_expires_on)
    session.add(card)
    session.flush()
    return card


def cancel_card(session: Session, certificate_serial: str, *, reason: str, now: datetime | None = None) -> InsuranceCard:
    card = get_card(session, certificate_serial)
    if card is None:
        raise CardError("この証明書シリアル番号のマイナ保険証は登録されていません (unknown certificate serial)")
    card.cancelled_at, card.cancel_reason = now or utcnow(), reason
    return card


def get_card(session: Session, certificate_serial: str) -> InsuranceCard | None:
    return session.scalar(select(InsuranceCard).where(InsuranceCard.certificate_serial == certificate_serial))


def cards_of(session: Session, person_id: int) -> list[InsuranceCard]:
    return list(session.scalars(select(InsuranceCard).where(InsuranceCard.person_id == person_id)
                                .order_by(InsuranceCard.registered_at)))


def card_serials(session: Session, limit: int = 30, kind: str | None = None) -> list[str]:
    """Certificate serials of the first registered マイナ保険証 (the demo's stand-in for a card reader); of one
    credential *kind* when given."""
    q = select(InsuranceCard.certificate_serial)
    if kind is not None:
        q = q.where(InsuranceCard.kind == kind)
    return list(session.scalars(q.order_by(InsuranceCard.id).limit(limit)))
