"""The insurer's staff on the REST API (保険者の職員): who is asking, for which insurer, and the actor their audited
reads are recorded under — one dependency for every domain's staff routes (registry, exchange, documents).

A signed-in clerk or supervisor passes; no session is 401, any other role 403 (an employer's bearer token too:
:mod:`onshi.auth.employers`); a state-changing request needs the
session's CSRF token in ``X-CSRF-Token``.  Another insurer's data is each route's 404 (the read services scope by
:attr:`StaffUser.insurer`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from onshi.auth import users
from onshi.auth.deps import get_session
from onshi.auth.models import WebUser
from onshi.auth.sessions import current_user_or_none
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.registry.models import Insurer


@dataclass(frozen=True)
class StaffUser:
    """A signed-in clerk or supervisor and the insurer they work for."""

    user: WebUser
    insurer: Insurer

    @property
    def actor(self) -> str:
        """How the user's actions are recorded (``imported_by``, ``started_by`` …): ``web:<username>``."""
        return users.actor(self.user)

    @property
    def reader(self) -> dict:
        """The actor of an audited read (keyword arguments of the read services)."""
        return {"actor_kind": "user", "actor_id": self.user.username}

    def audit(self, session: Session, action: str, person_id: int, detail: str | None = None) -> None:
        """Record a read of a person's data by this user."""
        audit.record_read(session, actor_kind="user", actor_id=self.user.username, action=action,
                          subject_kind="person", subject_id=person_id, detail=detail,
                          insurer_number=self.insurer.number)


def staff_dependency(forbidden: str, csrf_hint: str = "") -> Callable[..., StaffUser]:
    """A route dependency for the insurer's staff; *forbidden* is the 403's reason for another role, *csrf_hint*
    says where a client gets the CSRF token."""

    def staff(request: Request, session: Session = Depends(get_session, scope="function")) -> StaffUser:  # noqa: B008
        user = current_user_or_none(request, session)
        if user is None:
            from onshi.auth import employers

            if employers.authenticate(session, employers.request_token(request)) is not None:
                raise HTTPException(403, "an employer's credential does not open the insurer's staff routes "
                                         "(docs/auth.md \"Employers\")")
            raise HTTPException(401, "sign in as an insurer's clerk or supervisor (POST /login)")
        if user.role not in users.INSURER_ROLES or user.insurer_id is None:
            raise HTTPException(403, forbidden)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent, expected = request.headers.get("x-csrf-token") or "", request.session.get("csrf") or ""
            if not expected or not hmac.compare_digest(sent, expected):
                raise HTTPException(403, f"missing or wrong X-CSRF-Token header{csrf_hint}")
        insurer = registry.get_insurer(session, id=user.insurer_id)
        if insurer is None:
            raise HTTPException(403, "the user's insurer is not registered")
        return StaffUser(user, insurer)

    return staff
