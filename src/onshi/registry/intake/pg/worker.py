"""Fast path of onshi.registry.intake.rows.validate_row and acquisitions.acquisition_candidate; held equal by tests/registry/test_bulk_intake.py::test_the_fast_path_accepts_exactly_what_the_ordinary_path_accepts.

The reading half of a large 資格取得届 import on PostgreSQL, run in a second process (並列取込).

One Python process cannot both parse a million rows and keep PostgreSQL busy, so the importing process starts this
worker, which reads the file and turns every *plain* row into one line of ``COPY`` text for the staging table; the
importing process streams those lines into PostgreSQL, inside its one transaction, and runs the checks against the
database on the rows that need them (:mod:`onshi.registry.intake.pg.bulk`).

A plain row (:class:`PlainRows`) is a record — a line split at its commas, or what ``csv.reader`` made of a line
with quotes — whose every value is accepted by the same parsers, in the same order, as
:func:`onshi.registry.intake.rows.validate_row` (``rows.ACQUISITION_FIELDS``), whose insurer and employer exist, and
that passes the age check; its parsed values are cached by value, its row hash is written straight from those
values, and nothing is built per row that the line does not need.  Every other row — invalid, of the wrong shape,
naming an unknown employer, too old — goes back as it was read, and the importing process handles it exactly as a
small file's rows: it is rejected there too, so deciding it after its chunk's staged rows changes no outcome.
Results are therefore the same whichever way a file is imported (the tests import the same files both ways and
compare, and compare the fast path with the ordinary one row by row).

The worker opens its own read-only connection to find insurers and employers; it writes nothing.  Keys reach it
through the pipe from its parent, never through the environment or a file.
"""

from __future__ import annotations

import csv
import hmac
import pickle
import subprocess
import sys
import traceback
from collections.abc import Iterable, Iterator
from datetime import date
from hashlib import sha256
from itertools import chain, islice, repeat
from json import JSONEncoder
from json.encoder import encode_basestring
from operator import itemgetter
from pathlib import Path
from typing import Any

from stdnum.exceptions import ValidationError

from onshi.numbers.my_number import valid_plain
from onshi.privacy.crypto import MyNumberVault
from onshi.registry.fields import FieldError, single_spaced
from onshi.registry.intake.context import ApplyContext
from onshi.registry.intake.pg.bulk import sharing
from onshi.registry.intake.rows import ACQUISITION_FIELDS, OPTIONAL, IntakeFileError, header_map, row_record
from onshi.registry.models import NotificationType
from onshi.rules.age import age_on
from onshi.store.db import make_engine, session_factory

CHUNK = 20_000
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_BYTEA = "\\\\x"
_CACHE_MAX = 100_000  # values per column; emptied when full, so memory stays bounded whatever the file


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


def records(lines: Iterable[str]) -> Iterator[list[str]]:
    """The records ``csv.reader`` makes of *lines* (a text file opened with ``newline=""``), splitting a line
    without quotes itself: the same lists, several times faster.  A line with a quote (a field may go on over
    the next lines), a NUL or more characters than a field may hold is given to ``csv.reader``."""
    lines = iter(lines)
    limit = csv.field_size_limit()
    for line in lines:
        if '"' in line or "\0" in line or len(line) > limit:
            yield Quoted(next(csv.reader(chain((line,), lines))))
        else:
            text = line.rstrip("\r\n")
            yield text.split(",") if text else []


class Quoted(list):
    """A record ``csv.reader`` read (its line had a quote): its values may hold commas and line breaks."""


# json.dumps(value, default=str, ensure_ascii=False) as context.row_hash writes each value, without building an
# encoder per call
_json = JSONEncoder(default=str, ensure_ascii=False).encode


_NUMBER, _MY_NUMBER, _ADDRESS = 2, 4, 10  # columns that differ on (almost) every row: checked each time, not cached


class PlainRows:
    """The fast path of the reading process: a plain row of a 資格取得届 straight to its ``COPY`` line.

    ``parse(values)`` checks a row's values (in the file's column order, *order* giving where each column of
    ``rows.ACQUISITION_FIELDS`` is) and returns them resolved, or None; ``line(row_number, parsed)`` then returns
    the staging table's line, or None when the row must take the ordinary path.  A row is accepted only where
    :func:`onshi.registry.intake.rows.validate_row` and :func:`onshi.registry.intake.acquisitions.acquisition_candidate`
    accept it,
    with the same values and the same row hash (tested on generated rows)."""

    def __init__(self, ctx, hash_key: bytes, encrypt, filed_for: str | None, order: list[int] | None = None):
        self.age_on = age_on
        self.ctx = ctx
        self.hash_key = hash_key
        self.encrypt = encrypt
        self.filed_for = filed_for
        self.fields = ACQUISITION_FIELDS
        order = order or list(range(len(self.fields)))
        self.cached = [i for i in range(len(self.fields)) if i not in (_NUMBER, _MY_NUMBER, _ADDRESS)]
        self.pick = itemgetter(*(order[i] for i in self.cached))
        self.pick_each_time = itemgetter(order[_NUMBER], order[_MY_NUMBER], order[_ADDRESS])
        # per cached column: raw value -> (parsed, its JSON for the row hash, its COPY text), or None (not accepted)
        self.caches: list[dict[str, Any]] = [{} for _ in self.cached]
        self.too_old: dict[tuple[date, date], bool] = {}
        # (保険者番号, 記号) -> the line's insurer id and employer id columns, or None (not registered)
        self.employer_ids: dict[tuple[str, str], str | None] = {}

    def resolve(self, i: int, value: str) -> tuple[Any, str, str] | None:
        """What ``ParsedRow.take`` makes of *value* in column *i*: ``(parsed, json, copy)``, or None."""
        column, parser = self.fields[i]
        if not value.strip():
            if column not in OPTIONAL:
                return None
            parsed = None
        else:  # as rows.parse_value, which this cache stands in for
            try:
                parsed = parser(value)
            except (FieldError, ValidationError):
                return None
        if column == "card_classification":  # stored as 01 when not given; hashed as given
            return parsed, _json(parsed), copy_text(parsed or "01")
        if column == "voluntary_continuation":
            return parsed, _json(parsed), copy_text(bool(parsed))
        return parsed, _json(parsed), copy_text(parsed)

    def parse(self, values: list[str]) -> tuple[list[Any], str, str | None, tuple[Any, str, str]] | None:
        """``(cached columns resolved, 番号, 個人番号 or None, 住所 resolved)``, or None when a value is not accepted."""
        picked = self.pick(values)
        hits = list(map(dict.get, self.caches, picked))
        if not all(hits):  # a value not seen yet, or one not accepted (a hit is a non-empty tuple)
            for k, hit in enumerate(hits):
                if hit is None:
                    cache, value = self.caches[k], picked[k]
                    if value in cache:
                        return None
                    if len(cache) >= _CACHE_MAX:
                        cache.clear()
                    hit = cache[value] = self.resolve(self.cached[k], value)
                    if hit is None:
                        return None
                    hits[k] = hit
        number, my_number, address = self.pick_each_time(values)
        if not (0 < len(number) <= 20 and number.isascii() and number.isalnum()):  # else 番号 needs normalising
            hit = self.resolve(_NUMBER, number)
            if hit is None:
                return None
            number = hit[0]
        if single_spaced(address):  # F.parse_address would return it as it is
            place = address, encode_basestring(address), address.translate(_ESCAPES)
        elif (place := self.resolve(_ADDRESS, address)) is None:
            return None
        if len(my_number) == 12 and my_number.isascii() and my_number.isdigit() and valid_plain(my_number):
            return hits, number, my_number, place
        hit = self.resolve(_MY_NUMBER, my_number)
        return None if hit is None else (hits, number, hit[0], place)

    def insurer_number(self, values: list[str]) -> str | None:
        """The row's 保険者番号 when it is valid (the importing process records which insurers a file names)."""
        value, cache = self.pick(values)[0], self.caches[0]
        if value not in cache:
            cache[value] = self.resolve(0, value)
        return None if cache[value] is None else cache[value][0]

    def employers_to_load(self, parsed: list[tuple[list[Any], str, str | None]]) -> set[tuple[str, str]]:
        """(保険者番号, 記号) of rows whose employer has not been looked up yet."""
        return {key for key in ((p[0][0][0], p[0][1][0]) for p in parsed) if key not in self.employer_ids}

    def line(self, n: int, parsed: tuple[list[Any], str, str | None, tuple[Any, str, str]]) -> tuple[str, tuple] | None:
        """The row's ``COPY`` line but its last column (``shares_key``, known once the chunk is read), and its keys
        for :func:`onshi.registry.intake.pg.bulk.sharing`; None when it must take the ordinary path."""
        hits, num, mn, (addr, addr_j, addr_c) = parsed
        (ins, ins_j, _), (sym, sym_j, sym_c), (br, br_j, br_c), (name, name_j, name_c), (kana, kana_j, kana_c), \
            (birth, birth_j, birth_c), (sex, sex_j, sex_c), (postal, postal_j, postal_c), \
            (acq, acq_j, acq_c), (pay, pay_j, pay_c), (card, card_j, card_c), (vol, vol_j, vol_c) = hits
        if self.filed_for is not None and ins != self.filed_for:
            return None
        if acq < birth:
            return None
        too_old = self.too_old.get((birth, acq))
        if too_old is None:
            if len(self.too_old) >= _CACHE_MAX:
                self.too_old.clear()
            too_old = self.too_old[(birth, acq)] = self.age_on(birth, acq) >= 75
        if too_old:
            return None
        employer = self.employer_ids.get((ins, sym), _MISSING)
        if employer is _MISSING:
            insurer = self.ctx.insurer(ins)
            found = self.ctx.employer(insurer.id, sym) if insurer is not None else None
            employer = self.employer_ids[(ins, sym)] = None if found is None else f"{insurer.id}\t{found.id}"
        if employer is None:
            return None
        if mn is None:
            mn_hash, mn_j, mn_c = _NULL, "null", _NULL
        else:
            mn_hash = hmac.digest(self.hash_key, mn.encode(), "sha256").hex()
            mn_j, mn_c, mn_hash = f'"{mn_hash}"', _BYTEA + self.encrypt(mn).hex(), _BYTEA + mn_hash
        # context.row_hash: json.dumps(["acquisition", values with sorted keys], ensure_ascii=False, default=str)
        blob = (f'["acquisition", {{"acquisition_date": {acq_j}, "address": {addr_j}, "birth_date": {birth_j}, '
                f'"branch": {br_j}, "card_classification": {card_j}, "employer_symbol": {sym_j}, '
                f'"insurer_number": {ins_j}, "monthly_remuneration": {pay_j}, "my_number": {mn_j}, "name": {name_j}, '
                f'"name_kana": {kana_j}, "number": {encode_basestring(num)}, "postal_code": {postal_j}, '
                f'"sex": {sex_j}, "voluntary_continuation": {vol_j}}}]')
        rhash = sha256(blob.encode()).hexdigest()
        line = (f"{n}\t{mn_hash}\t{mn_c}\t{_BYTEA}{rhash}\t{employer}\t{sym_c}\t{num.translate(_ESCAPES)}\t{br_c}\t"
                f"{name_c}\t{kana_c}\t{birth_c}\t{sex_c}\t{postal_c}\t{addr_c}\t{acq_c}\t{pay_c}\t{card_c}\t{vol_c}")
        return line, (rhash, (ins, sym, num, br), mn)  # the digests as bytea: \\x and hex


_MISSING = object()


def run(conn, job: dict[str, Any]) -> None:
    """Entry point of the worker process: read, check, send ``("chunk", payload, others, rows, staged)`` per chunk,
    then ``("done", named)``; ``("file-error", message)`` or ``("error", text)`` when it cannot go on."""
    try:
        _run(conn, job)
    except Exception as exc:  # noqa: BLE001 - everything reaches the parent, which decides
        if isinstance(exc, IntakeFileError):
            conn.send(("file-error", str(exc)))
        else:
            conn.send(("error", "".join(traceback.format_exception(exc))))
    finally:
        conn.close()


def _run(conn, job: dict[str, Any]) -> None:
    v = MyNumberVault(job["enc_key"], job["hash_key"])  # the parent's keys, for this process only
    engine = make_engine(job["database_url"])
    session = session_factory(engine)()
    try:
        ctx = ApplyContext(session=session, file_id=None, received_at=None, now=None, actor="worker")
        path = Path(job["path"])
        encoding = "utf-8-sig" if job["encoding"] == "utf-8" else job["encoding"]
        named: set[str] = set()
        with path.open("r", encoding=encoding, newline="") as fh:
            rows = records(fh)
            try:
                header = next(rows)
            except (StopIteration, csv.Error) as exc:
                raise IntakeFileError(f"ヘッダー行が読めません (cannot read the header: {exc})") from None
            names = header_map(header, NotificationType.acquisition)
            order = [names.index(column) for column, _ in ACQUISITION_FIELDS]
            plain = PlainRows(ctx, v.hash_key, v.encrypter(), job["filed_for"], order)
            conn.send(("names", names))
            numbered = enumerate(rows, start=2)
            while batch := list(islice(numbered, job["chunk"])):
                conn.send(_chunk(plain, batch, names, named))
        conn.send(("done", named))
    finally:
        session.close()
        engine.dispose()


def _chunk(plain: PlainRows, batch: list[tuple[int, list[str]]], names: list[str], named: set[str]) -> tuple:
    """One chunk's message: the ``COPY`` text of its plain rows, the rest as read (``rows.row_record``), how many
    records the chunk had, and the plain rows' numbers and lines (the raw rows, for the few the database rejects)."""
    width = len(names)
    parsed: list[tuple[int, list[str], Any]] = []
    others: list[tuple[int, dict[str, str]]] = []
    for n, values in batch:
        if len(values) == width:
            p = plain.parse(values)
            if p is not None:
                parsed.append((n, values, p))
                continue
            if (number := plain.insurer_number(values)) is not None:
                named.add(number)
        if (record := row_record(n, values, names)) is not None:
            others.append(record)
    named.update(p[0][0][0] for _, _, p in parsed)
    plain.ctx.load_employers(plain.employers_to_load([p for _, _, p in parsed]))
    lines: list[str] = []
    staged: list[int] = []
    raw_lines: list[str] = []  # a plain line as read, "" for a quoted record ...
    quoted: dict[int, list[str]] = {}  # ... whose values are here
    keys: list[tuple] = []
    for n, values, p in parsed:
        made = plain.line(n, p)
        if made is None:
            others.append((n, dict(zip(names, values))))
            continue
        lines.append(made[0])
        keys.append(made[1])
        staged.append(n)
        if type(values) is list:
            raw_lines.append(",".join(values))
        else:
            raw_lines.append("")
            quoted[n] = list(values)
    others.sort(key=lambda item: item[0])
    flags = ("\tt" if shared else "\tf" for shared in sharing(keys))
    payload = "".join(map(str.__add__, lines, map(str.__add__, flags, repeat("\n")))).encode()
    return ("chunk", payload, others, len(batch), (staged, "\n".join(raw_lines), quoted))


def raw_rows(names: list[str], staged: tuple[list[int], str, dict[int, list[str]]]) -> dict[int, dict[str, str]]:
    """The raw rows of a chunk's staged rows, by row number, from what :func:`_chunk` sent."""
    numbers, text, quoted = staged
    return {n: dict(zip(names, quoted[n] if n in quoted else line.split(",")))
            for n, line in zip(numbers, text.split("\n"))}


class Sender:
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
        self.proc = subprocess.Popen([sys.executable, "-m", "onshi.registry.intake.pg"],
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
