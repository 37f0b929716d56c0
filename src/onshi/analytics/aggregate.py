"""Fast path of :meth:`onshi.analytics.engine.DatabaseLog.aggregate` (the reference); equivalence: tests/analytics/test_aggregate.py.

The dashboards and the KPI sheet read the institution-month aggregate; the reference groups the whole verification
log for it at every read (seconds on the demo's 700,000 rows).  This module keeps the same aggregate in a table,
``usage_months`` (:class:`~onshi.analytics.models.UsageMonth`), and brings it up to date before each read by
counting again only the months that changed:

* a **watermark** (``usage_aggregate_state``: the highest log id and the number of log rows seen) — every log row
  above it marks its month of care for recounting (the verification service, bulk checks, the demo's traffic, a
  test's inserts: whoever wrote it);
* if the log's row count is not the watermark's plus the new rows (rows removed, or a transaction that committed
  late below the watermark), every month whose count of rows differs from the aggregate's is recounted too;
* a recounted month is deleted and inserted again from :func:`onshi.analytics.engine.aggregate_select` for that
  month's days, server-side (``INSERT … SELECT``), in one transaction with the new watermark.

A closed month is therefore counted once; the current month (集計中) is counted again whenever new rows arrived
for it.  Two refreshes at once: the one that moves the watermark first wins, the other leaves it alone (on
PostgreSQL its conditional ``UPDATE`` waits for the first to commit and then matches nothing).

The refresh commits its own transaction (a cache of the log, not a business change): the one exception to "the
entrypoint owns the transaction" in analytics (docs/architecture.md).  Reading costs, when nothing changed, one
``count(*)`` of the log and the aggregate table (about 10,000 rows for the demo's year).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlalchemy import delete, func, insert, select, update

from onshi.analytics.engine import AGG_COLUMNS, month_list, aggregate_select, arrow_aggregate, log_month_expr
from onshi.analytics.models import UsageAggregateState as State
from onshi.analytics.models import UsageMonth
from onshi.rules.calendar import month_bounds
from onshi.store.clock import utcnow

_TABLE_CACHE: dict[tuple, pa.Table] = {}


@dataclass(frozen=True)
class Refresh:
    """What a refresh found: the watermark after it and the months it counted again."""

    last_log_id: int
    log_rows: int
    generation: int
    recounted: tuple[str, ...] = ()


def _state(conn) -> tuple[int, int, int]:
    row = conn.execute(select(State.last_log_id, State.log_rows, State.generation)
                       .where(State.id == 1)).one_or_none()
    if row is None:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        conn.execute(upsert(State).values(id=1, last_log_id=0, log_rows=0, generation=secrets.randbits(62),
                                          refreshed_at=utcnow())
                     .on_conflict_do_nothing(index_elements=["id"]))  # another refresh may have created it
        return _state(conn)
    return int(row[0]), int(row[1]), int(row[2])


class _Overtaken(Exception):
    """Another refresh moved the watermark first: this one's transaction is rolled back."""


def refresh(engine) -> Refresh:
    """Bring ``usage_months`` up to date with ``verification_log`` (module docstring); returns the watermark."""
    for _attempt in range(5):
        try:
            return _refresh_once(engine)
        except _Overtaken:  # its figures stand; look again (usually: nothing left to do)
            continue
    return _refresh_once(engine)


def _refresh_once(engine) -> Refresh:
    from onshi.verify.models import VerificationLogEntry as L

    dialect = engine.dialect.name
    month = log_month_expr(dialect)
    with engine.begin() as conn:
        seen_id, seen_rows, generation = _state(conn)
        top = int(conn.scalar(select(func.max(L.id))) or 0)  # the primary key's last entry
        total = int(conn.scalar(select(func.count()).select_from(L)) or 0)  # the smallest index, read through
        if top == seen_id and total == seen_rows:
            return Refresh(seen_id, seen_rows, generation)
        generation = secrets.randbits(62)
        moved = conn.execute(update(State).where(State.id == 1, State.last_log_id == seen_id,
                                                 State.log_rows == seen_rows)
                             .values(last_log_id=max(top, seen_id), log_rows=total, generation=generation,
                                     refreshed_at=utcnow()))
        if moved.rowcount != 1:  # another refresh moved the watermark meanwhile
            raise _Overtaken
        new = dict(conn.execute(select(month, func.count()).where(L.id > seen_id).group_by(month)).all())
        dirty = {m for m in new if m}
        if total != seen_rows + sum(new.values()):
            in_log = dict(conn.execute(select(month, func.count()).group_by(month)).all())
            in_agg = {m: int(n) for m, n in conn.execute(select(UsageMonth.month, func.sum(UsageMonth.online))
                                                         .group_by(UsageMonth.month)).all()}
            dirty |= {m for m in set(in_log) | set(in_agg) if m and in_log.get(m, 0) != in_agg.get(m, 0)}
        columns = [getattr(UsageMonth, c) for c in AGG_COLUMNS]
        for m in sorted(dirty):
            lo, hi = month_bounds(m)
            conn.execute(delete(UsageMonth).where(UsageMonth.month == m))
            conn.execute(insert(UsageMonth).from_select(columns, aggregate_select(dialect, lo, hi)))
        return Refresh(max(top, seen_id), total, generation, tuple(sorted(dirty)))


def read(engine, months: Iterable[str] | None = None, *, state: Refresh | None = None) -> pa.Table:
    """The aggregate (after :func:`refresh`, unless ``state`` says it was just done) as the Arrow table of
    :data:`AGG_COLUMNS`, every month or ``months``; the same rows as
    :meth:`DatabaseLog.aggregate <onshi.analytics.engine.DatabaseLog.aggregate>` (in any order)."""
    state = state or refresh(engine)
    months_ = month_list(months)
    key = (str(engine.url), state.generation)
    table = _TABLE_CACHE.get(key)
    if table is None:
        with engine.connect() as conn:
            rows = conn.execute(select(*(getattr(UsageMonth, c) for c in AGG_COLUMNS))).all()
        table = arrow_aggregate(rows)
        _TABLE_CACHE.clear()
        _TABLE_CACHE[key] = table
    if months_ is None:
        return table
    keep = pa.array(months_, pa.string())
    import pyarrow.compute as pc

    return table.filter(pc.is_in(table["month"], value_set=keep))


def claims_version(engine) -> tuple:
    """A key that changes whenever the imported claim counts (``claim_counts``) do."""
    from onshi.analytics.models import ClaimCount as C

    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count(C.id), func.max(C.id), func.sum(C.claims),
                                         func.max(C.imported_at))).one())


@dataclass
class AggregateLog:
    """The log source the pages use: the database's verification log through ``usage_months`` (this module),
    brought up to date once per instance (one page, one command).  Same interface as
    :class:`~onshi.analytics.engine.DatabaseLog`."""

    engine: object
    _state: Refresh | None = None

    def fresh(self) -> Refresh:
        if self._state is None:
            self._state = refresh(self.engine)
        return self._state

    def version(self) -> tuple:
        """A key that changes whenever what the rates are drawn from does: the log (through the aggregate's
        watermark) and the claim counts."""
        s = self.fresh()
        return (str(self.engine.url), s.generation, claims_version(self.engine))

    def months(self, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
        self.fresh()
        with self.engine.connect() as conn:
            return [m for (m,) in conn.execute(select(UsageMonth.month).distinct().order_by(UsageMonth.month))
                    if m]

    def aggregate(self, months: Iterable[str] | None = None) -> pa.Table:
        return read(self.engine, months, state=self.fresh())

    def register(self, con: duckdb.DuckDBPyConnection, months: Iterable[str] | None = None, *,
                 with_users: bool = True) -> None:
        """Registers the aggregate of every month as ``agg`` (queries filter by month)."""
        con.register("agg_arrow", read(self.engine, state=self.fresh()))
        con.execute("CREATE OR REPLACE TEMP VIEW agg AS SELECT * FROM agg_arrow")
