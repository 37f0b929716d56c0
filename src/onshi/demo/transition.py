"""The transition years in the demo (docs/rules.md, "The transition to マイナ保険証"): a smartphone credential beside a
card, a 資格確認限定型 and a 居宅同意取得型 institution, and the checks of an old 健康保険証 the day before and the day
after it lapsed.  Called once by :func:`onshi.demo.cli.ensure_demo`; idempotent (what exists is left as it is).

The old card needs no data of its own: it is the showcase member's numbers (:data:`onshi.demo.seed.SHOWCASE`),
checked with a day of care before its lapse (2025-12-01: the old card still works, no notice) and after it
(2025-12-02: the answer carries the provisional billing) — written to ``demo.json`` as ready requests.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from onshi.demo.seed import SHOWCASE
from onshi.rules.transition import old_card_valid_until
from onshi.store.db import unit_of_work

#: the demo's smartphone credential (スマホ用電子証明書) of the person of the demo's first card
PHONE_SERIAL = "DEMOPHONE0001"
#: (医療機関コード body: pref, 点数表, six digits), name, facility type, kind
KIND_INSTITUTIONS = [
    (("13", "1", "000005"), "オンシ接骨院（資格確認限定型）", "clinic", "limited"),
    (("13", "1", "000006"), "オンシ訪問クリニック（居宅同意取得型）", "clinic", "home_visit"),
]


def _code(pref: str, table: str, body: str) -> str:
    from onshi.numbers import institution_code

    return pref + table + body + institution_code.calc_check_digit(pref + table + body)


def ensure_kind_institutions(session, institutions) -> dict[str, str]:
    """Register the institutions ``[(code, name, facility type, kind, token or None), …]`` that do not exist yet;
    returns ``{code: token}`` of those added (a token given is kept, else one is made).  Shared by the demo and the
    sandbox (:mod:`onshi.demo.sandbox_build`)."""
    from onshi.verify.models import Institution
    from onshi.verify.service import add_institution

    tokens = {}
    for code, name, ftype, kind, token in institutions:
        if session.scalar(select(Institution).where(Institution.code == code)) is None:
            _inst, tokens[code] = add_institution(session, code=code, name=name, facility_type=ftype, kind=kind,
                                                  token=token)
    return tokens


def old_card_examples(numbers: dict) -> dict:
    """The checks of an old 健康保険証 with *numbers* (``insurer_number``, ``symbol``, ``number``, ``branch``,
    ``birth_date``): on the last day it worked (no notice) and on the day after (the provisional billing)."""
    lapse = old_card_valid_until(numbers["insurer_number"])
    return {"numbers": numbers, "lapsed_after": lapse.isoformat(),
            "before_lapse": {**numbers, "care_date": lapse.isoformat()},
            "after_lapse": {**numbers, "care_date": date.fromordinal(lapse.toordinal() + 1).isoformat()}}


def ensure_transition_demo(state: dict, pop=None) -> dict:
    """Add the phone credential and the two institutions (tokens into ``state["tokens"]``) and the old-card
    examples (``state["transition"]``); *pop* is the demo's generated population (its first member with a My
    Number holds the demo's first card).  Returns *state*."""
    from onshi.exchange.cards import SMARTPHONE, cards_of, get_card, register_card
    from onshi.registry import service
    from onshi.registry.models import NotificationType

    tokens = state.setdefault("tokens", {})
    with unit_of_work() as s:
        tokens.update(ensure_kind_institutions(s, [(_code(*b), name, ftype, kind, None)
                                                   for b, name, ftype, kind in KIND_INSTITUTIONS]))
        phone = None
        if pop is not None and get_card(s, PHONE_SERIAL) is None:
            row = next((r for r in pop.files[NotificationType.acquisition] if r["my_number"]), None)
            person = service.find_person_by_my_number(s, row["my_number"]) if row else None
            card = next((c for c in cards_of(s, person.id) if c.kind == "card" and c.cancelled_at is None), None) \
                if person else None
            if card is not None:
                register_card(s, my_number=row["my_number"], certificate_serial=PHONE_SERIAL,
                              certificate_expires_on=card.certificate_expires_on, kind=SMARTPHONE)
                phone = PHONE_SERIAL
        elif get_card(s, PHONE_SERIAL) is not None:
            phone = PHONE_SERIAL
    sv = SHOWCASE["valid"]
    numbers = {"insurer_number": sv["insurer"], "symbol": sv["symbol"], "number": sv["number"],
               "branch": sv["branch"], "birth_date": sv["birth"].isoformat()}
    state["transition"] = {
        "phone": phone,
        "institutions": {_code(*b): kind for b, _n, _t, kind in KIND_INSTITUTIONS},
        "old_card": old_card_examples(numbers),
    }
    return state
