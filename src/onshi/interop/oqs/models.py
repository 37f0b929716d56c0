"""The terminal's journal of request files (``terminal_requests``): what makes its answers exactly-once.

A request file is claimed here — institution, file name, SHA-256 of its bytes — in a committed transaction before
it is verified; the answer's bytes are written to the same row in the transaction that writes the verification's
usage-log (and audit) rows.  A terminal restarted after ``kill -9`` finds a claimed row with an answer and delivers
that answer again; a claimed row without one was never committed with a verification, so it verifies it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow
from onshi.verify.models import PK


class TerminalRequest(Base):
    """One request file seen by ``onshi terminal``: claimed, then answered (status ``claimed`` → ``answered``)."""

    __tablename__ = "terminal_requests"
    __table_args__ = (UniqueConstraint("institution_code", "file_name", "sha256"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))  # of the request file's bytes, hex
    status: Mapped[str] = mapped_column(String(10), default="claimed")  # claimed | answered
    answer_name: Mapped[str | None] = mapped_column(String(255))
    answer: Mapped[bytes | None] = mapped_column(LargeBinary)
    claimed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
