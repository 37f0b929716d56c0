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
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    Forbidden,
    LoginRequired,
    session_secret,
)
from onshi.web.pages import admin, login, office, reception
from onshi.web.pages.common import HERE, render


def install(app: FastAPI) -> None:
    app.add_middleware(SessionMiddleware, secret_key=session_secret(), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="strict", https_only=False)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        return render(request, "forbidden.html", {"message": exc.message}, status_code=403)

    @app.get("/assets/ipaexg.ttf", include_in_schema=False)
    def japanese_font() -> FileResponse:
        """IPAex Gothic (IPA Font License), for browsers without a Japanese font; served here, never from a CDN."""
        from onshi.documents.render import builtin_font_path

        return FileResponse(builtin_font_path(), media_type="font/ttf", headers={"Cache-Control": "public, max-age=604800"})

    for module in (login, reception, office, admin):
        app.include_router(module.router)
