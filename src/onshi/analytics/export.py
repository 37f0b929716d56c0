"""``onshi analytics export`` — the verification log as Parquet, partitioned by month of care.

Layout: ``OUT/month=YYYY-MM/part-00000.parquet`` (hive partitions, read by DuckDB, Polars, Spark alike), columns
as :data:`onshi.analytics.engine.LOG_SCHEMA`.  The log holds no name or number of a person (``patient_key`` is a
keyed pseudonym), so neither does the export.

A month is written to a temporary folder and swapped in when complete: exporting the same month again replaces
it (no duplicates), and a run that dies halfway leaves the previous export of that month intact.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from onshi.analytics.engine import LOG_SCHEMA, DatabaseLog
from onshi.rules.calendar import month_bounds

ROWS_PER_FILE = 5_000_000
AGGREGATE_MEMORY = "3GB"
AGGREGATE = "aggregate"  # OUT/aggregate/month=YYYY-MM/aggregate.parquet: the institution-month aggregate
BATCH = 100_000


@dataclass
class ExportedMonth:
    month: str
    rows: int
    files: list[Path]


def _swap(tmp: Path, final: Path, mine: str = "") -> None:
    """Put a finished folder in place of the old one (the old one stays whole until the new one is complete).
    Two writers of the same month at once (a duplicated task): each moves the other's aside, the last one's stays."""
    backup = final.with_name(f".{final.name}.old{mine}")
    shutil.rmtree(backup, ignore_errors=True)
    for _ in range(5):
        try:
            if final.exists():
                final.rename(backup)
            tmp.rename(final)
            break
        except (FileNotFoundError, FileExistsError, OSError):  # the other writer swapped in between: again
            if not tmp.exists():
                raise
    shutil.rmtree(backup, ignore_errors=True)


def write_aggregate(month_dir: Path, month: str, dest: Path) -> None:
    """The institution-month aggregate of one month's files (with distinct card users) as one small Parquet file,
    so that the レセプト and 協会けんぽ bases need not count distinct patients over the whole month again."""
    from onshi.analytics.engine import ParquetLog, connect

    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    con = connect(memory_limit=AGGREGATE_MEMORY)  # DuckDB spills to disk beyond it (default: 80% of RAM)
    try:
        files = sorted(month_dir.glob("*.parquet"))
        if files:
            src = "read_parquet([" + ", ".join(f"'{f.as_posix()}'" for f in files) + "])"
            con.execute(f"CREATE TEMP VIEW raw AS SELECT '{month}' AS month, * FROM {src}")
        else:
            con.execute(f"CREATE TEMP VIEW raw AS SELECT * FROM {ParquetLog.EMPTY}")
        con.execute(f"COPY ({ParquetLog.AGGREGATE_SQL.format(source='raw')}) TO "
                    f"'{(dest / 'aggregate.parquet').as_posix()}' (FORMAT parquet)")
    finally:
        con.close()


def export_month(out: Path | str, month: str, *, engine=None, progress: Callable[[str, int], None] | None = None,
                 rows_per_file: int = ROWS_PER_FILE) -> ExportedMonth:
    """Write one month of the log under ``out`` (a task of its own on the engine: :mod:`onshi.analytics.tasks`).
    Its temporary folders are this process's own, so two deliveries of the same month never write into each other;
    the last to finish swaps its complete month in."""
    import os
    import uuid

    from onshi.verify.models import VerificationLogEntry as L

    if engine is None:
        from onshi.store.db import default_engine

        engine = default_engine()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cols = [L.occurred_at, L.care_date, L.institution_code, L.prefecture_code, L.facility_type, L.method,
            L.validity, L.insurer_number, L.setting, L.patient_key]
    lo, hi = month_bounds(month)
    final = out / f"month={month}"
    mine = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = out / f".month={month}.partial-{mine}"
    tmp.mkdir()
    files: list[Path] = []
    writer: pq.ParquetWriter | None = None
    in_file = total = 0
    stmt = select(*cols).where(L.care_date >= lo, L.care_date < hi).order_by(L.id)
    try:
        with engine.connect().execution_options(stream_results=True, yield_per=BATCH) as conn:
            for part in conn.execute(stmt).partitions(BATCH):
                columns = list(zip(*part))
                batch = pa.record_batch([pa.array(c, type=t) for c, t in zip(columns, LOG_SCHEMA.types)],
                                        schema=LOG_SCHEMA)
                if writer is None or in_file >= rows_per_file:
                    if writer is not None:
                        writer.close()
                    path = tmp / f"part-{len(files):05d}.parquet"
                    writer = pq.ParquetWriter(path, LOG_SCHEMA, compression="zstd")
                    files.append(path)
                    in_file = 0
                writer.write_batch(batch)
                in_file += batch.num_rows
                total += batch.num_rows
                if progress:
                    progress(month, total)
        if writer is not None:
            writer.close()
        agg_tmp = out / AGGREGATE / f".month={month}.partial-{mine}"
        write_aggregate(tmp, month, agg_tmp)
        _swap(tmp, final, mine)
        _swap(agg_tmp, out / AGGREGATE / f"month={month}", mine)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportedMonth(month, total, [final / f.name for f in files])


def export_log(out: Path | str, *, engine=None, months: Iterable[str] | None = None,
               progress: Callable[[str, int], None] | None = None,
               rows_per_file: int = ROWS_PER_FILE) -> list[ExportedMonth]:
    """Write the log of ``months`` (default: every month in the log) under ``out``; returns what was written.

    ``progress(month, rows_so_far)`` is called after every batch.
    """
    if engine is None:
        from onshi.store.db import default_engine

        engine = default_engine()
    return [export_month(out, month, engine=engine, progress=progress, rows_per_file=rows_per_file)
            for month in (sorted(set(months)) if months is not None else DatabaseLog(engine).months())]
