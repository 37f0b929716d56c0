"""Valid time and recorded time: what did the registry know on day R about day D?"""

from __future__ import annotations

from datetime import date

import pytest

from onshi.registry import service
from onshi.registry.models import NotificationType as T
from onshi.store.clock import utcnow
from onshi.store.db import unit_of_work

from .helpers import INSURER, SYMBOL, acquisition, load, numbers, setup_insurers, write


@pytest.fixture
def registry(engine, tmp_path):
    setup_insurers(tmp_path)
    return tmp_path


def _covering(session, day, recorded_at=None):
    return service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00",
                                   about_day=day, recorded_at=recorded_at)


def test_retroactive_loss_keeps_what_was_known_before(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    before_loss_recorded = utcnow()
    # a loss on 1 Oct recorded weeks later
    import time

    time.sleep(0.01)
    load(write(registry, "l.csv", T.loss, [numbers(loss_date="2024-10-01")]), T.loss)
    oct15 = date(2024, 10, 15)
    assert _covering(session, oct15) == []  # today we know: not insured on 15 Oct
    [then] = _covering(session, oct15, recorded_at=before_loss_recorded)  # but before the filing we thought so
    assert then.loss_date is None
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    history = service.qualification_history(session, qv.qualification_id)
    assert [h.loss_date for h in history] == [None, date(2024, 10, 1)]
    assert history[0].superseded_at == history[1].recorded_at


def test_correction_of_a_loss_date_supersedes_the_earlier_correction(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    load(write(registry, "l1.csv", T.loss, [numbers(loss_date="2024-10-01")]), T.loss)
    rep = load(write(registry, "l2.csv", T.loss, [numbers(loss_date="2024-11-01")]), T.loss)
    assert rep.applied == 1
    assert _covering(session, date(2024, 10, 15))  # insured on 15 Oct after the correction
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    assert [h.loss_date for h in service.qualification_history(session, qv.qualification_id)] == [
        None, date(2024, 10, 1), date(2024, 11, 1)]


def test_valid_time_boundaries_are_half_open(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01")]), T.acquisition)
    load(write(registry, "l.csv", T.loss, [numbers(loss_date="2024-10-01")]), T.loss)
    assert _covering(session, date(2024, 3, 31)) == []
    assert _covering(session, date(2024, 4, 1))
    assert _covering(session, date(2024, 9, 30))  # last insured day: the day before 資格喪失日
    assert _covering(session, date(2024, 10, 1)) == []


def test_retroactive_name_change_does_not_erase_later_change(registry, session):
    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    load(write(registry, "n1.csv", T.name_change, [numbers(name="山田　太郎", name_kana="ヤマダ　タロウ",
                                                           effective_date="2024-09-01")]), T.name_change)
    load(write(registry, "n2.csv", T.name_change, [numbers(name="佐藤　太郎", name_kana="サトウ　タロウ",
                                                           effective_date="2024-06-01")]), T.name_change)
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    names = [(service.person_on(session, qv.person_id, d).name) for d in
             (date(2024, 5, 31), date(2024, 6, 1), date(2024, 8, 31), date(2024, 9, 1))]
    assert names == ["厚労　太郎", "佐藤　太郎", "佐藤　太郎", "山田　太郎"]


def test_member_view_is_masked_and_audited(registry, session):
    from onshi.privacy.audit import entries_for

    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    [qv] = service.find_by_numbers(session, insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00")
    with unit_of_work() as s:
        view = service.member_view(s, qv.person_id, actor_kind="user", actor_id="clerk7")
    assert view.my_number_masked == "********0257"
    [entry] = entries_for(session, "person", qv.person_id)
    assert entry.actor_id == "clerk7" and entry.action == "member.view"
    assert "621498320257" not in (entry.detail or "")


def test_member_show_as_of_is_typed_in_japan_time(registry, session):
    """A clerk types ``--as-of`` as a Japan time; a time 9 hours off (UTC read as JST) would show the wrong version."""
    import time

    from typer.testing import CliRunner

    from onshi.cli import app
    from onshi.store.clock import to_japan_time, utcnow

    load(write(registry, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    time.sleep(0.01)
    between = utcnow()
    time.sleep(0.01)
    load(write(registry, "l.csv", T.loss, [numbers(loss_date="2024-10-01")]), T.loss)
    typed = to_japan_time(between).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]  # what the clerk reads on the wall clock

    def show(*extra):
        res = CliRunner().invoke(app, ["member", "show", "--insurer", INSURER, "--symbol", SYMBOL, "--number", "101",
                                       "--branch", "00", *extra], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        return res.output

    then = show("--as-of", typed)
    assert "当時の記録" in then and "2024-10-01" not in then  # the loss was recorded after that moment
    now = show()
    assert "2024-10-01" in now and "訂正済" in now
    assert f"{to_japan_time(between):%Y-%m-%d}" in now and "JST" in now  # recorded times shown in Japan time
