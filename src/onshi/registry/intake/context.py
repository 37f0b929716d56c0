"""What every applier of a notification row shares (届出の反映): the run's context — its session, file, receipt
time, caches of insurers and employers, and the registry change (outbox) each applied row records — a row's
outcome, finding the insurer, employer and qualification a row names, and the row hash that makes a re-import
change nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.privacy.crypto import vault
from onshi.registry import service
from onshi.registry.intake.rows import SECRET_COLUMNS, ParsedRow
from onshi.registry.models import Employer, Insurer, NotificationType, QualificationVersion, RegistryChange


def row_hash(ntype: NotificationType, values: dict[str, Any], *, my_number_hash: str | None = None) -> str:
    """Identity of an applied row: same type and same normalised values = same filing.

    The My Number enters as its keyed hash (*my_number_hash* when the caller has it already)."""
    def secret(v: str) -> str:
        return my_number_hash if my_number_hash is not None else vault().lookup_hash(v)

    canon = {k: (secret(v) if k in SECRET_COLUMNS and v else v) for k, v in sorted(values.items())}
    blob = json.dumps([ntype.value, canon], default=str, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()



@dataclass
class ApplyContext:
    """One run of appliers: the caller's session and the file being applied, with insurers and employers cached."""

    session: Session
    file_id: int | None
    received_at: datetime
    now: datetime
    actor: str
    insurers: dict[str, Insurer | None] = field(default_factory=dict)
    employers: dict[tuple[int, str], Employer | None] = field(default_factory=dict)

    def insurer(self, number: str) -> Insurer | None:
        if number not in self.insurers:
            self.insurers[number] = service.get_insurer(self.session, number=number)
        return self.insurers[number]

    def employer(self, insurer_id: int, symbol: str) -> Employer | None:
        key = (insurer_id, symbol)
        if key not in self.employers:
            self.employers[key] = service.get_employer(self.session, insurer_id=insurer_id, symbol=symbol)
        return self.employers[key]

    def load_employers(self, keys) -> None:
        """Fill the employer cache for many (保険者番号, 記号) at once: one query per insurer and 500 symbols."""
        wanted: dict[int, set[str]] = {}
        for number, symbol in keys:
            insurer = self.insurer(number) if number else None
            if insurer is not None and symbol is not None and (insurer.id, symbol) not in self.employers:
                wanted.setdefault(insurer.id, set()).add(symbol)
        for insurer_id, symbols in wanted.items():
            todo = sorted(symbols)
            for i in range(0, len(todo), 500):
                part = todo[i:i + 500]
                found = {e.symbol: e for e in self.session.scalars(select(Employer).where(
                    Employer.insurer_id == insurer_id, Employer.symbol.in_(part)))}
                for symbol in part:
                    self.employers[(insurer_id, symbol)] = found.get(symbol)

    def change(self, *, kind: NotificationType, insurer_id: int, rhash: str, row_number: int | None,
               effective: date | None, person_id=None, qualification_id=None, employer_id=None,
               note: str | None = None) -> RegistryChange:
        ch = RegistryChange(insurer_id=insurer_id, kind=kind, row_hash=rhash, file_id=self.file_id,
                            row_number=row_number, employer_id=employer_id, person_id=person_id,
                            qualification_id=qualification_id, effective_date=effective,
                            received_at=self.received_at, recorded_at=self.now, note=note)
        self.session.add(ch)
        self.session.flush()
        return ch


@dataclass
class Outcome:
    """What became of one row: applied (with its change), a duplicate of one applied before, or rejected (why)."""

    row_number: int
    status: str  # applied | duplicate | rejected
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    change_id: int | None = None


def resolve_insurer_employer(ctx: ApplyContext, r: ParsedRow, need_employer: bool = True):
    insurer = ctx.insurer(r.values["insurer_number"])
    if insurer is None:
        r.fail("insurer_number", "この保険者番号は onshi に登録されていません (unknown insurer; `onshi insurer add`)")
        return None, None
    if not need_employer:
        return insurer, None
    employer = ctx.employer(insurer.id, r.values["employer_symbol"])
    if employer is None:
        r.fail("employer_symbol", "この記号の事業所は登録されていません (unknown employer symbol; file an employer "
                                  "notification first)")
    return insurer, employer


def find_target(ctx: ApplyContext, r: ParsedRow, insurer: Insurer, *, default_branch: str | None = "00",
                 on: date | None = None) -> QualificationVersion | None:
    branch = r.values.get("branch") or default_branch
    qv = service.current_by_numbers(ctx.session, insurer_id=insurer.id, symbol=r.values["employer_symbol"],
                                    number=r.values["number"], branch=branch)
    if qv is None:
        r.fail("number", f"記号・番号・枝番 {r.values['employer_symbol']}・{r.values['number']}・{branch} の資格が"
                         "ありません (no qualification with these numbers)")
    return qv

