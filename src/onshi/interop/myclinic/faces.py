"""Reading the terminal's face files for myclinic-ts (顔認証付きカードリーダーの結果): the list (with each patient's
name) and one file (the whole answer: name, birth date, address, numbers).  Each is a read of the patients' data
by the institution, so each writes its audit rows here (``face.list``, ``face.read``; docs/audit.md) — the routes
in :mod:`onshi.interop.myclinic.http` only call these.

The person of a face file is found through the registered index by the numbers and birth date its
``ResultOfQualificationConfirmation`` carries; a file whose person cannot be found (an error face, an index
changed since) is recorded under subject ``face_file`` with its name.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path

import defusedxml.ElementTree as DET
from sqlalchemy.orm import Session

from onshi.exchange import index
from onshi.interop.myclinic import mapping
from onshi.privacy import audit
from onshi.store.clock import to_japan_time


def _people(session: Session, data: bytes) -> list[tuple[int | None, str | None]]:
    """``[(person id or None, insurer number)]`` of the results in a face file."""
    try:
        root = DET.fromstring(mapping.face_as_utf8(data))  # expat reads no Shift_JIS
    except Exception:  # noqa: BLE001 - a file that does not parse names no one: recorded by its name
        return []
    out = []
    for result in root.iter("ResultOfQualificationConfirmation"):
        def text(tag: str) -> str:
            el = result.find(tag)
            return (el.text or "").strip() if el is not None else ""

        insurer, born = text("InsurerNumber"), text("Birthdate")
        try:
            birth = date(int(born[:4]), int(born[4:6]), int(born[6:8]))
        except ValueError:
            out.append((None, insurer or None))
            continue
        found = index.qualifications_by_numbers(session, insurer_number=insurer, symbol=text("InsuredCardSymbol"),
                                                number=text("InsuredIdentificationNumber"),
                                                branch=text("InsuredBranchNumber") or None, birth_date=birth)
        out.extend((pid, insurer or None) for pid in sorted({q.person_id for q in found})) if found \
            else out.append((None, insurer or None))
    return out


def _audit(session: Session, institution_code: str, action: str, name: str, data: bytes) -> None:
    people = _people(session, data) or [(None, None)]
    for person_id, insurer in people:
        audit.record_read(session, actor_kind="institution", actor_id=institution_code, action=action,
                          subject_kind="person" if person_id is not None else "face_file",
                          subject_id=person_id if person_id is not None else name, detail=f"face={name}",
                          insurer_number=insurer)


def face_list(session: Session, face_dir: Path, names: list[str], institution_code: str) -> list[dict]:
    """``GET /face``: each waiting file's ``{name, fileName, createdAt}``; every patient named is audited
    (``face.list``).  A file archived meanwhile is left out."""
    entries = []
    for name in names:
        path = face_dir / name
        try:
            data, mtime = path.read_bytes(), os.stat(path).st_mtime
        except FileNotFoundError:
            continue
        entry = mapping.face_entry(name, data, to_japan_time(datetime.fromtimestamp(mtime, timezone.utc)))
        if entry.get("name"):
            _audit(session, institution_code, "face.list", name, data)
        entries.append(entry)
    return entries


def face_file(session: Session, path: Path, institution_code: str) -> bytes:
    """``GET /face/{name}``: the file as UTF-8; the read is audited (``face.read``)."""
    data = path.read_bytes()
    _audit(session, institution_code, "face.read", path.name, data)
    return mapping.face_as_utf8(data)
