"""My Number at rest: encryption round trips, fresh nonces, the keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import os

from hypothesis import given
from hypothesis import strategies as st

from onshi.privacy.crypto import MyNumberVault

VAULT = MyNumberVault(os.urandom(32), os.urandom(32))
numbers = st.text("0123456789", min_size=12, max_size=12)


@given(numbers)
def test_encrypt_round_trip_never_shows_the_number(number):
    blob = VAULT.encrypt(number)
    assert number.encode() not in blob
    assert VAULT.reveal(blob) == number and VAULT.last4(blob) == number[-4:]


def test_the_bulk_encrypter_reads_like_encrypt_with_a_fresh_nonce_each_time():
    encrypt = VAULT.encrypter(batch=3)  # several refills of its nonce pool
    blobs = [encrypt("621498320257") for _ in range(10)]
    assert {VAULT.reveal(b) for b in blobs} == {"621498320257"}
    assert len({b[:12] for b in blobs}) == 10  # no nonce twice
    assert len(blobs[0]) == len(VAULT.encrypt("621498320257"))


@given(numbers)
def test_lookup_hash_is_hmac_sha256_with_its_own_key(number):
    assert VAULT.lookup_hash(number) == hmac.new(VAULT.hash_key, number.encode(), hashlib.sha256).hexdigest()
    assert VAULT.lookup_hash(number) != MyNumberVault(VAULT.enc_key, os.urandom(32)).lookup_hash(number)
