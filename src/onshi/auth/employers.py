"""Employers (事業主) on the REST API: their own credential for their own employees' cash-benefit applications.

An employer's software (給与・労務ソフト) submits 傷病手当金・出産手当金 … with the employer's attestation and reads
their state with a bearer token of its own, issued and revoked with ``onshi employer token issue|revoke|list``
(docs/auth.md "Employers") — not a staff session.  The token is bound to one 事業所 (``employers`` row, the 記号 of
its members' cards) of one insurer and stored only as a SHA-256 digest, like an institution's.

* no token, or an unknown or revoked one → 401;
* a valid token on a route of the insurer's staff → 403 (:func:`onshi.auth.staff.staff_dependency`);
* an application for someone who is not, on the day received, a member of the employer's 事業所 → 403, the same
  answer for an unknown number as for another employer's employee (the answer tells nothing about who is insured).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.auth.deps import bearer_token, get_session, unauthorized
from onshi.auth.models import EmployerToken
from onshi.registry import service as registry
from onshi.registry.models import Employer, Insurer
from onshi.store.clock import utcnow


class EmployerTokenError(ValueError):
    """A command-line input that names no employer or no token: what was given and why."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class EmployerCaller:
    """An authenticated employer: its 事業所, its insurer and the token used (for the audit and the actor)."""

    employer: Employer
    insurer: Insurer
    token_id: int

    @property
    def actor(self) -> str:
        """How its actions are recorded: ``employer:<insurer number>:<記号>``."""
        return f"employer:{self.insurer.number}:{self.employer.symbol}"

    @property
    def reader(self) -> dict:
        return {"actor_kind": "employer", "actor_id": f"{self.insurer.number}:{self.employer.symbol}#{self.token_id}"}


def issue(session: Session, *, insurer_number: str, symbol: str, label: str, actor: str) \
        -> tuple[EmployerToken, str]:
    """A new token for the 事業所 *symbol* of the insurer *insurer_number*; returns the row and the token (shown
    once, stored only as its digest)."""
    insurer = registry.get_insurer(session, number=insurer_number)
    if insurer is None:
        raise EmployerTokenError(f"保険者番号 {insurer_number}: 登録されていません")
    employer = registry.get_employer(session, insurer_id=insurer.id, symbol=symbol)
    if employer is None:
        raise EmployerTokenError(f"記号 {symbol}: 保険者 {insurer_number} の事業所として登録されていません"
                                 "（新規適用届の取込みが先です）")
    if not label.strip():
        raise EmployerTokenError("--label: 用途（ソフト名・部署など）を記入してください")
    token = "emp_" + secrets.token_urlsafe(32)
    row = EmployerToken(employer_id=employer.id, insurer_id=insurer.id, label=label.strip()[:100],
                        token_digest=token_digest(token), created_by=actor[:100])
    session.add(row)
    session.flush()
    return row, token


def revoke(session: Session, token_id: int) -> EmployerToken:
    row = session.get(EmployerToken, token_id)
    if row is None:
        raise EmployerTokenError(f"トークン番号 {token_id}: ありません（onshi employer token list で確認してください）")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row


def tokens(session: Session, *, insurer_number: str | None = None) -> list[tuple[EmployerToken, Employer]]:
    """Every token (no secret: the digest is not shown either) with its 事業所."""
    q = select(EmployerToken, Employer).join(Employer, Employer.id == EmployerToken.employer_id)
    if insurer_number is not None:
        insurer = registry.get_insurer(session, number=insurer_number)
        q = q.where(EmployerToken.insurer_id == (insurer.id if insurer else -1))
    return [tuple(r) for r in session.execute(q.order_by(EmployerToken.id)).all()]


def authenticate(session: Session, token: str | None) -> EmployerCaller | None:
    """The employer of an active token; None for no token or an unknown or revoked one."""
    if not token:
        return None
    row = session.scalar(select(EmployerToken).where(EmployerToken.token_digest == token_digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    employer = session.get(Employer, row.employer_id)
    insurer = registry.get_insurer(session, id=row.insurer_id)
    if employer is None or insurer is None:
        return None
    return EmployerCaller(employer, insurer, row.id)


def request_token(request: Request) -> str | None:
    return bearer_token(request.headers.get("authorization"), request.headers.get("x-onshi-token"))


def employer_caller(request: Request,
                    session: Session = Depends(get_session, scope="function")) -> EmployerCaller:  # noqa: B008
    """A route dependency for employers: 401 (and nothing else) without an active employer token."""
    caller = authenticate(session, request_token(request))
    if caller is None:
        raise unauthorized()
    return caller


def not_an_employee() -> HTTPException:
    return HTTPException(403, "記号・番号・枝番 is not a member of this employer's 事業所 (an employer's credential "
                              "applies to its own employees only)")

