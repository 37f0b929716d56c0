"""The HTML screens: sign-in, the clinic's reception (受付) and the insurer's back office (保険者事務).

Server-rendered with Jinja2; every asset is served by the app itself (offline clinics), nothing from a CDN.
``install(app)`` is called by :func:`onshi.web.app.create_app`.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from onshi.auth.sessions import (
    PASSWORD_PAGE,
    SESSION_MAX_AGE,
    Forbidden,
    LoginRequired,
    PasswordChangeRequired,
    cookie_settings,
    session_secret,
)
from onshi.web.pages import admin, audit_log, batch, insurer, login, member_costs, members, office, reception
from onshi.web.pages.common import HERE, render


def install(app: FastAPI) -> None:
    from onshi.auth.throttle import RateLimits
    from onshi.config import get_settings

    cookie, secure = cookie_settings()
    app.add_middleware(SessionMiddleware, secret_key=session_secret(), session_cookie=cookie,
                       max_age=SESSION_MAX_AGE, same_site="strict", https_only=secure)
    # the rate limits (onshi.auth.throttle): sign-in reads them from app.state; the verification routes' middleware
    # is added in create_app, outside the body guard, so the guard's early 401s are counted too
    app.state.rate_limits = RateLimits(get_settings())
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def _password_change(request: Request, exc: PasswordChangeRequired):
        if request.url.path.startswith("/api/"):
            from fastapi.responses import JSONResponse

            return JSONResponse({"detail": f"a new password is required: sign in on the web ({PASSWORD_PAGE})"},
                                status_code=403)
        return RedirectResponse(PASSWORD_PAGE, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        return render(request, "forbidden.html", {"message": exc.message}, status_code=403)

    @app.get("/assets/ipaexg.ttf", include_in_schema=False)
    def japanese_font() -> FileResponse:
        """IPAex Gothic (IPA Font License), for browsers without a Japanese font; served here, never from a CDN."""
        from onshi.documents.render import builtin_font_path

        return FileResponse(builtin_font_path(), media_type="font/ttf", headers={"Cache-Control": "public, max-age=604800"})

    for module in (login, reception, office, members, insurer, batch, admin, audit_log, member_costs):
        app.include_router(module.router)
