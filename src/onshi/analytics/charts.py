"""Charts for people who would rather look than read: monthly trend lines, prefectures as ranked bars, and the
distribution of facility rates — as SVG (web pages, crisp at any size) or PNG (reports, slides).

matplotlib with the Agg backend (no screen needed) and the IPAex Gothic font that the documents use, so Japanese
labels render everywhere.  Each function takes plain data and returns bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import cache

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FORMATS = ("svg", "png")
COLORS = {"online": "#1f5fa8", "receipt": "#c2571a", "kyokai": "#2e7d32",
          "hospital": "#1f5fa8", "clinic": "#2e7d32", "dental": "#8e44ad", "pharmacy": "#c2571a"}


@cache
def _font() -> str:
    from onshi.documents.render import builtin_font_path

    path = str(builtin_font_path())
    font_manager.fontManager.addfont(path)
    name = font_manager.FontProperties(fname=path).get_name()
    matplotlib.rcParams["font.family"] = name
    matplotlib.rcParams["svg.fonttype"] = "path"  # text as outlines: the SVG needs no font on the viewer's side
    matplotlib.rcParams["svg.hashsalt"] = "onshi"  # the same data gives the same bytes
    matplotlib.rcParams["axes.unicode_minus"] = False
    return name


def _figure(width: float, height: float) -> Figure:
    _font()
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def _bytes(fig: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=150 if fmt == "png" else 100, metadata=meta)
    plt.close("all")
    return buf.getvalue()


def trend_chart(series: Mapping[str, Sequence[tuple[str, float | None]]], *, title: str,
                target: float | None = None, fmt: str = "svg") -> bytes:
    """Monthly trend lines: ``series`` maps a label to ``[(YYYY-MM, percent), …]``; ``target`` draws a line."""
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    months = sorted({m for pts in series.values() for m, _ in pts})
    x = {m: i for i, m in enumerate(months)}
    last = sorted(((pts[-1][1] or 0, label) for label, pts in series.items() if pts), reverse=True)
    nudge = {label: 9 * (len(last) - 1) / 2 - 9 * i for i, (_v, label) in enumerate(last)}  # labels never overlap
    for i, (label, pts) in enumerate(series.items()):
        xs = [x[m] for m, v in pts if v is not None]
        ys = [v for _m, v in pts if v is not None]
        color = COLORS.get(label, f"C{i}")
        ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=2, label=label, color=color)
        if xs:
            ax.annotate(f"{ys[-1]:.1f}%", (xs[-1], ys[-1]), textcoords="offset points",
                        xytext=(5, nudge.get(label, 0)), fontsize=8, color=color, va="center")
    if target is not None:
        ax.axhline(target, color="#888", linestyle="--", linewidth=1)
        ax.annotate(f"目標 {target:g}%", (len(months) - 1, target), textcoords="offset points", xytext=(0, 3),
                    fontsize=8, color="#555", ha="right")
    ax.set_xticks(range(len(months)), [m[2:].replace("-", "/") for m in months], fontsize=8)
    ax.set_ylabel("利用率 (%)")
    ax.set_ylim(0, max([target or 0] + [v for pts in series.values() for _m, v in pts if v is not None]) * 1.1 + 1)
    ax.grid(axis="y", color="#ddd")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title, fontsize=11, loc="left")
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(0, 0.9))
    return _bytes(fig, fmt)


def ranking_chart(rows: Sequence[tuple[str, float, bool, bool]], *, title: str, national: float | None = None,
                  fmt: str = "svg") -> bytes:
    """Prefectures as ranked horizontal bars: ``rows`` = ``[(name, percent, top5, bottom5), …]`` in rank order."""
    n = max(1, len(rows))
    fig = _figure(6.2, 1.2 + 0.19 * n)
    ax = fig.add_subplot()
    names = [r[0] for r in rows][::-1]
    values = [r[1] for r in rows][::-1]
    colors = ["#e0a100" if r[2] else "#9e9e9e" if r[3] else "#1f5fa8" for r in rows][::-1]
    ax.barh(range(len(rows)), values, color=colors, height=0.7)
    ax.set_yticks(range(len(rows)), names, fontsize=7.5)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.1f}", va="center", fontsize=6.5)
    if national is not None:
        ax.axvline(national, color="#c62828", linewidth=1)
        ax.annotate(f"全国 {national:.2f}%", (national, len(rows) - 0.5), textcoords="offset points",
                    xytext=(3, 0), fontsize=8, color="#c62828")
    ax.set_xlabel("利用率 (%)  黄=上位5 灰=下位5")
    ax.set_xlim(0, max(values + [1]) * 1.15)
    ax.margins(y=0.01)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title, fontsize=11, loc="left")
    return _bytes(fig, fmt)


def distribution_chart(values: Mapping[str, Sequence[float]], *, title: str, bins: int = 20,
                       fmt: str = "svg") -> bytes:
    """The distribution of facility rates (percent), one histogram per facility type, stacked."""
    fig = _figure(7.5, 3.4)
    ax = fig.add_subplot()
    labels = list(values)
    data = [list(values[k]) for k in labels]
    if any(data):
        ax.hist(data, bins=bins, range=(0, 100), stacked=True, label=labels,
                color=[COLORS.get(k, f"C{i}") for i, k in enumerate(labels)])
    ax.set_xlabel("施設ごとの利用率 (%)")
    ax.set_ylabel("施設数")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title, fontsize=11, loc="left")
    ax.legend(fontsize=8, frameon=False)
    return _bytes(fig, fmt)
