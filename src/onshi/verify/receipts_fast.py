"""Shortcut of onshi.verify.receipts.sign(claims(…)); held to it by tests/verify/test_receipts_fast.py::test_the_same_receipt_as_the_reference.

Every answer of every interface is signed (docs/receipts.md), so what a receipt costs besides its one Ed25519
signature is paid on every verification.  The reference path builds the claims as a dict
(:func:`onshi.verify.receipts.claims`) and renders it with ``json.dumps(sort_keys=True)``; :func:`token` writes the
same bytes directly — keys in their sorted order, each string quoted by the very function ``json.dumps`` uses
(``json.encoder.encode_basestring``, as with ``ensure_ascii=False``), anything that is not a plain ``str``/``int``/
``None`` handed to ``json.dumps`` — and signs them with the same key.  Same receipt id in, same receipt out, byte for
byte: the receipts a verifier has are the same whichever path made them.  docs/performance.md ("Receipts and 304")
has what it saves.
"""

from __future__ import annotations

import json
from datetime import datetime
from hashlib import sha256 as _sha256
from json.encoder import encode_basestring

from onshi.store.clock import millis_of, to_japan_time
from onshi.verify.receipts import VERSION, KeyRing, b64url, receipt_id_of_millis, request_reference, sign_json

__all__ = ["claims_json", "prepare", "defer", "write", "token"]


def _value(x) -> str:
    """One JSON value exactly as ``json.dumps(x, ensure_ascii=False, separators=(",", ":"))`` writes it."""
    t = type(x)
    if t is str:
        return encode_basestring(x)
    if x is None:
        return "null"
    if t is int:
        return int.__repr__(x)
    return json.dumps(x, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _digest(salt: bytes, text: str) -> str:
    """:func:`onshi.verify.receipts.salted_digest` with the salt (``rid`` and the separator) encoded once for the
    receipt's two digests."""
    return b64url(_sha256(salt + text.encode()).digest())


def claims_json(*, rid: str, issued_at, institution_code, req, validity, answers, etag: str | None,
                not_modified: bool) -> bytes:
    """The claims exactly as ``json.dumps(receipts.claims(…), ensure_ascii=False, separators=(",", ":"),
    sort_keys=True)`` writes them (the outcome given as its *validity* and *answers*)."""
    return _claims(rid, issued_at.isoformat(timespec="seconds"), institution_code, req, validity, answers, etag,
                   not_modified)


#: the claims after ``a`` in their sorted order (cd, et, iat, ins, m, nm, ref, rid, v, val), one format for all:
#: what is quoted here is a date, a time, a method name or base64url, none of which JSON escapes
_TAIL = '"cd":"%s",%s"iat":"%s","ins":%s,"m":"%s",%s"ref":"%s","rid":%s,"v":' + str(VERSION) + ',"val":%d}'


def _claims(rid: str, iat: str, institution_code, req, validity, answers, etag: str | None,
            not_modified: bool) -> bytes:
    """:func:`claims_json` with the issue time already written (``iat``).  One ``%`` format per part instead of
    a concatenation per claim: on the verification path each Python operation here cost several times what it
    costs in a warm loop (docs/performance.md, "Receipts and 304")."""
    salt = (rid + "\x1f").encode()
    if answers:  # ``a`` sorts first; its keys: cp, from, in, num, to
        a = answers[0]
        q, d = a.qualification_date, a.disqualification_date
        head = '{"a":{"cp":%s,"from":%s,"in":%s,"num":"%s","to":%s},' % (
            _value(a.co_pay_ratio_tenths), '"%s"' % q.isoformat() if q else "null", _value(a.insurer_number),
            _digest(salt, f"{a.insurer_number}|{a.symbol}|{a.number}|{a.branch or ''}"),
            '"%s"' % d.isoformat() if d else "null")
    else:
        head = "{"
    return (head + _TAIL % (
        req.care_date.isoformat(), "" if etag is None else '"et":' + _value(etag) + ",", iat,
        _value(institution_code), "numbers" if req.number is not None else "card",
        '"nm":true,' if not_modified else "", _digest(salt, request_reference(req)), encode_basestring(rid),
        validity)).encode()


def token(*, rid: str, issued_at, institution_code, req, validity, answers, etag: str | None,
          not_modified: bool, ring: KeyRing) -> str:
    """The compact JWS that ``receipts.sign(receipts.claims(…), ring)`` makes for the same arguments."""
    return sign_json(claims_json(rid=rid, issued_at=issued_at, institution_code=institution_code, req=req,
                                 validity=validity, answers=answers, etag=etag, not_modified=not_modified), ring)


_iat: tuple[int, str] = (-1, "")  # (second since the epoch, its iat) — answers of the same second share it


def prepare(*, now: datetime, institution_code, req, validity, answers, etag: str | None,
            not_modified: bool = False) -> tuple[str, bytes]:
    """A new receipt id and the receipt's claims, to be signed — alone (:func:`onshi.verify.receipts.sign_json`)
    or with others (:func:`onshi.verify.receipts.sign_batch`).  *now* is the verification's recorded instant
    (naive = UTC, as the usage log's ``occurred_at``): the receipt id begins with its millisecond and ``iat`` is its
    second in Japan time, written once per second."""
    rid, later = defer(now=now, institution_code=institution_code, req=req, validity=validity, answers=answers,
                       etag=etag, not_modified=not_modified)
    return rid, write(later)


def defer(*, now: datetime, institution_code, req, validity, answers, etag: str | None,
          not_modified: bool = False) -> tuple[str, tuple]:
    """:func:`prepare` in two steps: the receipt id now (the usage-log row holds it), the claims later —
    :func:`write` of the returned tuple gives exactly the bytes :func:`prepare` would have.  The group commit
    writes a batch's claims one after another, just before signing them (:class:`onshi.verify.hotpath.GroupCommit`):
    written between the other work of each request, the claims cost about three times as much
    (docs/performance.md, "Receipts and 304")."""
    ms = millis_of(now)
    rid = receipt_id_of_millis(ms)
    return rid, (rid, ms, now, institution_code, req, validity, answers, etag, not_modified)


def write(later: tuple) -> bytes:
    """The claims of a receipt :func:`defer` set aside."""
    global _iat
    rid, ms, now, institution_code, req, validity, answers, etag, not_modified = later
    second, iat = _iat
    if second != ms // 1000:
        iat = to_japan_time(now).isoformat(timespec="seconds")
        _iat = (ms // 1000, iat)
    return _claims(rid, iat, institution_code, req, validity, answers, etag, not_modified)
