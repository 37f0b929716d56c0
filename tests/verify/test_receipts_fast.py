"""receipts_fast.token writes, byte for byte, the receipt the reference path (receipts.sign(receipts.claims(…)))
makes: every field the claims can hold, strings that need JSON escaping, non-ASCII, absent and present optional
claims.  Ed25519 signatures are deterministic (RFC 8032), so equal bytes in mean an equal receipt out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from onshi.verify import receipts, receipts_fast
from onshi.verify.receipts import KeyRing, verify_receipt
from onshi.verify.result import ReferenceClass, Validity, VerificationOutcome, VerificationRequest

from tests.interop.conftest import make_answer

JST = timezone(timedelta(hours=9))
RING = KeyRing.from_entries([receipts.new_key(datetime(2026, 12, 6, tzinfo=JST))])

texts = st.text(max_size=12)  # any character: quotes, backslashes, control characters, kanji, surrogates excluded
optional_dates = st.one_of(st.none(), st.dates(date(1900, 1, 1), date(2100, 12, 31)))


def _request(card: bool, **fields) -> VerificationRequest:
    req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=fields["care"],
                              institution_code="1310000011", arbitrary_file_identifier=None,
                              insurer_number=fields["insurer"], symbol=fields["symbol"], number=fields["number"],
                              branch=fields["branch"], birth_date=fields["birth"], limit_consent=False,
                              arbitrary_identifier=None)
    if card:
        req = replace(req, reference_class=ReferenceClass.CARD, insurer_number=None, symbol=None, number=None,
                      branch=None, birth_date=None, card_serial=fields["symbol"] or None)
    return req


@settings(max_examples=300, deadline=None)
@given(rid=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1,
                   max_size=22),
       issued=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)), code=st.one_of(texts, st.none()),
       care=st.dates(date(2000, 1, 1), date(2099, 12, 31)), insurer=texts, symbol=texts,
       number=texts.filter(bool), branch=st.one_of(st.none(), texts), birth=optional_dates, card=st.booleans(),
       validity=st.sampled_from(list(Validity)), with_answer=st.booleans(),
       answer_insurer=texts, qualified=optional_dates, lost=optional_dates,
       ratio=st.one_of(st.none(), st.integers(0, 10)), etag=st.one_of(st.none(), texts),
       not_modified=st.booleans())
def test_the_same_receipt_as_the_reference(rid, issued, code, care, insurer, symbol, number, branch, birth, card,
                                           validity, with_answer, answer_insurer, qualified, lost, ratio, etag,
                                           not_modified):
    req = _request(card, care=care, insurer=insurer, symbol=symbol, number=number, branch=branch, birth=birth)
    answers = (make_answer(insurer_number=answer_insurer, symbol=symbol, branch=branch,
                           qualification_date=qualified, disqualification_date=lost,
                           co_pay_ratio_tenths=ratio),) if with_answer else ()
    issued_at = issued.replace(tzinfo=JST)
    reference = receipts.sign(receipts.claims(
        rid=rid, issued_at=issued_at, institution_code=code, req=req,
        outcome=VerificationOutcome(validity, answers), etag=etag, not_modified=not_modified), RING)
    fast = receipts_fast.token(rid=rid, issued_at=issued_at, institution_code=code, req=req, validity=validity,
                               answers=answers, etag=etag, not_modified=not_modified, ring=RING)
    assert fast == reference


def test_issue_takes_the_fast_path_and_verifies():
    req = _request(False, care=date(2026, 12, 6), insurer="06139992", symbol="あいう", number="187", branch="05",
                   birth=date(1980, 4, 1))
    outcome = VerificationOutcome(Validity.VALID, (make_answer(),))
    rid, token = receipts.issue(issued_at=datetime(2026, 12, 6, 13, 5, tzinfo=JST), institution_code="1310000011",
                                req=req, outcome=outcome, etag='"1.x"', ring=RING)
    assert len(rid) == 22 and set(rid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    claims = verify_receipt(token, RING)
    assert claims["rid"] == rid and claims["et"] == '"1.x"' and claims["a"]["cp"] == 3
    # given as validity and answers instead of an outcome: the same claims
    _rid2, token2 = receipts.issue(issued_at=datetime(2026, 12, 6, 13, 5, tzinfo=JST),
                                   institution_code="1310000011", req=req, validity=Validity.VALID,
                                   answers=outcome.answers, etag='"1.x"', ring=RING)
    assert {k: v for k, v in verify_receipt(token2, RING).items() if k not in ("rid", "ref", "a")} == \
        {k: v for k, v in claims.items() if k not in ("rid", "ref", "a")}
