"""Intake of every notification type, bad input, idempotence and correction — on both databases."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from onshi.registry import intake, service
from onshi.registry.intake import appliers, importer
from onshi.registry.models import (
    IntakeFile,
    LimitCertificateVersion,
    Person,
    PersonVersion,
    QualificationVersion,
    QuarantinedRow,
    RegistryChange,
    Role,
)
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work

from .helpers import (
    INSURER,
    MN_CHILD,
    MN_HANAKO,
    MN_TARO,
    OTHER_INSURER,
    SYMBOL,
    acquisition,
    csv_bytes,
    dependent,
    load,
    numbers,
    setup_insurers,
    write,
)


def counts(session) -> dict[str, int]:
    return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in
            (Person, PersonVersion, QualificationVersion, RegistryChange, QuarantinedRow, IntakeFile)}


@pytest.fixture
def registry(engine, tmp_path):
    setup_insurers(tmp_path)
    return tmp_path


def test_acquisition_creates_person_qualification_and_outbox(registry, session):
    received = datetime(2024, 4, 3, 9, 30)
    rep = load(write(registry, "acq.csv", T.acquisition, [acquisition()]), T.acquisition, received_at=received)
    assert (rep.applied, rep.rejected, rep.duplicate) == (1, 0, 0)
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    assert qv.role == Role.insured and qv.acquisition_date == date(2024, 4, 1) and qv.loss_date is None
    person = session.get(Person, qv.person_id)
    assert person.my_number_enc and MN_TARO.encode() not in person.my_number_enc
    assert person.my_number_hash != MN_TARO and len(person.my_number_hash) == 64
    assert service.find_person_by_my_number(session, MN_TARO).id == person.id
    [change] = session.scalars(select(RegistryChange).where(RegistryChange.kind == T.acquisition))
    assert change.received_at == received and change.published_at is None
    assert service.remuneration_on(session, qv.qualification_id, date(2024, 5, 1)) == 410000


def test_shift_jis_file_and_full_width_digits(registry, session):
    row = acquisition(number="１０１", insurer_number="０１１３００１２", birth_date="１９７０－０１－０１",
                      name_kana="ｺｳﾛｳ ﾀﾛｳ")
    rep = load(write(registry, "sjis.csv", T.acquisition, [row], encoding="cp932"), T.acquisition)
    assert rep.encoding == "cp932" and rep.applied == 1, rep.errors
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    assert service.person_on(session, qv.person_id).name_kana == "コウロウ　タロウ"


def test_japanese_headers_are_accepted(registry, session):
    header = list(intake.LAYOUTS[T.acquisition].values())
    data = csv_bytes(T.acquisition, [], header=header).decode() + ",".join(acquisition().values()) + "\r\n"
    p = registry / "ja.csv"
    p.write_text(data, encoding="utf-8-sig")
    assert load(p, T.acquisition).applied == 1


def test_same_file_twice_changes_nothing(registry, session):
    p = write(registry, "acq.csv", T.acquisition, [acquisition(), acquisition(number="102", my_number=MN_HANAKO,
                                                                              name="厚労　次郎")])
    first = load(p, T.acquisition)
    before = counts(session)
    second = load(p, T.acquisition)
    assert first.applied == 2 and second.already_imported and second.applied == 0
    assert counts(session) == before


def test_same_rows_in_another_file_are_not_applied_twice(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    before = counts(session)
    rep = load(write(registry, "b.csv", T.acquisition, [acquisition(), acquisition(number="102",
                                                                                   my_number=MN_HANAKO)]),
               T.acquisition)
    assert (rep.applied, rep.duplicate) == (1, 1)
    after = counts(session)
    assert after["qualification_versions"] == before["qualification_versions"] + 1


def test_file_is_recorded_with_the_insurer_it_was_filed_for(registry, session):
    def file_of(name):
        return session.scalar(select(IntakeFile).where(IntakeFile.filename == name))

    mine, other = (service.get_insurer(session, number=n).id for n in (INSURER, OTHER_INSURER))
    # the employer file of setup_insurers names two insurers: recorded without one
    assert file_of("emp.csv").insurer_id is None
    # every row names the same insurer (one row rejected for another reason still names it)
    rep = load(write(registry, "one.csv", T.acquisition, [acquisition(), acquisition(number="102", birth_date="x")]),
               T.acquisition)
    assert rep.rejected == 1 and file_of("one.csv").insurer_id == mine
    # an insurer that is not registered: none
    rep = load(write(registry, "unknown.csv", T.acquisition, [acquisition(insurer_number="06270011", number="103")]),
               T.acquisition)
    assert "unknown insurer" in rep.errors[0].reason and file_of("unknown.csv").insurer_id is None
    # filed for an insurer (the web upload): recorded with it, and a row of another insurer is rejected
    with unit_of_work() as s:
        rep = intake.import_file(s, write(registry, "filed.csv", T.acquisition, [
            acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7", my_number=MN_HANAKO),
            acquisition(number="104", my_number=MN_CHILD, name="厚労　三郎"),
        ]), T.acquisition, insurer=OTHER_INSURER)
    assert (rep.applied, rep.rejected) == (1, 1) and rep.errors[0].column == "insurer_number"
    assert file_of("filed.csv").insurer_id == other
    with pytest.raises(intake.IntakeFileError, match="unknown insurer"):
        with unit_of_work() as s:
            intake.import_file(s, write(registry, "x.csv", T.acquisition, [acquisition()]), T.acquisition,
                               insurer="06270011")


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\x00\x01\x02garbage\x00\xff" * 50, "binary"),
    ("保険者番号\n".encode("utf-16"), "binary"),
    (b"insurer_number,employer_symbol\n01130012,1\n", "missing columns"),
    (b"\xff\xfe\xfa\xfb,\x80\x81\n", "not UTF-8 or Shift_JIS"),
])
def test_unreadable_files_are_rejected_whole(registry, session, content, message):
    p = registry / "bad.csv"
    p.write_bytes(content)
    before = counts(session)
    with pytest.raises(intake.IntakeFileError, match=message):
        load(p, T.acquisition)
    assert counts(session) == before


def test_extra_column_is_rejected_with_its_name(registry):
    header = list(intake.LAYOUTS[T.acquisition]) + ["bonus"]
    p = registry / "extra.csv"
    p.write_bytes(csv_bytes(T.acquisition, [acquisition()], header=header))
    with pytest.raises(intake.IntakeFileError, match="bonus"):
        load(p, T.acquisition)


def test_header_only_file_is_an_error(registry):
    p = write(registry, "empty_rows.csv", T.acquisition, [])
    with pytest.raises(intake.IntakeFileError, match="no rows"):
        load(p, T.acquisition)


BAD_ROWS = [
    ({"insurer_number": "0113001234"}, "insurer_number", "保険者番号"),  # 10 digits
    ({"insurer_number": "01130013"}, "insurer_number", "保険者番号"),  # wrong check digit
    ({"my_number": "621498320258"}, "my_number", "個人番号"),
    ({"birth_date": "1970-02-30"}, "birth_date", "存在しない日付"),
    ({"acquisition_date": "2024/13/01"}, "acquisition_date", "存在しない日付"),
    ({"name_kana": "Kourou Tarou"}, "name_kana", "カタカナ"),
    ({"sex": "9"}, "sex", "性別"),
    ({"branch": "001"}, "branch", "枝番"),
    ({"number": "12●4"}, "number", "番号"),
    ({"employer_symbol": "99999999"}, "employer_symbol", "事業所"),
    ({"birth_date": "1940-01-01"}, "birth_date", "75"),
    ({"acquisition_date": "1969-12-31"}, "acquisition_date", "生年月日より前"),
    ({"monthly_remuneration": ""}, "monthly_remuneration", "必須"),
]


@pytest.mark.parametrize("override, column, reason", BAD_ROWS)
def test_bad_rows_are_quarantined_with_where_and_why(registry, session, override, column, reason):
    good = acquisition(number="102", my_number=MN_HANAKO, name="厚労　花子")
    rep = load(write(registry, "mixed.csv", T.acquisition, [good, acquisition(**override)]), T.acquisition)
    assert (rep.applied, rep.rejected) == (1, 1)
    [err] = [e for e in rep.errors if e.column == column]
    assert err.row == 3 and reason in err.reason
    [q] = intake.open_quarantine(session)
    assert q.row_number == 3 and q.errors[0]["column"] == column


def test_my_number_never_appears_in_errors_or_quarantine(registry, session):
    bad = "621498320258"
    rep = load(write(registry, "mn.csv", T.acquisition, [acquisition(my_number=bad)]), T.acquisition)
    assert rep.rejected == 1
    assert all(bad not in e.value and bad not in e.reason for e in rep.errors)
    [q] = intake.open_quarantine(session)
    assert bad not in str(q.errors) and bad.encode() not in q.raw_sealed
    assert intake.quarantined_values(q)["my_number"] == "(非表示)"


def test_wrong_number_of_values_in_a_row(registry, session):
    p = registry / "short.csv"
    p.write_bytes(csv_bytes(T.acquisition, [acquisition()]) + b"01130012,10000001\r\n")
    rep = load(p, T.acquisition)
    assert (rep.applied, rep.rejected) == (1, 1) and rep.errors[0].row == 3


def test_second_open_qualification_for_same_person_and_insurer_is_rejected(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    rep = load(write(registry, "b.csv", T.acquisition, [acquisition(number="555", acquisition_date="2024-06-01")]),
               T.acquisition)
    assert rep.rejected == 1 and rep.errors[0].column == "my_number"
    # at another insurer it is a job change, which is allowed
    rep = load(write(registry, "c.csv", T.acquisition, [acquisition(insurer_number=OTHER_INSURER,
                                                                    employer_symbol="9001", number="7",
                                                                    acquisition_date="2024-06-01")]), T.acquisition)
    assert rep.applied == 1
    person = service.find_person_by_my_number(session, MN_TARO)
    assert len(service.qualification_versions(session, person_id=person.id)) == 2


def test_same_person_twice_in_one_file_is_rejected_once(registry, session):
    rep = load(write(registry, "dup.csv", T.acquisition, [acquisition(), acquisition(number="102")]), T.acquisition)
    assert (rep.applied, rep.rejected) == (1, 1)


def test_loss_and_dependents_follow_the_member(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    rep = load(write(registry, "d.csv", T.dependent, [dependent(), dependent(
        branch="02", my_number=MN_CHILD, name="厚労　一郎", name_kana="コウロウ　イチロウ", birth_date="2020-02-29",
        sex="1")]), T.dependent)
    assert rep.applied == 2, rep.errors
    rep = load(write(registry, "l.csv", T.loss, [numbers(loss_date="2024-10-01", loss_reason="03")]), T.loss)
    assert rep.applied == 1
    versions = service.qualification_versions(session, insurer_id=service.get_insurer(session, number=INSURER).id)
    assert {(v.branch, v.loss_date) for v in versions} == {("00", date(2024, 10, 1)), ("01", date(2024, 10, 1)),
                                                           ("02", date(2024, 10, 1))}
    assert session.scalar(select(func.count()).select_from(RegistryChange).where(RegistryChange.kind == T.loss)) == 3


def test_loss_before_acquisition_is_rejected(registry):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    rep = load(write(registry, "l.csv", T.loss, [numbers(loss_date="2024-04-01")]), T.loss)
    assert rep.rejected == 1 and rep.errors[0].column == "loss_date" and "取得日" in rep.errors[0].reason


def test_dependent_of_unknown_member_is_rejected(registry):
    rep = load(write(registry, "d.csv", T.dependent, [dependent(number="999")]), T.dependent)
    assert rep.rejected == 1 and rep.errors[0].column == "number" and "被保険者" in rep.errors[0].reason


def test_dependent_removal(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    load(write(registry, "d.csv", T.dependent, [dependent()]), T.dependent)
    rep = load(write(registry, "r.csv", T.dependent, [dependent(change="remove", effective_date="2024-08-01",
                                                                loss_reason="99")]), T.dependent)
    assert rep.applied == 1, rep.errors
    [dep] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="01")
    assert dep.loss_date == date(2024, 8, 1) and dep.role == Role.dependent


def test_name_and_address_changes_keep_history(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    rep = load(write(registry, "n.csv", T.name_change, [numbers(name="山田　太郎", name_kana="ヤマダ　タロウ",
                                                               effective_date="2024-07-01")]), T.name_change)
    assert rep.applied == 1
    rep = load(write(registry, "ad.csv", T.address_change, [numbers(postal_code="1600022", address="東京都新宿区新宿1-1",
                                                                   effective_date="2024-09-01")]), T.address_change)
    assert rep.applied == 1
    pid = service.find_person_by_my_number(session, MN_TARO).id
    assert service.person_on(session, pid, date(2024, 6, 30)).name == "厚労　太郎"
    assert service.person_on(session, pid, date(2024, 7, 1)).name == "山田　太郎"
    assert service.person_on(session, pid, date(2024, 8, 31)).address == "東京都港区虎ノ門1-1"
    latest = service.person_on(session, pid, date(2024, 9, 1))
    assert (latest.name, latest.postal_code, latest.address) == ("山田　太郎", "160-0022", "東京都新宿区新宿1-1")


def test_remuneration_revision(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    rep = load(write(registry, "r.csv", T.remuneration, [numbers(monthly_remuneration="280000",
                                                                 effective_month="2024-09", reason="定時決定")]),
               T.remuneration)
    assert rep.applied == 1
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    assert service.remuneration_on(session, qv.qualification_id, date(2024, 8, 31)) == 410000
    assert service.remuneration_on(session, qv.qualification_id, date(2024, 9, 1)) == 280000


def test_limit_application_computes_category(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    rep = load(write(registry, "l.csv", T.limit_application, [numbers(application_date="2024-10-15", tax_exempt="0",
                                                                      low_income_1="0", income_exemption="0")]),
               T.limit_application)
    assert rep.applied == 1, rep.errors
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    lc = service.limit_certificate_on(session, qv.qualification_id, date(2024, 10, 1))
    assert lc.category_code == "A03"  # ウ: 標準報酬月額 41万 (28–50万)
    assert lc.valid_to == date(2025, 8, 1)
    assert session.scalar(select(func.count()).select_from(LimitCertificateVersion)) == 1


def test_quarantined_row_can_be_corrected_and_resubmitted(registry, session):
    rep = load(write(registry, "a.csv", T.acquisition, [acquisition(birth_date="1970-02-30")]), T.acquisition,
               received_at=datetime(2024, 4, 2, 10, 0))
    [qid] = rep.quarantine_ids
    with unit_of_work() as s:
        again = intake.resubmit(s, qid, {"birth_date": "1970-02-28"}, actor="clerk1")
    assert again.applied == 1
    session.expire_all()
    q = session.get(QuarantinedRow, qid)
    assert q.status == "resolved" and q.resolved_by == "clerk1"
    change = session.get(RegistryChange, q.resolved_change_id)
    assert change.received_at == datetime(2024, 4, 2, 10, 0)  # the 5-day clock keeps the original receipt
    with pytest.raises(ValueError, match="not open"):
        with unit_of_work() as s:
            intake.resubmit(s, qid, {}, actor="clerk1")


def test_resubmission_that_is_still_wrong_stays_open(registry, session):
    rep = load(write(registry, "a.csv", T.acquisition, [acquisition(birth_date="1970-02-30")]), T.acquisition)
    [qid] = rep.quarantine_ids
    with unit_of_work() as s:
        again = intake.resubmit(s, qid, {"birth_date": "1970-02-31"}, actor="clerk1")
    assert again.rejected == 1 and again.errors[0].column == "birth_date"
    session.expire_all()
    assert session.get(QuarantinedRow, qid).status == "open"


def test_a_crash_midway_applies_nothing(registry, session, monkeypatch):
    rows = [acquisition(number=str(200 + i), my_number="", name=f"試験　{i}") for i in range(12)]
    monkeypatch.setattr(importer, "CHUNK", 5)
    calls = {"n": 0}
    real = appliers.apply_acquisitions

    def failing(ctx, chunk):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(ctx, chunk)

    monkeypatch.setattr(appliers, "apply_acquisitions", failing)
    before = counts(session)
    with pytest.raises(RuntimeError):
        load(write(registry, "big.csv", T.acquisition, rows), T.acquisition)
    assert counts(session) == before
    monkeypatch.setattr(appliers, "apply_acquisitions", real)
    rep = load(write(registry, "big.csv", T.acquisition, rows), T.acquisition)
    assert rep.applied == 12
