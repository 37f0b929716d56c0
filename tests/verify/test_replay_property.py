"""Replay equals what was answered (Hypothesis, both databases): whatever registry events are published, in any
order and at any instants, a replay at an instant gives exactly the answer a live check gave at that instant."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from onshi.exchange.publish import publish_batch
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.verify.result import ReferenceClass, VerificationRequest
from tests.registry.helpers import INSURER, OTHER_INSURER, SYMBOL, acquisition, dependent, load, numbers, \
    setup_insurers, write

CLINIC = "1310000011"
START = datetime(2024, 12, 1, 0, 0)
CARE_DAYS = [date(2024, 10, 15), date(2024, 11, 1), date(2024, 11, 20), date(2024, 12, 20)]

#: events a stage may file (some are refused by intake in some orders — the property holds all the same)
EVENTS = {
    "loss_backdated": (T.loss, [numbers(loss_date="2024-11-01", loss_reason="99")]),
    "loss_later": (T.loss, [numbers(loss_date="2024-12-15", loss_reason="99")]),
    "dependent_add": (T.dependent, [dependent()]),
    "dependent_loss": (T.dependent, [dependent(change="remove", effective_date="2024-11-10", loss_reason="01")]),
    "new_job": (T.acquisition, [acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7",
                                            acquisition_date="2024-11-01")]),
}


def _clean(engine) -> None:
    from onshi.schema import metadata

    names = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            c.execute(text("TRUNCATE " + ", ".join(names) + " RESTART IDENTITY CASCADE"))
        else:
            for n in names:
                c.execute(text(f"DELETE FROM {n}"))


def _ask(s, inst, branch: str, day: date, **kw):
    req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=day, institution_code=CLINIC,
                              arbitrary_file_identifier=None, insurer_number=INSURER, symbol=SYMBOL, number="101",
                              branch=branch, birth_date=date(1970, 1, 1) if branch == "00" else date(1972, 5, 5),
                              limit_consent=False, arbitrary_identifier=None)
    out = service.verify(s, req, inst, **kw)
    return out.validity, out.answers


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stages=st.lists(st.tuples(st.sampled_from(sorted(EVENTS)), st.integers(min_value=1, max_value=600)),
                       min_size=1, max_size=4))
def test_a_replay_is_what_was_answered_then(engine, tmp_path_factory, stages):
    _clean(engine)
    tmp = tmp_path_factory.mktemp("replay")
    setup_insurers(tmp)
    load(write(tmp, "a.csv", T.acquisition, [acquisition()]), T.acquisition, received_at=START)
    at = START
    with unit_of_work() as s:
        publish_batch(s, now=at)
        inst, _token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    seen: list[tuple[datetime, dict]] = []

    def record(when: datetime) -> None:
        with unit_of_work() as s:
            inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
            seen.append((when, {(b, d): _ask(s, inst, b, d, now=when) for b in ("00", "01") for d in CARE_DAYS}))

    record(at + timedelta(seconds=30))
    for n, (event, minutes) in enumerate(stages):
        ntype, rows = EVENTS[event]
        load(write(tmp, f"s{n}.csv", ntype, rows), ntype, received_at=at)
        at += timedelta(minutes=minutes)
        with unit_of_work() as s:
            publish_batch(s, now=at)
        record(at + timedelta(seconds=30))
    with unit_of_work() as s:
        inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
        for when, answers in seen:
            for (b, d), expected in answers.items():
                assert _ask(s, inst, b, d, registered_at=when) == expected, (when, b, d, stages)
