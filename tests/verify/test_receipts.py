"""Receipts without a database: sign/verify round trip, tampering, unknown/retired keys, rotation, JWKS, ETag."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onshi.config import Settings
from onshi.verify import receipts, receipts_fast
from onshi.verify.receipts import KeyRing, ReceiptError, verify_receipt
from onshi.verify.result import ReferenceClass, Validity, VerificationOutcome, VerificationRequest

from tests.interop.conftest import make_answer

JST = timezone(timedelta(hours=9))
NOW = datetime(2026, 12, 6, 13, 5, 0, tzinfo=JST)


def ring(*kids: str) -> tuple[KeyRing, list[dict]]:
    entries = [{**receipts.new_key(NOW), "kid": k} for k in kids]
    return KeyRing.from_entries(entries), entries


def numbers_request(**over) -> VerificationRequest:
    base = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=date(2026, 12, 6),
                               institution_code="1310000011", arbitrary_file_identifier=None,
                               insurer_number="06139992", symbol="あいう", number="187", branch="05",
                               birth_date=date(1980, 4, 1), limit_consent=True, arbitrary_identifier="P-42")
    return replace(base, **over)


OUTCOME = VerificationOutcome(Validity.VALID, (make_answer(),), None)

codes = st.text(alphabet="0123456789", min_size=10, max_size=10)
texts = st.text(min_size=0, max_size=20)


@settings(max_examples=60, deadline=None)
@given(code=codes, care=st.dates(date(2000, 1, 1), date(2030, 12, 31)), symbol=texts, number=texts.filter(bool),
       branch=st.one_of(st.none(), st.text(alphabet="0123456789", min_size=2, max_size=2)),
       validity=st.sampled_from(list(Validity)), with_answer=st.booleans(), etag=st.one_of(st.none(), texts),
       not_modified=st.booleans(), card=st.booleans())
def test_sign_verify_round_trip(code, care, symbol, number, branch, validity, with_answer, etag, not_modified, card):
    keys, _ = ring("k1")
    req = numbers_request(care_date=care, symbol=symbol, number=number, branch=branch)
    if card:
        req = replace(req, reference_class=ReferenceClass.CARD, insurer_number=None, symbol=None, number=None,
                      branch=None, birth_date=None, card_serial=symbol or "serial")
    outcome = VerificationOutcome(validity, (make_answer(),) if with_answer else ())
    c = receipts.claims(rid="rid-1", issued_at=NOW, institution_code=code, req=req, outcome=outcome, etag=etag,
                        not_modified=not_modified)
    token = receipts.sign(c, keys)
    assert verify_receipt(token, keys) == {"kid": "k1", **json.loads(json.dumps(c))}
    got = verify_receipt(token, keys)
    assert got["ins"] == code and got["cd"] == care.isoformat() and got["val"] == int(validity)
    assert got["m"] == ("card" if card else "numbers") and got.get("nm", False) == not_modified


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_tampering_any_character_is_refused(data):
    keys, _ = ring("k1")
    _rid, token = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(),
                                 outcome=OUTCOME, etag='"abc"', ring=keys)
    i = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    c = data.draw(st.sampled_from([a for a in alphabet if a != token[i]]))
    altered = token[:i] + c + token[i + 1:]
    with pytest.raises(ReceiptError):
        verify_receipt(altered, keys)


def test_altered_claims_say_altered_or_forged():
    keys, _ = ring("k1")
    _rid, token = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(),
                                 outcome=OUTCOME, etag=None, ring=keys)
    head, body, sig = token.split(".")
    claims = json.loads(receipts.unb64url(body, "claims"))
    claims["val"] = 2  # 有効 → 無効
    forged = f"{head}.{receipts.b64url(json.dumps(claims).encode())}.{sig}"
    with pytest.raises(ReceiptError, match="altered or forged"):
        verify_receipt(forged, keys)
    other, _ = ring("k1")  # same kid, another key: a forgery
    with pytest.raises(ReceiptError, match="altered or forged"):
        verify_receipt(receipts.sign(claims, other), keys)


@pytest.mark.parametrize("bad", ["", "abc", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.AAAA"])
def test_not_a_receipt_is_refused_with_a_reason(bad):
    keys, _ = ring("k1")
    with pytest.raises(ReceiptError) as info:
        verify_receipt(bad, keys)
    assert info.value.reason


def test_unknown_kid_is_refused():
    keys, _ = ring("k1")
    stranger, _ = ring("k9")
    _rid, token = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(),
                                 outcome=OUTCOME, etag=None, ring=stranger)
    with pytest.raises(ReceiptError, match="unknown key id 'k9'"):
        verify_receipt(token, keys)


def test_rotation_old_receipts_verify_until_the_key_is_retired(tmp_path):
    s = Settings(var_dir=tmp_path, receipt_keys=None)
    first = receipts.key_ring(s)  # made on first use, in var/keys.json
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    old_kid = first.signing[0]
    _rid, old = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(),
                               outcome=OUTCOME, etag=None, ring=first)
    entry = receipts.rotate(s)
    rotated = receipts.key_ring(s)
    assert rotated.signing[0] == entry["kid"] != old_kid
    assert verify_receipt(old, rotated)["kid"] == old_kid  # the old key still verifies
    _rid, new = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(),
                               outcome=OUTCOME, etag=None, ring=rotated)
    assert verify_receipt(new, rotated)["kid"] == entry["kid"]
    assert {k["kid"] for k in rotated.jwks()["keys"]} == {old_kid, entry["kid"]}
    offline = KeyRing.from_jwks(json.loads(json.dumps(rotated.jwks())))  # what a verifier downloads
    assert offline.signing is None and verify_receipt(old, offline)["kid"] == old_kid
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
    receipts.retire(old_kid, s)
    with pytest.raises(ReceiptError, match="retired"):
        verify_receipt(old, receipts.key_ring(s))
    assert verify_receipt(new, receipts.key_ring(s))
    assert old_kid not in {k["kid"] for k in receipts.key_ring(s).jwks()["keys"]}
    with pytest.raises(ReceiptError, match="only key"):
        receipts.retire(entry["kid"], s)


def test_keys_from_the_environment(tmp_path):
    entries = [receipts.new_key(NOW)]
    s = Settings(var_dir=tmp_path, receipt_keys=json.dumps(entries))
    assert receipts.key_ring(s).signing[0] == entries[0]["kid"]
    assert not (tmp_path / "keys.json").exists()  # nothing written: the secret store holds them
    with pytest.raises(ValueError, match="secret store"):
        receipts.rotate(s)


def test_jwks_holds_no_private_part():
    keys, entries = ring("k1", "k2")
    text = json.dumps(keys.jwks())
    assert all(e["d"] not in text for e in entries) and '"d"' not in text


def test_no_name_birth_date_numbers_or_my_number_in_clear():
    keys, _ = ring("k1")
    answer = make_answer()
    _rid, token = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(),
                                 outcome=OUTCOME, etag=None, ring=keys)
    claims = verify_receipt(token, keys)
    text = json.dumps(claims, ensure_ascii=False)
    for secret in (answer.name, answer.name_kana, answer.insured_name, answer.address, answer.postal_code,
                   "1980-04-01", "19800401", answer.symbol, "P-42", "R-0001"):
        assert secret not in text, secret
    assert '"187"' not in text and "my_number" not in text
    # whoever holds the numbers can show the receipt is about them (salted with the receipt id)
    assert claims["ref"] == receipts.salted_digest(claims["rid"], receipts.request_reference(numbers_request()))
    assert claims["a"]["in"] == "06139992" and claims["a"]["cp"] == 3 and claims["a"]["from"] == "2020-04-01"


def test_a_receipt_is_about_its_own_request():
    keys, _ = ring("k1")
    _rid, a = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(), outcome=OUTCOME,
                             etag=None, ring=keys)
    _rid, b = receipts.issue(issued_at=NOW, institution_code="1310000011", req=numbers_request(), outcome=OUTCOME,
                             etag=None, ring=keys)
    ca, cb = verify_receipt(a, keys), verify_receipt(b, keys)
    assert ca["rid"] != cb["rid"] and ca["ref"] != cb["ref"]  # receipts cannot be linked by the person


def test_etag_depends_on_institution_day_request_people_versions_and_what_is_shown():
    from onshi.verify import etag

    key = b"k" * 32
    req = numbers_request()
    base = dict(institution_code="1310000011", req=req, validity=1, people=[(7, 3)], consents={}, warning=None)
    tag = etag.tag(key, **base)
    assert etag.tag(key, **base) == tag and tag.startswith('"1.') and tag.endswith('"')
    for change in ({"institution_code": "1310000029"}, {"req": replace(req, care_date=date(2026, 12, 5))},
                   {"people": [(7, 4)]}, {"people": [(7, 3), (8, 0)]}, {"validity": 2},
                   {"req": replace(req, number="188")}, {"req": replace(req, limit_consent=False)}, {"warning": "x"}):
        assert etag.tag(key, **{**base, **change}) != tag, change
    assert etag.tag(b"x" * 32, **base) != tag
    assert etag.matches(tag, tag) and etag.matches(tag, f'"zz", W/{tag}')
    assert not etag.matches(tag, None) and not etag.matches(tag, "*")
    assert not etag.matches(tag, '"zz"') and etag.candidates('"1.a", *, W/"4.b", "x.c", "12345.d"') == \
        [(1, '"1.a"'), (4, '"4.b"')]


# ---------------------------------------------------------------- batch receipts (one signature, a Merkle path each)

def _claims_of(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        rid, c = receipts_fast.prepare(now=NOW, institution_code="1310000011",
                                  req=numbers_request(number=str(100 + i)), validity=Validity.VALID,
                                  answers=OUTCOME.answers, etag=f'"1.{i}"')
        out.append(c)
    return out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 70))
def test_every_receipt_of_a_batch_verifies_to_its_own_claims(n):
    keys, _ = ring("k1")
    claims = _claims_of(n)
    tokens = receipts.sign_batch(claims, keys)
    assert len(tokens) == n
    assert ("~" in tokens[0]) == (n > 1)  # one answer alone: the ordinary compact JWS
    for c, t in zip(claims, tokens):
        assert verify_receipt(t, keys) == {"kid": "k1", **json.loads(c)}
    if n > 1:  # one signature for the lot
        assert len({t.split("~")[0] for t in tokens}) == 1


def test_a_batch_larger_than_one_signature_takes_is_signed_in_chunks():
    keys, _ = ring("k1")
    claims = _claims_of(receipts.MAX_BATCH + 3)
    tokens = receipts.sign_batch(claims, keys)
    assert len({t.split("~")[0] for t in tokens}) == 2
    assert "~" in tokens[-1] and verify_receipt(tokens[-1], keys)["et"] == f'"1.{receipts.MAX_BATCH + 2}"'


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_batch_receipt_tampering_any_character_is_refused(data):
    keys, _ = ring("k1")
    tokens = receipts.sign_batch(_claims_of(5), keys)
    token = tokens[data.draw(st.integers(0, 4))]
    i = data.draw(st.integers(0, len(token) - 1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    c = data.draw(st.sampled_from([a for a in alphabet if a != token[i]]))
    with pytest.raises(ReceiptError):
        verify_receipt(token[:i] + c + token[i + 1:], keys)


def test_batch_parts_cannot_be_swapped_or_shown_alone():
    keys, _ = ring("k1")
    a, b, c = receipts.sign_batch(_claims_of(3), keys)
    head, claims_a, path_a = a.split("~")
    _h, claims_b, path_b = b.split("~")
    with pytest.raises(ReceiptError, match="altered or forged"):  # b's claims on a's path
        verify_receipt(f"{head}~{claims_b}~{path_a}", keys)
    with pytest.raises(ReceiptError, match="batch signature alone"):
        verify_receipt(head, keys)
    other = receipts.sign_batch(_claims_of(3), keys)[0].split("~")[0]  # another batch's signature
    with pytest.raises(ReceiptError, match="altered or forged"):
        verify_receipt(f"{other}~{claims_a}~{path_a}", keys)
    forged_claims = json.loads(receipts.unb64url(claims_a, "c"))
    forged_claims["val"] = 2
    with pytest.raises(ReceiptError, match="altered or forged"):
        verify_receipt(f"{head}~{receipts.b64url(json.dumps(forged_claims).encode())}~{path_a}", keys)
    with pytest.raises(ReceiptError):  # a path one hash short, or an index past the batch
        verify_receipt(f"{head}~{claims_a}~{path_a[:-43]}", keys)
    with pytest.raises(ReceiptError):
        verify_receipt(f"{head}~{claims_a}~{receipts.b64url(bytes([0, 9]) + receipts.unb64url(path_a, 'p')[2:])}",
                       keys)


def test_batch_receipts_verify_with_the_published_keys_and_respect_retirement(tmp_path):
    keys, entries = ring("k1")
    tokens = receipts.sign_batch(_claims_of(4), keys)
    published = KeyRing.from_jwks(keys.jwks())
    assert all(verify_receipt(t, published)["v"] == 1 for t in tokens)
    entries[0]["retired"] = "2026-12-07T00:00:00+09:00"
    with pytest.raises(ReceiptError, match="retired"):
        verify_receipt(tokens[0], KeyRing.from_entries(entries + [receipts.new_key(NOW)]))


def test_the_batch_signature_is_a_standard_jws_over_the_root():
    """What a generic JOSE verifier checks: Ed25519 over ``header.payload`` of the part before the first ``~``,
    with the public key from the JWK set — restated here with the bare primitive, not onshi's verifier."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys, _ = ring("k1")
    head = receipts.sign_batch(_claims_of(2), keys)[0].split("~")[0]
    h, p, s = head.split(".")
    jwk = keys.jwks()["keys"][0]
    Ed25519PublicKey.from_public_bytes(receipts.unb64url(jwk["x"], "x")).verify(
        receipts.unb64url(s, "sig"), f"{h}.{p}".encode())
    assert json.loads(receipts.unb64url(h, "h")) == {"alg": "EdDSA", "kid": "k1", "typ": "onshi-receipt-batch"}
    assert set(json.loads(receipts.unb64url(p, "p"))) == {"n", "root", "v"}
    payload = receipts.unb64url(p, "p")  # compact JSON with sorted keys, as json.dumps writes it
    assert payload == json.dumps(json.loads(payload), separators=(",", ":"), sort_keys=True).encode()
    assert json.loads(payload)["n"] == 2 and json.loads(payload)["v"] == 2


def test_receipt_ids_carry_the_time_first_then_80_random_bits():
    """rid = 6 bytes of milliseconds (the clock module's) + 10 random bytes: unique, never '-' first (the CLI
    would read it as an option), and ids of the same minutes share their leading characters (index locality)."""
    from onshi.store.clock import frozen_at

    with frozen_at("2026-12-06T14:59:59.999Z"):
        ids = [receipts.new_receipt_id() for _ in range(2000)]
    assert len(set(ids)) == 2000 and all(len(i) == 22 for i in ids)
    raws = [receipts.unb64url(i, "rid") for i in ids]
    assert {int.from_bytes(r[:6], "big") for r in raws} == {1796569199999}
    assert len({r[6:] for r in raws}) == 2000  # the random part differs every time
    for moment in ("1970-01-01T00:00:00Z", "2019-04-30T14:59:59Z", "2026-12-06T15:00:00Z", "2099-12-31T23:59:59Z"):
        with frozen_at(moment):
            a = receipts.new_receipt_id()
        assert a[0] != "-" and a[0] == "A"
    with frozen_at("2026-12-06T15:00:00Z"):
        x = receipts.new_receipt_id()
    with frozen_at("2026-12-06T15:00:30Z"):
        y = receipts.new_receipt_id()
    assert x[:5] == y[:5]  # thirty seconds apart: the same leading characters


def test_an_outcome_given_its_batch_receipt_keeps_every_other_field():
    from dataclasses import fields

    from onshi.verify.hotpath import _with_receipt

    before = VerificationOutcome(Validity.VALID, OUTCOME.answers, "warn", None, "rid-1", '"1.x"', True)
    after = _with_receipt(before, "signed")
    assert after.receipt == "signed" and before.receipt is None
    assert all(getattr(after, f.name) == getattr(before, f.name) for f in fields(before) if f.name != "receipt")
    assert after == VerificationOutcome(Validity.VALID, OUTCOME.answers, "warn", "signed", "rid-1", '"1.x"', True)


def test_prepare_dates_the_receipt_by_the_verification_instant_across_second_and_day_boundaries():
    """prepare writes ``iat`` once per second (cached): each answer still carries its own second in Japan time,
    the receipt id its own millisecond — at 14:59:59.999 UTC the day in Japan is still the 6th, at 15:00 the 7th."""
    req = numbers_request()
    for moment, iat in ((datetime(2026, 12, 6, 14, 59, 59, 999000), "2026-12-06T23:59:59+09:00"),
                        (datetime(2026, 12, 6, 14, 59, 59, 999999), "2026-12-06T23:59:59+09:00"),
                        (datetime(2026, 12, 6, 15, 0, 0), "2026-12-07T00:00:00+09:00"),
                        (datetime(2026, 12, 6, 14, 59, 59, 1000), "2026-12-06T23:59:59+09:00"),  # back again
                        (datetime(2019, 4, 30, 15, 0, 0, 500), "2019-05-01T00:00:00+09:00"),  # 令和 begins
                        (datetime(2026, 12, 7, 0, 0, tzinfo=timezone.utc), "2026-12-07T09:00:00+09:00")):
        rid, claims = receipts_fast.prepare(now=moment, institution_code="1310000011", req=req,
                                            validity=Validity.VALID, answers=OUTCOME.answers, etag='"1.x"')
        c = json.loads(claims)
        assert c["iat"] == iat and c["rid"] == rid
        aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        millis = int.from_bytes(receipts.unb64url(rid, "rid")[:6], "big")
        assert millis == (aware - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
        # the same claims as the reference path writes for that instant
        ref = receipts.claims(rid=rid, issued_at=aware.astimezone(JST), institution_code="1310000011", req=req,
                              outcome=OUTCOME, etag='"1.x"', not_modified=False)
        assert c == ref


def _drawn_by_threads(draw, per_thread: int = 3000, threads: int = 4) -> list:
    """What *threads* threads drew, *per_thread* calls of *draw* each, all together."""
    import threading

    seen: list = []
    lock = threading.Lock()

    def run():
        mine = [draw() for _ in range(per_thread)]
        with lock:
            seen.extend(mine)

    started = [threading.Thread(target=run) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join()
    return seen


def _drawn_by_a_forked_child(draw) -> bytes:
    """What a child forked now draws first (*draw* returns bytes)."""
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what it draws next must not be what the parent draws next
        os.close(read)
        os.write(write, draw())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    return child


def test_random_bytes_are_never_handed_out_twice_not_to_threads_not_to_a_forked_child():
    seen = _drawn_by_threads(lambda: receipts.random_bytes(10))
    assert len(seen) == len(set(seen)) == 12000

    receipts.random_bytes(10)  # the pool now holds bytes a child would inherit
    child = _drawn_by_a_forked_child(lambda: receipts.random_bytes(10))
    assert len(child) == 10 and child != receipts.random_bytes(10)


def test_receipt_ids_are_never_handed_out_twice_not_to_threads_not_to_a_forked_child():
    """The ids' random parts are written ahead (receipts._tails): each is drawn once — by one thread of many, and
    never by both a parent and the child it forked — and an id is the canonical base64url of its 16 bytes."""
    seen = _drawn_by_threads(lambda: receipts.receipt_id_of_millis(1796569199999))  # 400 per refill: many refills
    assert len(seen) == len(set(seen)) == 12000
    for rid in seen[:50] + seen[-50:]:
        raw = receipts.unb64url(rid, "rid")  # refuses a non-canonical encoding
        assert len(raw) == 16 and int.from_bytes(raw[:6], "big") == 1796569199999
        assert receipts.b64url(raw) == rid

    receipts.receipt_id_of_millis(0)  # the written-ahead ids now hold some a child would inherit
    child = _drawn_by_a_forked_child(lambda: receipts.receipt_id_of_millis(0).encode()).decode()
    assert len(child) == 22 and child != receipts.receipt_id_of_millis(0)


def test_claims_set_aside_are_written_for_their_own_instant_whatever_was_written_in_between():
    """The group commit writes a batch's claims after the requests' other work (receipts_fast.defer, then write):
    a receipt set aside at 23:59:59.999 in Japan is written as of that second even when a receipt of the next day
    was written in between (``iat`` is cached per second), with the same bytes as prepare makes at once."""
    req = numbers_request()
    kw = dict(institution_code="1310000011", req=req, validity=Validity.VALID, answers=OUTCOME.answers, etag='"1.x"')
    rid, later = receipts_fast.defer(now=datetime(2026, 12, 6, 14, 59, 59, 999000), **kw)
    _rid2, next_day = receipts_fast.prepare(now=datetime(2026, 12, 6, 15, 0, 0, 1000), **kw)
    assert json.loads(next_day)["iat"] == "2026-12-07T00:00:00+09:00"
    claims = receipts_fast.write(later)
    assert json.loads(claims)["iat"] == "2026-12-06T23:59:59+09:00" and json.loads(claims)["rid"] == rid
    assert claims == receipts_fast.claims_json(rid=rid, issued_at=datetime(2026, 12, 6, 23, 59, 59, tzinfo=JST),
                                               not_modified=False, **kw)
    assert receipts_fast.write(later) == claims  # writing it twice changes nothing
