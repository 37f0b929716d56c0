"""The 医療機関・薬局 that may verify: registration, their tokens (stored only as a digest), revocation, and the
per-process token cache the verification endpoints authenticate through.

A clinic's software authenticates with a bearer token of its own (``onshi institution add``); an unknown or revoked
token is an :class:`AuthError` — the routes answer 401 and nothing about anyone (``onshi.auth.deps``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from onshi.store.db import utcnow
from onshi.verify.models import Institution
from onshi.verify.result import VerificationError

FACILITY_TYPES = ("hospital", "clinic", "dental", "pharmacy")

#: What an institution's token is answered (its registration's ``kind``, docs/oqs.md "Kinds of institution"):
#: ``general`` everything; ``limited`` (資格確認限定型: 柔道整復・あん摩マッサージ指圧・はり・きゅうの施術所) only what a
#: card shows — no consents, no 限度額, no health information (a request for them is refused, 403);
#: ``home_visit`` (居宅同意取得型: 訪問診療・訪問看護) everything, and a re-query without the card of a patient it
#: verified by card within :data:`onshi.rules.transition.HOME_VISIT_REQUERY_MONTHS`.
INSTITUTION_KINDS = {"general": "通常", "limited": "資格確認限定型（柔道整復・あはき）",
                     "home_visit": "居宅同意取得型（訪問診療・訪問看護）"}
GENERAL, LIMITED, HOME_VISIT = "general", "limited", "home_visit"


class AuthError(Exception):
    """Unknown or revoked credential: the caller answers 401 and says nothing about anyone."""


def token_digest(token: str) -> str:
    """The stored form of an institution token (SHA-256, hex): tokens are never stored in clear."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_institution(session: Session, *, code: str, name: str, facility_type: str,
                    token: str | None = None, kind: str = GENERAL) -> tuple[Institution, str]:
    """Register an institution; returns it and its token (shown once, stored only as a digest).  *kind*
    (:data:`INSTITUTION_KINDS`) is the token's scope."""
    from onshi.numbers import institution_code

    code = institution_code.validate(code)
    if facility_type not in FACILITY_TYPES:
        raise ValueError(f"facility_type must be one of {', '.join(FACILITY_TYPES)}")
    if kind not in INSTITUTION_KINDS:
        raise ValueError(f"kind は {', '.join(INSTITUTION_KINDS)} のどれかです (unknown institution kind {kind!r})")
    token = token or secrets.token_urlsafe(32)
    inst = Institution(code=code, name=name, prefecture_code=code[:2], facility_type=facility_type,
                       token_digest=token_digest(token), kind=kind)
    session.add(inst)
    session.flush()
    return inst, token


def authenticate(session: Session, token: str | None) -> Institution:
    if not token:
        raise AuthError("no credential")
    inst = session.scalar(select(Institution).where(Institution.token_digest == token_digest(token)))
    if inst is None or inst.revoked_at is not None:
        raise AuthError("unknown or revoked credential")
    return inst


def revoke_institution(session: Session, code: str) -> None:
    inst = session.scalar(select(Institution).where(Institution.code == code))
    if inst is None:
        raise ValueError(f"医療機関コード {code} は登録されていません — `onshi institution list` で確認してください (unknown institution {code})")
    inst.revoked_at = utcnow()
    institution_cache.discard(inst.token_digest)


def active_institution(session: Session, code: str) -> Institution:
    """The institution with 医療機関コード *code*, unless unknown or revoked (then E0002): what a terminal serves."""
    inst = session.scalar(select(Institution).where(Institution.code == code, Institution.revoked_at.is_(None)))
    if inst is None:
        raise VerificationError("E0002", "この端末の医療機関は登録されていないか停止されています "
                                         "(institution unknown or revoked)", "MedicalInstitutionCode")
    return inst


@dataclass(frozen=True)
class AuthenticatedInstitution:
    """What a verification needs of the institution behind a credential (a snapshot, not an ORM object)."""

    id: int
    code: str
    name: str
    prefecture_code: str
    facility_type: str
    revoked_at: None = None
    kind: str = GENERAL  #: :data:`INSTITUTION_KINDS`: the token's scope


class InstitutionCache:
    """Token digest → :class:`AuthenticatedInstitution`, per process, for at most *ttl* seconds.

    Only the verification endpoints use it, and they pass ``check_revoked=True`` to :func:`verify`: the
    lookup statement reads the institution's ``revoked_at`` by id in the same round trip, so a revocation
    stops answers at once in every worker — the cache saves the separate authentication query, it does not
    delay a revocation.  What the TTL bounds is how long a changed name or prefecture (which go into the
    usage log) stays stale, and how long a revoked credential still gets a 422 instead of a 401 for a request
    rejected before the lookup (a malformed body, a date of care too far ahead) — answers that say nothing
    about anyone.  Unknown tokens are never cached.  ``ONSHI_AUTH_CACHE_SECONDS=0`` turns the cache off.
    """

    def __init__(self, ttl: float, max_entries: int = 20_000):
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[str, tuple[float, AuthenticatedInstitution]] = {}
        self._lock = threading.Lock()
        #: bumped when an institution's row is notified changed (:meth:`discard_institution`, :meth:`clear`): a
        #: read begun before that is not stored (:meth:`put`'s *since*) — it may hold the row before a revocation
        self.generation = 0

    def get(self, digest: str) -> AuthenticatedInstitution | None:
        hit = self._entries.get(digest)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self.discard(digest)
            return None
        return hit[1]

    def put(self, digest: str, inst: AuthenticatedInstitution, since: int | None = None) -> None:
        """Cache *inst*, read after :attr:`generation` was *since* (None: unconditionally)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if since is not None and since != self.generation:
                return  # a change was notified while it was read (a thread may read: the early 401 guard)
            while len(self._entries) >= self.max_entries:  # oldest first (dicts keep insertion order)
                self._entries.pop(next(iter(self._entries)))
            self._entries[digest] = (time.monotonic() + self.ttl, inst)

    def discard(self, digest: str | None) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def discard_institution(self, institution_id: int) -> list[AuthenticatedInstitution]:
        """Drop every token of one institution (its row changed: :mod:`onshi.verify.version_cache`); returns
        the snapshots dropped."""
        with self._lock:
            self.generation += 1
            gone = [d for d, (_t, inst) in self._entries.items() if inst.id == institution_id]
            return [self._entries.pop(d)[1] for d in gone]

    def snapshots(self) -> list[AuthenticatedInstitution]:
        """The snapshots cached now."""
        with self._lock:
            return [inst for _t, inst in self._entries.values()]

    def clear(self) -> list[AuthenticatedInstitution]:
        """Drop everything; returns the snapshots dropped."""
        with self._lock:
            self.generation += 1
            dropped = [inst for _t, inst in self._entries.values()]
            self._entries.clear()
            return dropped


institution_cache = InstitutionCache(float(os.environ.get("ONSHI_AUTH_CACHE_SECONDS", "60")))


def authenticate_cached(db: Engine | Session | Connection, token: str | None) -> AuthenticatedInstitution:
    """:func:`authenticate` through :data:`institution_cache`; use with ``verify(..., check_revoked=True)``.

    Given an Engine, a connection is taken only on a cache miss.
    """
    if not token:
        raise AuthError("no credential")
    digest = token_digest(token)
    inst = institution_cache.get(digest)
    if inst is not None:
        return inst
    since = institution_cache.generation
    i = Institution.__table__.c
    q = select(i.id, i.code, i.name, i.prefecture_code, i.facility_type, i.revoked_at, i.kind).where(
        i.token_digest == digest)
    if isinstance(db, Engine):
        with db.connect() as conn:
            row = conn.execute(q).first()
    else:
        row = db.execute(q).first()
    if row is None or row.revoked_at is not None:
        raise AuthError("unknown or revoked credential")
    inst = AuthenticatedInstitution(id=row.id, code=row.code, name=row.name, prefecture_code=row.prefecture_code,
                                    facility_type=row.facility_type, kind=row.kind)
    institution_cache.put(digest, inst, since)
    return inst


def institution_by_code(session: Session, code: str | None):
    """The 医療機関 a clinic user works at (:class:`onshi.verify.models.Institution`), or None."""
    if not code:
        return None
    return session.scalar(select(Institution).where(Institution.code == code))


def list_institutions(session: Session) -> list:
    """Every registered 医療機関, by code (for the administrator's user form)."""
    return list(session.scalars(select(Institution).order_by(Institution.code)))
