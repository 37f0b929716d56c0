"""The decision notice is a real PDF (reportlab through the documents machinery's font) that prints the amount and
the calculation line by line, the same bytes for the same decision, and its read is audited."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from onshi.benefits import service
from onshi.privacy import audit
from onshi.store.db import unit_of_work
from tests.benefits.conftest import app_input

SICK = {"incapacity_from": "2026-04-03", "period_from": "2026-04-03", "period_to": "2026-04-30"}


def test_the_decision_letter_prints_the_amount_and_each_line(members):
    with unit_of_work() as s:
        app = service.receive(s, app_input("sickness", details=SICK), insurer_id=members, actor="clerk")
        with pytest.raises(service.StateError):
            service.decision_letter(s, app.id, insurer_id=members, actor_kind="user", actor_id="clerk")
        service.decide(s, app.id, on=date(2026, 5, 1), actor="clerk")
    with unit_of_work() as s:
        before = audit.last_id(s)
        pdf = service.decision_letter(s, app.id, insurer_id=members, actor_kind="user", actor_id="clerk")
        again = service.decision_letter(s, app.id, insurer_id=members, actor_kind="user", actor_id="clerk")
        assert pdf == again and pdf.startswith(b"%PDF")
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        assert "傷病手当金 支給決定通知書" in text and f"{app.amount:,}円" in text and "厚労　太郎" in text
        assert "9,553円" in text and "待期" in text and "****321" in text and "7654321" not in text
        assert ("person", str(app.person_id)) in audit.subjects_written_since(s, before)
