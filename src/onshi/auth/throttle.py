"""Rate limits (流量制限) and the sign-in delay.

Two mechanisms, both answered with ``429 Too Many Requests`` and ``Retry-After``:

* **Request rates** — the `limits <https://limits.readthedocs.io>`_ library (sliding-window counters), kept in
  Redis when ``ONSHI_REDIS_URL`` is set (every worker and server shares the counts) and in the process otherwise.
  On the verification routes (REST, OQS, FHIR, myclinic) per institution token and per source address, generous
  enough for a clinic's bulk check; a separate, tight count of *refused* credentials per address stops anyone
  guessing tokens; on ``POST /login`` per source address.  The limits are settings (``ONSHI_RATE_LIMIT_*``,
  docs/auth.md).  Tokens are counted under their SHA-256, never in clear.
* **The sign-in delay** — per user name, in the database (:class:`~onshi.auth.models.SignInFailure`), on the one
  clock: after :attr:`Settings.login_free_failures` wrong passwords in a row each further attempt waits
  ``login_delay_base_seconds × 2ⁿ`` (at most ``login_delay_max_seconds``).  It replaces the 15-minute lock that
  anyone could set off against ``admin``: an outsider can make a user wait at most the maximum delay, and the
  per-address limit throttles the outsider first.  It counts names that do not exist the same way, so the delay
  does not tell which names do.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onshi.auth.models import SignInFailure
from onshi.store.clock import epoch_seconds, utcnow

#: The routes an institution's token opens (verification and its fallbacks, in every wire format).
VERIFY_PREFIXES = ("/api/v1/verifications", "/api/v1/reference-numbers", "/api/v1/eligibility-claims",
                   "/api/v1/claim-rerouting", "/oqs/", "/fhir/", "/myclinic/", "/oqs-api-pro/")
#: Set in the ASGI scope by :class:`onshi.web.verification_lane.VerificationLane` when it counted the request and then handed
#: it down the chain: :class:`VerificationRateLimit` does not count it again (it still counts a 401 as refused).
COUNTED = "onshi.rate_limit_counted"
#: Headers that carry an institution's credential (``Authorization: Bearer``, ``X-Onshi-Token``, myclinic's).
TOKEN_HEADERS = (b"authorization", b"x-onshi-token", b"x-onshi-view-secret")


def _digest(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class Refusal:
    """Over a limit: what was exceeded and how many seconds until a retry may pass."""

    what: str
    retry_after: int


class RateLimits:
    """The request-rate limits of one app, over one ``limits`` storage."""

    def __init__(self, settings, storage: Storage | None = None) -> None:
        self.enabled = settings.rate_limit_enabled
        if storage is None:
            storage = (RedisStorage(settings.redis_url, key_prefix=settings.redis_key_prefix)
                       if settings.redis_url else MemoryStorage())
        self.storage = storage
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.verify_per_token = parse_many(settings.rate_limit_verify_per_token)
        self.verify_per_address = parse_many(settings.rate_limit_verify_per_address)
        self.bad_token_per_address = parse_many(settings.rate_limit_bad_token_per_address)
        self.login_per_address = parse_many(settings.rate_limit_login_per_address)

    def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = self.limiter.get_window_stats(item, *identifiers)
        # the library's clock is the system's; a frozen onshi clock must not make this negative or huge
        wait = math.ceil(stats.reset_time - epoch_seconds())
        return max(1, min(wait, item.get_expiry()))

    def _hit(self, items: list[RateLimitItem], what: str, *identifiers: str) -> Refusal | None:
        for item in items:
            if not self.limiter.hit(item, what, *identifiers):
                return Refusal(what, self._retry_after(item, what, *identifiers))
        return None

    def _test(self, items: list[RateLimitItem], what: str, *identifiers: str) -> Refusal | None:
        for item in items:
            if not self.limiter.test(item, what, *identifiers):
                return Refusal(what, self._retry_after(item, what, *identifiers))
        return None

    def verification(self, address: str, token: str | None) -> Refusal | None:
        """Count one verification request; a refusal when the address, the token or the address's refused
        credentials are over their limits."""
        if not self.enabled:
            return None
        return (self._test(self.bad_token_per_address, "bad-token", address)
                or self._hit(self.verify_per_address, "verify-address", address)
                or (self._hit(self.verify_per_token, "verify-token", _digest(token)) if token else None))

    def refused_credential(self, address: str) -> None:
        """A verification request from *address* was answered 401."""
        if self.enabled:
            self._hit(self.bad_token_per_address, "bad-token", address)

    def sign_in(self, address: str) -> Refusal | None:
        """Count one sign-in attempt from *address*."""
        if not self.enabled:
            return None
        return self._hit(self.login_per_address, "login-address", address)

    def reset(self) -> None:
        self.storage.reset()


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name in TOKEN_HEADERS and value:
            return value.decode("latin-1")
    return None


def client_address(scope: Scope) -> str:
    """The source address as the server sees it (behind a TLS proxy: run uvicorn with ``--proxy-headers`` and
    ``--forwarded-allow-ips`` so this is the client's, docs/production.md)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


def too_many(refusal: Refusal, body: bytes = b'{"detail":"too many requests"}',
             content_type: bytes = b"application/json") -> tuple[Message, Message]:
    start = {"type": "http.response.start", "status": 429,
             "headers": [(b"content-type", content_type), (b"retry-after", str(refusal.retry_after).encode()),
                         (b"content-length", str(len(body)).encode())]}
    return start, {"type": "http.response.body", "body": body}


class VerificationRateLimit:
    """ASGI middleware: the verification routes' limits (``app.state.rate_limits``), checked before the route
    (and its body) runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits: RateLimits | None = getattr(scope["app"].state, "rate_limits", None) if "app" in scope else None
        if (scope["type"] != "http" or limits is None or not limits.enabled
                or not scope["path"].startswith(VERIFY_PREFIXES)):
            await self.app(scope, receive, send)
            return
        address = client_address(scope)
        refusal = None if scope.get(COUNTED) else limits.verification(address, bearer_token(scope))
        if refusal is not None:
            body = (f'{{"detail":"too many requests ({refusal.what}); retry after {refusal.retry_after} s"}}'
                    .encode())
            for message in too_many(refusal, body):
                await send(message)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                limits.refused_credential(address)
            await send(message)

        await self.app(scope, receive, watch)


# ---------------------------------------------------------------- the sign-in delay (database, the one clock)

def sign_in_wait(session: Session, username_key: str, settings, now: datetime | None = None) -> int:
    """Seconds the next sign-in attempt for *username_key* must still wait (0: it may go ahead)."""
    row = session.get(SignInFailure, username_key)
    now = now or utcnow()
    if row is None or row.wait_until is None or row.wait_until <= now:
        return 0
    return max(1, math.ceil((row.wait_until - now).total_seconds()))


def delay_after(failures: int, settings) -> float:
    """The wait after *failures* wrong passwords in a row: none for the first few, then doubling to the maximum.

    >>> from types import SimpleNamespace as S
    >>> s = S(login_free_failures=3, login_delay_base_seconds=2, login_delay_max_seconds=60)
    >>> [delay_after(n, s) for n in range(1, 10)]
    [0, 0, 2, 4, 8, 16, 32, 60, 60]
    """
    extra = failures - settings.login_free_failures
    if extra < 0:
        return 0
    return min(settings.login_delay_base_seconds * 2 ** extra, settings.login_delay_max_seconds)


def record_failure(session: Session, username_key: str, settings, now: datetime | None = None) -> int:
    """Count a wrong password for *username_key*; returns the seconds the next attempt waits."""
    now = now or utcnow()
    row = session.get(SignInFailure, username_key)
    if row is None:
        # names tried and never signed in with are forgotten after a day (the table cannot grow without bound)
        session.execute(delete(SignInFailure).where(SignInFailure.last_failure_at < now - timedelta(days=1)))
        try:
            with session.begin_nested():
                row = SignInFailure(username_key=username_key, failures=0, last_failure_at=now)
                session.add(row)
        except IntegrityError:  # a concurrent first failure of the same name
            row = session.get(SignInFailure, username_key)
    elif row.last_failure_at < now - timedelta(days=1):
        row.failures = 0
    row.failures = (row.failures or 0) + 1
    row.last_failure_at = now
    wait = delay_after(row.failures, settings)
    row.wait_until = now + timedelta(seconds=wait) if wait else None
    session.flush()
    return math.ceil(wait)


def clear_failures(session: Session, username_key: str) -> None:
    """A successful sign-in (or an administrator) clears the count."""
    session.execute(delete(SignInFailure).where(SignInFailure.username_key == username_key))


def failures_of(session: Session, username_key: str) -> SignInFailure | None:
    return session.get(SignInFailure, username_key)
