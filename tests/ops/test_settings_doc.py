"""docs/settings.md lists every ``ONSHI_*`` setting: each field of :class:`onshi.config.Settings` and every
``ONSHI_*`` name the code mentions (variables read with ``os.environ``), and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

import onshi
from onshi.config import Settings

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bONSHI_[A-Z][A-Z0-9_]*[A-Z0-9]\b")  # not a family like ONSHI_RATE_LIMIT_*


def documented() -> set[str]:
    """The names in the first column of docs/settings.md's tables."""
    names = set()
    for line in (ROOT / "docs" / "settings.md").read_text().splitlines():
        m = re.match(r"\|\s*`(ONSHI_[A-Z0-9_]+)`\s*\|", line)
        if m:
            names.add(m.group(1))
    return names


def in_code() -> set[str]:
    names = {f"ONSHI_{f.upper()}" for f in Settings.model_fields}
    for path in Path(onshi.__file__).parent.rglob("*.py"):
        names |= set(NAME.findall(path.read_text(encoding="utf-8")))
    return names


def test_every_setting_is_in_the_table():
    missing = in_code() - documented()
    assert not missing, f"add to docs/settings.md: {sorted(missing)}"


def test_the_table_names_only_real_settings():
    extra = documented() - in_code()
    assert not extra, f"docs/settings.md names settings the code does not know: {sorted(extra)}"


def test_the_check_sees(tmp_path, monkeypatch):
    assert "ONSHI_DATABASE_URL" in in_code() and "ONSHI_NOW" in in_code()  # a field; an os.environ read
    assert "ONSHI_DATABASE_URL" in documented()
