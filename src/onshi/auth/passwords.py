"""The password policy (パスワードの条件): what a new password must not be.

A password is refused when it is

* shorter than :data:`MIN_LENGTH` or longer than :data:`MAX_LENGTH` characters;
* one of the 20,000 most common passwords of breach corpora (``data/common-passwords.txt.gz``, bundled from
  Django with its source in ``data/README.md``) — also once its trailing or leading digits and symbols are
  removed (``password2026!`` is ``password``);
* a published password: the demo's (docs/sandbox.md), known to everyone who read the README;
* built from very few characters (``aaaaaaaaaa``, ``abababab12``);
* the user's own name, or contains it (user name or display name, compared NFKC and case-folded).

>>> problems("correct-horse-battery", username="clerk")
[]
>>> problems("aaaaaaaaaa", username="clerk")[0]
'同じ文字の繰り返しが多すぎます'
>>> problems("Password2026!", username="clerk")[0]
'よく使われるパスワードです（流出したパスワードの一覧にあります）'
"""

from __future__ import annotations

import gzip
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 256
#: Passwords printed in this project's own documentation: never acceptable for a real user.
PUBLISHED = frozenset({"onshi-demo-2026"})
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")


def fold(text: str) -> str:
    """NFKC, case-folded (and NFKC again): the form names and passwords are compared in.

    >>> fold("Ｓｕｚｕｋｉ") == fold("SUZUKI") == "suzuki"
    True
    >>> fold("ｽｽﾞｷ")
    'スズキ'
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text or "").casefold())


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    path = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


def problems(password: str, *, username: str = "", display_name: str = "") -> list[str]:
    """What is wrong with *password* as a new password for this user, in Japanese (empty: acceptable)."""
    password = password or ""
    out = []
    if len(password) < MIN_LENGTH:
        out.append(f"パスワードは{MIN_LENGTH}文字以上にしてください")
    if len(password) > MAX_LENGTH:
        out.append(f"パスワードは{MAX_LENGTH}文字以内にしてください")
    folded = fold(password)
    if len(set(folded)) < 5:
        out.append("同じ文字の繰り返しが多すぎます")
    common = common_passwords()
    stripped = _EDGES.sub("", folded)
    if folded in common or (len(stripped) >= 4 and stripped in common) or folded in PUBLISHED:
        out.append("よく使われるパスワードです（流出したパスワードの一覧にあります）" if folded not in PUBLISHED
                   else "公開されているパスワード（デモ用）は使えません")
    for name in (username, display_name):
        key = fold(name).replace(" ", "").replace("\u3000", "")
        if len(key) >= 3 and key in folded.replace(" ", "").replace("\u3000", ""):
            out.append("ユーザー名や氏名を含むパスワードは使えません")
            break
    return out
