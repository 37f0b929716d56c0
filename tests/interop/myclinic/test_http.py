"""myclinic-ts's "onshi-server" routes and the national search path, on the sandbox, on both databases.

What myclinic-ts relies on (hangilc/myclinic-ts 9c27569, restated): ``/login`` gives ``result.idToken``;
``/onshi/kakunin`` answers the XmlMsg JSON its ``OnshiResult.cast`` takes (every value a string, ``ResultList`` an
array; success = SegmentOfResult 1, ProcessingResultStatus 1, QualificationValidity 1, one result); ``/face`` lists
``{name, fileName, createdAt}``; ``/face/{file}`` is the XML; ``move-to-archive`` answers ``true``; the WebSocket
sends each new face file's name as text.  The secret is the institution token, in ``X-ONSHI-VIEW-SECRET``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from onshi.demo.sandbox import BY_KEY, INSTITUTION_TOKEN, institution_code
from onshi.store.clock import japan_today

SECRET = {"X-ONSHI-VIEW-SECRET": INSTITUTION_TOKEN}


@pytest.fixture
def app(engine, tmp_path):
    from onshi.demo.sandbox_build import build_sandbox
    from onshi.web.app import create_app

    build_sandbox(engine, tmp_path / "intake", japan_today())
    return create_app(engine, publisher_interval=0)


@pytest.fixture
def bound(app, tmp_path):
    from onshi.interop.myclinic.http import bind_terminal

    bind_terminal(app, tmp_path / "OQS", institution_code())
    return app, tmp_path / "OQS"


def _kakunin(p, **extra) -> dict:
    today = japan_today()
    q = {"hokensha": p.insurer.lstrip("0"), "hihokensha": p.number, "kigou": p.symbol,
         "birthdate": f"{p.born.on(today):%Y%m%d}", "confirmationDate": f"{today:%Y%m%d}", "limitAppConsFlag": "1"}
    if p.ask_branch:
        q["edaban"] = p.branch
    return {**q, **extra}


def _all_strings(node) -> bool:
    if isinstance(node, dict):
        return all(_all_strings(v) for v in node.values())
    if isinstance(node, list):
        return all(_all_strings(v) for v in node)
    return isinstance(node, str)


def test_login_needs_the_secret_and_gives_the_id_token(app):
    client = TestClient(app)
    assert client.get("/myclinic/login").status_code == 401
    assert client.get("/myclinic/login", headers={"X-ONSHI-VIEW-SECRET": "wrong"}).status_code == 401
    assert client.get("/myclinic/login", headers=SECRET).json()["result"]["idToken"] == INSTITUTION_TOKEN
    assert client.get("/login").status_code == 200  # the staff sign-in page is untouched


def test_kakunin_answers_every_state_as_the_catalogue_says(app):
    client = TestClient(app)
    for p in (BY_KEY[k] for k in ("valid", "lost", "moved", "not_found", "twin_1", "linkage", "elderly_2")):
        r = client.post("/myclinic/onshi/kakunin", json=_kakunin(p), headers=SECRET)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        msg = r.json()["XmlMsg"]
        assert _all_strings(msg) and isinstance(msg["MessageBody"].get("ResultList", []), list)
        assert msg["MessageBody"]["QualificationValidity"] == str(int(p.numbers_answer)), p.key
        assert msg["MessageHeader"]["MedicalInstitutionCode"] == institution_code()
    valid = client.post("/myclinic/onshi/kakunin", json=_kakunin(BY_KEY["valid"]), headers=SECRET).json()
    assert valid["XmlMsg"]["MessageHeader"]["SegmentOfResult"] == "1"
    assert len(valid["XmlMsg"]["MessageBody"]["ResultList"]) == 1


def test_a_bad_kakunin_is_an_error_answer_not_a_500(app):
    client = TestClient(app)
    r = client.post("/myclinic/onshi/kakunin", content=b"not json", headers=SECRET)
    assert r.status_code == 200 and r.json()["XmlMsg"]["MessageHeader"]["SegmentOfResult"] == "9"
    r = client.post("/myclinic/onshi/kakunin", json=_kakunin(BY_KEY["valid"], birthdate="1981-13-45"), headers=SECRET)
    assert r.json()["XmlMsg"]["MessageHeader"]["SegmentOfResult"] == "9"
    assert client.post("/myclinic/onshi/kakunin", json=_kakunin(BY_KEY["valid"])).status_code == 401


def test_the_national_path_takes_the_bare_id_token(app):
    client = TestClient(app)
    p, today = BY_KEY["valid"], japan_today()
    body = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": f"{today:%Y%m%d}",
                                         "MedicalInstitutionCode": institution_code()},
                       "MessageBody": {"QualificationConfirmSearchInfo": {
                           "InsurerNumber": p.insurer, "InsuredCardSymbol": p.symbol,
                           "InsuredIdentificationNumber": p.number, "Birthdate": f"{p.born.on(today):%Y%m%d}",
                           "LimitApplicationCertificateRelatedConsFlg": "1"}}}}
    path = "/oqs-api-pro/MSA01030/ILI01030SV01/search"
    token = client.get("/myclinic/login", headers=SECRET).json()["result"]["idToken"]
    for auth in (token, f"Bearer {token}"):
        msg = client.post(path, json=body, headers={"Authorization": auth}).json()["XmlMsg"]
        assert msg["MessageBody"]["QualificationValidity"] == "1"
    assert client.post(path, json=body).status_code == 401
    assert client.post(path, json=body, headers={"Authorization": "nope"}).status_code == 401


def test_face_routes_need_a_bound_terminal_folder(app):
    assert TestClient(app).get("/myclinic/face", headers=SECRET).status_code == 404


def test_face_routes_serve_only_the_folders_institution(bound, engine):
    from onshi.store.db import unit_of_work
    from onshi.verify.service import add_institution

    app, _root = bound
    with unit_of_work(engine) as s:
        _inst, other = add_institution(s, code="1310000011", name="別の診療所", facility_type="clinic")
    assert TestClient(app).get("/myclinic/face", headers={"X-ONSHI-VIEW-SECRET": other}).status_code == 403


def test_a_card_use_is_pushed_listed_read_and_archived(bound, engine):
    from onshi.interop.oqs.terminal_service import make_terminal, serve_reader

    app, root = bound
    client = TestClient(app)
    assert client.get("/myclinic/face", headers=SECRET).json() == []
    terminal = make_terminal(root, institution_code(), engine)
    with client.websocket_connect(f"/myclinic/ws?secret={INSTITUTION_TOKEN}") as ws:
        (root / "reader").mkdir(exist_ok=True)
        (root / "reader" / "a.json").write_text('{"certificate_serial": "SBX-CARD-0001", "method": "face"}')
        assert serve_reader(terminal, institution_code(), engine) == 1
        pushed = ws.receive_text()
    listed = client.get("/myclinic/face", headers=SECRET).json()
    assert [e["fileName"] for e in listed] == [pushed] and listed[0]["name"] == "有効　太郎"
    assert len(listed[0]["createdAt"]) == 19 and listed[0]["createdAt"][10] == " "
    xml = client.get(f"/myclinic/face/{pushed}", headers=SECRET)
    assert xml.status_code == 200 and "<QualificationValidity>1</QualificationValidity>" in xml.text
    assert "<ReferenceClassification>1</ReferenceClassification>" in xml.text
    assert client.get(f"/myclinic/face/move-to-archive/{pushed}", headers=SECRET).json() is True
    assert (root / "face-archive" / pushed).exists() and client.get("/myclinic/face", headers=SECRET).json() == []
    missing = client.get(f"/myclinic/face/move-to-archive/{pushed}", headers=SECRET)
    assert missing.status_code == 404 and missing.json() is False
    assert client.get("/myclinic/face/..%2Fkeys.json", headers=SECRET).status_code == 404


def test_the_websocket_refuses_an_unknown_secret(bound):
    from starlette.websockets import WebSocketDisconnect

    app, _root = bound
    with pytest.raises(WebSocketDisconnect):
        with TestClient(app).websocket_connect("/myclinic/ws?secret=wrong") as ws:
            ws.receive_text()


@pytest.fixture
def live(bound):
    """The app under real uvicorn on a free port (a thread), its terminal folder in a temp directory."""
    from tests.ops.procs import served_in_thread

    app, root = bound
    with served_in_thread(app) as port:
        yield port, root


def test_a_real_websocket_client_hears_each_new_face_file_from_the_real_server(live, engine):
    """No TestClient: uvicorn serves, the ``websockets`` package connects as a browser would (``/ws?secret=…``
    under the server myclinic-ts is pointed at), the terminal answers a request file in ``req/`` and a card use
    in ``reader/``; exactly the face file's name arrives, as one text message (myclinic-ts's ``faceStart`` takes
    ``event.data`` as the file name and fetches ``/face/<name>``)."""
    import urllib.request

    from websockets.sync.client import connect

    from onshi.interop.oqs.terminal_service import make_terminal, serve_once

    port, root = live
    terminal = make_terminal(root, institution_code(), engine)
    terminal.partial_grace = 0
    p, today = BY_KEY["valid"], japan_today()
    with connect(f"ws://127.0.0.1:{port}/myclinic/ws?secret={INSTITUTION_TOKEN}", open_timeout=10) as ws:
        (root / "req").mkdir(parents=True, exist_ok=True)
        (root / "req" / "OQSsiquc01req_202611220001.xml").write_text(
            f'<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader><QualificationConfirmationDate>'
            f"{today:%Y%m%d}</QualificationConfirmationDate><MedicalInstitutionCode>{institution_code()}"
            f"</MedicalInstitutionCode></MessageHeader><MessageBody><QualificationConfirmSearchInfo><InsurerNumber>"
            f"{p.insurer}</InsurerNumber><InsuredCardSymbol>{p.symbol}</InsuredCardSymbol>"
            f"<InsuredIdentificationNumber>{p.number}</InsuredIdentificationNumber><Birthdate>"
            f"{p.born.on(today):%Y%m%d}</Birthdate><LimitApplicationCertificateRelatedConsFlg>0"
            f"</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>",
            encoding="utf-8")
        (root / "reader").mkdir(exist_ok=True)
        (root / "reader" / "a.json").write_text('{"certificate_serial": "SBX-CARD-0001", "method": "face"}')
        serve_once(terminal, institution_code(), engine)
        assert (root / "res" / "OQSsiquc01res_202611220001.xml").exists()
        pushed = ws.recv(timeout=10)
        assert isinstance(pushed, str)
        assert [e.name for e in (root / "face").iterdir()] == [pushed]
        try:  # nothing else: the answer in res/ is not a face file
            extra = ws.recv(timeout=1)
        except TimeoutError:
            extra = None
        assert extra is None
    req = urllib.request.Request(f"http://127.0.0.1:{port}/myclinic/face/{pushed}", headers=SECRET)
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200 and "<Name>有効　太郎</Name>" in r.read().decode("utf-8")


def test_the_real_server_closes_a_websocket_with_a_wrong_secret(live):
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    port, _root = live
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        with connect(f"ws://127.0.0.1:{port}/myclinic/ws?secret=wrong", open_timeout=10) as ws:
            ws.recv(timeout=5)


def test_the_national_login_gives_the_id_token_the_search_takes(app):
    """myclinic-ts's ``onshi-lib`` (``onshi-login.js`` / ``onshi-search.js``, hangilc/myclinic-ts before
    ``e03554e8``), restated: it posts its ``body.json`` verbatim to ``/oqs-api-pro/MSA12020/ILI12020SV01/auth``
    (``Content-Type: application/json;charset=UTF-8``), reads ``result.result.idToken`` from the JSON answer and
    posts the search with that bare value as ``Authorization``. onshi's body.json names the institution's token."""
    from onshi.interop.myclinic.http import NATIONAL_AUTH_PATH

    client = TestClient(app)
    p, today = BY_KEY["valid"], japan_today()
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    body_json = f'{{"loginId": "{institution_code()}", "password": "{INSTITUTION_TOKEN}"}}\n'
    login = client.post(NATIONAL_AUTH_PATH, content=body_json, headers=headers)
    assert login.status_code == 200 and login.json()["status"] == "0"
    id_token = login.json()["result"]["idToken"]
    search = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": f"{today:%Y%m%d}",
                                           "MedicalInstitutionCode": institution_code()},
                         "MessageBody": {"QualificationConfirmSearchInfo": {
                             "InsurerNumber": p.insurer, "InsuredCardSymbol": p.symbol,
                             "InsuredIdentificationNumber": p.number, "Birthdate": f"{p.born.on(today):%Y%m%d}",
                             "LimitApplicationCertificateRelatedConsFlg": "1"}}}}
    answer = client.post("/oqs-api-pro/MSA01030/ILI01030SV01/search", json=search,
                         headers={"Authorization": id_token, "Accept": "application/json"}).json()["XmlMsg"]
    assert answer["MessageBody"]["QualificationValidity"] == "1"
    assert answer["MessageBody"]["ResultList"][0]["ResultOfQualificationConfirmation"]["Name"] == p.name
    # the password alone is enough; a wrong one, another institution's code or an unreadable body is refused,
    # in the answer's shape and with the reason, never a 500
    assert client.post(NATIONAL_AUTH_PATH, json={"password": INSTITUTION_TOKEN}).json()["result"]["idToken"] \
        == id_token
    for body, status in (({"password": "wrong"}, 401), ({"loginId": "1310000011", "password": INSTITUTION_TOKEN}, 401),
                         ({"user": "x"}, 400), ("not json", 400)):
        r = client.post(NATIONAL_AUTH_PATH, content=body if isinstance(body, str) else None,
                        json=None if isinstance(body, str) else body)
        assert r.status_code == status and r.json()["status"] != "0" and r.json()["result"] is None, body
        assert r.json()["msg"]
