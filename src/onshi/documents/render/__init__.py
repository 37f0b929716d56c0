"""Render 資格確認書 and 資格情報のお知らせ as PDF from plain data (no database).

Public API (import it from here: ``from onshi.documents.render import …``)
-------------------------------------------------------------------------
Data (frozen dataclasses, built by the caller; :mod:`.data`):

* :class:`CertificateData` — one 資格確認書;
* :class:`NoticeData` — one 資格情報のお知らせ (A4 part + detachable card part);
* :class:`CoverLetterData` with :class:`Enclosure` rows — the cover letter and
  enclosure list (同封者一覧) of an employer's bundle.

Rendering (``layout`` is a :class:`~onshi.documents.layouts.Layout`, a built-in
layout name or a path to a TOML file):

* :func:`render_certificate` / :func:`render_notice` → :class:`RenderedPDF` (:mod:`.document`);
* :func:`render_bundle` → one PDF: cover letter, enclosure list, the notices (:mod:`.bundle`);
* :func:`render_to_file` — many documents into **one** PDF file (or binary
  stream), and :func:`render_to_files` — one file per document; both stream:
  memory stays flat however many documents pass through (:mod:`.concat`);
* :func:`layout_fingerprint` — what decides how a layout prints, as one SHA-256.

A :class:`RenderedPDF` *is* ``bytes`` (write it, hash it, return it) and also
carries ``warnings`` (:class:`RenderWarning`: a missing address line, a 外字
replaced, a text shrunk to fit) and ``page_count``.

The output is deterministic: the same data and layout give byte-identical PDF
(reportlab ``invariant`` mode: fixed dates and document id; subset font names by
position), so a document can be reprinted identically and checksummed.

The package, by seam:

* :mod:`.data` — the documents' data and the results (no drawing);
* :mod:`.painter` — a layout drawn with reportlab: fonts (IPAex Gothic, embedded as
  TrueType subsets; the file ships with the ``japanize-matplotlib`` package; licence:
  IPA Font License v1.0), 外字 substitution, fitting a text to its box, warnings;
* :mod:`.document` — one 資格確認書 or お知らせ on one page, and the layout fingerprint;
* :mod:`.bundle` — an employer's bundle: cover letter, enclosure list, notices;
* :mod:`.concat` — streaming many documents: PDF chunks joined into one file, or a file each.
"""

from onshi.documents.layouts import LayoutError, load_layout
from onshi.documents.render.bundle import render_bundle
from onshi.documents.render.concat import render_to_file, render_to_files
from onshi.documents.render.data import (
    CertificateData,
    CoverLetterData,
    Document,
    Enclosure,
    NoticeData,
    RenderedPDF,
    RenderWarning,
    StreamReport,
)
from onshi.documents.render.document import layout_fingerprint, render_certificate, render_notice
from onshi.documents.render.painter import BUILTIN_FONT, builtin_font_path, register_font

__all__ = [
    "BUILTIN_FONT",
    "CertificateData",
    "CoverLetterData",
    "Document",
    "Enclosure",
    "LayoutError",
    "NoticeData",
    "RenderWarning",
    "RenderedPDF",
    "StreamReport",
    "builtin_font_path",
    "layout_fingerprint",
    "load_layout",
    "register_font",
    "render_bundle",
    "render_certificate",
    "render_notice",
    "render_to_file",
    "render_to_files",
]
