"""The OQS ``XmlMsg`` interface in one import: parse what clinic software sends, render what it expects.

A facade over three modules, kept so that callers need one name:

* :mod:`onshi.interop.oqs.wire` — the wire format: encodings (UTF-8, Shift_JIS as CP932), げた (〓) for what an
  encoding or XML cannot carry, dates ``yyyyMMdd`` and times ``yyyyMMddHHmmss`` in Japan time, the error codes;
* :mod:`onshi.interop.oqs.parse` — requests (single, 照会番号 registration, bulk upload and fetch) → domain objects;
* :mod:`onshi.interop.oqs.render` — outcomes and errors → answers, XML or JSON.

Pure functions, no database.  Everything a clinic can get wrong raises
:class:`~onshi.verify.result.VerificationError` with an OQS-style code (table in ``docs/oqs.md``) and a message
naming the field; :func:`render_error` turns it into ``SegmentOfResult`` 9.

>>> req = parse_request(SAMPLE_REQUEST, today=date(2026, 11, 22))
>>> req.insurer_number, req.number, req.birth_date, req.limit_consent
('06139992', '187', datetime.date(1980, 4, 1), True)
"""

from __future__ import annotations

from datetime import date  # noqa: F401 (the doctest)

from onshi.interop.oqs.parse import (
    MAX_DAYS_AHEAD,
    BulkFetchRequest,
    BulkRequest,
    ReferenceRegistrationRequest,
    RequestHeader,
    parse_bulk_fetch,
    parse_bulk_request,
    parse_reference_registration,
    parse_request,
    parse_request_json,
    read_header,
)
from onshi.interop.oqs.render import (
    BulkItemResult,
    render_bulk_accepted,
    render_bulk_result,
    render_error,
    render_error_json,
    CardHolder,
    RegistrationItemResult,
    render_reference_registration_result,
    render_registration_accepted,
    render_registration_result,
    render_result,
    render_result_json,
)
from onshi.interop.oqs.wire import (
    CP932_FOLD,
    MAX_BULK_ITEMS,
    SUBSTITUTE,
    Encoding,
    ErrorCode,
    clean,
    detect_encoding,
    to_half_width_kana,
    ymdhms,
)
from onshi.store import clock

__all__ = [
    "ErrorCode", "RequestHeader", "ReferenceRegistrationRequest", "BulkRequest", "BulkFetchRequest",
    "BulkItemResult", "MAX_DAYS_AHEAD", "MAX_BULK_ITEMS", "SUBSTITUTE", "Encoding",
    "detect_encoding", "read_header", "to_half_width_kana",
    "parse_request", "parse_request_json", "parse_reference_registration", "parse_bulk_request",
    "parse_bulk_fetch",
    "render_result", "render_result_json", "render_error", "render_error_json",
    "render_reference_registration_result", "render_bulk_accepted", "render_bulk_result",
    "RegistrationItemResult", "render_registration_accepted", "render_registration_result", "CardHolder",
]

JST = clock.JST

# the names this module had before the split, for the tests that check the conversions themselves
_ymdhms, _clean, _CP932_FOLD = ymdhms, clean, CP932_FOLD

SAMPLE_REQUEST = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20261122</QualificationConfirmationDate>
    <MedicalInstitutionCode>1311234569</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>clinic-0001</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      <InsurerNumber>06139992</InsurerNumber>
      <InsuredCardSymbol>あいう</InsuredCardSymbol>
      <InsuredIdentificationNumber>187</InsuredIdentificationNumber>
      <InsuredBranchNumber>05</InsuredBranchNumber>
      <Birthdate>19800401</Birthdate>
      <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
      <ArbitraryIdentifier>P-42</ArbitraryIdentifier>
    </QualificationConfirmSearchInfo>
  </MessageBody>
</XmlMsg>
""".encode("utf-8")
