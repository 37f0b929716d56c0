"""Shortcut of onshi.verify.service.verify for the REST endpoints; held to it by tests/verify/test_rest_fast_path.py::test_the_same_answer_as_the_service.

The verification endpoints' fast path (PostgreSQL): one autocommit connection per process and database instead
of a pool checkout per request, and a group commit of the usage-log and audit rows on the event loop
(:class:`GroupCommit`).  The answer itself is always :func:`onshi.verify.service.verify`'s; only where it reads
and when its rows are written differ.  Anything else (SQLite, a request that records a consent) takes the
reference path: one transaction around :func:`~onshi.verify.service.verify`.  docs/performance.md has the
measurements.
"""

from __future__ import annotations

import asyncio
import weakref

from sqlalchemy.exc import DBAPIError

from onshi.ops.metrics import GROUP_COMMIT, labelled
from onshi.verify import etag_fast, receipts, receipts_fast, service, version_cache
from onshi.verify.result import VerificationOutcome, VerificationRequest

__all__ = ["AutocommitConnection", "GroupCommit", "GroupCommitBusy", "answer", "for_engine"]


class AutocommitConnection:
    """One autocommit connection per process and database (PostgreSQL) for the verification endpoints.

    They read on the event loop, one at a time, so one connection serves them all: no pool checkout and no
    pre-ping per request (0.1 ms each).  A connection found dead is replaced and the request retried once —
    only when the failing statement was the read, so that nothing is written twice.
    """

    def __init__(self, engine):
        self.engine, self.conn, self.busy = engine, None, False

    def run(self, fn):
        if self.busy:  # not expected (the endpoints are on the loop); never share the connection
            with self.engine.connect() as conn:
                return fn(conn.execution_options(isolation_level="AUTOCOMMIT"))
        self.busy = True
        try:
            for attempt in (1, 2):
                if self.conn is None or self.conn.closed or self.conn.invalidated:
                    self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                try:
                    return fn(self.conn)
                except DBAPIError as exc:
                    if not exc.connection_invalidated:
                        raise
                    self.conn.close()
                    self.conn = None
                    if attempt == 2 or not (exc.statement or "").lstrip().upper().startswith("SELECT"):
                        raise
        finally:
            self.busy = False


class GroupCommitBusy(Exception):
    """Another event loop's group commit is writing right now: the caller writes its rows itself."""


class GroupCommit:
    """Group commit of the usage-log and audit rows of the REST verifications (PostgreSQL), on the event loop.

    A request whose lookup is done awaits :meth:`commit`.  One task per process writes what has queued up —
    every row that arrived while the previous write was in flight, and those of the requests the loop serves in
    the one turn the task yields before taking them — in one statement on its own async
    connection (autocommit: the statement is the commit), then wakes the requests.  The loop keeps serving
    lookups while a write waits for PostgreSQL's WAL flush, so under load the flush is shared by many
    answers; alone, a request waits for one write as before.  No thread is involved (a writer thread made
    the loop wait for the GIL).

    The batch's receipts are signed here too, with one signature for the batch
    (:func:`onshi.verify.receipts.sign_batch`: a Merkle root signed once, each receipt carrying its path; a batch
    of one is the ordinary compact JWS) — the signature is the largest fixed cost of an answer after HTTP.

    An answer is sent only after its rows are committed: a crash or a failed write loses no answered
    verification — the waiting requests get an error instead.  A connection that breaks mid-write is
    replaced and the batch written once more, so a row may (rarely) be written twice, never lost.
    """

    def __init__(self, engine):
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.pending: list = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        self.aconn = None
        self.batches = self.rows = 0

    async def commit(self, log: dict, audit: dict | None, claims: tuple | None = None) -> str | None:
        """Wait until the rows are committed; with *claims* (a receipt's, set aside by
        :func:`onshi.verify.receipts_fast.defer`) return its receipt, written and signed with the others of the
        batch (:func:`onshi.verify.receipts.sign_batch`: one signature per batch)."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a new loop (tests start one per request); one server has one
            if self.task is not None and not self.task.done():
                raise GroupCommitBusy  # another loop is writing right now: the caller writes itself
            if self.aconn is not None:
                self.aconn.pgconn.finish()  # belongs to the old loop; close without it
            self.loop, self.aconn, self.task, self.pending = loop, None, None, []
        fut = loop.create_future()
        self.pending.append((log, audit, claims, fut))
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._run())
        return await fut

    async def _run(self) -> None:
        while self.pending:
            # one turn of the loop first: requests already read whose lookups run now join this batch instead of
            # waiting for the next write (fewer, larger batches: fewer signatures and statements per answer)
            await asyncio.sleep(0)
            batch, self.pending = self.pending, []
            try:
                # the batch's claims written one after another, then signed: written in between each request's
                # other work they cost about three times as much (receipts_fast.defer)
                claims = [receipts_fast.write(b[2]) for b in batch if b[2] is not None]
                signed = iter(receipts.sign_batch(claims, receipts.key_ring()))
                results = [next(signed) if b[2] is not None else None for b in batch]
                await self._write([b[0] for b in batch], [b[1] for b in batch if b[1] is not None])
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error, none an answer
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            self.rows += len(batch)
            labelled(GROUP_COMMIT, "writes").inc()
            labelled(GROUP_COMMIT, "rows").inc(len(batch))
            if claims:
                labelled(GROUP_COMMIT, "signatures").inc(-(-len(claims) // receipts.MAX_BATCH))  # in chunks
                labelled(GROUP_COMMIT, "receipts").inc(len(claims))
            for (*_, fut), result in zip(batch, results):
                if not fut.done():
                    fut.set_result(result)

    async def _write(self, logs: list[dict], audits: list[dict]) -> None:
        import psycopg

        params = service.log_batch_params(logs, audits)
        for attempt in (1, 2):
            if self.aconn is None or self.aconn.closed or self.aconn.broken:
                self.aconn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            try:
                async with self.aconn.cursor() as cur:
                    await cur.execute(service.LOG_BATCH_SQL, params, prepare=True)
                return
            except psycopg.OperationalError:
                if attempt == 2 or not (self.aconn.closed or self.aconn.broken):
                    raise


def _with_receipt(outcome: VerificationOutcome, receipt: str) -> VerificationOutcome:
    """*outcome* with its signed receipt: ``dataclasses.replace`` without its per-field walk (7 % of what
    signing added in a cProfile of signing on against off);
    the frozen dataclass's fields copied as they are, ``receipt`` set."""
    copy = object.__new__(VerificationOutcome)
    copy.__dict__.update(outcome.__dict__, receipt=receipt)
    return copy


_connections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → AutocommitConnection
_group_commits: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine → GroupCommit


def for_engine(engine) -> tuple[AutocommitConnection, GroupCommit]:
    """The process's autocommit connection and group commit of *engine* (made on first use)."""
    try:
        return _connections[engine], _group_commits[engine]
    except KeyError:
        _connections[engine] = AutocommitConnection(engine)
        _group_commits[engine] = GroupCommit(engine)
        return _connections[engine], _group_commits[engine]


async def answer(engine, req: VerificationRequest, inst: service.AuthenticatedInstitution,
                 read_engine=None, *, registered_at=None, actor: tuple[str, str] | None = None,
                 if_none_match: str | None = None) -> VerificationOutcome:
    """Verify for an institution authenticated by :func:`onshi.verify.service.authenticate_cached`.

    On PostgreSQL, when the request records no consent, the lookup runs here on the loop (one statement on
    the process's autocommit connection) and the log rows go to the process's :class:`GroupCommit`; the
    answer waits, without blocking the loop, until they are committed.  Otherwise one transaction, like
    every other caller of :func:`onshi.verify.service.verify`.  A credential revoked since it was cached
    raises :class:`onshi.verify.service.AuthError` (the route answers 401).  With *read_engine* (a streaming
    replica, ``ONSHI_READ_DATABASE_URL``) the lookup reads there; the rows are still written to *engine*.  A
    replay (*registered_at*, docs/replay.md) records no consent, so on PostgreSQL it always takes this path too.
    *if_none_match* is the request's header (:func:`onshi.verify.service.verify`): a repeat check first tries
    :func:`onshi.verify.etag_fast.not_modified` (one tiny read, none when :mod:`onshi.verify.version_cache`
    holds the numbers; 304 when the tag still holds), then this path.
    """
    replay = {} if registered_at is None else {"registered_at": registered_at, "actor": actor}
    writes_consents = not replay and (req.limit_consent or bool(req.reader_outcome
                                                                and req.reader_outcome.get("consents")))
    repeat = bool(if_none_match) and not replay and not writes_consents  # a 304 may need no answer at all
    if engine.dialect.name == "postgresql" and not writes_consents:
        conn, group = for_engine(engine)
        reader = for_engine(read_engine)[0] if read_engine is not None else conn
        rows: list = []
        unsigned: list = []  # the receipt's claims, set aside: written and signed with the group commit's batch
        record = lambda log, audit: rows.append((log, audit))  # noqa: E731
        # a repeat check: people from the process's version cache (no connection taken on a hit) or one read
        versions = version_cache.for_engine(engine) if read_engine is None else None
        outcome = etag_fast.not_modified(reader, req, inst, if_none_match, record=record, unsigned=unsigned,
                                         versions=versions) if repeat else None
        if outcome is None:
            outcome = reader.run(lambda c: service.verify(c, req, inst, check_revoked=True, **replay,
                                                         if_none_match=if_none_match, record=record,
                                                         unsigned=unsigned))
        claims = unsigned[0] if unsigned else None
        for log, audit in rows:
            try:
                receipt = await group.commit(log, audit, claims)
            except GroupCommitBusy:
                receipt = (receipts.sign_json(receipts_fast.write(claims), receipts.key_ring())
                           if claims is not None else None)
                conn.run(lambda c: service.write_log_batch(c, [log], [audit] if audit else []))
            if receipt is not None:
                outcome = _with_receipt(outcome, receipt)
        return outcome
    with engine.begin() as conn:
        outcome = etag_fast.not_modified(conn, req, inst, if_none_match) if repeat else None
        return outcome or service.verify(conn, req, inst, check_revoked=True, **replay, if_none_match=if_none_match)
