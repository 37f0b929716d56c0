"""The per-process cache of the people a repeat check's numbers match, kept current by PostgreSQL LISTEN/NOTIFY.

:mod:`onshi.verify.etag_fast` recomputes a repeat check's tag from the people the numbers and birth date match,
each with its change counter (``answer_versions``).  This cache keeps that list per lookup key
``(insurer_number, symbol, number, branch or None, birth_date)`` so that a repeat check whose entry is cached
answers 304 without reading the database.  The triggers of migration ``0027_version_notify`` notify, at the commit
of any change an answer is made of, the people whose counters they bumped and a digest of the changed rows'
numbers (channel ``onshi_answers``); :class:`Listener` (one psycopg connection per process, on the server's event
loop) drops every entry that lists one of those people or has those numbers.  A revocation (any update of an
institution, channel ``onshi_institutions``) drops the institution from :data:`onshi.verify.institutions.
institution_cache` and marks the snapshots requests already hold, so the next request is refused 401 as before.

Staleness: a 304 from the cache reflects every change whose notification has reached the process — within the
notification latency of the commit (a round trip).  The cache serves only while its listener is connected and
LISTENing: when the connection fails the cache is emptied and turned off (every repeat check reads, as without the
cache) until the listener has reconnected and listens again; then it is emptied once more, and the credentials
the institution cache holds by then get no cached 304 until they are read again (what was notified in between is
lost; their requests read ``revoked_at`` as without the cache).  A fill whose read began before a notification processed
after it is not stored (:meth:`VersionCache.begin`/:meth:`VersionCache.put`: a generation counter).

Off on SQLite, when ``ONSHI_READ_DATABASE_URL`` is set (a fill from a lagging replica could store what a
notification already dropped) and with ``ONSHI_VERSION_CACHE=0``.  docs/receipts.md ("ETag") and docs/performance.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref

__all__ = ["Listener", "VersionCache", "digest", "for_engine", "key_of", "start", "wanted"]

log = logging.getLogger(__name__)

ANSWERS, INSTITUTIONS = "onshi_answers", "onshi_institutions"


def digest(insurer_number: str, symbol: str, number: str) -> str:
    """The notified digest of a row's lookup numbers (migration 0027: ``'k' || left(md5(i|s|n), 16)``)."""
    return "k" + hashlib.md5(f"{insurer_number}|{symbol}|{number}".encode()).hexdigest()[:16]


def key_of(req) -> tuple:
    """The cache key of a request by numbers (as :func:`onshi.verify.etag_fast.statement` reads)."""
    return (req.insurer_number, req.symbol or "", req.number, req.branch or None, req.birth_date)


class VersionCache:
    """Lookup key → the sorted ``(person_id, version)`` tuple it matched (possibly empty), with reverse maps from a
    person and from a numbers digest to the keys, for invalidation.  At most *max_entries*: the oldest fill goes
    first.  Used on one event loop (no lock)."""

    def __init__(self, max_entries: int = 100_000):
        self.max_entries = max_entries
        self.entries: dict[tuple, tuple] = {}
        self.by_person: dict[int, set] = {}
        self.by_digest: dict[str, set] = {}
        self.generation = 0  #: bumped by every notification processed and every loss of the listener
        self.enabled = False  #: serving: only while the listener listens
        self.stale_institutions: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.hits = self.fills = self.invalidations = 0
        self.marker = ""  #: the last ``#…`` item notified (:meth:`invalidate`)

    # ---- reads and fills
    def get(self, key: tuple, institution) -> tuple | None:
        """The cached people of *key*, or None (not cached, cache off, or *institution* a snapshot taken before a
        notification about it)."""
        if not self.enabled or self.stale_institutions.get(id(institution)) is institution:
            return None
        people = self.entries.get(key)
        if people is not None:
            self.hits += 1
        return people

    def begin(self) -> int | None:
        """Call before the read that fills an entry; pass the result to :meth:`put`."""
        return self.generation if self.enabled else None

    def put(self, key: tuple, people, token: int | None) -> bool:
        """Store what a read begun at *token* found, unless a notification was processed since (or the cache is
        off): then it may already be stale.  True when stored."""
        if token is None or token != self.generation or not self.enabled:
            return False
        if key in self.entries:
            self._drop(key)
        while len(self.entries) >= self.max_entries:
            self._drop(next(iter(self.entries)))
        people = tuple(people)
        self.entries[key] = people
        for person, _version in people:
            self.by_person.setdefault(person, set()).add(key)
        self.by_digest.setdefault(digest(key[0], key[1], key[2]), set()).add(key)
        self.fills += 1
        return True

    # ---- invalidation
    def _drop(self, key: tuple) -> None:
        people = self.entries.pop(key, None)
        if people is None:
            return
        for person, _version in people:
            keys = self.by_person.get(person)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_person[person]
        d = digest(key[0], key[1], key[2])
        keys = self.by_digest.get(d)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_digest[d]

    def invalidate(self, payload: str) -> None:
        """Process one ``onshi_answers`` payload: person ids and ``k…`` digests, comma-separated; ``*``: all;
        ``#…``: a marker, kept in :attr:`marker` (notifications arrive in commit order, so a marker's arrival
        proves every change committed before it has been processed: tests, a health probe)."""
        self.generation += 1
        self.invalidations += 1
        if payload == "*":
            self.clear()
            return
        for item in payload.split(","):
            if not item:
                continue
            if item[0] == "#":  # a marker: whoever sent it knows everything committed before it is processed
                self.marker = item
                continue
            if item[0] == "k":
                keys = self.by_digest.get(item)
            else:
                try:
                    keys = self.by_person.get(int(item))
                except ValueError:
                    log.warning("version cache: unexpected notification item %r: emptied", item[:40])
                    self.clear()
                    return
            for key in list(keys or ()):
                self._drop(key)

    def institution_changed(self, payload: str) -> None:
        """Process one ``onshi_institutions`` payload: an institution id (``*``: all) — drop it from the
        institution cache and mark the snapshots of it that requests may still hold."""
        from onshi.verify.institutions import institution_cache

        self.generation += 1
        if payload == "*":
            dropped = institution_cache.clear()
        else:
            try:
                dropped = institution_cache.discard_institution(int(payload))
            except ValueError:
                dropped = institution_cache.clear()
        for inst in dropped:
            self.stale_institutions[id(inst)] = inst

    def clear(self) -> None:
        self.generation += 1
        self.entries.clear()
        self.by_person.clear()
        self.by_digest.clear()

    def disable(self) -> None:
        """The listener is lost (or stopped): empty and serve nothing until it listens again."""
        self.enabled = False
        self.clear()


class Listener:
    """LISTEN on both channels on one psycopg AsyncConnection, on the server's event loop; reconnects after a
    failure (the cache is off meanwhile: :class:`VersionCache`)."""

    def __init__(self, dsn: str, cache: VersionCache, *, retry_seconds: float = 1.0):
        self.dsn, self.cache, self.retry_seconds = dsn, cache, retry_seconds
        self.task: asyncio.Task | None = None
        self.pid: int | None = None  #: the listening backend's pid (tests terminate it)
        self.connects = 0

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None
        self.cache.disable()

    async def _run(self) -> None:
        import psycopg

        from onshi.verify.institutions import institution_cache

        while True:
            try:
                aconn = await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, keepalives=1, keepalives_idle=10, keepalives_interval=5,
                    keepalives_count=3)  # a silent network loss is found within ~25 s
                try:
                    await aconn.execute(f"LISTEN {ANSWERS}")
                    await aconn.execute(f"LISTEN {INSTITUTIONS}")
                    self.pid = aconn.info.backend_pid
                    # what was notified before this point is lost: start empty; the credentials cached so far
                    # get no cached 304 (their requests read revoked_at, as without the cache) until re-read
                    self.cache.clear()
                    for inst in institution_cache.snapshots():
                        self.cache.stale_institutions[id(inst)] = inst
                    self.cache.enabled = True
                    self.connects += 1
                    async for n in aconn.notifies():
                        if n.channel == ANSWERS:
                            self.cache.invalidate(n.payload)
                        else:
                            self.cache.institution_changed(n.payload)
                finally:
                    self.cache.disable()
                    await aconn.close()
            except asyncio.CancelledError:
                self.cache.disable()
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: off until listening again
                self.cache.disable()
                log.warning("version cache listener lost (%s: %s); the cache is off until it reconnects",
                            type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            await asyncio.sleep(self.retry_seconds)


_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → VersionCache


def for_engine(engine) -> VersionCache | None:
    """The process's cache for *engine*, or None when it has none (no listener started: :func:`start`)."""
    return _caches.get(engine)


def wanted(engine) -> bool:
    """Does this deployment use the cache (PostgreSQL, no read replica, ``ONSHI_VERSION_CACHE`` on)?"""
    from onshi.config import get_settings

    s = get_settings()
    return engine.dialect.name == "postgresql" and s.version_cache and not s.read_database_url


def start(engine) -> Listener | None:
    """Start a listener of *engine*'s cache on the running loop (the server's start-up), if :func:`wanted`; the
    caller stops it (:meth:`Listener.stop`, the server's shutdown: the cache is then emptied and off)."""
    if not wanted(engine):
        return None
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = VersionCache()
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener = Listener(dsn, cache)
    listener.start()
    return listener
