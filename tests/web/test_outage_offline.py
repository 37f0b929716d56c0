"""Offline start of the outage page (docs/outage.md): its service worker is served same-origin with the right type,
scope and a versioned cache; after one visit the page opens while the server is down (headless chromium, the
server really stopped), a record typed then is kept in the browser and sent once the server is back — both
databases."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import func, select

from onshi.outage.models import OutageRecord
from onshi.privacy.models import AuditEntry
from tests.web.conftest import PASSWORD, sign_in


def _login(client, username):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303


def test_the_service_worker_is_served_with_its_scope_type_and_versioned_cache(client, world, session):
    from onshi.outage.views import SW_ASSETS, service_worker

    r = client.get("/reception/outage/sw.js")  # public: code, no data (the browser fetches it for updates)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["service-worker-allowed"] == "/reception/outage"
    assert r.headers["cache-control"] == "no-store"
    _script, version = service_worker()
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    assert f'const VERSION = "{version}";' in r.text and "__VERSION__" not in r.text and "__ASSETS__" not in r.text
    for asset in SW_ASSETS:
        assert f'"{asset}"' in r.text
        assert client.get(asset).status_code == 200
    assert client.get("/reception/outage/offline", follow_redirects=False).status_code in (302, 303, 401)
    _login(client, "reception")
    page = client.get("/reception/outage")
    assert 'data-sw="/reception/outage/sw.js"' in page.text and 'data-sw-scope="/reception/outage"' in page.text
    audited = session.scalar(select(func.count()).select_from(AuditEntry))
    shell = client.get("/reception/outage/offline")
    assert shell.status_code == 200 and 'data-testid="outage-offline"' in shell.text
    assert 'id="outage-form"' in shell.text and 'data-testid="outage-records"' not in shell.text
    assert 'name="csrf_token"' in shell.text
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == audited  # no patient's data read


class _Server:
    """The app under uvicorn on one port, stopped and started again on the same port (the same origin: the
    browser keeps its service worker, cookie and queue)."""

    def __init__(self, engine, port: int):
        self.engine, self.port, self.srv, self.thread = engine, port, None, None

    def start(self) -> None:
        import uvicorn

        from onshi.web.app import create_app

        self.srv = uvicorn.Server(uvicorn.Config(create_app(self.engine, publisher_interval=0), host="127.0.0.1",
                                                 port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.srv.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15  # a guard against a hang, not a measured time
        while not self.srv.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.srv.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


@pytest.fixture
def restartable(engine, world):
    from tests.web.conftest import _free_port

    server = _Server(engine, _free_port())
    server.start()
    yield server
    if server.thread.is_alive():
        server.stop()


def test_the_page_opens_with_the_server_down_after_one_visit_and_syncs_when_it_is_back(chromium, restartable,
                                                                                       session):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    base = f"http://127.0.0.1:{restartable.port}"
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP", base_url=base)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        sign_in(page, "reception")
        page.goto("/reception/outage")  # the one visit: the worker installs and takes the page over
        assert page.evaluate("""async () => {  // (no wait_for_function: the page's CSP refuses eval)
            await navigator.serviceWorker.ready;
            if (!navigator.serviceWorker.controller) {
                await new Promise(r => navigator.serviceWorker.addEventListener("controllerchange", r, {once: true}));
            }
            return navigator.serviceWorker.controller.scriptURL;
        }""").endswith("/reception/outage/sw.js")
        cached = page.evaluate("""async () => {
            const keys = await caches.keys();
            const cache = await caches.open(keys[0]);
            return {keys, urls: (await cache.keys()).map(r => new URL(r.url).pathname).sort()};
        }""")
        assert len(cached["keys"]) == 1 and re.fullmatch(r"onshi-outage-[0-9a-f]{12}", cached["keys"][0])
        assert cached["urls"] == sorted(["/reception/outage/offline", "/static/favicon.svg", "/static/onshi.css",
                                         "/static/onshi.js", "/static/outage.js"])

        # signed out and in again (a new session, a new CSRF token): the next visit online refreshes the kept form,
        # so that the queue can be sent with the session the browser has
        old_csrf = page.locator("#outage-form input[name=csrf_token]").input_value()
        page.locator("form[action='/logout'] button").click()
        page.wait_for_load_state()
        sign_in(page, "reception")
        page.goto("/reception/outage")
        new_csrf = page.locator("#outage-form input[name=csrf_token]").input_value()
        assert new_csrf != old_csrf
        kept = page.evaluate("""async (want) => {  // the refresh runs after the page is answered: wait for it
            for (let i = 0; i < 200; i++) {
                const r = await caches.match("/reception/outage/offline");
                const text = r ? await r.text() : "";
                if (text.includes(want)) { return true; }
                await new Promise(ok => setTimeout(ok, 50));
            }
            return false;
        }""", new_csrf)
        assert kept, "the kept offline form still carries the old session's token"

        restartable.stop()  # the server is gone: nothing answers on its port
        with pytest.raises(PlaywrightError):
            context.request.get(f"{base}/reception/outage/sw.js")
        page.reload()
        expect(page.get_by_test_id("outage-offline")).to_be_visible()  # rendered by the service worker
        expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 10  # the cached stylesheet, loaded
        form = page.locator("#outage-form")
        form.locator("input[name=name]").fill("厚労　太郎")
        form.locator("input[name=name_kana]").fill("こうろう たろう")
        form.locator("select[name=sex]").select_option("1")
        form.locator("input[name=birth_date]").fill("S45.1.1")
        form.locator("input[name=address]").fill("東京都港区虎ノ門一丁目1番")
        form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("outage-pending")).to_have_text("未送信 1件")
        expect(page.get_by_test_id("outage-status")).to_contain_text("つながりません")
        assert session.scalar(select(func.count()).select_from(OutageRecord)) == 0

        restartable.start()  # back: the page's retry sends the queue with the session it was cached with
        expect(page.get_by_test_id("outage-pending")).to_have_text("未送信 0件", timeout=30000)
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(OutageRecord)) == 1
        page.reload()  # online again: the full page from the server, the record listed, nothing sent twice
        expect(page.get_by_test_id("outage-records")).to_contain_text("厚労　太郎")
        expect(page.get_by_test_id("outage-offline")).to_have_count(0)
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(OutageRecord)) == 1
    finally:
        context.close()
