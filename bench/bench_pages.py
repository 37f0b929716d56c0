"""Benchmark: every page of every role loaded in headless chromium on the demo database, p50/p95 per page.

    .venv/bin/python bench/bench_pages.py                     # the demo (2000 members, 12 months of traffic)
    .venv/bin/python bench/bench_pages.py --members 500 --repeat 5 --pg
    .venv/bin/python bench/bench_pages.py --fast-paths        # + the KPI sheet's and documents page's fast paths

The demo database is built in a folder of its own (``onshi demo run --no-serve``'s :func:`ensure_demo`: members,
index, institutions, cards, the demo users, twelve months of verification traffic) on SQLite, or on a fresh
PostgreSQL database with ``--pg``; the app runs under uvicorn in this process (one worker) and Debian's chromium
(Playwright) signs in as each demo user and loads each of the role's pages ``--repeat`` times after one warm-up.
The time of a load is the browser's own navigation timing: from the request to the ``load`` event (HTML, CSS,
script, font, images), so it includes the server's answer and the page's assets as a person would wait for them.

The table gives per page and role: p50 and p95 in ms, the server's share (time to the response's last byte), the
page's size, and the ratio of the p95 to the 500 ms target.  Peak RSS of this process (server + driver) and the
machine's load average before and after the loads are printed.  One more row, "/analytics (charts no-store)", loads
the analyst's dashboard with its charts not cacheable (as before ``/analytics/chart/`` joined
``web.limits.CACHEABLE``): the same run's baseline for what the browser's cache of the charts saves.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_MS = 500


def pages_of(role: str, ids: dict[str, str]) -> list[str]:
    office = ["/office", "/office/members", f"/office/members?name={ids['kana']}", f"/office/members/{ids['person']}",
              "/office/intake", "/office/sla", "/office/linkage", "/office/documents", "/office/insurer"]
    return {"clinic": ["/reception", "/reception/today", "/reception/claim", "/reception/bulk"],
            "clinician": ["/clinical"],
            "clerk": office,
            "supervisor": office + ["/analytics", "/analytics/kpi", "/audit"],
            "analyst": ["/analytics", "/analytics/incentives", "/analytics/kpi"],
            "admin": ["/admin/users", "/audit"]}[role]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    ap.add_argument("--fast-paths", action="store_true",
                    help="also time the KPI sheet's and the documents page's fast paths against their references "
                         "in this process, on the same demo (same-run ratios)")
    args = ap.parse_args()

    import bench_intake as bi

    env = bi.bench_env()
    work = Path(tempfile.mkdtemp(prefix="onshi-bench-pages-"))
    db_name = f"onshi_bench_pages_{os.getpid()}"
    url = bi.create_db(db_name) if args.pg else f"sqlite:///{work / 'demo.db'}"
    os.environ.update(env, ONSHI_DATABASE_URL=url, ONSHI_VAR_DIR=str(work / "var"))
    from onshi.config import get_settings

    get_settings.cache_clear()
    try:
        t0 = time.perf_counter()
        from onshi.demo.cli import ensure_demo

        state = ensure_demo(members=args.members)
        built = time.perf_counter() - t0
        if args.fast_paths:
            fast_paths(args.repeat)
        run(state, args, built, url)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.pg:
            bi.drop_db(db_name)


def fast_paths(repeat: int) -> None:
    """The KPI sheet (FY2024, nationwide: the page's default) with the system's figures from
    ``analytics.kpi_actuals_fast`` against ``usage.system_actuals``, and the 文書 page's falling-due warning
    (``falling_due`` against ``falling_due_by_facts``), alternated *repeat* times; medians and their ratio."""
    from functools import partial

    from onshi.analytics import kpi_actuals_fast, usage
    from onshi.analytics.evaluation import sheet_from_database
    from onshi.documents import mailing_view
    from onshi.registry import service as registry
    from onshi.store.clock import japan_today
    from onshi.store.db import default_engine, unit_of_work

    def sheet_fast():
        ua = usage.UsageAnalytics(default_engine())
        try:
            with unit_of_work() as s:
                return sheet_from_database(s, 2024, "00", system_actuals=partial(kpi_actuals_fast.system_actuals,
                                                                                 ua=ua))
        finally:
            ua.close()

    def sheet_reference():
        with unit_of_work() as s:
            return sheet_from_database(s, 2024, "00", system_actuals=usage.system_actuals)

    with unit_of_work() as s:
        insurer = registry.list_insurers(s)[0].id

    def due(fn):
        def go():
            with unit_of_work() as s:
                return fn(s, insurer, japan_today())
        return go

    pairs = {"KPI sheet FY2024 全国": (sheet_reference, sheet_fast),
             "文書: falling_due": (due(mailing_view.falling_due_by_facts), due(mailing_view.falling_due))}
    print(f"\nfast paths against their references, same process, alternated, {repeat} runs each after one warm-up; "
          f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, (reference, fast) in pairs.items():
        assert reference() == fast(), name  # warm-up, and the same answer
        times: dict[str, list[float]] = {"reference": [], "fast": []}
        for _ in range(repeat):
            for label, fn in (("reference", reference), ("fast", fast)):
                t0 = time.perf_counter()
                fn()
                times[label].append(1000 * (time.perf_counter() - t0))
        ref_ms, fast_ms = (statistics.median(times[k]) for k in ("reference", "fast"))
        print(f"{name:<24} reference {ref_ms:8.0f} ms   fast {fast_ms:8.0f} ms   ratio {ref_ms / fast_ms:5.1f}×")


def _ids() -> dict[str, str]:
    from onshi.demo.seed import SHOWCASE
    from onshi.registry import service
    from onshi.store.db import unit_of_work

    with unit_of_work() as s:
        v = SHOWCASE["valid"]
        found = service.find_by_numbers(s, insurer_number=v["insurer"], symbol=v["symbol"], number=v["number"])
        person = found[0].person_id
        kana = service.person_on(s, person).name_kana.split("\u3000")[0]
    return {"person": str(person), "kana": kana}


def _load_times(page, path: str, repeat: int) -> tuple[list[float], list[float], int, int]:
    times, server_ms, size, status = [], [], 0, 0
    for i in range(repeat + 1):
        try:
            response = page.goto(path, wait_until="load")
        except Exception as exc:  # noqa: BLE001 - a page that does not load is a row, not the end
            print(f"{path}: {type(exc).__name__}", file=sys.stderr)
            times.append(180_000.0)
            server_ms.append(180_000.0)
            continue
        status = response.status if response else 0
        nav = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                            " return [n.loadEventEnd - n.startTime, n.responseEnd - n.startTime,"
                            " n.transferSize || n.encodedBodySize]; }")
        if i:  # the first load warms caches (templates, font, the analytics aggregate)
            times.append(nav[0])
            server_ms.append(nav[1])
        size = nav[2]
    return times, server_ms, size, status


def _row(role: str, path: str, measured) -> tuple:
    times, server_ms, size, status = measured
    times.sort()
    p95 = times[min(len(times) - 1, max(0, round(0.95 * len(times)) - 1))]
    return role, path, status, statistics.median(times), p95, statistics.median(server_ms), size


def _charts_no_store(browser, base: str, username: str, password: str, args) -> tuple:
    """The analyst's dashboard once more with its charts answered ``no-store`` (as before ``/analytics/chart/``
    was in ``web.limits.CACHEABLE``): the same run's baseline for what the browser's cache of the charts saves."""
    from onshi.web import limits

    kept = limits.CACHEABLE
    limits.CACHEABLE = tuple(p for p in kept if p != "/analytics/chart/")
    try:
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP", base_url=base)
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.press("input[name=password]", "Enter")
        page.wait_for_load_state()
        row = _row("analyst", "/analytics (charts no-store)", _load_times(page, "/analytics", args.repeat))
        ctx.close()
        return row
    finally:
        limits.CACHEABLE = kept


def run(state: dict, args, built: float, url: str) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from onshi.store.db import default_engine
    from onshi.web.app import create_app

    ids = _ids()
    server = uvicorn.Server(uvicorn.Config(create_app(default_engine(), publisher_interval=0), host="127.0.0.1",
                                           port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    rows = []
    load_before = os.getloadavg()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        for username, password, role, _scope in state["users"]:
            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP", base_url=base)
            page = ctx.new_page()
            page.set_default_timeout(180_000)
            page.goto("/login")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", password)
            page.press("input[name=password]", "Enter")
            page.wait_for_load_state()
            for path in pages_of(role, ids):
                rows.append(_row(role, path, _load_times(page, path, args.repeat)))
            ctx.close()
            if role == "analyst":
                rows.append(_charts_no_store(browser, base, username, password, args))
        browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npage loads in headless chromium — {args.members} members, {'PostgreSQL' if args.pg else 'SQLite'}, "
          f"{args.repeat} loads each after one warm-up; demo built in {built:.0f} s; "
          f"{os.cpu_count()} CPUs (shared); peak RSS {rss:.0f} MB; load average (1/5/15 min) "
          f"{'/'.join(f'{x:.2f}' for x in load_before)} before the loads, "
          f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} after")
    print(f"{'role':<10} {'page':<44} {'HTTP':>4} {'p50 ms':>8} {'p95 ms':>8} {'server p50':>10} {'KB':>6} "
          f"{'p95/500ms':>9}")
    rows, baselines = [r for r in rows if "(" not in r[1]], [r for r in rows if "(" in r[1]]
    for role, path, status, p50, p95, srv, size in rows:
        print(f"{role:<10} {path[:44]:<44} {status:>4} {p50:>8.0f} {p95:>8.0f} {srv:>10.0f} {size / 1024:>6.1f} "
              f"{p95 / TARGET_MS:>8.2f}{' *' if p95 > TARGET_MS else ''}")
    slow = [r for r in rows if r[4] > TARGET_MS]
    for role, path, status, p50, p95, srv, size in baselines:
        print(f"{role:<10} {path[:44]:<44} {status:>4} {p50:>8.0f} {p95:>8.0f} {srv:>10.0f} {size / 1024:>6.1f} "
              f"{p95 / TARGET_MS:>8.2f}  (baseline, not a page)")
    print(f"\n{len(rows)} pages; {len(slow)} over {TARGET_MS} ms at p95" + (": " + ", ".join(
        f"{r[0]} {r[1]}" for r in slow) if slow else ""))


if __name__ == "__main__":
    main()
