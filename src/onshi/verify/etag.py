"""The ETag of a verification answer, keyed to the versions of the people it was made from (free repeat checks).

An answer about people is made of their index rows, 紐付け checks, consents at the institution, cards and the
institution's 照会番号 — and every change to any of them bumps the person's counter in ``answer_versions`` in the
same transaction (database triggers, migration ``0018_etag_version``; :class:`onshi.exchange.models.AnswerVersion`).
So the tag is a keyed digest (HMAC-SHA-256 with the deployment's hash key) of

* what binds it to one question: the institution, the day of care, the request as sent (numbers or card, the
  限度額 flag, the 任意識別子);
* the answer's validity (also in clear in the tag: the clinic has it);
* the people the request matched, each with its version (another person registered with the same numbers
  changes the list);
* the consents the answer shows (their status depends on the time — an answer that shows a consent can only be
  confirmed by reading it again) and the warning;
* the code's version (a deployment with other rules gives other answers).

Equal tags mean the same answer.  :func:`tag` is computed by :func:`onshi.verify.service.verify` (the reference
path, from the rows it read); :mod:`onshi.verify.etag_fast` recomputes it from one indexed read of the versions
when a repeat check's ``If-None-Match`` can only match an answer without consents and warning.
"""

from __future__ import annotations

import hmac

from onshi import __version__
from onshi.verify.receipts import b64url, request_reference

__all__ = ["FORMAT", "tag", "people_of", "candidates", "matches"]

#: the tag's form: bumped when what it covers changes (older tags then never match: one full answer each)
FORMAT = "v2"


def tag(key: bytes, *, institution_code: str, req, validity: int, people, consents, warning: str | None) -> str:
    """A strong entity tag (quoted): ``"<validity>.<mac>"``.  *people* are ``(person_id, version)`` pairs."""
    material = repr((FORMAT, __version__, institution_code, req.care_date.isoformat(), request_reference(req),
                     bool(req.limit_consent), req.arbitrary_identifier, int(validity), sorted(people),
                     sorted((k, c.status.value, str(c.consented_at), str(c.available_until))
                            for k, c in consents.items()), warning))
    return f'"{int(validity)}.{b64url(hmac.digest(key, material.encode(), "sha256")[:18])}"'


def people_of(rows) -> list[tuple[int, int]]:
    """The ``(person_id, version)`` pairs of the index rows a verification read (column ``person_version``)."""
    return sorted({(r.person_id, r.person_version or 0) for r in rows})


def candidates(if_none_match: str | None) -> list[tuple[int, str]]:
    """The tags of an ``If-None-Match`` header that are of this form, as ``(validity, quoted tag)``.  Weak tags
    compare by their opaque part (RFC 9110 §13.1.2); ``*`` never matches (a verification always has a current
    answer to compare)."""
    out = []
    for candidate in (if_none_match or "").split(","):
        c = candidate.strip()
        if c.startswith("W/"):
            c = c[2:]
        if len(c) < 5 or c[0] != '"' or c[-1] != '"':
            continue
        head, dot, _mac = c[1:-1].partition(".")
        if dot and head.isdigit() and len(head) <= 2:
            out.append((int(head), c))
    return out


def matches(current: str, if_none_match: str | None) -> bool:
    """Does ``If-None-Match`` name *current*?"""
    return any(c == current for _v, c in candidates(if_none_match))
