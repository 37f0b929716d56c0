"""Benchmark: rendering 資格情報のお知らせ to PDF, one core.

    .venv/bin/python bench/bench_documents.py              # 2000 notices
    .venv/bin/python bench/bench_documents.py --n 10000 --chunk 200

Measured in one run, in one process (so the figures are per core):

* ``stream``  – N notices into ONE PDF with ``render_to_file`` (chunks of
  ``--chunk`` pages, one embedded font subset per chunk) — the mailing-run path;
* ``single``  – ``render_notice`` once per notice (one PDF each, its own subset)
  — the reprint-one-document path;
* ``baseline-stream`` / ``baseline-single`` – the same with a minimal page: one
  line of Japanese text, same library (reportlab), same embedded IPAex font.

Per-page latency is the time between two documents being pulled from the input
iterator, so chunk writes (subset + save) land on the page that triggered them:
p99 shows them.  Memory: peak RSS of a fresh process streaming N and 4N notices
into one file (after warm-up and at the end): flat means the same peak for both.
Output goes to a byte-counting sink, not to disk.
"""

from __future__ import annotations

import argparse
import io
import itertools
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from reportlab.pdfgen import canvas as rl_canvas

from onshi.documents import render
from onshi.documents.render import NoticeData, render_notice, render_to_file

SURNAMES = ["山田", "佐藤", "鈴木", "髙橋", "田中", "渡邉", "伊藤", "中村", "小林", "齋藤"]
GIVEN = ["花子", "太郎", "一郎", "美咲", "健太", "陽菜", "翔", "結衣", "大輔", "𠮷男"]
KANA_S = ["ヤマダ", "サトウ", "スズキ", "タカハシ", "タナカ", "ワタナベ", "イトウ", "ナカムラ", "コバヤシ", "サイトウ"]
KANA_G = ["ハナコ", "タロウ", "イチロウ", "ミサキ", "ケンタ", "ヒナ", "ショウ", "ユイ", "ダイスケ", "ヨシオ"]


def notices(n: int) -> Iterator[NoticeData]:
    """n fictional, varied notices (some with 外字, some without My Number, some without address)."""
    for i in range(n):
        s, g = i % 10, (i // 10) % 10
        yield NoticeData(
            symbol=f"{10000000 + i // 50}",
            number=str(1 + i % 50),
            branch=f"{i % 3:02d}",
            name=f"{SURNAMES[s]} {GIVEN[g]}",
            name_kana=f"{KANA_S[s]} {KANA_G[g]}",
            birth_date=date(1950, 1, 1) + timedelta(days=(i * 37) % 25000),
            insurer_name="全国健康保険協会 東京支部",
            insurer_number="01130012",
            issue_date=date(2026, 11, 22),
            co_pay_ratio_tenths=3 if i % 7 else 2,
            qualification_date=date(2000, 4, 1) + timedelta(days=(i * 11) % 9000),
            my_number_last4=None if i % 13 == 0 else f"{i % 10000:04d}",
            postal_code=f"{1000000 + i % 900000}",
            address_line1=None if i % 97 == 0 else f"東京都中野区中野{i % 9 + 1}丁目{i % 30 + 1}番{i % 20 + 1}号",
            address_line2="サンプルハイツ101号室" if i % 2 else None,
            employer_name="株式会社サンプル商事",
            insurer_contact="0570-000-000",
        )


class Sink(io.RawIOBase):
    """A write-only stream that only counts bytes."""

    def __init__(self) -> None:
        self.n = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        self.n += len(b)
        return len(b)


def timed_pull(items: Iterable, stamps: list[float]) -> Iterator:
    for it in items:
        stamps.append(time.perf_counter())
        yield it
    stamps.append(time.perf_counter())


def summarize(name: str, stamps: list[float], total_s: float, pages: int) -> dict:
    lat = [b - a for a, b in itertools.pairwise(stamps)]
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [lat[0]] * 99
    return {"name": name, "pages": pages, "seconds": total_s, "pps": pages / total_s,
            "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


# -- the runs -------------------------------------------------------------------


def run_stream(n: int, chunk: int) -> dict:
    stamps: list[float] = []
    t0 = time.perf_counter()
    rep = render_to_file(timed_pull(notices(n), stamps), "kyokai_notice", Sink(), chunk_pages=chunk)
    total = time.perf_counter() - t0
    r = summarize("stream (one file)", stamps, total, rep.pages)
    r["bytes_per_page"] = rep.bytes_written / rep.pages
    r["warnings"] = len(rep.warnings)
    return r


def run_single(n: int) -> dict:
    stamps: list[float] = []
    size = 0
    t0 = time.perf_counter()
    for d in timed_pull(notices(n), stamps):
        size += len(render_notice(d))
    total = time.perf_counter() - t0
    r = summarize("single (file per notice)", stamps, total, n)
    r["bytes_per_page"] = size / n
    return r


def _minimal_page(c: rl_canvas.Canvas, font: str, i: int) -> None:
    c.setFont(font, 10)
    c.drawString(72, 720, f"資格情報のお知らせ {i}")
    c.showPage()


def run_baseline_stream(n: int, chunk: int) -> dict:
    font = render.register_font(render.BUILTIN_FONT)
    stamps: list[float] = []
    t0 = time.perf_counter()
    done = 0
    it = timed_pull(range(n), stamps)
    while done < n:
        c = rl_canvas.Canvas(Sink(), invariant=1, pageCompression=1, initialFontName=font)
        for i in it:
            _minimal_page(c, font, i)
            done += 1
            if done % chunk == 0:
                break
        c.save()
    for _ in it:  # drain the last stamp
        pass
    total = time.perf_counter() - t0
    return summarize("baseline: 1-line page, one file", stamps, total, n)


def run_baseline_single(n: int) -> dict:
    font = render.register_font(render.BUILTIN_FONT)
    stamps: list[float] = []
    t0 = time.perf_counter()
    for i in timed_pull(range(n), stamps):
        buf = io.BytesIO()
        c = rl_canvas.Canvas(buf, invariant=1, pageCompression=1, initialFontName=font)
        _minimal_page(c, font, i)
        c.save()
    total = time.perf_counter() - t0
    return summarize("baseline: 1-line page, file each", stamps, total, n)


def peak_memory(n: int, chunk: int) -> tuple[float, float]:
    """Peak RSS (MiB) of a fresh process rendering n notices into one file: after warm-up, at the end."""
    out = subprocess.run(
        [sys.executable, __file__, "--child-memory", str(n), "--chunk", str(chunk)],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def _child_memory(n: int, chunk: int) -> None:
    render_to_file(notices(20), "kyokai_notice", Sink(), chunk_pages=10)  # fonts, layout, imports
    warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    render_to_file(notices(n), "kyokai_notice", Sink(), chunk_pages=chunk)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{warm:.1f} {peak:.1f}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="notices per run (default 2000)")
    ap.add_argument("--chunk", type=int, default=200, help="pages per chunk in the one-file run")
    ap.add_argument("--single", type=int, default=None, help="notices in the file-per-notice run (default n/4)")
    ap.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    n, chunk = args.n, args.chunk
    if args.child_memory:
        _child_memory(args.child_memory, chunk)
        return
    n_single = args.single or max(n // 4, 50)

    # warm-up: font registration, layout parsing, code paths
    render_to_file(notices(20), "kyokai_notice", Sink(), chunk_pages=10)
    render_notice(next(notices(1)))

    rows = [
        run_stream(n, chunk),
        run_baseline_stream(n, chunk),
        run_single(n_single),
        run_baseline_single(n_single),
    ]
    rows[0]["ratio"] = rows[0]["pps"] / rows[1]["pps"]
    rows[2]["ratio"] = rows[2]["pps"] / rows[3]["pps"]

    print(f"\nrendering 資格情報のお知らせ (kyokai_notice, A4 + card part) — one process, "
          f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    print(f"{'run':34} {'pages':>6} {'pages/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'KB/page':>8} {'vs baseline':>12}")
    for r in rows:
        kb = f"{r['bytes_per_page'] / 1024:8.1f}" if "bytes_per_page" in r else f"{'':8}"
        ratio = f"{r['ratio']:11.2f}x" if "ratio" in r else ""
        print(f"{r['name']:34} {r['pages']:6d} {r['pps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {kb} {ratio:>12}")
    print(f"(stream run: {rows[0]['warnings']} warnings — 外字 and missing addresses in the generated data)")

    (w1, m1), (w4, m4) = peak_memory(n, chunk), peak_memory(4 * n, chunk)
    print("\nmemory, one-file streaming run in a fresh process (peak RSS; after warm-up → after the run):")
    print(f"  N  = {n:6d}: {w1:6.1f} → {m1:6.1f} MiB")
    print(f"  4N = {4 * n:6d}: {w4:6.1f} → {m4:6.1f} MiB")
    print(f"  peak at 4N / peak at N = {m4 / m1:.2f} (flat ≈ 1.0; what grows is the warnings list and the xref offsets)")
    target = 200
    verdict = "meets" if rows[0]["pps"] >= target else "MISSES"
    print(f"\ntarget ≥ {target} pages/s per core: streaming run {verdict} it ({rows[0]['pps']:.0f} pages/s)")


if __name__ == "__main__":
    main()
