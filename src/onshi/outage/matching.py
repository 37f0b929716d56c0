"""Who an outage record is, and what the verification index says of them on the day of care (pure; no database).

A record typed during an outage (氏名, カナ, 性別, 生年月日, 住所, and the numbers when shown) is matched against the
rows of the verification index in two ways (docs/outage.md):

* **by numbers** — 保険者番号・記号・番号 (and 枝番 when typed) with the birth date, as a verification by numbers;
* **by the four items** (基本4情報: 氏名・性別・生年月日・住所) — the birth date and sex equal, the name (漢字) or the
  フリガナ equal after folding (:func:`fold_kana`, :func:`fold_name`), the address equal after folding
  (:func:`fold_address`; one may stop short of the other: a building or 号 left out).

:func:`decide` answers 有効 (the person is identified and a qualification covers the day of care — its insurer
and numbers), 無効 (identified, but nothing covers that day) or 要確認 (nobody, several people, or a partial match —
with the reason in Japanese).

>>> fold_kana("こうろう　たろう") == fold_kana("ｺｳﾛｳ ﾀﾛｳ") == "コウロウタロウ"
True
>>> fold_kana("キョウコ") == fold_kana("キヨウコ")   # small kana typed large
True
>>> fold_address("東京都港区虎ノ門一丁目１番") == fold_address("東京都港区 虎ノ門1-1")
True
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import jaconv

VALID, INVALID, UNSURE = "有効", "無効", "要確認"
STATUSES = (VALID, INVALID, UNSURE)

_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_VOICED_ALIKE = str.maketrans("ヂヅヲ", "ジズオ")
#: variant kanji of names that people type one way and registers hold the other (異体字)
_NAME_VARIANTS = str.maketrans("髙﨑邉邊齋齊濵", "高崎辺辺斎斉浜")
_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_HYPHENS = re.compile("[‐‑‒–—―−ｰ－-]")


@lru_cache(maxsize=1 << 16)  # a list folds the same typed value against every candidate
def fold_kana(text: str | None) -> str:
    """カナ as compared: full-width katakana (hiragana and half-width folded with jaconv), no spaces, small kana
    as large, ヂヅヲ as ジズオ."""
    if not text:
        return ""
    t = jaconv.hira2kata(jaconv.h2z(unicodedata.normalize("NFKC", text), kana=True))
    return re.sub(r"\s+", "", t).translate(_SMALL).translate(_VOICED_ALIKE)


@lru_cache(maxsize=1 << 16)  # a list folds the same typed value against every candidate
def fold_name(text: str | None) -> str:
    """氏名 as compared: NFKC, no spaces, a few variant kanji folded."""
    if not text:
        return ""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).translate(_NAME_VARIANTS)


def _kanji_number(m: re.Match) -> str:
    text, n = m.group(1), 0
    if "十" in text:
        tens, _, ones = text.partition("十")
        n = (_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (_KANJI_DIGITS.get(ones, 0) if ones else 0)
    else:
        n = _KANJI_DIGITS.get(text, 0)
    return f"{n}丁目"


@lru_cache(maxsize=1 << 16)  # a list folds the same typed value against every candidate
def fold_address(text: str | None) -> str:
    """住所 as compared: NFKC, no spaces, 一丁目 as 1丁目, then 丁目・番地・番・号 and every dash as ``-``."""
    if not text:
        return ""
    t = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    t = re.sub("([一二三四五六七八九十]+)丁目", _kanji_number, t)
    t = _HYPHENS.sub("-", t)
    t = re.sub("(?<=[0-9])(丁目|番地|番|号)", "-", t)
    return t.rstrip("-")


def addresses_agree(typed: str, registered: str | None) -> bool:
    """The same address after folding, or one stopping short of the other (a room or 号 left out) — but at least
    past the municipality's part (8 characters)."""
    a, b = fold_address(typed), fold_address(registered)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return len(short) >= 8 and long_.startswith(short) and not long_[len(short)].isdigit()


@dataclass(frozen=True)
class Typed:
    """An outage record as matched: the values folded once."""

    care_date: date
    birth_date: date
    sex: int
    name: str
    name_kana: str
    address: str
    insurer_number: str | None = None
    symbol: str | None = None
    number: str | None = None
    branch: str | None = None

    @property
    def has_numbers(self) -> bool:
        return bool(self.insurer_number and self.number)


@dataclass
class Decision:
    status: str
    reason: str
    matched_by: str | None = None  # numbers | four_items
    person_id: int | None = None
    row: object | None = None  # the index row of the responsible qualification (有効)
    notes: list[str] = field(default_factory=list)

    def answer(self) -> dict:
        """What the clinic is told (no internal ids): the responsible insurer and numbers on the day of care."""
        out = {"status": self.status, "reason": self.reason, "matched_by": self.matched_by, "notes": self.notes}
        r = self.row
        if r is not None:
            out.update(insurer_number=r.insurer_number, insurer_name=r.insurer_name, symbol=r.symbol,
                       number=r.number, branch=r.branch, acquisition_date=r.acquisition_date.isoformat(),
                       loss_date=r.loss_date.isoformat() if r.loss_date else None)
        return out


def covers(row, day: date) -> bool:
    """The qualification of *row* covers *day* (acquired by then, not lost by then)."""
    return row.acquisition_date <= day and (row.loss_date is None or row.loss_date > day)


def _items(t: Typed, row) -> tuple[bool, bool, bool]:
    """(name or kana, sex, address) of *row* agree with the typed record (the birth date is the lookup's)."""
    name_ok = (bool(t.name) and (row.name == t.name or fold_name(row.name) == fold_name(t.name))) or \
              (bool(t.name_kana) and (row.name_kana == t.name_kana or fold_kana(row.name_kana) == fold_kana(t.name_kana)))
    return name_ok, row.sex == t.sex, addresses_agree(t.address, row.address)


def identify(t: Typed, by_numbers: list, by_birth: list) -> tuple[int | None, str | None, list[str], Decision | None]:
    """Who the record is: ``(person id, matched_by, notes, None)``, or ``(None, …, Decision)`` — 要確認 with the
    reason — when nobody or several people fit.  *by_numbers*: index rows with the typed numbers and birth date;
    *by_birth*: rows with the typed birth date that may be the person (same name or kana)."""
    notes: list[str] = []
    if t.has_numbers and by_numbers:
        people = {r.person_id for r in by_numbers}
        if len(people) > 1:
            return None, "numbers", notes, Decision(UNSURE, "番号と生年月日に該当する人が複数います。保険者に確認してください",
                                                    "numbers")
        row = by_numbers[0]
        name_ok, sex_ok, _ = _items(t, row)
        if not name_ok:
            return None, "numbers", notes, Decision(
                UNSURE, "番号と生年月日は登録と一致しますが、氏名・カナが一致しません。本人の資格か確認してください", "numbers")
        if not sex_ok:
            notes.append("性別が登録と異なります")
        return row.person_id, "numbers", notes, None
    if t.has_numbers:
        notes.append("記載の番号は登録されていません（番号と生年月日で該当なし）")
    scored: dict[int, tuple[bool, bool, bool]] = {}
    for r in by_birth:
        name_ok, sex_ok, addr_ok = _items(t, r)
        if not name_ok:
            continue
        best = scored.get(r.person_id, (False, False, False))
        scored[r.person_id] = tuple(a or b for a, b in zip(best, (name_ok, sex_ok, addr_ok)))  # type: ignore
    full = [p for p, (n, s, a) in scored.items() if n and s and a]
    if len(full) > 1:
        return None, "four_items", notes, Decision(
            UNSURE, "氏名・性別・生年月日・住所に該当する人が複数います。保険者に確認してください", "four_items", notes=notes)
    if not full:
        if not scored:
            return None, None, notes, Decision(
                UNSURE, "氏名・性別・生年月日・住所に該当する登録がありません。被保険者資格申立書の内容で請求し、"
                        "保険者が分からなければ不詳として記録してください", None, notes=notes)
        partial = next(iter(scored.values()))
        missing = [label for ok, label in zip(partial[1:], ("性別", "住所")) if not ok]
        return None, "four_items", notes, Decision(
            UNSURE, f"氏名と生年月日は一致しますが{'・'.join(missing)}が一致しません"
                    f"{'（候補が複数）' if len(scored) > 1 else ''}。本人に確認してください", "four_items", notes=notes)
    return full[0], "four_items", notes, None


def judge(t: Typed, person: int, rows: list, matched_by: str | None, notes: list[str]) -> Decision:
    """有効 (a qualification of *person* covers the day of care: the latest acquired) or 無効, from every index row
    of the person."""
    covering = [r for r in rows if covers(r, t.care_date)]
    if covering:
        row = max(covering, key=lambda r: (r.acquisition_date, r.qualification_id))
        return Decision(VALID, "診療日に有効な資格があります。この保険者・番号で請求してください", matched_by, person, row,
                        notes)
    latest = max(rows, key=lambda r: r.acquisition_date, default=None)
    why = "診療日に有効な資格がありません"
    if latest is not None and latest.loss_date is not None and latest.loss_date <= t.care_date:
        why += f"（{latest.loss_date:%Y-%m-%d} に喪失）"
    elif latest is not None and latest.acquisition_date > t.care_date:
        why += f"（資格取得は {latest.acquisition_date:%Y-%m-%d}）"
    return Decision(INVALID, why + "。他の保険の資格を患者に確認してください", matched_by, person, None, notes)


def decide(t: Typed, by_numbers: list, by_birth: list, rows_of: dict[int, list]) -> Decision:
    """The answer for one record: :func:`identify`, then :func:`judge` on *rows_of* the person (every index row
    of the people, by person id)."""
    person, matched_by, notes, unsure = identify(t, by_numbers, by_birth)
    if unsure is not None:
        return unsure
    return judge(t, person, rows_of.get(person, []), matched_by, notes)
