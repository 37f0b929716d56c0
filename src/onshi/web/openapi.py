"""The OpenAPI document with its security: which operations take an institution token, which a staff session,
and the 401/403 answers they give (docs/hardening.md)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from onshi.auth.sessions import SESSION_COOKIE

__all__ = ["install", "SCHEMES"]

SCHEMES = {
    "institutionToken": {"type": "http", "scheme": "bearer",
                         "description": "the 医療機関's token (`Authorization: Bearer …`; `X-Onshi-Token` also works)"},
    "viewSecret": {"type": "apiKey", "in": "header", "name": "X-Onshi-View-Secret",
                   "description": "the institution token as myclinic-ts sends it (onshi-secret)"},
    "staffSession": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                     "description": "a signed-in staff member's session (sign in at /login); POSTs also need the "
                                    "`X-CSRF-Token` from GET /api/v1/documents/session"},
    "employerToken": {"type": "http", "scheme": "bearer",
                      "description": "an employer's (事業主) token for its own employees' benefit applications "
                                     "(`onshi employer token issue`; docs/auth.md \"Employers\")"},
}

#: the operations an employer's token opens besides the staff session (onshi.auth.employers)
EMPLOYER_OPERATIONS = {("post", "/api/v1/benefits/applications"),
                       ("get", "/api/v1/benefits/applications/{application_id}")}

_UNAUTHORIZED = {"description": "no credential, or an unknown, revoked or expired one"}
_FORBIDDEN = {"description": "signed in, but the role or scope does not allow this"}


def _security_for(path: str, token_routes: tuple[str, ...]) -> tuple[list[dict], bool]:
    """(security requirement, whether 403 is possible) for an operation's path."""
    if path.startswith(("/myclinic/", "/oqs-api-pro/")):
        return [{"viewSecret": []}, {"institutionToken": []}], False
    if path.startswith(token_routes):
        return [{"institutionToken": []}], False
    return [{"staffSession": []}], True


def install(app: FastAPI, token_routes: tuple[str, ...]) -> None:
    """Replace ``app.openapi``; operations under *token_routes* take the institution token, the rest a staff
    session."""

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = SCHEMES
        for path, item in schema.get("paths", {}).items():
            security, forbidden = _security_for(path, token_routes)
            for method, operation in item.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                operation["security"] = security + ([{"employerToken": []}]
                                                    if (method, path) in EMPLOYER_OPERATIONS else [])
                operation["responses"].setdefault("401", _UNAUTHORIZED)
                if forbidden:
                    operation["responses"].setdefault("403", _FORBIDDEN)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
