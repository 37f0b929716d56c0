"""The demo's sign-in users, one per role (idempotent).  Demo data only: production code never creates them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from onshi.demo.institutions import demo_institution_codes
from onshi.auth.users import INSURER_ROLES, UserError, add_user, get_by_username


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    scope: str


DEMO_PASSWORD = "onshi-demo-2026"


def ensure_demo_users(session: Session, *, institution_code: str | None = None,
                      insurer_number: str | None = None, password: str = DEMO_PASSWORD) -> list[DemoUser]:
    """One user per role for the demo (idempotent): ``reception``, ``clerk``, ``supervisor``, ``admin``.

    Defaults: the first demo institution and the showcase members' insurer (協会けんぽ東京).  Returns who can sign in and how.
    """
    from onshi.registry import service as registry

    if institution_code is None:
        institution_code = demo_institution_codes()[0]
    if insurer_number is None:  # the insurer of the demo's showcase members, else the first one
        from onshi.demo.seed import SHOWCASE

        showcase = registry.get_insurer(session, number=SHOWCASE["valid"]["insurer"])
        insurers = registry.list_insurers(session)
        insurer_number = showcase.number if showcase else insurers[0].number if insurers else None
    wanted = [("reception", "受付 一郎", "clinic"), ("doctor", "医師 健", "clinician"), ("clerk", "事務 花子", "clerk"),
              ("supervisor", "監督 次郎", "supervisor"), ("analyst", "分析 桜", "analyst"),
              ("admin", "管理 三郎", "admin")]
    out = []
    for username, name, role in wanted:
        if get_by_username(session, username) is None:
            try:
                # the demo's password is published on purpose: the policy (which refuses it) is off for these
                add_user(session, username=username, password=password, role=role, display_name=name,
                         institution_code=institution_code, insurer_number=insurer_number, password_policy=False)
            except UserError:
                continue  # e.g. no institution yet: that demo user is skipped
        scope = institution_code if role in ("clinic", "clinician") else insurer_number if role in INSURER_ROLES else "-"
        out.append(DemoUser(username, password, role, scope or "-"))
    return out
