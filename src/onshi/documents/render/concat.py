"""Many documents out, streaming: joined into one PDF, or one file each.

* :func:`render_to_file` draws the documents a chunk of pages at a time, each chunk
  one reportlab PDF, and :class:`PdfConcat` appends each chunk to the output PDF as
  soon as it is complete (連結: objects renumbered, page trees joined under one
  root, font subset tags renamed per chunk), so memory depends on the chunk size,
  not on the number of documents;
* :func:`render_to_files` writes one PDF per document.

The joined PDF's document id is the MD5 of the bytes written before it, so the file stays deterministic.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO, Self

from onshi.documents.layouts import Layout
from onshi.documents.render.data import CertificateData, Document, StreamReport
from onshi.documents.render.document import describe, draw_document
from onshi.documents.render.painter import Painter, as_layout, new_canvas, painter_for

__all__ = ["PdfConcat", "render_to_file", "render_to_files", "stream_chunks"]

# -- streaming ---------------------------------------------------------------


def stream_chunks(docs: Iterable[Any], painter: Painter, out: PdfConcat, report: StreamReport,
                  chunk_pages: int) -> None:
    it = iter(docs)
    while True:
        buf = io.BytesIO()
        c = new_canvas(buf, painter)
        n = 0
        for doc in it:
            report.warnings.extend(draw_document(c, painter, doc))
            n += 1
            if n >= chunk_pages:
                break
        if n == 0:
            return
        c.save()
        out.add(buf.getvalue())
        report.documents += n
        report.pages += n
        if n < chunk_pages:
            return


def render_to_file(
    documents: Iterable[Document],
    layout: Layout | str | os.PathLike[str],
    out: str | os.PathLike[str] | BinaryIO,
    *,
    chunk_pages: int = 200,
) -> StreamReport:
    """Render many documents (all of the layout's kind) into ONE PDF, streaming.

    Documents are drawn ``chunk_pages`` at a time; each chunk is written to ``out``
    as soon as it is complete, so memory depends on ``chunk_pages``, not on the
    number of documents.  The font subset is embedded once per chunk.  ``out`` is
    a path (written to ``<path>.part`` and renamed when complete) or a binary
    stream.
    """
    if chunk_pages < 1:
        raise ValueError("chunk_pages must be at least 1")
    painter = painter_for(as_layout(layout))
    report = StreamReport()
    if isinstance(out, (str, os.PathLike)):
        path = Path(out)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            with PdfConcat(f) as w:
                stream_chunks(documents, painter, w, report, chunk_pages)
            report.bytes_written = w.pos
        os.replace(tmp, path)
        report.files.append(path)
    else:
        with PdfConcat(out) as w:
            stream_chunks(documents, painter, w, report, chunk_pages)
        report.bytes_written = w.pos
    return report


def _default_filename(index: int, doc: Any) -> str:
    kind = "certificate" if isinstance(doc, CertificateData) else "notice"
    return f"{index + 1:06d}_{kind}_{doc.symbol}-{doc.number}-{doc.branch}.pdf"


def render_to_files(
    documents: Iterable[Document],
    layout: Layout | str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    filename: Callable[[int, Any], str] = _default_filename,
) -> StreamReport:
    """Render each document into its own PDF in ``directory`` (created if needed), streaming.

    ``filename(index, document)`` names each file (default
    ``000001_notice_<記号>-<番号>-<枝番>.pdf``).  Files are written atomically.
    """
    painter = painter_for(as_layout(layout))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = StreamReport()
    for i, doc in enumerate(documents):
        buf = io.BytesIO()
        c = new_canvas(buf, painter)
        describe(c, doc)  # the same metadata as render_certificate / render_notice: the same bytes
        report.warnings.extend(draw_document(c, painter, doc))
        c.save()
        data = buf.getvalue()
        path = directory / filename(i, doc)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        report.files.append(path)
        report.documents += 1
        report.pages += 1
        report.bytes_written += len(data)
    return report


# ---------------------------------------------------------------------------
# Streaming concatenation of reportlab PDFs
# ---------------------------------------------------------------------------

_OBJ_HEAD = re.compile(rb"(\d+) 0 obj")
_REF = re.compile(rb"(?<![\w.])(\d+) 0 R(?!\w)")
_STREAM = re.compile(rb">>\s*stream\r?\n")
_TAG = re.compile(rb"/([A-Z]{6})\+")


def _tag(n: int) -> bytes:
    letters = []
    for _ in range(6):
        n, r = divmod(n, 26)
        letters.append(65 + r)
    return bytes(reversed(letters))


class PdfConcat:
    """Append reportlab-made PDFs to one output PDF as they come, keeping only offsets.

    Each part's objects are renumbered and copied; the part's page tree becomes a
    child of the output's root page tree; its catalog and info are dropped.  Font
    subset tags are renamed per part so no two different subsets share a name.
    Works on reportlab's own output (classic xref table, no object streams).
    """

    def __init__(self, out: BinaryIO, info: dict[str, str] | None = None) -> None:
        """*info*: the joined PDF's document information (``Title``, ``Author``, ``Subject``: text;
        ``CreationDate``: a PDF date string), written at the end."""
        self.info = dict(info or {})
        self.out = out
        self.pos = 0
        self.offsets: dict[int, int] = {}
        self.next_num = 3  # 1: catalog, 2: root page tree (written at the end)
        self.kids: list[int] = []
        self.count = 0
        self.parts = 0
        self.digest = hashlib.md5(usedforsecurity=False)
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.close()

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.digest.update(data)
        self.pos += len(data)

    def add(self, pdf: bytes) -> None:
        sx = pdf.rindex(b"startxref")
        xref_at = int(pdf[sx + 9:].split()[0])
        trailer = pdf[pdf.index(b"trailer", xref_at):sx]
        root = int(re.search(rb"/Root (\d+) 0 R", trailer).group(1))
        info_m = re.search(rb"/Info (\d+) 0 R", trailer)
        info = int(info_m.group(1)) if info_m else -1
        lines = pdf[xref_at:pdf.index(b"trailer", xref_at)].split(b"\n")
        first, count = (int(v) for v in lines[1].split())
        offsets: list[tuple[int, int]] = []
        for i, line in enumerate(lines[2:2 + count]):
            off, _gen, kind = line.split()[:3]
            if kind == b"n":
                offsets.append((int(off), first + i))
        offsets.sort()
        bodies: dict[int, bytes] = {}
        for j, (off, num) in enumerate(offsets):
            end = offsets[j + 1][0] if j + 1 < len(offsets) else xref_at
            bodies[num] = pdf[off:end]
        pages_root = int(re.search(rb"/Pages (\d+) 0 R", bodies[root]).group(1))
        mapping: dict[int, int] = {}
        for _off, num in offsets:
            if num not in (root, info):
                mapping[num] = self.next_num
                self.next_num += 1
        part = self.parts
        self.parts += 1

        def renum(m: re.Match[bytes]) -> bytes:
            return b"%d 0 R" % mapping[int(m.group(1))]

        def retag(m: re.Match[bytes]) -> bytes:
            old = 0
            for ch in m.group(1):
                old = old * 26 + (ch - 65)
            return b"/" + _tag(part * 4096 + old % 4096) + b"+"

        for _off, num in offsets:
            if num not in mapping:
                continue
            body = bodies[num]
            head = _OBJ_HEAD.match(body)
            body = body[head.end():]
            sm = _STREAM.search(body)
            dict_part, rest = (body[:sm.start() + 2], body[sm.start() + 2:]) if sm else (body, b"")
            dict_part = _REF.sub(renum, dict_part)
            if part:
                dict_part = _TAG.sub(retag, dict_part)
            if num == pages_root:
                k = dict_part.index(b"<<")
                dict_part = dict_part[:k + 2] + b"\n/Parent 2 0 R" + dict_part[k + 2:]
                self.count += int(re.search(rb"/Count (\d+)", dict_part).group(1))
                self.kids.append(mapping[num])
            self.offsets[mapping[num]] = self.pos
            self._write(b"%d 0 obj" % mapping[num] + dict_part + rest)

    def close(self) -> None:
        self.offsets[1] = self.pos
        self._write(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /PageMode /UseNone >>\nendobj\n")
        self.offsets[2] = self.pos
        kids = b" ".join(b"%d 0 R" % k for k in self.kids)
        self._write(b"2 0 obj\n<< /Type /Pages /Kids [ %s ] /Count %d >>\nendobj\n" % (kids, self.count))
        info_ref = b""
        if self.info:
            num = self.next_num
            self.next_num += 1
            self.offsets[num] = self.pos
            entries = b"".join(b"/%s %s " % (key.encode("ascii"), _pdf_text(value, key))
                               for key, value in self.info.items())
            self._write(b"%d 0 obj\n<< %s>>\nendobj\n" % (num, entries))
            info_ref = b" /Info %d 0 R" % num
        xref_at = self.pos
        ident = self.digest.hexdigest().encode()
        rows = [b"xref\n0 %d\n" % self.next_num, b"0000000000 65535 f \n"]
        rows += [b"%010d 00000 n \n" % self.offsets[n] for n in range(1, self.next_num)]
        self._write(b"".join(rows))
        self._write(b"trailer\n<< /Size %d /Root 1 0 R%s /ID [<%s><%s>] >>\nstartxref\n%d\n%%%%EOF\n"
                    % (self.next_num, info_ref, ident, ident, xref_at))


def _pdf_text(value: str, key: str) -> bytes:
    """A PDF text string: a date as written, other text as UTF-16BE with its byte-order mark (Japanese)."""
    if key.endswith("Date"):
        return b"(" + value.encode("ascii") + b")"
    return b"<FEFF" + value.encode("utf-16-be").hex().upper().encode("ascii") + b">"
