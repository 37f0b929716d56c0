"""The OQS wire format (電文の形式): encodings, げた (〓) for characters an encoding cannot carry, dates and times.

One conversion point each, shared by :mod:`onshi.interop.oqs.parse` and :mod:`onshi.interop.oqs.render`:

* dates ``yyyyMMdd``, times ``yyyyMMddHHmmss`` in Japan time (:func:`onshi.store.clock.to_japan_time`: an
  aware datetime is converted; a naive one is taken as UTC — the project's convention for recorded times).
* kana (full-width in the domain) becomes half-width (``ｺｳﾛｳ ﾀﾛｳ``).
* Shift_JIS means Windows code page 932 (what clinic PCs write).  A character it cannot encode becomes ``〓``
  (げた, U+3013) instead of failing; so does any character XML 1.0 cannot carry (外字 included).  Tab, CR and
  LF in a value become a space.
* the error codes this layer raises (:class:`ErrorCode`, ``SegmentOfResult`` 9) and :func:`error` to raise one.
"""

from __future__ import annotations

import codecs
import re
from datetime import date, datetime
from enum import Enum
from typing import Literal

import jaconv

from onshi.store import clock
from onshi.verify.result import VerificationError

__all__ = [
    "Encoding", "ErrorCode", "MAX_BULK_ITEMS", "SUBSTITUTE", "GETA", "CP932_FOLD", "XML_DECLARATION", "error",
    "detect_encoding", "reading_codec", "clean", "to_half_width_kana", "encode", "output_encoding", "ymd", "ymdhms",
    "half_width", "parse_date",
]

Encoding = Literal["utf-8", "shift_jis"]

SUBSTITUTE = "\u3013"  #: 〓, written for a character the output encoding (or XML) cannot carry


class ErrorCode(str, Enum):
    """Error codes this layer raises (``ErrorCode`` of ``SegmentOfResult`` 9).

    The verification service uses the same scheme (E0002 institution mismatch,
    E0103 date of care out of range, E0201/E0202 card, E0301 照会番号).
    """

    MALFORMED = "E0001"           #: not well-formed XML/JSON, truncated, empty
    ENCODING = "E0003"            #: unsupported encoding, or bytes not valid in the declared encoding
    DTD_FORBIDDEN = "E0004"       #: DOCTYPE / entity declarations (XML bombs, external entities)
    STRUCTURE = "E0005"           #: not an XmlMsg, MessageHeader/MessageBody or the body element missing
    MISSING = "E0101"             #: a required field is missing or empty
    FORMAT = "E0102"              #: wrong format: digits, length, a code outside its table
    DATE_OUT_OF_RANGE = "E0103"   #: date of care too far ahead (or birth date after today)
    BAD_DATE = "E0104"            #: not a yyyyMMdd calendar date (e.g. 20250230)
    REFERENCE_NUMBER = "E0301"    #: 照会番号 empty or longer than 50
    UNKNOWN_RECEPTION = "E0401"   #: bulk fetch of a ReceptionNumber this institution never received
    BULK_SIZE = "E0402"           #: bulk upload empty or above MAX_BULK_ITEMS
    INTERNAL = "E0901"            #: the service failed unexpectedly; retry later


MAX_BULK_ITEMS = 10_000


def error(code: ErrorCode, message: str, field: str | None = None) -> VerificationError:
    """A :class:`VerificationError` with *code*'s value (answered as ``SegmentOfResult`` 9)."""
    return VerificationError(code.value, message, field)


# ---------------------------------------------------------------- encodings and text

GETA = "onshi-geta"  #: the codec error handler that writes 〓 (``text.encode("cp932", GETA)``)


def _geta(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        return SUBSTITUTE * (exc.end - exc.start), exc.end
    raise exc


codecs.register_error(GETA, _geta)

# Unicode characters that other Shift_JIS tables (JIS X 0208 mappings on Unix/macOS)
# produce for bytes that CP932 maps elsewhere: fold them to the CP932 ones so they survive.
CP932_FOLD = str.maketrans({
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2212": "\uff0d",  # − MINUS → －
    "\u00a2": "\uffe0", "\u00a3": "\uffe1", "\u00ac": "\uffe2",
    "\u2014": "\u2015",  # — EM DASH → ―
})

_SJIS_NAMES = {"shift_jis", "shift-jis", "sjis", "x-sjis", "cp932", "ms932", "windows-31j", "ms_kanji",
               "csshiftjis", "shiftjis"}
_UTF8_NAMES = {"utf-8", "utf8"}
_DECL_RE = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""", re.S)
XML_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>", re.S)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _declared(data: bytes) -> str | None:
    m = _DECL_RE.match(data[:400])
    return m.group(1).decode("ascii", "replace").strip() if m else None


def detect_encoding(data: bytes) -> Encoding:
    """The encoding to answer in: ``"shift_jis"`` when the XML declaration says so, else ``"utf-8"``.

    Never raises (an unsupported declaration is reported by :func:`parse_request`).

    >>> detect_encoding(b'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?><XmlMsg/>')
    'shift_jis'
    >>> detect_encoding(b'<XmlMsg/>')
    'utf-8'
    """
    name = (_declared(data) or "").lower()
    return "shift_jis" if name in _SJIS_NAMES else "utf-8"


def reading_codec(data: bytes) -> tuple[str, str]:
    """(python codec, declared name) for reading ``data``; raises E0003 for anything else."""
    name = _declared(data)
    if name is None or name.lower() in _UTF8_NAMES:
        return "utf-8-sig", name or "UTF-8"
    if name.lower() in _SJIS_NAMES:
        return "cp932", name
    raise error(ErrorCode.ENCODING, f"文字コード {name} には対応していません。UTF-8 か Shift_JIS で送ってください "
                                   f"(unsupported encoding {name!r}: use UTF-8 or Shift_JIS)", "encoding")


def clean(text: str) -> str:
    """A value fit for XML 1.0 on one line: tab/CR/LF → space, other control characters → 〓."""
    text = text.replace("\t", " ").replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return _XML_BAD.sub(SUBSTITUTE, text)


def to_half_width_kana(text: str) -> str:
    """Full-width katakana (or hiragana) as the half-width kana OQS uses.

    >>> to_half_width_kana("コウロウ　タロウ")
    'ｺｳﾛｳ ﾀﾛｳ'
    >>> to_half_width_kana("がっこう")
    'ｶﾞｯｺｳ'
    """
    return jaconv.z2h(jaconv.hira2kata(text), kana=True, ascii=True, digit=True)


def encode(text: str, encoding: Encoding) -> bytes:
    if encoding == "shift_jis":
        return text.translate(CP932_FOLD).encode("cp932", GETA)
    return text.encode("utf-8", GETA)


def output_encoding(encoding: str) -> Encoding:
    e = encoding.lower()
    if e in _UTF8_NAMES:
        return "utf-8"
    if e in _SJIS_NAMES:
        return "shift_jis"
    raise ValueError(f"encoding must be 'utf-8' or 'shift_jis', not {encoding!r}")


def ymd(day: date | None) -> str | None:
    return None if day is None else f"{day.year:04d}{day.month:02d}{day.day:02d}"


def ymdhms(moment: datetime | None) -> str | None:
    return None if moment is None else clock.to_japan_time(moment).strftime("%Y%m%d%H%M%S")



def half_width(value: str) -> str:
    return jaconv.z2h(value, kana=False, ascii=True, digit=True).strip()


def parse_date(value: str, field: str, label_ja: str) -> date:
    text = half_width(value)
    if not re.fullmatch(r"\d{8}", text):
        raise error(ErrorCode.BAD_DATE, f"{label_ja}は yyyyMMdd の8桁です ({field} must be yyyyMMdd, got {value!r})",
                   field)
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise error(ErrorCode.BAD_DATE, f"{label_ja} {text} は存在しない日付です ({field}: no such date {text})",
                   field) from None


