"""Receipts (検証の証明): a compact signed proof of every verification.

A receipt is a compact JWS (RFC 7515) signed with Ed25519 (``alg`` ``EdDSA``, RFC 8037)::

    base64url(header) "." base64url(claims) "." base64url(signature)

header ``{"alg":"EdDSA","kid":…,"typ":"onshi-receipt"}``; the claims are compact JSON with short names
(:func:`claims`; docs/receipts.md has the table).  Nothing in clear identifies the person beyond what the clinic
received: the numbers or card it sent are a salted SHA-256 (``ref``; the salt is the receipt id, so whoever holds
the numbers can show the receipt is about them, and nobody can link two receipts by it), the answered numbers
likewise (``num``); no name, no birth date, never a My Number.

Keys: :class:`KeyRing` from :meth:`onshi.config.Settings.receipt_key_list` — the newest key not retired signs,
every key not retired verifies (rotation without breaking old receipts), and the public keys are a JWK set
(:meth:`KeyRing.jwks`).  :func:`verify_receipt` checks a receipt offline against a ring or a JWK set and says
why it refuses one.

The ETag of an answer (free repeat checks, 304) is :mod:`onshi.verify.etag`'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

__all__ = ["ReceiptError", "KeyRing", "key_ring", "new_key", "rotate", "retire", "claims", "sign", "issue",
           "verify_receipt", "request_reference", "salted_digest", "b64url", "unb64url",
           "RECEIPT_TYPE", "BATCH_TYPE", "MAX_BATCH", "signed_header", "sign_json", "sign_batch",
           "new_receipt_id", "receipt_id_of_millis", "random_bytes"]

RECEIPT_TYPE = "onshi-receipt"
VERSION = 1
#: the claims every receipt has (``a`` — the answered qualification — only when there is one)
REQUIRED = ("v", "rid", "iat", "ins", "cd", "m", "ref", "val")


class ReceiptError(ValueError):
    """A receipt refused: ``reason`` says why (altered, forged, unknown or retired key, not a receipt)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url(raw: bytes) -> str:
    """base64url without padding (RFC 7515 §2) — binascii directly: it runs five times per receipt."""
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def unb64url(text: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ReceiptError(f"{what}: not base64url") from None
    if b64url(raw) != text:  # one encoding only: a changed unused bit is a changed receipt
        raise ReceiptError(f"{what}: not canonical base64url (altered)")
    return raw


# ---------------------------------------------------------------- keys

def new_key(now: datetime) -> dict:
    """A new key entry as kept in ``var/keys.json`` / ``ONSHI_RECEIPT_KEYS``: kid, Ed25519 seed, created."""
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {"kid": f"r{now:%Y%m%d}-{secrets.token_hex(3)}", "d": b64url(seed),
            "created": now.isoformat(timespec="seconds"), "retired": None}


@dataclass
class KeyRing:
    """The deployment's receipt keys: ``signing`` (kid, private key) and the public keys that verify."""

    signing: tuple[str, Ed25519PrivateKey] | None
    public: dict[str, Ed25519PublicKey]
    retired: frozenset[str] = frozenset()

    @classmethod
    def from_entries(cls, entries: list[dict]) -> KeyRing:
        public, retired, signing = {}, set(), None
        for e in entries:
            if e.get("retired"):
                retired.add(e["kid"])
                continue
            if "d" in e:
                private = Ed25519PrivateKey.from_private_bytes(unb64url(e["d"], f"key {e['kid']}"))
                signing = (e["kid"], private)  # the newest (last) key not retired signs
                public[e["kid"]] = private.public_key()
            else:
                public[e["kid"]] = Ed25519PublicKey.from_public_bytes(unb64url(e["x"], f"key {e['kid']}"))
        return cls(signing, public, frozenset(retired))

    @classmethod
    def from_jwks(cls, jwks: dict) -> KeyRing:
        """A verify-only ring from a published JWK set (offline verification)."""
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            raise ReceiptError("not a JWK set: no \"keys\" list")
        entries = []
        for k in keys:
            if k.get("kty") != "OKP" or k.get("crv") != "Ed25519" or "kid" not in k or "x" not in k:
                continue  # keys of other kinds are not receipt keys
            entries.append({"kid": k["kid"], "x": k["x"]})
        return cls.from_entries(entries)

    def jwks(self) -> dict:
        """The public keys as a JWK set (RFC 7517 / 8037), for ``GET /.well-known/jwks.json``."""
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                          "x": b64url(pub.public_bytes(Encoding.Raw, PublicFormat.Raw))}
                         for kid, pub in self.public.items()]}


_RING: tuple[object, int, KeyRing] | None = None


def key_ring(settings=None) -> KeyRing:
    """The deployment's key ring (read once per settings object and key list; a first key is made when none is)."""
    global _RING
    from onshi.config import get_settings

    settings = settings or get_settings()
    if _RING is not None and _RING[0] is settings:
        return _RING[2]
    entries = settings.receipt_key_list()
    if not entries:
        from onshi.store.clock import japan_now

        entries = [new_key(japan_now())]
        settings.save_receipt_keys(entries)
    ring = KeyRing.from_entries(entries)
    _RING = (settings, 0, ring)
    return ring


def rotate(settings=None) -> dict:
    """Add a new signing key (``onshi receipt rotate-key``); the older ones still verify.  Returns the new entry."""
    global _RING
    from onshi.config import get_settings
    from onshi.store.clock import japan_now

    settings = settings or get_settings()
    entry = new_key(japan_now())
    settings.save_receipt_keys(settings.receipt_key_list() + [entry])
    _RING = None
    return entry


def retire(kid: str, settings=None) -> None:
    """Retire a key: it signs nothing more and receipts signed with it are refused ("key retired")."""
    global _RING
    from onshi.config import get_settings
    from onshi.store.clock import japan_now

    settings = settings or get_settings()
    ring = settings.receipt_key_list()
    found = [e for e in ring if e["kid"] == kid]
    if not found:
        raise ReceiptError(f"no receipt key {kid!r}")
    if not [e for e in ring if e["kid"] != kid and not e.get("retired")]:
        raise ReceiptError(f"{kid!r} is the only key: rotate first (onshi receipt rotate-key)")
    found[0]["retired"] = japan_now().isoformat(timespec="seconds")
    settings.save_receipt_keys(ring)
    _RING = None


# ---------------------------------------------------------------- what a receipt says

def salted_digest(rid: str, text: str) -> str:
    return b64url(hashlib.sha256(f"{rid}\x1f{text}".encode()).digest())


def request_reference(req) -> str:
    """The request as the clinic sent it, as one canonical text (hashed with the receipt id into ``ref``)."""
    if req.card_serial is not None or req.number is None:
        return f"card|{req.card_serial or ''}"
    return "numbers|" + "|".join((req.insurer_number or "", req.symbol or "", req.number or "", req.branch or "",
                                 req.birth_date.isoformat() if req.birth_date else ""))


def claims(*, rid: str, issued_at: datetime, institution_code: str, req, outcome, etag: str | None,
           not_modified: bool) -> dict:
    """The claims of a receipt (docs/receipts.md): compact names, no name, no birth date, numbers only salted."""
    c = {"v": VERSION, "rid": rid, "iat": issued_at.isoformat(timespec="seconds"), "ins": institution_code,
         "cd": req.care_date.isoformat(), "m": "numbers" if req.number is not None else "card",
         "ref": salted_digest(rid, request_reference(req)), "val": int(outcome.validity)}
    if outcome.answers:
        a = outcome.answers[0]
        c["a"] = {"in": a.insurer_number,
                  "num": salted_digest(rid, f"{a.insurer_number}|{a.symbol}|{a.number}|{a.branch or ''}"),
                  "from": _iso(a.qualification_date), "to": _iso(a.disqualification_date),
                  "cp": a.co_pay_ratio_tenths}
    if etag is not None:
        c["et"] = etag
    if not_modified:
        c["nm"] = True
    return c


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


_HEADERS: dict[tuple[str, str], bytes] = {}


def signed_header(kid: str, typ: str = RECEIPT_TYPE) -> bytes:
    """The JWS protected header of key *kid*, base64url (made once per key and type)."""
    header = _HEADERS.get((kid, typ))
    if header is None:
        header = _HEADERS[(kid, typ)] = b64url(json.dumps({"alg": "EdDSA", "kid": kid, "typ": typ},
                                                        separators=(",", ":")).encode()).encode()
    return header


def sign(payload: dict, ring: KeyRing) -> str:
    """The compact JWS of *payload* with the ring's signing key (the private key object is kept, not re-read)."""
    return sign_json(json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(), ring)


def sign_json(payload: bytes, ring: KeyRing, typ: str = RECEIPT_TYPE) -> str:
    """The compact JWS of the JSON bytes *payload* (a receipt's claims, or a batch's root)."""
    if ring.signing is None:
        raise ReceiptError("no receipt signing key (all retired?): onshi receipt rotate-key")
    kid, key = ring.signing
    body = signed_header(kid, typ) + b"." + b64url(payload).encode()
    return (body + b"." + b64url(key.sign(body)).encode()).decode("ascii")


# ---------------------------------------------------------------- one signature for a batch of receipts

#: ``typ`` of the JWS that signs a batch's Merkle root (never a receipt by itself)
BATCH_TYPE = "onshi-receipt-batch"
#: receipts under one signature at most (a larger batch is signed in chunks): the path stays ≤ 8 hashes
MAX_BATCH = 256
_sha256 = hashlib.sha256


def _leaf(claims_json: bytes) -> bytes:
    return _sha256(b"\x00" + claims_json).digest()  # RFC 6962's domain separation: 0 for leaves, 1 for nodes


def _node(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The tree bottom-up; a level of odd size carries its last node up unchanged."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [_node(cur[j], cur[j + 1]) for j in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def _root_from(leaf: bytes, index: int, size: int, siblings: list[bytes]) -> bytes | None:
    """The root that *leaf* at *index* of a batch of *size* leads to along *siblings*; None if they do not fit."""
    h, i, m, k = leaf, index, size, 0
    while m > 1:
        if i % 2 or i + 1 < m:
            if k == len(siblings):
                return None
            h = _node(siblings[k], h) if i % 2 else _node(h, siblings[k])
            k += 1
        i, m = i // 2, (m + 1) // 2
    return h if k == len(siblings) else None


def sign_batch(claims: list[bytes], ring: KeyRing) -> list[str]:
    """Receipts for several answers under one signature (docs/receipts.md, "Batch receipts").

    One claim: the ordinary compact JWS.  Several: a JWS (``typ`` :data:`BATCH_TYPE`) of ``{"n": size,
    "root": Merkle root}`` signed once, and each receipt ``<that JWS>~<its claims>~<its path>``: its own claims
    (base64url, the same compact JSON as a single receipt's) and the sibling hashes from its leaf to the root
    (2 bytes of index, then 32 bytes per hash; base64url).  The siblings are hashes of other answers' claims,
    each salted with its own random receipt id: they say nothing about those answers."""
    out: list[str] = []
    for start in range(0, len(claims), MAX_BATCH):
        chunk = claims[start:start + MAX_BATCH]
        if len(chunk) == 1:
            out.append(sign_json(chunk[0], ring))
            continue
        levels = _levels([_leaf(c) for c in chunk])
        # what json.dumps({"n": …, "root": …, "v": 2}, separators=(",", ":"), sort_keys=True) writes
        head = sign_json(b'{"n":%d,"root":"%s","v":2}' % (len(chunk), b64url(levels[-1][0]).encode()), ring,
                         BATCH_TYPE)
        below = levels[:-1]
        for i, c in enumerate(chunk):
            path, j = [i.to_bytes(2, "big")], i
            for level in below:
                if j ^ 1 < len(level):
                    path.append(level[j ^ 1])
                j //= 2
            out.append(f"{head}~{b64url(c)}~{b64url(b''.join(path))}")
    return out


_POOL_SIZE = 4000  # random bytes read at once: 400 receipt ids per read of the kernel's CSPRNG
_pool = memoryview(b"")
_pool_lock = threading.Lock()


#: receipt ids' random parts, already written: base64url of 10 random bytes each (14 characters), drawn by
#: ``list.pop`` (atomic: no two threads get the same one); one object for the process, emptied after ``fork``
_tails: list[str] = []


def _forget_pool() -> None:
    """After fork: a child must never hand out the random bytes its parent also holds (equal receipt ids)."""
    global _pool
    _pool = memoryview(b"")
    _tails.clear()


os.register_at_fork(after_in_child=_forget_pool)


def random_bytes(n: int) -> bytes:
    """*n* bytes of ``os.urandom``, read ahead in blocks of 4,000: a receipt id costs no system call of its own
    (a cold ``getrandom`` was a quarter of a receipt id's cost on the verification path).  The same bytes are never
    given twice — not to two threads (a lock), not to a forked child (the pool is dropped after ``fork``)."""
    global _pool
    with _pool_lock:
        if len(_pool) < n:
            _pool = memoryview(os.urandom(_POOL_SIZE))
        out, _pool = _pool[:n].tobytes(), _pool[n:]
    return out


def new_receipt_id(at: datetime | None = None) -> str:
    """The receipt id (``rid``), also the salt of ``ref``/``num``: 16 bytes, base64url (22 characters) — the
    time in milliseconds (6 bytes: of *at*, the verification's recorded instant, naive = UTC; else now, from
    :mod:`onshi.store.clock`) then 80 random bits (:func:`random_bytes`).  Unique and unguessable
    like a random id, and the id tells its row's ``occurred_at`` to the millisecond: the usage log finds a receipt's
    row through its index on time (:func:`onshi.verify.service.log_entry_of_receipt`), with no index on the id.
    It never begins with ``-`` (a millisecond count would need 62 × 2⁴² ms, past the year 10000), so that
    ``onshi receipt show ID`` does not read one as an option; older random ids beginning with ``-`` are given
    after ``--``."""
    from onshi.store.clock import epoch_millis, millis_of

    return receipt_id_of_millis(epoch_millis() if at is None else millis_of(at))


def receipt_id_of_millis(millis: int) -> str:
    """:func:`new_receipt_id` for an instant already given as its millisecond count.

    The 6 bytes of time are a whole number of base64 groups, so the id is their 8 characters followed by the
    10 random bytes' own 14 (:data:`_tails`, written 400 at a time from one read of the pool): what
    ``b64url(millis.to_bytes(6, "big") + random_bytes(10))`` gives, without encoding the random part on the
    verification path, where the id cost 6.5 µs (a warm loop says 0.9; docs/performance.md)."""
    try:
        tail = _tails.pop()
    except IndexError:
        raw = random_bytes(_POOL_SIZE)
        _tails.extend([b64url(raw[k:k + 10]) for k in range(0, _POOL_SIZE, 10)])
        return receipt_id_of_millis(millis)  # another thread may have emptied it again: draw once more
    return b64url(millis.to_bytes(6, "big")) + tail


def issue(*, issued_at: datetime, institution_code: str, req, outcome=None, etag: str | None,
          not_modified: bool = False, ring: KeyRing | None = None, validity=None,
          answers=None) -> tuple[str, str]:
    """A new receipt id and the signed receipt (a compact JWS) of one answer: of *outcome*, or of its *validity*
    and *answers* — the reference path (:func:`claims`, :func:`sign`); the verification services take
    :func:`onshi.verify.receipts_fast.prepare`, tested byte for byte against it."""
    from types import SimpleNamespace

    if outcome is None:
        outcome = SimpleNamespace(validity=validity, answers=answers)
    rid = new_receipt_id()
    return rid, sign(claims(rid=rid, issued_at=issued_at, institution_code=institution_code, req=req,
                            outcome=outcome, etag=etag, not_modified=not_modified), ring or key_ring())


def _verified_jws(token: str, ring: KeyRing, typ: str) -> tuple[str, bytes]:
    """``(kid, payload bytes)`` of a compact JWS of *typ* whose signature holds under *ring*."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ReceiptError("not a compact JWS: expected three parts separated by '.'")
    try:
        header = json.loads(unb64url(parts[0], "header"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiptError(exc.reason if isinstance(exc, ReceiptError) else "header: not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA":
        raise ReceiptError("header: alg must be EdDSA")
    if header.get("typ") != typ:
        if header.get("typ") == BATCH_TYPE:
            raise ReceiptError("a batch signature alone is not a receipt: the claims and path after it are missing")
        raise ReceiptError(f"header: typ must be {typ}")
    kid = header.get("kid")
    if kid in ring.retired:
        raise ReceiptError(f"key {kid!r} is retired: receipts it signed are no longer vouched for")
    key = ring.public.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise ReceiptError(f"unknown key id {kid!r}: not signed by this deployment's keys")
    signature = unb64url(parts[2], "signature")
    try:
        key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except (InvalidSignature, UnicodeEncodeError):
        raise ReceiptError("signature does not match: the receipt was altered or forged") from None
    return kid, unb64url(parts[1], "claims")


def _batch_claims(token: str, ring: KeyRing) -> tuple[str, bytes]:
    """``(kid, claims bytes)`` of a batch receipt (:func:`sign_batch`) whose signature and path hold."""
    parts = token.split("~")
    if len(parts) != 3:
        raise ReceiptError("not a batch receipt: expected <signature>~<claims>~<path>")
    kid, head = _verified_jws(parts[0], ring, BATCH_TYPE)
    try:
        batch = json.loads(head)
        size, root = batch["n"], unb64url(batch["root"], "batch root")
    except (ValueError, KeyError, TypeError):
        raise ReceiptError("batch signature: not a batch root") from None
    claims_json = unb64url(parts[1], "claims")
    path = unb64url(parts[2], "path")
    if len(path) < 2 or (len(path) - 2) % 32 or not isinstance(size, int) or size > MAX_BATCH:
        raise ReceiptError("path: not a path of this batch (altered)")
    index = int.from_bytes(path[:2], "big")
    siblings = [path[k:k + 32] for k in range(2, len(path), 32)]
    got = _root_from(_leaf(claims_json), index, size, siblings) if index < size else None
    if got is None or not hmac.compare_digest(got, root):
        raise ReceiptError("claims or path do not lead to the signed root: the receipt was altered or forged")
    return kid, claims_json


def verify_receipt(token: str, ring: KeyRing) -> dict:
    """The claims of a receipt whose signature holds under *ring* — a single receipt (a compact JWS) or one of a
    batch (``<JWS>~<claims>~<path>``); :class:`ReceiptError` says why not."""
    token = token.strip()
    kid, raw = _batch_claims(token, ring) if "~" in token else _verified_jws(token, ring, RECEIPT_TYPE)
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ReceiptError("claims: not JSON") from None
    if not isinstance(payload, dict):
        raise ReceiptError("claims: not a JSON object")
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise ReceiptError(f"claims missing: {', '.join(missing)}")
    return {"kid": kid, **payload}
