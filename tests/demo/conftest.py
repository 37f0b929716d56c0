"""A fresh demo database (``onshi.demo.cli.ensure_demo``, as `scripts/demo` builds it, with 150 members and thin
traffic), built once for the tests of tests/demo that need one, in a folder of its own and a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def fresh_demo(tmp_path_factory) -> tuple[Path, dict]:
    """(folder, environment) of a demo built from scratch; commands run with that environment use it."""
    folder = tmp_path_factory.mktemp("fresh-demo")
    env = dict(os.environ, ONSHI_DATABASE_URL=f"sqlite:///{folder / 'demo.db'}", ONSHI_VAR_DIR=str(folder / "var"),
               PYTHONPATH=str(ROOT / "src"))
    for name in ("ONSHI_NOW", "ONSHI_MY_NUMBER_KEY", "ONSHI_MY_NUMBER_HASH_KEY"):
        env.pop(name, None)
    build = subprocess.run([sys.executable, "-c", "from onshi.demo.cli import ensure_demo; "
                                                  "ensure_demo(members=150, traffic_scale=0.02)"],
                           cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    return folder, env
