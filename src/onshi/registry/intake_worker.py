"""The reading half of a large 資格取得届 import on PostgreSQL, run in a second process (並列取込).

One Python process cannot both parse a million rows and keep PostgreSQL busy: parsing, validation, check digits,
the My Number hash and encryption and the row hash are ~57 µs of Python per row, and the database needs ~48 µs
of its own for the same row.  So the importing process starts this worker, which reads the file and turns every
row that passes the checks needing no database (and whose insurer and employer it can find) into one line of
``COPY`` text for the staging table; the importing process streams those lines into PostgreSQL, inside its one
transaction, and runs the checks against the database on the rows that need them (:mod:`onshi.registry.bulk`).
Every other row — invalid, or needing a decision the worker cannot take — goes back as it was read, and the
importing process handles it exactly as a small file's rows.  Results are therefore the same whichever way a
file is imported (the tests import the same files both ways and compare).

The worker opens its own read-only connection to find insurers and employers; it writes nothing.  Keys reach it
through the pipe from its parent, never through the environment or a file.
"""

from __future__ import annotations

import csv
import json
import pickle
import subprocess
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any

CHUNK = 20_000
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    """One value in PostgreSQL's ``COPY … FROM STDIN`` text format.

    >>> [copy_text(v) for v in (None, True, 7, date(2024, 4, 1), b"\\x01\\xff", "a\\tb")]
    ['\\\\N', 't', '7', '2024-04-01', '\\\\\\\\x01ff', 'a\\\\tb']
    """
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    if isinstance(value, (int, date)):
        return str(value)
    return str(value).translate(_ESCAPES)


def _text(value: str | None) -> str:
    return _NULL if value is None else value.translate(_ESCAPES)


def candidate_line(c, sealed: bytes) -> str:
    """A staged candidate (:class:`onshi.registry.bulk.Candidate`) and its sealed raw row as one ``COPY`` text line.

    Same as ``"\\t".join(map(copy_text, (*c, sealed)))``, written out per column for speed (tested equal)."""
    return (f"{c.row_number}\t{c.my_number_hash or _NULL}\t{copy_text(c.my_number_enc)}\t{c.row_hash}\t"
            f"{c.insurer_id}\t{c.employer_id}\t{_text(c.symbol)}\t{_text(c.number)}\t{_text(c.branch)}\t"
            f"{_text(c.name)}\t{_text(c.name_kana)}\t{c.birth_date}\t{c.sex}\t{_text(c.postal_code)}\t"
            f"{_text(c.address)}\t{c.acquisition_date}\t{c.monthly_remuneration}\t{_text(c.card_classification)}\t"
            f"{'t' if c.voluntary_continuation else 'f'}\t\\\\x{sealed.hex()}")


def run(conn, job: dict[str, Any]) -> None:
    """Entry point of the worker process: read, check, send ``("chunk", payload, others, rows)`` per chunk, then
    ``("done", named)``; ``("file-error", message)`` or ``("error", text)`` when it cannot go on."""
    try:
        _run(conn, job)
    except Exception as exc:  # noqa: BLE001 - everything reaches the parent, which decides
        from onshi.registry.intake import IntakeFileError

        if isinstance(exc, IntakeFileError):
            conn.send(("file-error", str(exc)))
        else:
            conn.send(("error", "".join(traceback.format_exception(exc))))
    finally:
        conn.close()


def _run(conn, job: dict[str, Any]) -> None:
    from onshi.privacy import crypto
    from onshi.registry import intake
    from onshi.registry.models import NotificationType
    from onshi.store.db import make_engine, session_factory

    crypto._vault = crypto.MyNumberVault(job["enc_key"], job["hash_key"])
    v = crypto.vault()
    ntype = NotificationType.acquisition
    filed_for: str | None = job["filed_for"]
    engine = make_engine(job["database_url"])
    session = session_factory(engine)()
    try:
        ctx = intake._Context(session=session, file_id=None, received_at=None, now=None, actor="worker")
        path = Path(job["path"])
        encoding = "utf-8-sig" if job["encoding"] == "utf-8" else job["encoding"]
        named: set[str] = set()
        with path.open("r", encoding=encoding, newline="") as fh:
            rows = intake._rows_from(csv.reader(fh), ntype)
            batch: list[tuple[int, dict[str, str]]] = []
            for item in rows:
                batch.append(item)
                if len(batch) >= job["chunk"]:
                    conn.send(_chunk(ctx, batch, named, filed_for, v))
                    batch = []
            if batch:
                conn.send(_chunk(ctx, batch, named, filed_for, v))
        conn.send(("done", named))
    finally:
        session.close()
        engine.dispose()


def _chunk(ctx, batch, named: set[str], filed_for: str | None, v) -> tuple:
    from onshi.registry import intake

    lines: list[str] = []
    others: list[tuple[int, dict[str, str]]] = []
    rows = []
    for n, raw in batch:
        r = intake.validate_row(intake.T.acquisition, raw)
        number = r.values.get("insurer_number")
        if number:
            named.add(number)
            if filed_for is not None and number != filed_for:
                others.append((n, raw))  # the importing process words the error
                continue
        if r.errors:
            others.append((n, raw))
            continue
        rows.append((n, r))
    ctx.load_employers((r.values["insurer_number"], r.values["employer_symbol"]) for _, r in rows)
    for n, r in rows:
        c = intake._acquisition_candidate(ctx, n, r)
        if c is None:
            others.append((n, r.raw))
            continue
        lines.append(candidate_line(c, v.seal(json.dumps(r.raw, ensure_ascii=False).encode())))
    payload = ("\n".join(lines) + "\n").encode() if lines else b""
    return ("chunk", payload, others, len(batch))


class _Sender:
    """Messages to the parent: pickles on this process's standard output."""

    def __init__(self, stream):
        self.stream = stream

    def send(self, message) -> None:
        pickle.dump(message, self.stream, protocol=pickle.HIGHEST_PROTOCOL)
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class Worker:
    """The parent's handle: ``recv()`` the next message; ``stop()`` when done or on error."""

    def __init__(self, job: dict[str, Any]):
        # a fresh interpreter, not a fork: the parent holds database connections a forked child must not share
        self.proc = subprocess.Popen([sys.executable, "-m", "onshi.registry.intake_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        pickle.dump(job, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.close()

    def recv(self):
        try:
            return pickle.load(self.proc.stdout)
        except EOFError:
            raise RuntimeError("the intake reader process stopped without a word") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


if __name__ == "__main__":
    run(_Sender(sys.stdout.buffer), pickle.load(sys.stdin.buffer))
