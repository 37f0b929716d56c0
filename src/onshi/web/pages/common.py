"""Templates, filters and helpers shared by the screens."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import pass_context
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.templating import Jinja2Templates

from onshi.interop.oqs.codes import screen_label
from onshi.numbers.messages import japanese
from onshi.store.clock import japan_today, to_japan_time
from onshi.auth.sessions import csrf_token
from onshi.auth.models import WebUser
from onshi.auth.users import ROLES

HERE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

#: Nothing is loaded from anywhere but this server (offline clinics); inline scripts and styles are refused too.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def today() -> date:
    """The clinic's and the insurer's day (Japan time)."""
    return japan_today()


def wareki(d: date | None) -> str:
    from onshi.rules.wareki import format_wareki

    if d is None:
        return ""
    try:
        return format_wareki(d)
    except ValueError:
        return d.isoformat()


def jst(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Recorded times are UTC; people read Japan time."""
    if dt is None:
        return ""
    return to_japan_time(dt).strftime(fmt)


def age(birth: date | None, on: date | None = None) -> str:
    from onshi.rules.age import age_on

    if birth is None:
        return ""
    on = on or today()
    try:
        return f"{age_on(birth, on)}歳"
    except ValueError:
        return ""


# ---------------------------------------------------------------- input: one way to read a field and say what is wrong

class FormError(ValueError):
    """A form field that cannot be accepted: ``field`` is the input's name, ``message`` names the field and the value
    and says why, in Japanese (``生年月日「H31.5.1」: 平成は31年4月30日までです``)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class FormErrors(ValueError):
    """Every refused field of a form, ``{input name: message}`` in the order of the form."""

    def __init__(self, invalid: dict[str, str]):
        super().__init__("\n".join(invalid.values()))
        self.invalid = invalid


def read_date(value: str | None, field: str, label: str) -> date:
    """A typed date, through the one input layer (:func:`onshi.registry.fields.parse_date`: 西暦, 和暦, full width,
    era boundaries); :class:`FormError` otherwise."""
    from onshi.registry.fields import FieldError, date_message, parse_date

    try:
        return parse_date(value or "")
    except FieldError as exc:
        raise FormError(field, date_message(label, value or "", exc)) from None


def pydantic_message(error: dict) -> str:
    """One pydantic error as a Japanese screen says it (pydantic's own messages are English)."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind in ("string_too_short", "missing"):
        return "入力してください"
    if kind == "string_too_long":
        return f"{ctx.get('max_length')}文字以内で入力してください"
    if kind == "value_error":
        return japanese(str(error.get("msg", "")).removeprefix("Value error, "))
    if kind.startswith("date"):
        return "日付として読めません"
    return "入力が正しくありません"


@pass_context
def invalid_attrs(ctx, name: str) -> Markup:
    """``aria-invalid="true" aria-describedby="err-NAME"`` on a refused field, and ``autofocus`` on the first one."""
    invalid = ctx.get("invalid") or {}
    if name not in invalid:
        return Markup("")
    first = " autofocus" if next(iter(invalid)) == name else ""
    return Markup(f'aria-invalid="true" aria-describedby="err-{name}"{first}')


SEX = {1: "男", 2: "女", 3: "未設定"}
templates.env.filters.update(wareki=wareki, jst=jst, age=age, sex=lambda v: SEX.get(int(v or 3), ""),
                             yen=lambda v: "" if v is None else f"{int(v):,}円", ja=japanese)
# 資格有効性 as every screen words it (4: 資格情報なし), from the one mapping in onshi.interop.oqs.codes
templates.env.globals.update(ROLES=ROLES, validity_label=lambda v: screen_label("OQSCD006", v),
                             invalid_attrs=invalid_attrs)


def scope_label(session: Session, user: WebUser) -> str:
    """Where the user works: the institution or the insurer, by name."""
    if user.role in ("clinic", "clinician") and user.institution_code:
        from onshi.verify.service import institution_by_code

        inst = institution_by_code(session, user.institution_code)
        return f"{inst.name}（{inst.code}）" if inst else user.institution_code
    if user.insurer_id:
        from onshi.registry import service as registry

        ins = registry.get_insurer(session, id=user.insurer_id)
        return f"{ins.name}（{ins.number}）" if ins else ""
    return ""


def render(request: Request, name: str, context: dict | None = None, *, status_code: int = 200,
           session: Session | None = None) -> HTMLResponse:
    ctx = dict(context or {})
    user = getattr(request.state, "user", None)
    ctx.setdefault("user", user)
    if user is not None and session is not None and "scope" not in ctx:
        ctx["scope"] = scope_label(session, user)
    ctx["csrf"] = csrf_token(request)
    ctx["path"] = request.url.path
    resp = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cache-Control"] = "no-store"  # personal data: not kept by the browser
    return resp
