"""The fast 資格取得届 path: parse cache, the second reading process, set-based reference checks (PostgreSQL)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from onshi.config import get_settings
from onshi.registry import intake, service
from onshi.registry import fields as F
from onshi.privacy.crypto import vault
from onshi.registry.intake.acquisitions import acquisition_candidate
from onshi.registry.intake.context import ApplyContext
from onshi.registry.intake.importer import check_filed_for
from onshi.registry.intake.pg import bulk
from onshi.registry.intake.pg.worker import PlainRows, copy_text, raw_rows, records
from onshi.registry.intake.rows import parse_value
from onshi.registry.models import NotificationType as T
from onshi.store.db import session_factory, unit_of_work

from .helpers import INSURER, MN_HANAKO, MN_TARO, OTHER_INSURER, SYMBOL, acquisition, load, setup_insurers, write
from .test_intake import counts


@pytest.fixture
def registry(engine, tmp_path):
    setup_insurers(tmp_path)
    return tmp_path


def _mixed_rows() -> list[dict]:
    """Rows that meet every check of the bulk path: fine, invalid, duplicated, clashing, unknown employer, too old."""
    rows = [acquisition(number=str(1000 + i), my_number="", name=f"試験　{i}") for i in range(30)]
    rows += [
        acquisition(number="2001", my_number=MN_TARO),  # a new person
        acquisition(number="2001", my_number=MN_TARO),  # the same row again: duplicate
        acquisition(number="2002", my_number=MN_TARO, name="別人　扱い"),  # same person, same insurer: rejected
        acquisition(number="1003", my_number="", name="番号　重複"),  # numbers of row 1003 again: rejected
        acquisition(number="2003", my_number="621498320258"),  # bad check digit: rejected
        acquisition(number="2004", employer_symbol="99999999", my_number=""),  # unknown employer: rejected
        acquisition(number="2005", birth_date="1940-01-01", my_number=""),  # 75+ on acquisition: rejected
        acquisition(number="2006", my_number=MN_HANAKO, name="厚労　花子", birth_date="1972-05-05", sex="2"),
        acquisition(number="2007", my_number="", name="円記号\\入り", address="東京都\t港区"),  # escapes in COPY
        acquisition(number="2008", my_number="", name="引用,カンマ", address="東京都\n港区"),  # quoted in the file
        acquisition(number="2008", my_number="", name="引用,カンマ", address="東京都\n港区"),  # its duplicate
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7001", my_number=MN_HANAKO,
                    name="厚労　花子", birth_date="1972-05-05", sex="2"),  # a known person joins another insurer
    ]
    return rows


def _summary(rep: intake.IntakeReport):
    return (rep.rows_total, rep.applied, rep.duplicate, rep.rejected,
            sorted((e.row, e.column, e.reason) for e in rep.errors))


@pytest.mark.postgres
def test_the_reading_process_gives_the_same_result_as_one_process(registry, session, monkeypatch):
    path = write(registry, "mixed.csv", T.acquisition, _mixed_rows())
    # a person already known from an earlier file: HANAKO's second enrolment then meets an existing person
    assert load(write(registry, "first.csv", T.acquisition, [
        acquisition(number="3001", my_number=MN_HANAKO, name="厚労　花子", birth_date="1972-05-05", sex="2",
                    acquisition_date="2020-04-01")]), T.acquisition).applied == 1

    settings = get_settings()
    monkeypatch.setattr(settings, "intake_parallel_min_bytes", 10**12)  # one process
    with session_factory()() as s:
        one = intake.import_file(s, path, T.acquisition)
        s.rollback()
    monkeypatch.setattr(settings, "intake_parallel_min_bytes", 0)  # a second process reads
    monkeypatch.setattr("onshi.registry.intake.pg.worker.CHUNK", 7)  # several chunks, clashes across them
    before = counts(session)
    with unit_of_work() as s:
        two = intake.import_file(s, path, T.acquisition)
    assert _summary(two) == _summary(one)
    assert two.applied == 34 and two.duplicate == 2 and two.rejected == 6
    rejected = {e.row: e.column for e in two.errors}
    assert rejected == {34: "my_number", 35: "number", 36: "my_number", 37: "employer_symbol", 38: "birth_date",
                        39: "my_number"}
    session.expire_all()
    after = counts(session)
    assert after["qualification_versions"] - before["qualification_versions"] == 34
    assert after["quarantined_rows"] - before["quarantined_rows"] == 6
    # HANAKO was known: no second person; the escaped values arrived as written
    assert after["persons"] - before["persons"] == 33
    name, address = session.execute(text(
        "SELECT pv.name, pv.address FROM person_versions pv JOIN qualification_versions qv "
        "ON qv.person_id = pv.person_id WHERE qv.number = '2007'")).one()
    assert (name, address) == ("円記号\\入り", "東京都\t港区")
    # the same file again through the reading process: nothing new
    with unit_of_work() as s:
        again = intake.import_file(s, path, T.acquisition)
    assert again.already_imported and counts(session) == after


@pytest.mark.postgres
@pytest.mark.parametrize("chunk", [50, 2])
def test_clashes_between_quoted_and_plain_rows_end_the_same_either_way(registry, session, monkeypatch, chunk):
    """The first of two clashing rows wins in file order, whether quoted (csv.reader) or plain, in one chunk of the
    reading process or in two.  Rows the reader sends back as read are only rows the ordinary path rejects (see
    test_the_fast_path_accepts_exactly_what_the_ordinary_path_accepts), so deciding them after their chunk's staged
    rows cannot change an outcome.  Across a chunk boundary the reason may name the earlier row as already stored
    ("open qualification") rather than "twice in this file" — as the one-process path does across its own chunks."""
    rows = [
        acquisition(number="5001", my_number=MN_TARO, name="引用,太郎"),  # quoted
        acquisition(number="5002", my_number=MN_TARO),  # same person, same insurer: rejected
        acquisition(number="5003", my_number="", name="引用,二郎"),  # quoted
        acquisition(number="5003", my_number="", name="別人　三郎"),  # its numbers again: rejected
        acquisition(number="5004", my_number="", name="平文　四郎", birth_date="1970-02-30"),  # sent back: rejected
        acquisition(number="5005", my_number=MN_HANAKO, name="厚労　花子", birth_date="1972-05-05", sex="2",
                    address="東京都,港区"),  # quoted
        acquisition(number="5006", my_number=MN_HANAKO, name="厚労　花子", birth_date="1972-05-05", sex="2"),
    ]
    path = write(registry, "clash.csv", T.acquisition, rows)
    settings = get_settings()
    monkeypatch.setattr(settings, "intake_parallel_min_bytes", 10**12)
    with session_factory()() as s:
        one = intake.import_file(s, path, T.acquisition)
        s.rollback()
    assert {e.row: e.column for e in one.errors} == {3: "my_number", 5: "number", 6: "birth_date", 8: "my_number"}
    monkeypatch.setattr(settings, "intake_parallel_min_bytes", 0)
    monkeypatch.setattr("onshi.registry.intake.pg.worker.CHUNK", chunk)
    with unit_of_work() as s:
        two = intake.import_file(s, path, T.acquisition)
    assert {e.row: e.column for e in two.errors} == {e.row: e.column for e in one.errors}
    assert (two.applied, two.rejected, two.duplicate) == (one.applied, one.rejected, one.duplicate) == (3, 4, 0)
    if chunk == 50:
        assert _summary(two) == _summary(one)
    stored = set(session.scalars(text("SELECT number FROM qualification_versions WHERE number LIKE '50%'")))
    assert stored == {"5001", "5003", "5005"}


@pytest.mark.postgres
@pytest.mark.parametrize("reader", [False, True])
def test_the_import_turns_jit_off_for_itself_only(registry, monkeypatch, reader):
    """Staging turns PostgreSQL's JIT off (it costs 25 ms a chunk for nothing); the caller's transaction gets its own
    setting back when the import ends."""
    monkeypatch.setattr(get_settings(), "intake_parallel_min_bytes", 0 if reader else 10**12)
    path = write(registry, f"jit{reader}.csv", T.acquisition, _mixed_rows())
    with session_factory()() as s:
        s.execute(text("SET jit = on"))
        rep = intake.import_file(s, path, T.acquisition)
        assert rep.applied > 0
        assert s.scalar(text("SELECT current_setting('jit')")) == "on"
        s.rollback()


@pytest.mark.postgres
def test_a_file_the_reader_cannot_read_is_refused_whole(registry, session, monkeypatch):
    monkeypatch.setattr(get_settings(), "intake_parallel_min_bytes", 0)
    bad = registry / "bad.csv"
    bad.write_text("保険者番号,記号,番号,枝番,おかしな列\n01130012,1,2,00,x\n", encoding="utf-8")
    before = counts(session)
    with pytest.raises(intake.IntakeFileError, match="おかしな列"):
        with unit_of_work() as s:
            intake.import_file(s, bad, T.acquisition)
    session.expire_all()
    assert counts(session) == before


def _staged_candidate(session, **over) -> bulk.Candidate:
    ins, emp = session.execute(text("SELECT e.insurer_id, e.id FROM employers e JOIN insurers i "
                                    "ON i.id = e.insurer_id WHERE i.number = :n AND e.symbol = :s"),
                               {"n": INSURER, "s": SYMBOL}).one()
    values = dict(row_number=2, my_number_hash=None, my_number_enc=None, row_hash=uuid.uuid4().hex, insurer_id=ins,
                  employer_id=emp, symbol=SYMBOL, number="5001", branch="00", name="参照　確認",
                  name_kana="サンショウ　カクニン", birth_date=date(1980, 1, 1), sex=1, postal_code=None, address=None,
                  acquisition_date=date(2024, 4, 1), monthly_remuneration=300000, card_classification="01",
                  voluntary_continuation=False)
    values.update(over)
    return bulk.Candidate(**values)


def _store(session, **kw):
    from onshi.store.db import utcnow

    return bulk.store_staged(session, drop=[], known=[], same=[], file_id=None, received_at=utcnow(), now=utcnow(),
                             **kw)


@pytest.mark.postgres
def test_a_missing_reference_stops_the_set_based_store(registry, session):
    with session_factory()() as s:
        bulk.stage(s, [_staged_candidate(s, employer_id=987654321)])
        with pytest.raises(bulk.MissingReference, match="employer 987654321"):
            _store(s)
        # the per-row triggers are back on for the rest of the transaction
        assert s.execute(text("SHOW session_replication_role")).scalar() == "origin"
        s.rollback()


@pytest.mark.postgres
def test_without_the_set_based_check_the_foreign_keys_check_every_row(registry, session):
    import psycopg

    with session_factory()() as s:
        bulk.stage(s, [_staged_candidate(s, employer_id=987654321)])
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            _store(s, set_based_references=False)
        s.rollback()


@pytest.mark.postgres
def test_a_role_that_may_not_switch_triggers_off_still_stores_with_foreign_keys(registry, session):
    role = f"onshi_test_{uuid.uuid4().hex[:8]}"
    with session_factory()() as s:
        s.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
        s.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        s.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
        s.execute(text(f'SET LOCAL ROLE "{role}"'))
        bulk.stage(s, [_staged_candidate(s)])
        changes = _store(s)
        assert list(changes) == [2]
        assert s.execute(text("SHOW session_replication_role")).scalar() == "origin"
        stored = s.execute(text("SELECT count(*) FROM qualification_versions WHERE number = '5001'")).scalar()
        assert stored == 1
        s.rollback()  # the role was created in this transaction: it goes with it


# Values of each 資格取得届 column, in intake.ACQUISITION_FIELDS order: plain, to normalise, blank and wrong.
_VARIANTS = (
    (INSURER, OTHER_INSURER, "01130013", "０１１３００１２", "", "1130012"),
    (SYMBOL, "9001", "99999999", "１０００００００１", "", "1-2"),
    ("1001", "１００１", "", "12-3", "a" * 21, "ｱ1", " 7 "),
    ("00", "0", "", "001", "０１", "x"),
    (MN_TARO, MN_HANAKO, "", "621498320258", "６２１４９８３２０２５７", "6214 9832 0257"),
    ("厚労　太郎", "厚労 太郎", " ", "円\\記号", "a\tb", "改\n行", "x" * 101),
    ("コウロウ　タロウ", "ｺｳﾛｳ ﾀﾛｳ", "こうろう", "abc", ""),
    ("1980-01-01", "19800101", "1980/1/1", "1980-02-30", "1949-04-02", "1949-04-01", "2030-01-01", ""),
    ("1", "2", "3", "男", "4", ""),
    ("100-0001", "1000001", "", "12", "〒105-0001"),
    ("東京都千代田区", "", "東京都\t港区", "  ", "a\\b"),
    ("2024-04-01", "2024/4/1", "2024-13-01", "1970-01-01", ""),
    ("280000", "280,000", "", "-1", "28万"),
    ("01", "1", "", "08", "０１"),
    ("0", "1", "", "2", "true"),
)


@pytest.mark.parametrize("filed_for", [None, INSURER])
def test_the_fast_path_accepts_exactly_what_the_ordinary_path_accepts(registry, session, filed_for):
    """PlainRows (the reading process) against validate_row + _acquisition_candidate, on generated rows: the same
    rows accepted, the same values, the same row hash; everything else declined (it then takes the ordinary path)."""
    now = datetime(2026, 11, 23)
    v = vault()
    columns = [column for column, _ in intake.ACQUISITION_FIELDS]

    # a plain row with up to three of its values swapped for another variant of the same column
    changes = st.lists(st.integers(0, len(_VARIANTS) - 1).flatmap(
        lambda i: st.tuples(st.just(i), st.sampled_from(_VARIANTS[i]))), max_size=3)

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(changes)
    def check(changed):
        values = [choices[0] for choices in _VARIANTS]
        for i, value in changed:
            values[i] = value
        ctx = ApplyContext(session=session, file_id=None, received_at=now, now=now, actor="test")
        plain = PlainRows(ctx, v.hash_key, v.encrypt, filed_for)
        row = intake.validate_row(T.acquisition, dict(zip(columns, values)))
        if filed_for:
            check_filed_for(row, service.get_insurer(session, number=filed_for))
        expected = None if row.errors else acquisition_candidate(ctx, 7, row)
        parsed = plain.parse(list(values))
        if parsed is not None:
            ctx.load_employers(plain.employers_to_load([parsed]))
        made = plain.line(7, parsed) if parsed is not None else None
        if expected is None:
            assert made is None
            return
        assert made is not None
        got = made[0].split("\t")
        digests = (expected.row_number, expected.my_number_hash and bytes.fromhex(expected.my_number_hash),
                   expected.my_number_enc, bytes.fromhex(expected.row_hash))  # staged as bytea
        want = [copy_text(x) for x in (*digests, *expected[4:])]
        assert got[:2] == want[:2] and got[3:] == want[3:]  # the row hash too
        if expected.my_number_enc is not None:  # encrypted with a fresh nonce: the same number inside
            assert v.reveal(bytes.fromhex(got[2][3:])) == v.reveal(expected.my_number_enc)
        else:
            assert got[2] == "\\N"

    check()


_CSV_TEXT = st.lists(st.lists(st.text(alphabet='ab ,"\r\n\tあ', max_size=6), min_size=1, max_size=4), max_size=6)


@given(_CSV_TEXT, st.sampled_from(["\r\n", "\n", "\r"]), st.booleans())
def test_records_are_what_csv_reader_reads(rows, terminator, quote_all):
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator=terminator, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    text = buf.getvalue() + "x,,y"  # and a last line without its terminator
    expected = list(csv.reader(io.StringIO(text, newline="")))
    assert list(records(io.StringIO(text, newline=""))) == expected


def test_raw_rows_give_back_plain_and_quoted_rows():
    names = ["a", "b", "c"]
    staged = ([2, 3, 5], "x,y,z\n\n1,,3", {3: ["p,q", "r\ns", ""]})
    assert raw_rows(names, staged) == {2: {"a": "x", "b": "y", "c": "z"}, 3: {"a": "p,q", "b": "r\ns", "c": ""},
                                       5: {"a": "1", "b": "", "c": "3"}}


@given(st.sampled_from([F.parse_date, F.parse_kana, F.parse_name, F.parse_yen, F.parse_postal_code, F.parse_flag]),
       st.text(max_size=12))
def test_the_parse_cache_answers_exactly_what_the_parser_answers(parser, value):
    first = parse_value("column", parser, value)
    try:
        expected = (True, parser(value))
    except F.FieldError as exc:
        expected = (False, exc.reason)
    assert first == expected
    assert parse_value("column", parser, value) == expected  # from the cache now
