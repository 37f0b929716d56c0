"""The one clock (onshi.store.clock): the only reader of the system clock, settable, and Japan's day at 15:00 UTC."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.store import clock

ROOT = Path(__file__).resolve().parents[2]
CLOCK = ROOT / "src/onshi/store/clock.py"

# (object, method) pairs that read the machine's clock; every one of them is wrong outside store/clock.py:
# date.today() and naive datetime.now() are the machine's day, not Japan's; utcnow() and time.time() escape the
# settable clock.  time.monotonic()/perf_counter() measure durations and are fine.
FORBIDDEN = {("date", "today"), ("datetime", "today"), ("datetime", "now"), ("datetime", "utcnow"),
             ("time", "time"), ("time", "localtime"), ("time", "gmtime"), ("time", "ctime")}


def _clock_reads(path: Path) -> list[str]:
    """``file:line call`` for each call of a forbidden clock reader in *path*."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value
        owner = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if (owner, node.func.attr) in FORBIDDEN:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{node.func.attr}()")
    return found


def _python_files():
    for folder in ("src", "tests", "bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != CLOCK and "migrations" not in path.parts:
                yield path


def test_nothing_but_the_clock_module_reads_the_system_clock():
    offenders = [hit for path in _python_files() for hit in _clock_reads(path)]
    assert offenders == [], "use onshi.store.clock (japan_today, japan_now, utcnow, epoch_seconds):\n" + "\n".join(
        offenders)


def test_the_guard_sees_each_spelling(tmp_path):
    sample = ROOT / "tests/store/_guard_sample.py"
    sample.write_text("import datetime as dt\nfrom datetime import date, datetime\nimport time\n"
                      "a = date.today()\nb = datetime.now()\nc = dt.datetime.utcnow()\nd = time.time()\n"
                      "e = dt.date.today()\nf = time.monotonic()\n", encoding="utf-8")
    try:
        hits = _clock_reads(sample)
    finally:
        sample.unlink()
    assert [h.split(" ", 1)[1] for h in hits] == ["date.today()", "datetime.now()", "datetime.utcnow()",
                                                  "time.time()", "date.today()"]


def test_the_clock_module_reads_the_system_clock_in_one_place():
    assert [h.split(" ", 1)[1] for h in _clock_reads(CLOCK)] == ["datetime.now()"]


@pytest.mark.parametrize(("utc", "japan_day"), [
    (datetime(2026, 12, 4, 14, 59, 59), date(2026, 12, 4)),
    (datetime(2026, 12, 4, 15, 0, 0), date(2026, 12, 5)),
    (datetime(2026, 12, 4, 23, 30), date(2026, 12, 5)),
    (datetime(2026, 12, 31, 15, 0), date(2027, 1, 1)),      # 年始 begins at 15:00 UTC on New Year's Eve
    (datetime(2019, 4, 30, 15, 0), date(2019, 5, 1)),       # 令和 begins at 15:00 UTC
    (datetime(2024, 2, 28, 15, 0), date(2024, 2, 29)),
])
def test_japan_today_turns_at_15_utc(utc, japan_day):
    with clock.frozen_at(utc.replace(tzinfo=UTC)):
        assert clock.japan_today() == japan_day
        assert clock.japan_now().date() == japan_day and clock.japan_now().utcoffset() == timedelta(hours=9)
        assert clock.utcnow() == utc and clock.utcnow().tzinfo is None


def test_frozen_clock_stands_still_and_a_ticking_one_runs_on():
    moment = datetime(2026, 12, 28, 9, 0, tzinfo=clock.JST)
    with clock.frozen_at(moment):
        first = clock.utcnow()
        assert clock.utcnow() == first == datetime(2026, 12, 28, 0, 0)
    with clock.frozen_at(moment, ticking=True):
        start = clock.utcnow()
        assert datetime(2026, 12, 28, 0, 0) <= start < datetime(2026, 12, 28, 0, 0, 5)
        assert clock.utcnow() >= start


def test_frozen_at_puts_the_clock_back_and_nests():
    outer, inner = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    with clock.frozen_at(outer):
        with clock.frozen_at(inner):
            assert clock.utcnow().year == 2027
        assert clock.utcnow().year == 2026
    first = clock.utcnow()  # the system clock again: it runs
    time.sleep(0.002)
    assert clock.utcnow() > first != datetime(2026, 1, 1)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        clock.set_now(datetime(2026, 12, 4, 9, 0))
    with pytest.raises(ValueError, match="offset"):
        clock.set_now("2026-12-04 09:00")


def test_epoch_seconds_follows_the_clock():
    with clock.frozen_at("2026-12-04T15:00:00Z"):
        assert clock.epoch_seconds() == int(datetime(2026, 12, 4, 15, tzinfo=UTC).timestamp())


def test_onshi_now_starts_a_process_at_another_instant():
    env = {**os.environ, "ONSHI_NOW": "2019-04-30T23:59:59+09:00", "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", "from onshi.store import clock; print(clock.japan_today())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out in ("2019-04-30", "2019-05-01")  # it runs on from 23:59:59; a slow start may cross midnight
    bad = subprocess.run([sys.executable, "-c", "import onshi.store.clock"], capture_output=True, text=True,
                         env={**env, "ONSHI_NOW": "2019-04-30 23:59"})
    assert bad.returncode != 0 and "offset" in bad.stderr


def test_recorded_defaults_follow_the_clock(session):
    """A row's default recorded time (``default=utcnow``) is the settable clock's, on both databases."""
    from onshi.registry.models import Insurer

    with clock.frozen_at("2026-12-04T14:59:59Z"):
        ins = Insurer(number="06139992", name="オンシ健康保険組合", kind="kumiai", prefecture_code="13")
        session.add(ins)
        session.flush()
    stamped = [getattr(ins, c.key) for c in Insurer.__table__.columns if c.key.endswith("_at")]
    assert stamped and all(v == datetime(2026, 12, 4, 14, 59, 59) for v in stamped)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)))
def test_japan_time_round_trips(typed):
    assert clock.to_japan_time(clock.from_japan_time(typed)).replace(tzinfo=None) == typed
    assert clock.japan_date(clock.from_japan_time(typed)) == typed.date()
