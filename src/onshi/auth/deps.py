"""Request-scoped dependencies: one database session (one transaction) per request, institution auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session

from onshi.store.db import session_factory, unit_of_work


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response leaves (routes use it with
    ``scope="function"``): whatever a page shows — and the audit entry of that read — is stored first."""
    with unit_of_work(factory=request.app.state.session_factory) as session:
        yield session


#: The request's session for a route parameter (``session: DB``), committed before the response is sent.
DB = Annotated[Session, Depends(get_session, scope="function")]


def bearer_token(authorization: str | None = Header(default=None), x_onshi_token: str | None = Header(default=None)) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return x_onshi_token


def unauthorized() -> HTTPException:
    return HTTPException(status_code=401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"})


def current_institution(token: str | None = Depends(bearer_token), session: Session = Depends(get_session, scope="function")):
    """The authenticated 医療機関; 401 (and nothing else) for a missing, unknown or revoked credential."""
    from onshi.verify.service import AuthError, authenticate

    try:
        return authenticate(session, token)
    except AuthError:
        raise unauthorized() from None


async def _bearer_token(authorization: str | None = Header(default=None),
                        x_onshi_token: str | None = Header(default=None)) -> str | None:
    return bearer_token(authorization, x_onshi_token)


async def verifying_institution(request: Request, token: str | None = Depends(_bearer_token)):
    """:func:`current_institution` for the verification endpoints, from the per-process token cache.

    Async, so FastAPI calls it on the event loop (no thread hop); a cache miss reads the institution once.
    The snapshot it returns must go with ``verify(..., check_revoked=True)``, which re-reads the revocation in
    the verification's own statement (see :class:`onshi.verify.service.InstitutionCache`).
    """
    from onshi.verify.service import AuthError, authenticate_cached

    try:
        return authenticate_cached(request.app.state.engine, token)
    except AuthError:
        raise unauthorized() from None


def make_session_factory(engine=None):
    return session_factory(engine)
