"""The demo's bad day and its national list (docs/outage.md, docs/national-lists.md).

:func:`ensure_outage_demo` — called once by the demo's set-up (``onshi demo run``) — gives the demo clinic an outage
list of the day before with matches and non-matches, checked (有効 by the four items, 有効 by the card's numbers, 無効
for a member whose qualification had ended, 要確認 for a wrong address and for nobody at all, the last billed with
the insurer unknown for the apportionment), and imports a 職権交付対象者リスト of this month naming a member who holds
a マイナ保険証, so the next daily run issues them a 資格確認書 ex officio.  Idempotent: record ids and the list's
bytes are fixed, so a second call adds nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from onshi.documents import national_lists
from onshi.exchange.models import IndexedQualification as IQ
from onshi.outage import service as outage
from onshi.outage.matching import covers
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work


#: a row of the national list that names nobody (the import reports it as unmatched)
NOBODY_ROW = ("01130012", "99999999", "1", "00", "ダレモ　イナイ", "1970-01-01", "01")
#: the outage record of a patient nobody registered (要確認, insurer unknown)
NOBODY = {"name": "障害　花子", "name_kana": "ショウガイ　ハナコ", "sex": "2", "birth_date": "1962-02-22",
          "address": "東京都中野区中野9-9-9"}


def typed_record(row, care: date, key: str, **over) -> dict:
    """An outage record as the reception typed it for the registered *row* (name, kana, sex, birth date, address
    attributes), with *over* changed (another address, the numbers shown …).  Shared with the sandbox."""
    r = {"record_key": key, "care_date": care.isoformat(), "name": row.name, "name_kana": row.name_kana,
         "sex": str(row.sex), "birth_date": row.birth_date.isoformat(), "address": row.address or "住所不明"}
    r.update(over)
    return r


def national_list_csv(rows) -> bytes:
    """A 職権交付対象者リスト (docs/national-lists.md) of ``[(保険者番号, 記号, 番号, 枝番, カナ氏名, 生年月日, 交付事由)]``."""
    return ("保険者番号,記号,番号,枝番,カナ氏名,生年月日,交付事由\n"
            + "".join(",".join(r) + "\n" for r in rows)).encode()


def record_and_check(session, institution_code: str, records: list[dict], *, actor: str, today: date):
    """Record an outage list (the reception's way) and check its records: ``(record report, check report)``."""
    rep = outage.record_patients(session, institution_code, records, source="reception", actor=actor, today=today)
    chk = outage.check(session, institution_code, actor_kind="system", actor_id=actor,
                       record_ids=sorted(set(rep.keys.values())))
    return rep, chk


def ensure_outage_demo(institution_code: str, today: date | None = None) -> dict:
    """The demo's outage list and national list (see the module); returns what a person reads of it."""
    today = today or japan_today()
    care = today - timedelta(days=1)
    with unit_of_work() as s:
        rows = list(s.scalars(select(IQ).where(IQ.address.is_not(None)).order_by(IQ.qualification_id).limit(400)))
        current = [r for r in rows if covers(r, care)]
        ended = [r for r in rows if r.loss_date is not None and r.loss_date <= care]
        if len(current) < 4:
            return {"skipped": "the index holds too few members for the outage demo"}
        a, b, c, d = current[:4]
        records = [
            typed_record(a, care, "demo-outage-1", name_kana=a.name_kana.replace("\u3000", " ")),  # four items
            typed_record(b, care, "demo-outage-2", address="（保険証の番号で受付）", insurer_number=b.insurer_number,
                         symbol=b.symbol, number=b.number, branch=b.branch),  # by the numbers
            typed_record(c, care, "demo-outage-3", address="北海道札幌市中央区北1条西2丁目"),  # address differs: 要確認
            typed_record(c, care, "demo-outage-4", **NOBODY),  # nobody: 要確認, insurer unknown
        ]
        if ended:
            records.append(typed_record(ended[0], care, "demo-outage-5"))  # ended before the day of care: 無効
        rep, chk = record_and_check(s, institution_code, records, actor="demo", today=today)
        unknown = rep.keys["demo-outage-4"]
        outage.record_unknown_insurer(s, institution_code, unknown, amount_yen=8_400, actor="demo")
        listed = national_lists.import_list(
            s, national_list_csv([(d.insurer_number, d.symbol, d.number, d.branch, d.name_kana,
                                   d.birth_date.isoformat(), "02"), NOBODY_ROW]),
            kind="ex_officio", month=today, filename="demo_ex_officio.csv", actor="demo")
        return {"records": len(records), "counts": chk.counts(),
                "national_list": {"added": len(listed.added), "unmatched": len(listed.unmatched),
                                  "already_imported": listed.already_imported}}
