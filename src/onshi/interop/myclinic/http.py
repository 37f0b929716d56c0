"""The routes open clinic software already calls, answered by onshi's verification service.

* **myclinic-ts's "onshi-server"** under ``/myclinic`` (set myclinic's ``onshi-server`` to
  ``http://<host>:<port>/myclinic`` and its ``onshi-secret`` to the institution's token): ``GET /login``,
  ``POST /onshi/kakunin``, ``GET /face``, ``GET /face/{file}``, ``GET /face/move-to-archive/{file}`` and the
  WebSocket ``/ws?secret=…``; the secret travels in ``X-ONSHI-VIEW-SECRET``.  The prefix keeps ``/login`` (the
  staff sign-in page) and onshi's other routes apart.
* **the national paths** myclinic-ts's client library posted to: its login ``POST /oqs-api-pro/MSA12020/ILI12020SV01/auth``
  (body ``{"password": <institution token>, "loginId"?: <institution code>}`` → ``result.idToken``) and
  ``POST /oqs-api-pro/MSA01030/ILI01030SV01/search`` with ``Authorization: <idToken>`` (no "Bearer"), an
  ``XmlMsg`` JSON body, the ``XmlMsg`` JSON answer.

Every route authenticates the institution by its token, like ``/oqs/json`` (unknown or revoked: 401, nothing
else); a verification is :func:`onshi.verify.service.verify`, logged and audited there.  The face routes read the
terminal folder bound to the server with :func:`bind_terminal` (``onshi sandbox --terminal-dir``) and serve only
the institution that folder belongs to; without one they answer 404.  Mapping: :mod:`onshi.interop.myclinic.mapping`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from onshi.interop.myclinic import faces, mapping
from onshi.interop.oqs import xmlmsg
from onshi.store.clock import japan_date
from onshi.store.db import utcnow
from onshi.verify import service
from onshi.verify.result import VerificationError

__all__ = ["router", "FaceFolder", "bind_terminal", "ARCHIVE_DIR", "NATIONAL_AUTH_PATH"]

router = APIRouter()
SECRET_HEADER = "x-onshi-view-secret"
ARCHIVE_DIR = "face-archive"  #: beside ``face/`` in the terminal folder: where move-to-archive puts a file
WS_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class FaceFolder:
    """The terminal folder whose ``face/`` the routes serve, and the institution it belongs to."""

    root: Path
    institution_code: str

    @property
    def face(self) -> Path:
        return self.root / "face"


def bind_terminal(app: FastAPI, root: Path, institution_code: str) -> None:
    app.state.myclinic_face = FaceFolder(Path(root), institution_code)


def _institution(app, token: str | None):
    session = app.state.session_factory()
    try:
        return service.authenticate(session, token)
    except service.AuthError:
        raise HTTPException(status_code=401, detail="authentication required") from None
    finally:
        session.close()


def _answer_json(app, token: str | None, data: bytes) -> bytes:
    """Authenticate, parse the ``XmlMsg`` JSON, verify, render — a clinic's mistake is SegmentOfResult 9."""
    now = utcnow()
    session = app.state.session_factory()
    try:
        try:
            inst = service.authenticate(session, token)
        except service.AuthError:
            raise HTTPException(status_code=401, detail="authentication required") from None
        req = None
        try:
            req = xmlmsg.parse_request_json(data, today=japan_date(now))
            outcome = service.verify(session, req, inst, now=now)
            session.commit()
        except VerificationError as exc:
            session.rollback()
            return xmlmsg.render_error_json(exc, req, processed_at=now)
        return xmlmsg.render_result_json(outcome, req, processed_at=now)
    finally:
        session.close()


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


@router.get("/myclinic/login", tags=["myclinic"], summary="myclinic-ts: login (the idToken is the token)")
def login(request: Request) -> dict:
    token = request.headers.get(SECRET_HEADER)
    _institution(request.app, token)
    return mapping.login_answer(token or "")


@router.post("/myclinic/onshi/kakunin", tags=["myclinic"], summary="myclinic-ts: verify by numbers",
             response_class=Response)
async def kakunin(request: Request) -> Response:
    token = request.headers.get(SECRET_HEADER)
    inst = await request.app.state.run_sync(_institution, request.app, token)
    try:
        query = json.loads(await request.body())
        data = json.dumps(mapping.kakunin_to_xmlmsg(query, inst.code), ensure_ascii=False).encode("utf-8")
    except ValueError:
        data = b"{}"  # answered as a malformed request (SegmentOfResult 9) by the parser
    return _json(await request.app.state.run_sync(_answer_json, request.app, token, data))


#: the national web API's login path, as myclinic-ts's ``onshi-lib`` (``onshi-login.js``) posts to it
NATIONAL_AUTH_PATH = "/oqs-api-pro/MSA12020/ILI12020SV01/auth"


def _national_login(app, data: bytes) -> tuple[int, dict]:
    """``(status, answer)`` for a login body: ``{"password": <institution token>, "loginId"?: <institution code>}``."""
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("password"), str) or not body["password"].strip():
        return 400, mapping.login_refused("ログイン情報（body.json）が読めません: JSON の \"password\" に医療機関の"
                                          "トークンを入れてください (login body: {\"password\": <token>})")
    token = body["password"].strip()
    session = app.state.session_factory()
    try:
        inst = service.authenticate(session, token)
    except service.AuthError:
        return 401, mapping.login_refused("トークンが無効です（未登録または失効） (unknown or revoked token)")
    finally:
        session.close()
    login_id = body.get("loginId")
    if login_id not in (None, "") and str(login_id).strip() != inst.code:
        return 401, mapping.login_refused("loginId がトークンの医療機関コードと一致しません (loginId is not the "
                                          "token's institution code)")
    return 200, mapping.login_answer(token)


@router.post(NATIONAL_AUTH_PATH, tags=["myclinic"], response_class=JSONResponse,
             summary="The national web API's login path: the institution token in, the idToken out")
async def national_login(request: Request) -> JSONResponse:
    """What myclinic-ts's ``onshiLogin`` posts (its ``body.json`` verbatim; the client certificate it offers is
    not asked for); it reads ``result.idToken`` and sends it as ``Authorization`` to the search path."""
    status, answer = await request.app.state.run_sync(_national_login, request.app, await request.body())
    return JSONResponse(answer, status_code=status)


@router.post("/oqs-api-pro/MSA01030/ILI01030SV01/search", tags=["myclinic"],
             summary="The national web API's verification path (Authorization: <idToken>)", response_class=Response)
async def national_search(request: Request) -> Response:
    token = (request.headers.get("authorization") or "").strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    data = await request.body()
    return _json(await request.app.state.run_sync(_answer_json, request.app, token or None, data))


def _face_folder(app, token: str | None) -> FaceFolder:
    inst = _institution(app, token)
    folder = getattr(app.state, "myclinic_face", None)
    if folder is None:
        raise HTTPException(status_code=404, detail="no terminal folder is bound to this server "
                                                    "(onshi sandbox --terminal-dir)")
    if folder.institution_code != inst.code:
        raise HTTPException(status_code=403, detail="the terminal folder belongs to another institution")
    folder.face.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def _audited(app):
    """A session for a face read: committed with its audit rows before the answer goes out."""
    session = app.state.session_factory()
    try:
        yield session
        session.commit()
    finally:
        session.close()


def _face_path(folder: FaceFolder, name: str) -> Path:
    if not mapping.FACE_FILE.match(name) or not (folder.face / name).is_file():
        raise HTTPException(status_code=404, detail="no such face file")
    return folder.face / name


def _face_names(folder: FaceFolder) -> list[str]:
    return sorted(e.name for e in os.scandir(folder.face) if e.is_file() and mapping.FACE_FILE.match(e.name))


@router.get("/myclinic/face", tags=["myclinic"], summary="myclinic-ts: the face (card) results waiting")
def face_list(request: Request) -> list[dict]:
    folder = _face_folder(request.app, request.headers.get(SECRET_HEADER))
    with _audited(request.app) as session:  # every patient named is audited by the read service
        return faces.face_list(session, folder.face, _face_names(folder), folder.institution_code)


@router.get("/myclinic/face/move-to-archive/{name}", tags=["myclinic"], summary="myclinic-ts: archive a face file")
def face_archive(name: str, request: Request) -> Response:
    folder = _face_folder(request.app, request.headers.get(SECRET_HEADER))
    try:
        path = _face_path(folder, name)
    except HTTPException:
        return JSONResponse(False, status_code=404)
    archive = folder.root / ARCHIVE_DIR
    archive.mkdir(exist_ok=True)
    shutil.move(str(path), archive / name)
    return JSONResponse(True)


@router.get("/myclinic/face/{name}", tags=["myclinic"], summary="myclinic-ts: one face file (XML, UTF-8)")
def face_file(name: str, request: Request) -> Response:
    folder = _face_folder(request.app, request.headers.get(SECRET_HEADER))
    path = _face_path(folder, name)
    with _audited(request.app) as session:
        data = faces.face_file(session, path, folder.institution_code)
    return Response(content=data, media_type="application/xml; charset=UTF-8")


@router.websocket("/myclinic/ws")
async def face_push(websocket: WebSocket) -> None:
    """Each new face file's name, as one text message (myclinic-ts opens ``/ws?secret=<token>``)."""
    app = websocket.app
    try:
        folder = await app.state.run_sync(_face_folder, app, websocket.query_params.get("secret"))
    except HTTPException as exc:
        await websocket.close(code=1008, reason=str(exc.detail)[:100])
        return
    await websocket.accept()
    seen = set(await app.state.run_sync(_face_names, folder))
    try:
        while True:
            try:
                message = await asyncio.wait_for(websocket.receive(), timeout=WS_POLL_SECONDS)
                if message["type"] == "websocket.disconnect":
                    return
            except asyncio.TimeoutError:
                pass
            names = await app.state.run_sync(_face_names, folder)
            for name in names:
                if name not in seen:
                    await websocket.send_text(name)
            seen = set(names)
    except WebSocketDisconnect:
        return
